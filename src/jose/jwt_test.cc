#include "jose/jwt.h"

#include <gtest/gtest.h>

#include "jose/jwk.h"

namespace coco::jose {
namespace {

using Json = nlohmann::json;
using crypto::Curve;
using crypto::Key;

constexpr int64_t kNow = 1700000000;

Key MustKey(Result<Key> r) {
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return std::move(r).value();
}

void ExpectErrorMentions(const Result<Json>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok()) << "expected an error mentioning " << needle;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

std::string B64uJson(const Json& j) { return Base64UrlEncode(j.dump()); }

struct KeyCase {
  const char* name;
  Result<Key> (*make)();
  const char* alg;
  size_t sig_size;
};

const KeyCase kKeyCases[] = {
    {"ES256", [] { return Key::GenerateEc(Curve::kP256); }, "ES256", 64},
    {"ES384", [] { return Key::GenerateEc(Curve::kP384); }, "ES384", 96},
    {"EdDSA", [] { return Key::GenerateEd25519(); }, "EdDSA", 64},
};

class JwtKeyTest : public ::testing::TestWithParam<KeyCase> {};

TEST_P(JwtKeyTest, SignDecodeVerify) {
  Key key = MustKey(GetParam().make());
  auto alg = SigningAlg(key);
  ASSERT_TRUE(alg.ok());
  EXPECT_EQ(*alg, GetParam().alg);

  Json claims = {{"sub", "tee"}, {"exp", kNow + 60}, {"nbf", kNow - 60}, {"n", 1.5}};
  auto jwk = PublicJwk(key);
  ASSERT_TRUE(jwk.ok());
  auto token = SignJwt(key, claims, {{"jwk", *jwk}, {"kid", "k1"}});
  ASSERT_TRUE(token.ok()) << token.error().message;

  auto decoded = DecodeJwt(*token);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->header["alg"], GetParam().alg);
  EXPECT_EQ(decoded->header["typ"], "JWT");
  EXPECT_EQ(decoded->header["kid"], "k1");
  EXPECT_EQ(decoded->header["jwk"], *jwk);
  EXPECT_EQ(decoded->claims, claims);
  EXPECT_EQ(decoded->signature.size(), GetParam().sig_size);
  EXPECT_EQ(decoded->signing_input, token->substr(0, token->rfind('.')));

  // The key in the header verifies the token (as a KBS verifies a client's token).
  auto header_key = KeyFromJwk(decoded->header["jwk"]);
  ASSERT_TRUE(header_key.ok());
  auto verified = VerifyJwt(*token, *header_key, kNow);
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(*verified, claims);
  EXPECT_TRUE(VerifyJwt(*token, key.PublicOnly(), kNow).ok());

  // Another key of the same type does not verify.
  Key other = MustKey(GetParam().make());
  ExpectErrorMentions(VerifyJwt(*token, other, kNow), "signature");

