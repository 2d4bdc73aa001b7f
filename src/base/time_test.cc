#include "base/time.h"

#include <gtest/gtest.h>

namespace coco {
namespace {

TEST(Time, Rfc3339RoundTripsAndReadsOffsetsAndFractions) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(1795543200), "2026-11-24T18:00:00Z");
  EXPECT_EQ(*ParseRfc3339("2026-11-24T18:00:00Z"), 1795543200);
  EXPECT_EQ(*ParseRfc3339("2026-11-24T18:00:00.123456Z"), 1795543200);
  EXPECT_EQ(*ParseRfc3339("2026-11-24T20:00:00+02:00"), 1795543200);
  EXPECT_EQ(*ParseRfc3339("2026-11-24T13:30:00-04:30"), 1795543200);
  EXPECT_FALSE(ParseRfc3339("yesterday").ok());
  auto no_zone = ParseRfc3339("2026-11-24T18:00:00");
  ASSERT_FALSE(no_zone.ok());
  EXPECT_EQ(no_zone.error().code, Code::kInvalidArgument);
  EXPECT_NE(no_zone.error().message.find("time zone"), std::string::npos);
  EXPECT_FALSE(ParseRfc3339("2026-11-24T18:00:00+2:00").ok());
}

TEST(Time, HttpDateIsImfFixdate) {
  EXPECT_EQ(FormatHttpDate(1795543200), "Tue, 24 Nov 2026 18:00:00 GMT");
  EXPECT_EQ(FormatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
}

}  // namespace
}  // namespace coco
