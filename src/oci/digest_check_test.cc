#include "oci/digest_check.h"

#include <gtest/gtest.h>

#include "base/bytes.h"

namespace coco::oci {
namespace {

// Records what reaches it and whether it was closed (committed).
class Sink final : public Writer {
 public:
  Status Write(const uint8_t* p, size_t n) override {
    data.append(reinterpret_cast<const char*>(p), n);
    return Status::Ok();
  }
  Status Close() override {
    closed = true;
    return Status::Ok();
  }
  std::string data;
  bool closed = false;
};

Status Feed(Writer& w, const std::string& s) {
  COCO_RETURN_IF_ERROR(w.Write(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  return w.Close();
}

TEST(DigestCheck, MatchingContentIsPassedOnAndClosedWithItsDigest) {
  Sink sink;
  Digest want = Digest::Sha256Of("hello");
  DigestCheck c(&sink, want, 5, "blob");
  ASSERT_TRUE(Feed(c, "hello").ok());
  EXPECT_TRUE(sink.closed);
  EXPECT_EQ(sink.data, "hello");
  EXPECT_EQ(c.digest(), want);
  DigestCheck any(nullptr, std::nullopt, -1, "");
  ASSERT_TRUE(Feed(any, "hello").ok());
  EXPECT_EQ(any.digest(), want);  // without an expected digest: SHA-256, computed only
}

TEST(DigestCheck, Sha512DigestsAreCheckedWithSha512) {
  Digest want{"sha512",
              HexEncode(crypto::Hash(crypto::HashAlg::kSha512, std::string_view("hello")))};
  Sink sink;
  DigestCheck c(&sink, want, -1, "blob");
  ASSERT_TRUE(Feed(c, "hello").ok());
  EXPECT_EQ(c.digest(), want);
  Sink other;
  DigestCheck wrong(&other, want, -1, "blob");
  EXPECT_FALSE(Feed(wrong, "hellO").ok());
  EXPECT_FALSE(other.closed);
}

TEST(DigestCheck, AMismatchOrAWrongSizeNeverClosesDownstream) {
  Sink a;
  DigestCheck mismatch(&a, Digest::Sha256Of("hello"), -1, "layer 1");
  Status s = Feed(mismatch, "jello");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kDigestMismatch);
  EXPECT_NE(s.error().message.find("layer 1 hashes to sha256:"), std::string::npos);
  EXPECT_FALSE(a.closed);
  Sink b;
  DigestCheck longer(&b, Digest::Sha256Of("hello"), 4, "blob");
  s = longer.Write(reinterpret_cast<const uint8_t*>("hello"), 5);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("larger than its 4 bytes"), std::string::npos);
  Sink c;
  DigestCheck shorter(&c, Digest::Sha256Of("hello"), 6, "blob");
  EXPECT_FALSE(Feed(shorter, "hello").ok());
  EXPECT_FALSE(c.closed);
}

}  // namespace
}  // namespace coco::oci
