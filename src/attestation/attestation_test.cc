#include <gtest/gtest.h>

#include "attestation/attester.h"
#include "attestation/runtime_data.h"
#include "attestation/verifier.h"

namespace coco::attestation {
namespace {

TEST(RuntimeData, DigestIsSha384OfCanonicalJson) {
  // Trustee's own test vector: JCS {"a":"test","b":1,"c":{"d":"e"}}.
  nlohmann::json rd = {{"c", {{"d", "e"}}}, {"b", 1}, {"a", "test"}};
  auto digest = RuntimeDataDigest(rd);
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(HexEncode(*digest).substr(0, 8), "e71ce8e7");
  EXPECT_EQ(HexEncode(*digest).substr(90), "8870c3");
}

TEST(Sample, AttesterOutputVerifies) {
  Bytes rd(48, 0x5a);
  auto ev = NewSampleAttester()->GetEvidence(rd);
  ASSERT_TRUE(ev.ok());
  auto claims = NewSampleVerifier()->Verify({*ev, rd, std::nullopt});
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ((*claims)["launch_digest"], "abcde");
  EXPECT_EQ((*claims)["platform_version"]["major"], 1);
  EXPECT_FALSE(claims->contains("init_data"));
}

TEST(Sample, RejectsWrongBindingAndBadShape) {
  Bytes rd(48, 1), other(48, 2);
  auto ev = NewSampleAttester()->GetEvidence(other);
  auto r = NewSampleVerifier()->Verify({*ev, rd, std::nullopt});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("does not match"), std::string::npos);
  // Padding the digest is not accepted for sample: exact bytes only.
  Bytes padded = rd;
  padded.resize(64, 0);
  ev = NewSampleAttester()->GetEvidence(padded);
  EXPECT_FALSE(NewSampleVerifier()->Verify({*ev, rd, std::nullopt}).ok());
  EXPECT_FALSE(NewSampleVerifier()->Verify({nlohmann::json::array(), rd, std::nullopt}).ok());
  EXPECT_FALSE(NewSampleVerifier()->Verify({{{"svn", "1"}}, rd, std::nullopt}).ok());
}

TEST(InitData, ParsesAndDigests) {
  std::string text =
      "algorithm = \"sha256\"\nversion = \"0.1.0\"\n\n[data]\n\"aa.toml\" = '''\n"
      "[token_configs]\n[token_configs.kbs]\nurl = \"http://127.0.0.1:8080\"\n'''\n"
      "\"policy.rego\" = \"package agent_policy\"\n";
  auto d = ParseInitData(text);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->algorithm, "sha256");
  EXPECT_EQ(d->data["aa.toml"]["token_configs"]["kbs"]["url"], "http://127.0.0.1:8080");
  EXPECT_EQ(d->data["policy.rego"], "package agent_policy");
  EXPECT_EQ(d->digest, crypto::Sha256(text));
}

TEST(InitData, RejectsBadDocuments) {
  EXPECT_FALSE(ParseInitData("algorithm = \"md5\"\nversion = \"0.1.0\"\n").ok());
  EXPECT_FALSE(ParseInitData("version = \"0.1.0\"\n").ok());
  auto r = ParseInitData("algorithm = \n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("line 1"), std::string::npos);
}

}  // namespace
}  // namespace coco::attestation
