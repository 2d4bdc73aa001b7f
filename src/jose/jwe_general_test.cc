#include "jose/jwe_general.h"

#include <gtest/gtest.h>

#include "jose/jwe.h"

namespace coco::jose {
namespace {

crypto::Key Rsa() { return crypto::Key::GenerateRsa(2048).value(); }
crypto::Key Ec(crypto::Curve c) { return crypto::Key::GenerateEc(c).value(); }

TEST(JweGeneral, OneRecipientIsFlattenedWithEveryMemberProtected) {
  crypto::Key k = Ec(crypto::Curve::kP256);
  auto jwe = JweEncryptToRecipients({{k.PublicOnly(), ""}}, ToBytes("hello"));
  ASSERT_TRUE(jwe.ok()) << jwe.error().message;
  EXPECT_FALSE(jwe->contains("recipients"));
  auto hdr = Base64UrlDecode((*jwe)["protected"].get<std::string>()).value();
  auto h = nlohmann::json::parse(ToString(hdr));
  EXPECT_EQ(h["alg"], "ECDH-ES+A256KW");
  EXPECT_EQ(h["enc"], "A256GCM");
  EXPECT_TRUE(h.contains("epk"));
  auto plain = JweDecryptWithAny(*jwe, {k});
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(ToString(plain->bytes()), "hello");
  // The flattened decrypter of the broker protocol reads it as well.
  auto flat = JweDecrypt(*jwe, k);
  ASSERT_TRUE(flat.ok()) << flat.error().message;
}

TEST(JweGeneral, EveryRecipientOfAGeneralJweOpensIt) {
  crypto::Key rsa = Rsa();
  crypto::Key p256 = Ec(crypto::Curve::kP256);
  crypto::Key p384 = Ec(crypto::Curve::kP384);
  crypto::Key p521 = Ec(crypto::Curve::kP521);
  std::vector<JweRecipient> rs = {{rsa.PublicOnly(), "RSA-OAEP"},
                                  {p256.PublicOnly(), "ECDH-ES+A128KW"},
                                  {p384.PublicOnly(), "ECDH-ES+A192KW"},
                                  {p521.PublicOnly(), ""}};
  auto jwe = JweEncryptToRecipients(rs, ToBytes("{\"symkey\":\"x\"}"));
  ASSERT_TRUE(jwe.ok()) << jwe.error().message;
  ASSERT_TRUE(jwe->contains("recipients"));
  EXPECT_EQ((*jwe)["recipients"].size(), 4u);
  EXPECT_EQ((*jwe)["recipients"][0]["header"]["alg"], "RSA-OAEP");
  EXPECT_EQ((*jwe)["recipients"][3]["header"]["alg"], "ECDH-ES+A256KW");
  for (const crypto::Key& k : {rsa, p256, p384, p521}) {
    auto plain = JweDecryptWithAny(*jwe, {k});
    ASSERT_TRUE(plain.ok()) << plain.error().message;
    EXPECT_EQ(ToString(plain->bytes()), "{\"symkey\":\"x\"}");
  }
}

TEST(JweGeneral, RsaDefaultsToOaep256AndKeyOrderDoesNotMatter) {
  crypto::Key rsa = Rsa();
  crypto::Key other = Ec(crypto::Curve::kP256);
  auto jwe = JweEncryptToRecipients({{rsa.PublicOnly(), ""}}, ToBytes("k"));
  ASSERT_TRUE(jwe.ok());
  auto h = nlohmann::json::parse(
      ToString(Base64UrlDecode((*jwe)["protected"].get<std::string>()).value()));
  EXPECT_EQ(h["alg"], "RSA-OAEP-256");
  auto plain = JweDecryptWithAny(*jwe, {other, rsa});
  ASSERT_TRUE(plain.ok()) << plain.error().message;
}

TEST(JweGeneral, WrongKeyIsRefusedNamingTheRecipients) {
  crypto::Key k = Ec(crypto::Curve::kP256);
  crypto::Key wrong = Ec(crypto::Curve::kP256);
  auto jwe = JweEncryptToRecipients({{k.PublicOnly(), ""}, {Rsa().PublicOnly(), ""}}, ToBytes("x"));
  ASSERT_TRUE(jwe.ok());
  auto plain = JweDecryptWithAny(*jwe, {wrong});
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.error().code, Code::kKeyMismatch);
  EXPECT_NE(plain.error().message.find("ECDH-ES+A256KW"), std::string::npos);
  EXPECT_NE(plain.error().message.find("RSA-OAEP-256"), std::string::npos);
  EXPECT_FALSE(JweDecryptWithAny(*jwe, {}).ok());
}

TEST(JweGeneral, TamperedCiphertextOrHeaderFails) {
  crypto::Key k = Ec(crypto::Curve::kP256);
  auto jwe =
      JweEncryptToRecipients({{k.PublicOnly(), ""}, {Rsa().PublicOnly(), ""}}, ToBytes("xyz"));
  ASSERT_TRUE(jwe.ok());
  auto bad = *jwe;
  auto ct = Base64UrlDecode(bad["ciphertext"].get<std::string>()).value();
  ct[0] ^= 1;
  bad["ciphertext"] = Base64UrlEncode(ct);
  EXPECT_FALSE(JweDecryptWithAny(bad, {k}).ok());
  bad = *jwe;
  bad["protected"] = Base64UrlEncode(std::string("{\"enc\":\"A256GCM\",\"x\":1}"));
  EXPECT_FALSE(JweDecryptWithAny(bad, {k}).ok());
  bad = *jwe;
  bad["recipients"] = nlohmann::json::array();
  EXPECT_FALSE(JweDecryptWithAny(bad, {k}).ok());
  EXPECT_FALSE(JweDecryptWithAny(nlohmann::json::array(), {k}).ok());
}

TEST(JweGeneral, SharedUnprotectedHeaderIsMerged) {
  // A general JWE whose "enc" sits in the shared unprotected header (allowed by RFC 7516).
  crypto::Key k = Ec(crypto::Curve::kP256);
  auto jwe = JweEncryptToRecipients({{k.PublicOnly(), ""}, {Rsa().PublicOnly(), ""}}, ToBytes("m"));
  ASSERT_TRUE(jwe.ok());
  auto dup = *jwe;
  dup["unprotected"] = {{"enc", "A256GCM"}};
  auto r = JweDecryptWithAny(dup, {k});
  ASSERT_FALSE(r.ok());  // "enc" twice
  EXPECT_NE(r.error().message.find("more than one header"), std::string::npos);
}

}  // namespace
}  // namespace coco::jose
