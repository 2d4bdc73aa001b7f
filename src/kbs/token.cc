#include "kbs/token.h"

#include "jose/jcs.h"
#include "jose/jwk.h"
#include "jose/jwt.h"
#include "kbs/errors.h"

namespace coco::kbs {

TokenIssuer::TokenIssuer(crypto::Key key, nlohmann::json public_jwk, std::string kid)
    : key_(key),
      public_key_(key.PublicOnly()),
      public_jwk_(std::move(public_jwk)),
      kid_(std::move(kid)) {
  nlohmann::json published = public_jwk_;
  published["use"] = "sig";
  published["kid"] = kid_;
  jwks_ = {{"keys", nlohmann::json::array({published})}};
}

Result<std::unique_ptr<TokenIssuer>> TokenIssuer::LoadOrCreate(Storage* storage) {
  COCO_ASSIGN_OR_RETURN(auto generated, crypto::Key::GenerateEc(crypto::Curve::kP256));
  COCO_ASSIGN_OR_RETURN(std::string pem, generated.PrivatePem());
  // Two brokers starting on one database agree on the key: the first insert wins.
  COCO_ASSIGN_OR_RETURN(std::string stored,
                        storage->PutIfAbsent(kNsKeys, "token-signing-key", pem));
  COCO_ASSIGN_OR_RETURN(crypto::Key key, crypto::Key::FromPem(stored));
  if (key.type() != crypto::Key::Type::kEc || key.curve() != crypto::Curve::kP256)
    return MakeError(Code::kStorage, "stored token signing key is not an EC P-256 key");
  COCO_ASSIGN_OR_RETURN(nlohmann::json jwk, jose::PublicJwk(key, "ES256"));
  // RFC 7638 thumbprint as the key id.
  nlohmann::json thumb = {
      {"crv", jwk["crv"]}, {"kty", jwk["kty"]}, {"x", jwk["x"]}, {"y", jwk["y"]}};
  COCO_ASSIGN_OR_RETURN(std::string canon, jose::Canonicalize(thumb));
  std::string kid = Base64UrlEncode(crypto::Sha256(canon));
  return std::unique_ptr<TokenIssuer>(new TokenIssuer(key, jwk, kid));
}

Result<TokenIssuer::Issued> TokenIssuer::Issue(const nlohmann::json& cpu0_submod,
                                               const std::string& tee, bool dev, int64_t now_unix,
                                               int64_t lifetime_secs) const {
  nlohmann::json claims = {
      {"eat_profile", kEatProfile},
      {"iat", now_unix},
      {"exp", now_unix + lifetime_secs},
      {"iss", "coco-kbs"},
      {"ear.verifier-id", {{"developer", "coco"}, {"build", "coco-kbs 0.1.0"}}},
      {"submods", {{"cpu0", cpu0_submod}}},
      {"coco", {{"tee", tee}, {"mode", dev ? "dev" : "production"}}},
  };
  COCO_ASSIGN_OR_RETURN(std::string token,
                        jose::SignJwt(key_, claims, {{"jwk", public_jwk_}, {"kid", kid_}}));
  return Issued{std::move(token), std::move(claims)};
}

Result<TokenIssuer::Scope> TokenIssuer::ReadScope(const nlohmann::json& claims) {
  auto coco = claims.find("coco");
  if (coco == claims.end() || !coco->is_object())
    return WireError(Variant::kTokenVerifierError,
                     "token has no \"coco\" claim naming its TEE and mode");
  auto tee = coco->find("tee");
  auto mode = coco->find("mode");
  if (tee == coco->end() || !tee->is_string() || mode == coco->end() || !mode->is_string() ||
      (*mode != "dev" && *mode != "production"))
    return WireError(Variant::kTokenVerifierError, "token's \"coco\" claim is malformed");
  return Scope{tee->get<std::string>(), *mode == "dev"};
}

Result<nlohmann::json> TokenIssuer::Verify(std::string_view token, int64_t now_unix) const {
  return jose::VerifyJwt(token, public_key_, now_unix, /*require_exp=*/true);
}

}  // namespace coco::kbs