  // A changed payload does not verify.
  Json forged = claims;
  forged["sub"] = "admin";
  std::string tampered =
      token->substr(0, token->find('.') + 1) + B64uJson(forged) + token->substr(token->rfind('.'));
  ExpectErrorMentions(VerifyJwt(tampered, key, kNow), "signature");
  // A flipped signature bit does not verify.
  Bytes sig = decoded->signature;
  sig[sig.size() / 2] ^= 0x10;
  ExpectErrorMentions(VerifyJwt(decoded->signing_input + "." + Base64UrlEncode(sig), key, kNow),
                      "signature");
}

INSTANTIATE_TEST_SUITE_P(Algs, JwtKeyTest, ::testing::ValuesIn(kKeyCases),
                         [](const ::testing::TestParamInfo<KeyCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(Jwt, ExpiryAndNotBefore) {
  Key key = MustKey(Key::GenerateEc(Curve::kP256));
  auto at_exp = SignJwt(key, {{"exp", kNow}});
  ExpectErrorMentions(VerifyJwt(*at_exp, key, kNow), "expired");
  auto past = SignJwt(key, {{"exp", kNow - 1}});
  ExpectErrorMentions(VerifyJwt(*past, key, kNow), "expired");
  EXPECT_TRUE(VerifyJwt(*past, key, kNow - 2).ok());

  auto future_nbf = SignJwt(key, {{"exp", kNow + 100}, {"nbf", kNow + 1}});
  ExpectErrorMentions(VerifyJwt(*future_nbf, key, kNow), "not yet valid");
  EXPECT_TRUE(VerifyJwt(*future_nbf, key, kNow + 1).ok());

  auto no_exp = SignJwt(key, {{"sub", "x"}});
  ExpectErrorMentions(VerifyJwt(*no_exp, key, kNow), "exp");
  EXPECT_TRUE(VerifyJwt(*no_exp, key, kNow, /*require_exp=*/false).ok());

  auto string_exp = SignJwt(key, {{"exp", "tomorrow"}});
  ExpectErrorMentions(VerifyJwt(*string_exp, key, kNow), "exp");
  auto float_exp = SignJwt(key, {{"exp", kNow + 0.5}});
  EXPECT_TRUE(VerifyJwt(*float_exp, key, kNow).ok());
  EXPECT_FALSE(VerifyJwt(*float_exp, key, kNow + 1).ok());
}

TEST(Jwt, AlgNoneRefused) {
  Key key = MustKey(Key::GenerateEc(Curve::kP256));
  std::string input = B64uJson({{"alg", "none"}, {"typ", "JWT"}}) + "." +
                      B64uJson({{"sub", "x"}, {"exp", kNow + 60}});
  ExpectErrorMentions(VerifyJwt(input + ".", key, kNow), "none");
  // Even with a valid signature over the input attached.
  auto sig = crypto::EcdsaSign(key, input);
  ExpectErrorMentions(VerifyJwt(input + "." + Base64UrlEncode(*sig), key, kNow), "none");
}

TEST(Jwt, AlgMismatchRefused) {
  Key p256 = MustKey(Key::GenerateEc(Curve::kP256));
  Key p384 = MustKey(Key::GenerateEc(Curve::kP384));
  Key ed = MustKey(Key::GenerateEd25519());
  auto es384 = SignJwt(p384, {{"exp", kNow + 60}});
  ExpectErrorMentions(VerifyJwt(*es384, p256, kNow), "does not match");
  auto es256 = SignJwt(p256, {{"exp", kNow + 60}});
  ExpectErrorMentions(VerifyJwt(*es256, ed, kNow), "does not match");
  // A header claiming HS256 (HMAC with the public key as secret) is refused.
  std::string hs = B64uJson({{"alg", "HS256"}}) + "." + B64uJson({{"exp", kNow + 60}}) + ".AAAA";
  ExpectErrorMentions(VerifyJwt(hs, p256, kNow), "HS256");
  // Header "alg" rewritten from ES384 to ES256 and verified with a P-256 key: bad signature.
  auto d = DecodeJwt(*es384);
  Json h = d->header;
  h["alg"] = "ES256";
  std::string relabeled = B64uJson(h) + "." + es384->substr(es384->find('.') + 1);
  EXPECT_FALSE(VerifyJwt(relabeled, p256, kNow).ok());
  // Unsupported verification keys.
  Key p521 = MustKey(Key::GenerateEc(Curve::kP521));
  EXPECT_FALSE(VerifyJwt(*es256, p521, kNow).ok());
  // crit is refused.
  std::string crit_input = B64uJson({{"alg", "ES256"}, {"crit", {"x"}}, {"x", 1}}) + "." +
                           B64uJson({{"exp", kNow + 60}});
  auto crit_sig = crypto::EcdsaSign(p256, crit_input);
  ExpectErrorMentions(VerifyJwt(crit_input + "." + Base64UrlEncode(*crit_sig), p256, kNow), "crit");
}

TEST(Jwt, SigningAlgAndSignArguments) {
  auto rsa = Key::GenerateRsa(2048);
  ASSERT_TRUE(rsa.ok());
  auto r = SigningAlg(*rsa);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("RSA"), std::string::npos);
  Key p521 = MustKey(Key::GenerateEc(Curve::kP521));
  auto r521 = SigningAlg(p521);
  ASSERT_FALSE(r521.ok());
  EXPECT_NE(r521.error().message.find("P-521"), std::string::npos);
  EXPECT_FALSE(SignJwt(*rsa, {{"a", 1}}).ok());

  Key key = MustKey(Key::GenerateEc(Curve::kP256));
  EXPECT_FALSE(SignJwt(key.PublicOnly(), {{"a", 1}}).ok());
  EXPECT_FALSE(SignJwt(key, Json::array({1, 2})).ok());
  EXPECT_FALSE(SignJwt(key, {{"a", 1}}, {{"alg", "none"}}).ok());
  EXPECT_FALSE(SignJwt(key, {{"a", 1}}, {{"typ", "at+jwt"}}).ok());
  EXPECT_TRUE(SignJwt(key, {{"a", 1}}, {{"alg", "ES256"}, {"typ", "JWT"}}).ok());
  EXPECT_FALSE(SignJwt(key, {{"a", std::string("\xFF")}}).ok());  // invalid UTF-8
}

TEST(Jwt, DecodeRejectsMalformed) {
  EXPECT_FALSE(DecodeJwt("").ok());
  EXPECT_FALSE(DecodeJwt("a.b").ok());
  EXPECT_FALSE(DecodeJwt("a.b.c.d").ok());
  std::string h = B64uJson({{"alg", "ES256"}});
  std::string p = B64uJson({{"a", 1}});
  EXPECT_TRUE(DecodeJwt(h + "." + p + ".").ok());
  EXPECT_FALSE(DecodeJwt("." + p + ".AAAA").ok());
  auto bad_b64 = DecodeJwt(h + ".*." + "AAAA");
  ASSERT_FALSE(bad_b64.ok());
  EXPECT_NE(bad_b64.error().message.find("payload"), std::string::npos);
  auto not_json = DecodeJwt(Base64UrlEncode(std::string_view("{oops")) + "." + p + ".AAAA");
  ASSERT_FALSE(not_json.ok());
  EXPECT_NE(not_json.error().message.find("header"), std::string::npos);
  auto array_claims = DecodeJwt(h + "." + B64uJson(Json::array()) + ".AAAA");
  ASSERT_FALSE(array_claims.ok());
  EXPECT_NE(array_claims.error().message.find("payload"), std::string::npos);
  EXPECT_FALSE(DecodeJwt(h + "." + p + ".AA=A").ok());
}

TEST(Jwt, Rfc7515AppendixA3) {
  // ES256 example of RFC 7515 A.3 (the payload has CRLFs; exp 1300819380).
  Json jwk = {{"kty", "EC"},
              {"crv", "P-256"},
              {"x", "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"},
              {"y", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}};
  auto key = KeyFromJwk(jwk);
  ASSERT_TRUE(key.ok()) << key.error().message;
  std::string token =
      "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"
      "LmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlS"
      "ApmWQxfKTUJqPP3-Kg6NU1Q";
  auto claims = VerifyJwt(token, *key, 1300819379);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ((*claims)["iss"], "joe");
  EXPECT_EQ((*claims)["http://example.com/is_root"], true);
  ExpectErrorMentions(VerifyJwt(token, *key, 1300819380), "expired");
}

TEST(Jwk, ParseAndExport) {
  Key ec = MustKey(Key::GenerateEc(Curve::kP384));
  auto jwk = PublicJwk(ec, "ES384");
  ASSERT_TRUE(jwk.ok());
  EXPECT_EQ((*jwk)["kty"], "EC");
  EXPECT_EQ((*jwk)["crv"], "P-384");
  EXPECT_EQ((*jwk)["alg"], "ES384");
  EXPECT_EQ(jwk->size(), 5u);
  auto back = KeyFromJwk(*jwk);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*PublicJwk(*back, "ES384"), *jwk);

  Key ed = MustKey(Key::GenerateEd25519());
  Json ed_jwk = *PublicJwk(ed);
  EXPECT_EQ(ed_jwk, (Json{{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", ed_jwk["x"]}}));
  EXPECT_TRUE(KeyFromJwk(ed_jwk).ok());

  auto err = [](const Json& j) {
    auto r = KeyFromJwk(j);
    EXPECT_FALSE(r.ok()) << j.dump();
    return r.ok() ? std::string() : r.error().message;
  };
  EXPECT_NE(err(Json::array()).find("object"), std::string::npos);
  EXPECT_NE(err({{"crv", "P-256"}}).find("kty"), std::string::npos);
  EXPECT_NE(err({{"kty", "oct"}, {"k", "AAAA"}}).find("kty"), std::string::npos);
  Json bad = *jwk;
  bad["crv"] = "P-192";
  EXPECT_NE(err(bad).find("crv"), std::string::npos);
  bad = *jwk;
  bad["x"] = 5;
  EXPECT_NE(err(bad).find("\"x\""), std::string::npos);
  bad = *jwk;
  bad.erase("y");
  EXPECT_NE(err(bad).find("\"y\""), std::string::npos);
  bad = *jwk;
  bad["x"] = "+++";
  EXPECT_NE(err(bad).find("\"x\""), std::string::npos);
  bad = *jwk;
  bad["y"] = (*jwk)["x"];  // not on the curve (almost surely)
  EXPECT_NE(err(bad).find("\"x\"/\"y\""), std::string::npos);
  bad = ed_jwk;
  bad["crv"] = "X25519";
  EXPECT_NE(err(bad).find("crv"), std::string::npos);
  bad = {{"kty", "RSA"}, {"n", "AQAB"}, {"e", "AQAB"}};
  EXPECT_NE(err(bad).find("\"n\""), std::string::npos);
  // Private members are ignored.
  Json with_d = *jwk;
  with_d["d"] = "AAAA";
  auto pub = KeyFromJwk(with_d);
  ASSERT_TRUE(pub.ok());
  EXPECT_FALSE(pub->has_private());
}

}  // namespace
}  // namespace coco::jose
