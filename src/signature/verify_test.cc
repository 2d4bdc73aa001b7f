#include "signature/verify.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "crypto/crypto.h"
#include "signature/cosign.h"
#include "signature/test_util.h"

namespace coco::signature {
namespace {

using sigtest::Slurp;
using sigtest::TempDir;
using sigtest::TestData;
using sigtest::TestGpgHome;

constexpr char kAlpine[] = "quay.io/ali_os_security/alpine:latest";
constexpr char kAlpineDigest[] =
    "sha256:69704ef328d05a9f806b6b8502915e6a0a4faa4d72018dc42343f511490daf8a";
constexpr char kOtherDigest[] =
    "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

ImageReference Ref(const std::string& s) { return *ImageReference::Parse(s); }

// In-memory signatures: simple-signing blobs per digest, cosign manifests per digest, blobs.
class FakeSources : public SignatureSources {
 public:
  Result<SimpleSignatureSet> SimpleSignatures(const ImageReference& image,
                                              const std::string& digest) override {
    SimpleSignatureSet s;
    s.location = "fake store for " + image.Name();
    auto it = simple.find(digest);
    if (it != simple.end()) s.blobs = it->second;
    return s;
  }
  Result<std::optional<std::string>> CosignManifest(const ImageReference&,
                                                    const std::string& digest) override {
    auto it = cosign.find(digest);
    if (it == cosign.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Result<std::string> CosignBlob(const ImageReference&, const std::string& digest) override {
    auto it = blobs.find(digest);
    if (it == blobs.end()) return MakeError(Code::kNotFound, "blob " + digest);
    return it->second;
  }
  std::map<std::string, std::vector<std::string>> simple;
  std::map<std::string, std::string> cosign;
  std::map<std::string, std::string> blobs;
};

Policy MustParse(const std::string& json) {
  auto p = Policy::Parse(json);
  EXPECT_TRUE(p.ok()) << p.error().message;
  return p.ok() ? *p : *Policy::Parse(R"({"default":[{"type":"reject"}]})");
}

std::string SignedByPolicy(const std::string& key_source, const std::string& identity = "") {
  return R"({"default":[{"type":"reject"}],"transports":{"docker":{"quay.io/ali_os_security":[)"
         R"({"type":"signedBy","keyType":"GPGKeys",)" +
         key_source + (identity.empty() ? "" : R"(,"signedIdentity":)" + identity) + "}]}}}";
}

std::string KeyPath() { return R"("keyPath":")" + TestData("pubring.gpg") + "\""; }

TEST(Verify, UpstreamSimpleSignatureAccepted) {
  FakeSources src;
  src.simple[kAlpineDigest] = {Slurp(TestData("signature-1"))};
  Policy p = MustParse(SignedByPolicy(KeyPath()));
  Status s = Verify(p, Ref(kAlpine), kAlpineDigest, src);
  EXPECT_TRUE(s.ok()) << s.error().message;
  // By digest (matchRepoDigestOrExact only compares repositories then).
  s = Verify(p, Ref(std::string("quay.io/ali_os_security/alpine@") + kAlpineDigest), kAlpineDigest,
             src);
  EXPECT_TRUE(s.ok()) << s.error().message;
  // keyData (base64 keyring) works the same.
  std::string data =
      R"("keyData":")" + Base64Encode(ToBytes(Slurp(TestData("pubring.gpg")))) + "\"";
  s = Verify(MustParse(SignedByPolicy(data)), Ref(kAlpine), kAlpineDigest, src);
  EXPECT_TRUE(s.ok()) << s.error().message;
}

TEST(Verify, WrongDigestAndIdentityRefusedWithReasons) {
  FakeSources src;
  src.simple[kOtherDigest] = {Slurp(TestData("signature-1"))};
  src.simple[kAlpineDigest] = {Slurp(TestData("signature-1"))};
  Policy p = MustParse(SignedByPolicy(KeyPath()));
  Status s = Verify(p, Ref("quay.io/ali_os_security/alpine:latest"), kOtherDigest, src);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Code::kPolicyDenied);
  EXPECT_EQ(s.error().message,
            "image quay.io/ali_os_security/alpine:latest (transport docker scope "
            "\"quay.io/ali_os_security\"): requirement 1 of 1 (signedBy): signed digest " +
                std::string(kAlpineDigest) + " does not match manifest " + kOtherDigest);

