#include "agent/sealed_secret.h"

#include <gtest/gtest.h>

#include <map>

#include "crypto/crypto.h"
#include "jose/jwk.h"

namespace coco::agent {
namespace {

std::string B64u(const std::string& s) { return Base64UrlEncode(ToBytes(s)); }

struct Fixture {
  crypto::Key key = *crypto::Key::GenerateEc(crypto::Curve::kP256);
  std::map<std::string, std::string> broker;
  ResourceGetter get = [this](const std::string& uri) -> Result<SecretBytes> {
    auto it = broker.find(uri);
    if (it == broker.end()) return MakeError(Code::kNotFound, "the broker has no " + uri);
    return SecretBytes(ToBytes(it->second));
  };
  Fixture() {
    broker["kbs:///default/sealed-key/1"] = jose::PublicJwk(key)->dump();
    broker["kbs:///default/secret/db"] = "s3cr3t";
  }
  std::string Seal(const std::string& header, const std::string& payload) {
    std::string input = B64u(header) + "." + B64u(payload);
    return "sealed." + input + "." + Base64UrlEncode(*crypto::EcdsaSign(key, input));
  }
};

const char kHeader[] = R"({"alg":"ES256","kid":"kbs:///default/sealed-key/1"})";
const char kVault[] =
    R"({"version":"0.1.0","type":"vault","provider":"kbs","name":"kbs:///default/secret/db","provider_settings":{},"annotations":{}})";

TEST(SealedSecret, VaultSecretIsFetchedAfterTheSignatureChecks) {
  Fixture f;
  std::string s = f.Seal(kHeader, kVault);
  EXPECT_TRUE(IsSealedSecret(s));
  auto plain = UnsealSecret(s, f.get);
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(ToString(plain->bytes()), "s3cr3t");
}

TEST(SealedSecret, TamperedPayloadOrOtherKeyRefused) {
  Fixture f;
  std::string s = f.Seal(kHeader, kVault);
  // Swap in another payload, keeping the signature.
  std::string other =
      R"({"version":"0.1.0","type":"vault","provider":"kbs","name":"kbs:///default/secret/other"})";
  size_t d1 = s.find('.', 7), d2 = s.find('.', d1 + 1);
  std::string tampered = s.substr(0, d1 + 1) + B64u(other) + s.substr(d2);
  auto r = UnsealSecret(tampered, f.get);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kPermissionDenied);
  // Signed by a key the broker does not hold under that kid.
  Fixture g;
  g.broker["kbs:///default/sealed-key/1"] = f.broker["kbs:///default/sealed-key/1"];
  auto r2 = UnsealSecret(g.Seal(kHeader, kVault), g.get);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("does not verify"), std::string::npos);
}

TEST(SealedSecret, FormsAndTypesRefusedClearly) {
  Fixture f;
  auto expect = [&](const std::string& sealed, const std::string& words) {
    auto r = UnsealSecret(sealed, f.get);
    ASSERT_FALSE(r.ok()) << sealed;
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
  };
  expect("sealed.fakejwsheader.payload.fakesignature", "base64url");
  expect("sealed.a.b", "sealed.<header>.<payload>.<signature>");
  expect("plain", "does not start with");
  expect(f.Seal(R"({"alg":"HS256","kid":"kbs:///default/sealed-key/1"})", kVault), "ES256");
  expect(f.Seal(R"({"alg":"ES256","kid":"local-key"})", kVault), "kbs:///");
  expect(f.Seal(kHeader, R"({"version":"0.2.0","type":"vault"})"), "version");
  expect(
      f.Seal(kHeader, R"({"version":"0.1.0","type":"envelope","provider":"aliyun","key_id":"k"})"),
      "KMS");
  expect(f.Seal(kHeader, R"({"version":"0.1.0","type":"vault","provider":"aws","name":"x"})"),
         "aws");
  // The broker's refusal comes through as it is.
  expect(
      f.Seal(
          kHeader,
          R"({"version":"0.1.0","type":"vault","provider":"kbs","name":"kbs:///default/secret/gone"})"),
      "the broker has no kbs:///default/secret/gone");
}

}  // namespace
}  // namespace coco::agent
