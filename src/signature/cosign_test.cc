#include "signature/cosign.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "signature/test_util.h"

namespace coco::signature {
namespace {

using sigtest::HaveTool;
using sigtest::Shell;
using sigtest::Slurp;
using sigtest::Spit;
using sigtest::TempDir;
using sigtest::TestData;

constexpr char kImageDigest[] =
    "sha256:69704ef328d05a9f806b6b8502915e6a0a4faa4d72018dc42343f511490daf8a";

std::string DigestOf(const std::string& s) { return "sha256:" + HexEncode(crypto::Sha256(s)); }

TEST(Cosign, UpstreamPublicKeysParse) {
  for (const char* f : {"cosign1.pub", "cosign2.pub", "cosign3.pub", "nv.pub"}) {
    auto k = crypto::Key::FromPem(Slurp(TestData(std::string("cosign/") + f)));
    ASSERT_TRUE(k.ok()) << f << ": " << k.error().message;
    EXPECT_EQ(k->type(), crypto::Key::Type::kEc) << f;
    EXPECT_EQ(k->curve(), crypto::Curve::kP256) << f;
    EXPECT_FALSE(k->has_private()) << f;
  }
}

TEST(Cosign, SignatureTag) {
  auto t = CosignSignatureTag(kImageDigest);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, "sha256-69704ef328d05a9f806b6b8502915e6a0a4faa4d72018dc42343f511490daf8a.sig");
  EXPECT_FALSE(CosignSignatureTag("sha256:abc").ok());
}

// A signature manifest around one payload and its signature, as cosign pushes it.
std::string ManifestFor(const std::string& payload, const std::string& sig_b64,
                        const std::string& digest_override = "") {
  nlohmann::json m = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"size", 2},
        {"digest", DigestOf("{}")}}},
      {"layers",
       {{{"mediaType", kCosignLayerMediaType},
         {"size", payload.size()},
         {"digest", digest_override.empty() ? DigestOf(payload) : digest_override},
         {"annotations", {{kCosignSignatureAnnotation, sig_b64}}}}}},
  };
  return m.dump();
}

class CosignOpenssl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveTool("openssl")) GTEST_SKIP() << "openssl not installed";
    ASSERT_EQ(Shell("openssl ecparam -name prime256v1 -genkey -noout -out " + (dir_ / "k1.pem") +
                    " && openssl ec -in " + (dir_ / "k1.pem") + " -pubout -out " +
                    (dir_ / "k1.pub") + " 2>/dev/null" + " && openssl ecparam -name prime256v1 " +
                    "-genkey -noout -out " + (dir_ / "k2.pem") + " && openssl ec -in " +
                    (dir_ / "k2.pem") + " -pubout -out " + (dir_ / "k2.pub") + " 2>/dev/null"),
              0);
  }
  crypto::Key Pub(const char* name) { return *crypto::Key::FromPem(Slurp(dir_ / name)); }
  TempDir dir_;
};

