#include "base/bytes.h"

#include <gtest/gtest.h>

namespace coco {
namespace {

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(Base64Encode(ToBytes("")), "");
  EXPECT_EQ(Base64Encode(ToBytes("f")), "Zg==");
  EXPECT_EQ(Base64Encode(ToBytes("fo")), "Zm8=");
  EXPECT_EQ(Base64Encode(ToBytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(ToString(*Base64Decode("Zm9vYg==")), "foob");
  EXPECT_EQ(ToString(*Base64Decode("Zm9vYg")), "foob");
}

TEST(Base64, UrlAlphabetAndRejects) {
  Bytes b = {0xfb, 0xff, 0xfe};
  EXPECT_EQ(Base64UrlEncode(b), "-__-");
  EXPECT_EQ(Base64Encode(b), "+//+");
  EXPECT_EQ(*Base64UrlDecode("-__-"), b);
  EXPECT_FALSE(Base64UrlDecode("+//+").ok());
  EXPECT_FALSE(Base64UrlDecode("Zg==").ok());
  EXPECT_FALSE(Base64Decode("Zm9v!").ok());
  EXPECT_FALSE(Base64Decode("Z").ok());
}

TEST(Hex, RoundTripAndErrors) {
  Bytes b = {0x00, 0xab, 0xff};
  EXPECT_EQ(HexEncode(b), "00abff");
  EXPECT_EQ(*HexDecode("00ABff"), b);
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
}

TEST(ConstantTime, Compares) {
  EXPECT_TRUE(ConstantTimeEqual(std::string_view("abc"), std::string_view("abc")));
  EXPECT_FALSE(ConstantTimeEqual(std::string_view("abc"), std::string_view("abd")));
  EXPECT_FALSE(ConstantTimeEqual(std::string_view("abc"), std::string_view("ab")));
}

}  // namespace
}  // namespace coco
