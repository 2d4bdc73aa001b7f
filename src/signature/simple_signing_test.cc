#include "signature/simple_signing.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "crypto/crypto.h"
#include "signature/test_util.h"

namespace coco::signature {
namespace {

using sigtest::HaveTool;
using sigtest::Shell;
using sigtest::Slurp;
using sigtest::Spit;
using sigtest::TempDir;
using sigtest::TestData;
using sigtest::TestGpgHome;

constexpr char kAlpineDigest[] =
    "sha256:69704ef328d05a9f806b6b8502915e6a0a4faa4d72018dc42343f511490daf8a";
constexpr char kXinjianFpr[] = "2183156095E072685518F8A97EFD4C926F9311E2";

TEST(GpgVerifier, UpstreamSignaturesVerify) {
  auto v = GpgVerifier::Create({Slurp(TestData("pubring.gpg"))});
  ASSERT_TRUE(v.ok()) << v.error().message;
  EXPECT_EQ((*v)->trusted_fingerprints().size(), 3u);
  EXPECT_EQ((*v)->trusted_fingerprints().count(kXinjianFpr), 1u);
  std::string home = (*v)->home();
  EXPECT_TRUE(std::filesystem::exists(home));
  for (const char* f : {"signature-1", "signature-2"}) {
    auto r = VerifySimpleSigning(**v, Slurp(TestData(f)));
    ASSERT_TRUE(r.ok()) << f << ": " << r.error().message;
    EXPECT_EQ(r->fingerprint, kXinjianFpr);
    EXPECT_EQ(r->payload.docker_reference, "quay.io/ali_os_security/alpine:latest");
    EXPECT_EQ(r->payload.manifest_digest, kAlpineDigest);
    EXPECT_EQ(r->payload.type, kSimpleSigningType);
  }
  v->reset();
  EXPECT_FALSE(std::filesystem::exists(home)) << "temporary GnuPG home not removed";
}

TEST(GpgVerifier, RefusesTamperedAndGarbage) {
  auto v = GpgVerifier::Create({Slurp(TestData("pubring.gpg"))});
  ASSERT_TRUE(v.ok()) << v.error().message;
  std::string sig = Slurp(TestData("signature-1"));
  // Flip a byte near the end (inside the signature packet's MPIs).
  sig[sig.size() - 10] ^= 0x01;
  EXPECT_FALSE((*v)->Verify(sig).ok());
  auto g = (*v)->Verify("definitely not OpenPGP");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().code, Code::kSignatureInvalid);
  EXPECT_FALSE((*v)->Verify("").ok());
}

TEST(GpgVerifier, UntrustedAndExpiredKeysRefused) {
  // The upstream kata key signs ":signed" but has expired; ":other_signed" is by another key.
  auto v = GpgVerifier::Create({Slurp(TestData("simple-signing-scheme/pubkey.gpg"))});
  ASSERT_TRUE(v.ok()) << v.error().message;
  std::string dir = TestData("simple-signing-scheme/signatures/kata-containers/");
  auto expired = (*v)->Verify(
      Slurp(dir + "confidential-containers@sha256="
                  "febcf61cd6e1ac9628f6ac14fa40836d16f3c6ddef3b303ff0321606e55ddd0b/signature-1"));
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(expired.error().message.find("67B24AACC459679E0283D7EE58F6ED07EEA6B429"),
            std::string::npos)
      << expired.error().message;
  auto other = (*v)->Verify(
      Slurp(dir + "confidential-containers@sha256="
                  "7250923ba3543110040462388756ef099331822c6172a050b12c7a38361ea46f/signature-1"));
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("is not trusted"), std::string::npos)
      << other.error().message;
  // The same signature verifies against the wrong keyring? No: the upstream pubring lacks it.
  auto v2 = GpgVerifier::Create({Slurp(TestData("pubring.gpg"))});
  ASSERT_TRUE(v2.ok());
  EXPECT_FALSE((*v2)
                   ->Verify(Slurp(TestData("simple-signing-scheme/signatures/kata-containers/"
                                           "confidential-containers@sha256="
                                           "febcf61cd6e1ac9628f6ac14fa40836d16f3c6ddef3b303ff03216"
                                           "06e55ddd0b/signature-1")))
                   .ok());
}