  s = Verify(p, Ref("quay.io/ali_os_security/alpine:3.18"), kAlpineDigest, src);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("identity quay.io/ali_os_security/alpine:latest does not match "
                                   "the policy's matchRepoDigestOrExact for "
                                   "quay.io/ali_os_security/alpine:3.18"),
            std::string::npos)
      << s.error().message;
  // matchRepository accepts another tag of the same repository, not another repository.
  Policy repo = MustParse(SignedByPolicy(KeyPath(), R"({"type":"matchRepository"})"));
  EXPECT_TRUE(Verify(repo, Ref("quay.io/ali_os_security/alpine:3.18"), kAlpineDigest, src).ok());
  EXPECT_FALSE(Verify(repo, Ref("quay.io/ali_os_security/busybox:1"), kAlpineDigest, src).ok());
  // exactReference pins the signed identity regardless of the image name.
  Policy exact = MustParse(SignedByPolicy(
      KeyPath(), R"({"type":"exactReference","dockerReference":")" + std::string(kAlpine) + "\"}"));
  EXPECT_TRUE(Verify(exact, Ref("quay.io/ali_os_security/copy:9"), kAlpineDigest, src).ok());
  // remapIdentity: a mirror signed under the upstream name.
  std::string remap = R"({"default":[{"type":"signedBy","keyType":"GPGKeys",)" + KeyPath() +
                      R"(,"signedIdentity":{"type":"remapIdentity","prefix":"mirror.local/ali",)"
                      R"("signedPrefix":"quay.io/ali_os_security"}}]})";
  EXPECT_TRUE(
      Verify(MustParse(remap), Ref("mirror.local/ali/alpine:latest"), kAlpineDigest, src).ok());
  // A reference whose digest differs from the manifest's is refused up front.
  s = Verify(p, Ref(std::string("quay.io/ali_os_security/alpine@") + kOtherDigest), kAlpineDigest,
             src);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("names digest"), std::string::npos);
}

TEST(Verify, UnsignedUntrustedRejectAndAcceptAnything) {
  TempDir dir;
  RegistriesConfig reg;
  ASSERT_TRUE(RegistriesConfig::ParseYaml("default-docker: {lookaside: file://" + dir.path() + "}",
                                          "r.yaml", reg)
                  .ok());
  StoreSignatureSources store(reg);
  Policy p = MustParse(SignedByPolicy(KeyPath()));
  Status s = Verify(p, Ref(kAlpine), kAlpineDigest, store);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("requirement 1 of 1 (signedBy): no signature found in "
                                   "lookaside file://" +
                                   dir.path() + "/ali_os_security/alpine@sha256=69704ef3"),
            std::string::npos)
      << s.error().message;
  // Signed, but by a key the policy does not trust.
  ASSERT_TRUE(AppendLookasideSignature(
                  "file://" + dir.path(), Ref(kAlpine), kAlpineDigest,
                  Slurp(TestData("simple-signing-scheme/signatures/kata-containers/"
                                 "confidential-containers@sha256="
                                 "febcf61cd6e1ac9628f6ac14fa40836d16f3c6ddef3b303ff0321606e55ddd0b/"
                                 "signature-1")))
                  .ok());
  s = Verify(p, Ref(kAlpine), kAlpineDigest, store);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("signature by key"), std::string::npos) << s.error().message;
  // Then a valid one is appended: at least one acceptable signature suffices.
  ASSERT_TRUE(AppendLookasideSignature("file://" + dir.path(), Ref(kAlpine), kAlpineDigest,
                                       Slurp(TestData("signature-1")))
                  .ok());
  s = Verify(p, Ref(kAlpine), kAlpineDigest, store);
  EXPECT_TRUE(s.ok()) << s.error().message;

  // Default reject, insecureAcceptAnything, and ALL requirements must pass.
  s = Verify(p, Ref("docker.io/library/busybox:1"), kAlpineDigest, store);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message,
            "image docker.io/library/busybox:1 (policy default): requirement 1 of 1 (reject): "
            "the policy rejects this image");
  Policy any = MustParse(R"({"default":[{"type":"insecureAcceptAnything"}]})");
  EXPECT_TRUE(Verify(any, Ref("busybox"), kAlpineDigest, store).ok());
  Policy both = MustParse(R"({"default":[{"type":"insecureAcceptAnything"},{"type":"reject"}]})");
  s = Verify(both, Ref("busybox"), kAlpineDigest, store);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("docker.io/library/busybox:latest (policy default): "
                                   "requirement 2 of 2 (reject)"),
            std::string::npos)
      << s.error().message;
  EXPECT_FALSE(Verify(any, Ref("busybox"), "sha256:short", store).ok());
}