TEST_F(CosignOpenssl, OpensslSignatureVerifies) {
  std::string payload = MakePayload({kCosignType, "registry.example.com/team/app", kImageDigest});
  EXPECT_EQ(payload,
            R"({"critical":{"identity":{"docker-reference":"registry.example.com/team/app"},)"
            R"("image":{"docker-manifest-digest":")" +
                std::string(kImageDigest) +
                R"("},"type":"cosign container image signature"},"optional":null})");
  Spit(dir_ / "payload", payload);
  ASSERT_EQ(Shell("openssl dgst -sha256 -sign " + (dir_ / "k1.pem") + " -out " +
                  (dir_ / "sig.der") + " " + (dir_ / "payload")),
            0);
  std::string sig_b64 = Base64Encode(ToBytes(Slurp(dir_ / "sig.der")));
  std::map<std::string, std::string> blobs = {{DigestOf(payload), payload}};
  BlobFetcher fetch = [&](const std::string& d) -> Result<std::string> {
    auto it = blobs.find(d);
    if (it == blobs.end()) return MakeError(Code::kNotFound, d);
    return it->second;
  };

  auto sigs = ReadCosignSignatures(ManifestFor(payload, sig_b64), fetch);
  ASSERT_TRUE(sigs.ok()) << sigs.error().message;
  ASSERT_EQ(sigs->size(), 1u);
  auto p = VerifyCosignSignature(Pub("k1.pub"), (*sigs)[0]);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->docker_reference, "registry.example.com/team/app");
  EXPECT_EQ(p->manifest_digest, kImageDigest);

  // Wrong key.
  auto wrong = VerifyCosignSignature(Pub("k2.pub"), (*sigs)[0]);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Code::kSignatureInvalid);
  EXPECT_NE(wrong.error().message.find("does not verify"), std::string::npos);

  // Tampered payload, descriptor digest left alone: the blob check catches it.
  std::string tampered = payload;
  tampered.replace(tampered.find("team/app"), 8, "team/evl");
  blobs[DigestOf(payload)] = tampered;
  auto bad_blob = ReadCosignSignatures(ManifestFor(payload, sig_b64), fetch);
  ASSERT_FALSE(bad_blob.ok());
  EXPECT_NE(bad_blob.error().message.find("blob has digest"), std::string::npos);
  // Tampered payload with a matching descriptor: the signature check catches it.
  blobs[DigestOf(tampered)] = tampered;
  auto t = ReadCosignSignatures(ManifestFor(tampered, sig_b64), fetch);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_FALSE(VerifyCosignSignature(Pub("k1.pub"), (*t)[0]).ok());

  // Missing annotation, garbage manifest.
  nlohmann::json no_ann = nlohmann::json::parse(ManifestFor(payload, sig_b64));
  no_ann["layers"][0].erase("annotations");
  EXPECT_FALSE(ReadCosignSignatures(no_ann.dump(), fetch).ok());
  EXPECT_FALSE(ReadCosignSignatures("{not json", fetch).ok());
  // Non-cosign layers are skipped.
  nlohmann::json other = nlohmann::json::parse(ManifestFor(payload, sig_b64));
  other["layers"][0]["mediaType"] = "application/vnd.oci.image.layer.v1.tar";
  auto none = ReadCosignSignatures(other.dump(), fetch);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(CosignOpenssl, OurSignatureVerifiesWithOpenssl) {
  auto key = crypto::Key::FromPem(Slurp(dir_ / "k1.pem"));
  ASSERT_TRUE(key.ok()) << key.error().message;
  auto s = SignCosign(*key, "registry.example.com/team/app", kImageDigest);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->tag, "sha256-69704ef328d05a9f806b6b8502915e6a0a4faa4d72018dc42343f511490daf8a.sig");
  EXPECT_EQ(s->payload_digest, DigestOf(s->payload));
  EXPECT_EQ(s->config_digest, DigestOf(s->config));
  auto der = Base64Decode(s->signature_base64);
  ASSERT_TRUE(der.ok());
  Spit(dir_ / "payload", s->payload);
  Spit(dir_ / "sig.der", ToString(*der));
  EXPECT_EQ(Shell("openssl dgst -sha256 -verify " + (dir_ / "k1.pub") + " -signature " +
                  (dir_ / "sig.der") + " " + (dir_ / "payload") + " >/dev/null"),
            0);
  EXPECT_NE(Shell("openssl dgst -sha256 -verify " + (dir_ / "k2.pub") + " -signature " +
                  (dir_ / "sig.der") + " " + (dir_ / "payload") + " >/dev/null"),
            0);
  // The manifest is what cosign pushes, and reads back through our own verifier.
  nlohmann::json m = nlohmann::json::parse(s->manifest);
  EXPECT_EQ(m["config"]["digest"], s->config_digest);
  EXPECT_EQ(m["layers"][0]["mediaType"], kCosignLayerMediaType);
  EXPECT_EQ(m["layers"][0]["annotations"][kCosignSignatureAnnotation], s->signature_base64);
  auto sigs = ReadCosignSignatures(s->manifest, [&](const std::string& d) -> Result<std::string> {
    if (d == s->payload_digest) return s->payload;
    return MakeError(Code::kNotFound, d);
  });
  ASSERT_TRUE(sigs.ok()) << sigs.error().message;
  EXPECT_TRUE(VerifyCosignSignature(Pub("k1.pub"), (*sigs)[0]).ok());
  // A public key cannot sign.
  EXPECT_FALSE(SignCosign(Pub("k1.pub"), "a/b", kImageDigest).ok());
}

}  // namespace
}  // namespace coco::signature