TEST(GpgVerifier, NoKeysIsAnError) {
  auto v = GpgVerifier::Create({"nonsense"});
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.error().message.find("no public keys imported"), std::string::npos);
}

std::string DigestOf(const std::string& bytes) {
  return "sha256:" + HexEncode(crypto::Sha256(bytes));
}

constexpr char kManifest[] =
    R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
    R"("config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,)"
    R"("digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},)"
    R"("layers":[]})";

TEST(SimpleSigning, SignVerifyRoundTripAndSkopeoInterop) {
  TestGpgHome alice("alice@example.com");
  ASSERT_TRUE(alice.ok()) << "cannot generate a GPG key with gpg";
  TestGpgHome mallory("mallory@example.com");
  ASSERT_TRUE(mallory.ok());
  const std::string ref = "localhost:5000/coco/app:v1";
  const std::string digest = DigestOf(kManifest);

  GpgSignOptions opts;
  opts.key = alice.email();
  opts.gnupg_home = alice.home();
  auto blob = SignSimpleSigning(ref, digest, opts);
  ASSERT_TRUE(blob.ok()) << blob.error().message;

  auto v = GpgVerifier::Create({alice.public_keyring()});
  ASSERT_TRUE(v.ok()) << v.error().message;
  auto r = VerifySimpleSigning(**v, *blob);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->fingerprint, alice.fingerprint());
  EXPECT_EQ(r->payload.docker_reference, ref);
  EXPECT_EQ(r->payload.manifest_digest, digest);

  // Another key's signature is refused by alice's keyring.
  GpgSignOptions mopts{mallory.email(), mallory.home(), "", "coco"};
  auto evil = SignSimpleSigning(ref, digest, mopts);
  ASSERT_TRUE(evil.ok()) << evil.error().message;
  auto refused = VerifySimpleSigning(**v, *evil);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("signature by key"), std::string::npos);
  EXPECT_NE(refused.error().message.find("not trusted"), std::string::npos)
      << refused.error().message;

  // Unknown and ambiguous signing keys.
  GpgSignOptions nokey{"nobody@example.com", alice.home(), "", "coco"};
  EXPECT_FALSE(SignSimpleSigning(ref, digest, nokey).ok());

  if (!HaveTool("skopeo")) GTEST_SKIP() << "skopeo not installed";
  TempDir work;
  Spit(work / "manifest.json", kManifest);
  Spit(work / "ours.sig", *blob);
  std::string env = "GNUPGHOME=" + alice.home() + " ";
  // skopeo accepts our signature...
  EXPECT_EQ(Shell(env + "skopeo standalone-verify " + (work / "manifest.json") + " " + ref + " " +
                  alice.fingerprint() + " " + (work / "ours.sig") + " >/dev/null"),
            0);
  // ...but not for another reference.
  EXPECT_NE(Shell(env + "skopeo standalone-verify " + (work / "manifest.json") +
                  " localhost:5000/coco/other:v1 " + alice.fingerprint() + " " +
                  (work / "ours.sig") + " >/dev/null 2>&1"),
            0);
  // A signature made by skopeo verifies with our code.
  ASSERT_EQ(Shell(env + "skopeo standalone-sign -o " + (work / "skopeo.sig") + " " +
                  (work / "manifest.json") + " " + ref + " " + alice.fingerprint() + " >/dev/null"),
            0);
  auto s = VerifySimpleSigning(**v, Slurp(work / "skopeo.sig"));
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->payload.docker_reference, ref);
  EXPECT_EQ(s->payload.manifest_digest, digest);
  EXPECT_EQ(s->fingerprint, alice.fingerprint());
}

}  // namespace
}  // namespace coco::signature