TEST(Verify, KbsKeyPathsUseTheResolver) {
  FakeSources src;
  src.simple[kAlpineDigest] = {Slurp(TestData("signature-1"))};
  Policy p = MustParse(SignedByPolicy(R"("keyPath":"kbs:///default/gpg-keys/alpine")"));
  Status s = Verify(p, Ref(kAlpine), kAlpineDigest, src);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("needs a key resolver"), std::string::npos);
  std::vector<std::string> asked;
  VerifyOptions opts;
  opts.remote_keys = [&](const std::string& uri) -> Result<std::string> {
    asked.push_back(uri);
    return Slurp(TestData("pubring.gpg"));
  };
  s = Verify(p, Ref(kAlpine), kAlpineDigest, src, opts);
  EXPECT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(asked, std::vector<std::string>{"kbs:///default/gpg-keys/alpine"});
  opts.remote_keys = [](const std::string&) -> Result<std::string> {
    return MakeError(Code::kNotFound, "resource not found");
  };
  s = Verify(p, Ref(kAlpine), kAlpineDigest, src, opts);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("cannot fetch key kbs:///default/gpg-keys/alpine"),
            std::string::npos);
  // A missing key file names the file.
  Policy nofile = MustParse(SignedByPolicy(R"("keyPath":"/nonexistent/key.gpg")"));
  s = Verify(nofile, Ref(kAlpine), kAlpineDigest, src);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("/nonexistent/key.gpg"), std::string::npos);
}

TEST(Verify, CosignRequirement) {
  auto key = crypto::Key::GenerateEc(crypto::Curve::kP256);
  auto other = crypto::Key::GenerateEc(crypto::Curve::kP256);
  ASSERT_TRUE(key.ok() && other.ok());
  const std::string repo = "registry.example.com/team/app";
  auto signed_ = SignCosign(*key, repo, kAlpineDigest);
  ASSERT_TRUE(signed_.ok()) << signed_.error().message;
  FakeSources src;
  src.cosign[kAlpineDigest] = signed_->manifest;
  src.blobs[signed_->payload_digest] = signed_->payload;
  auto policy_for = [&](const crypto::Key& k, const std::string& identity) {
    nlohmann::json req = {{"type", "sigstoreSigned"}, {"keyData", *k.PublicPem()}};
    if (!identity.empty()) req["signedIdentity"] = nlohmann::json::parse(identity);
    nlohmann::json j = {{"default", {{{"type", "reject"}}}},
                        {"transports", {{"docker", {{"registry.example.com", {req}}}}}}};
    return MustParse(j.dump());
  };
  Policy by_repo = policy_for(*key, R"({"type":"matchRepository"})");
  Status s = Verify(by_repo, Ref(repo + ":v1"), kAlpineDigest, src);
  EXPECT_TRUE(s.ok()) << s.error().message;
  // Default matchRepoDigestOrExact: fine by digest, not for a tag (cosign signs the repository).
  Policy dflt = policy_for(*key, "");
  EXPECT_TRUE(Verify(dflt, Ref(repo + "@" + kAlpineDigest), kAlpineDigest, src).ok());
  EXPECT_FALSE(Verify(dflt, Ref(repo + ":v1"), kAlpineDigest, src).ok());
  // exactRepository for a differently named copy.
  Policy exact =
      policy_for(*key, R"({"type":"exactRepository","dockerRepository":")" + repo + "\"}");
  EXPECT_TRUE(Verify(exact, Ref("registry.example.com/copy:v1"), kAlpineDigest, src).ok());
  // keyPaths: a signature by any listed key counts.
  TempDir keys;
  sigtest::Spit(keys / "other.pub", *other->PublicPem());
  sigtest::Spit(keys / "key.pub", *key->PublicPem());
  nlohmann::json paths = {{"default",
                           {{{"type", "sigstoreSigned"},
                             {"keyPaths", {keys / "other.pub", keys / "key.pub"}},
                             {"signedIdentity", {{"type", "matchRepository"}}}}}}};
  s = Verify(MustParse(paths.dump()), Ref(repo + ":v1"), kAlpineDigest, src);
  EXPECT_TRUE(s.ok()) << s.error().message;
  // Wrong key.
  s = Verify(policy_for(*other, R"({"type":"matchRepository"})"), Ref(repo + ":v1"), kAlpineDigest,
             src);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("requirement 1 of 1 (sigstoreSigned): cosign signature"),
            std::string::npos)
      << s.error().message;
  // Signature for another digest stored under this one.
  auto wrong_digest = SignCosign(*key, repo, kOtherDigest);
  src.cosign[kAlpineDigest] = wrong_digest->manifest;
  src.blobs[wrong_digest->payload_digest] = wrong_digest->payload;
  s = Verify(by_repo, Ref(repo + ":v1"), kAlpineDigest, src);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("signed digest " + std::string(kOtherDigest) +
                                   " does not match manifest " + kAlpineDigest),
            std::string::npos)
      << s.error().message;
  // No signature tag at all.
  src.cosign.clear();
  s = Verify(by_repo, Ref(repo + ":v1"), kAlpineDigest, src);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("no cosign signature found (tag sha256-69704ef3"),
            std::string::npos)
      << s.error().message;
}

TEST(Verify, SignToLookasideThenVerify) {
  TestGpgHome alice("alice@example.com");
  ASSERT_TRUE(alice.ok());
  TempDir store;
  RegistriesConfig reg;
  ASSERT_TRUE(RegistriesConfig::ParseYaml(
                  "docker:\n  localhost:5000/coco:\n    lookaside: file://" + store.path() +
                      "/pub\n    lookaside-staging: file://" + store.path() + "/staging\n",
                  "r.yaml", reg)
                  .ok());
  ImageReference image = Ref("localhost:5000/coco/app:v1");
  GpgSignOptions opts{alice.email(), alice.home(), "", "coco"};
  auto url = SignToLookaside(reg, image, kAlpineDigest, opts);
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_EQ(*url, "file://" + store.path() + "/staging/coco/app@sha256=" +
                      std::string(kAlpineDigest + 7) + "/signature-1");
  // Publish staging as the read location, then verify with a policy trusting alice's key.
  RegistriesConfig readers;
  ASSERT_TRUE(
      RegistriesConfig::ParseYaml(
          "default-docker: {lookaside: file://" + store.path() + "/staging}", "r.yaml", readers)
          .ok());
  StoreSignatureSources src(readers);
  nlohmann::json j = {{"default",
                       {{{"type", "signedBy"},
                         {"keyType", "GPGKeys"},
                         {"keyData", Base64Encode(ToBytes(alice.public_keyring()))}}}}};
  Policy p = MustParse(j.dump());
  Status s = Verify(p, image, kAlpineDigest, src);
  EXPECT_TRUE(s.ok()) << s.error().message;
  s = Verify(p, Ref("localhost:5000/coco/app:v2"), kAlpineDigest, src);
  EXPECT_FALSE(s.ok());
  // Nothing configured for another registry.
  EXPECT_FALSE(SignToLookaside(reg, Ref("quay.io/x:1"), kAlpineDigest, opts).ok());
}

}  // namespace
}  // namespace coco::signature
