#include "jose/jwk.h"

#include <string_view>

#include "base/bytes.h"

namespace coco::jose {
namespace {

using Json = nlohmann::json;

Result<std::string> StringMember(const Json& jwk, const char* name) {
  auto it = jwk.find(name);
  if (it == jwk.end()) {
    return MakeError(Code::kInvalidArgument, std::string("JWK has no \"") + name + "\" member");
  }
  if (!it->is_string()) {
    return MakeError(Code::kInvalidArgument,
                     std::string("JWK member \"") + name + "\" is not a string");
  }
  return it->get<std::string>();
}

Result<Bytes> Base64UrlMember(const Json& jwk, const char* name) {
  COCO_ASSIGN_OR_RETURN(std::string text, StringMember(jwk, name));
  auto bytes = Base64UrlDecode(text);
  if (!bytes.ok()) {
    return MakeError(Code::kInvalidArgument, std::string("JWK member \"") + name +
                                                 "\" is not base64url: " + bytes.error().message);
  }
  if (bytes->empty()) {
    return MakeError(Code::kInvalidArgument, std::string("JWK member \"") + name + "\" is empty");
  }
  return std::move(bytes).value();
}

// Prefixes a key-construction error with the JWK context.
Error InJwk(const Error& e, const std::string& what) {
  return MakeError(e.code, "JWK " + what + ": " + e.message);
}

Result<crypto::Key> ParseJwk(const Json& jwk) {
  if (!jwk.is_object()) return MakeError(Code::kInvalidArgument, "JWK is not a JSON object");
  COCO_ASSIGN_OR_RETURN(std::string kty, StringMember(jwk, "kty"));
  if (kty == "EC") {
    COCO_ASSIGN_OR_RETURN(std::string crv, StringMember(jwk, "crv"));
    auto curve = crypto::CurveFromName(crv);
    if (!curve.ok()) return InJwk(curve.error(), "member \"crv\"");
    COCO_ASSIGN_OR_RETURN(Bytes x, Base64UrlMember(jwk, "x"));
    COCO_ASSIGN_OR_RETURN(Bytes y, Base64UrlMember(jwk, "y"));
    size_t size = crypto::CurveCoordinateSize(*curve);
    if (x.size() > size) {
      return MakeError(Code::kInvalidArgument, "JWK member \"x\" has " + std::to_string(x.size()) +
                                                   " bytes, more than " + std::to_string(size) +
                                                   " for " + crv);
    }
    if (y.size() > size) {
      return MakeError(Code::kInvalidArgument, "JWK member \"y\" has " + std::to_string(y.size()) +
                                                   " bytes, more than " + std::to_string(size) +
                                                   " for " + crv);
    }
    auto key = crypto::Key::FromEcPublic(*curve, x, y);
    if (!key.ok()) return InJwk(key.error(), "members \"x\"/\"y\"");
    return key;
  }
  if (kty == "RSA") {
    COCO_ASSIGN_OR_RETURN(Bytes n, Base64UrlMember(jwk, "n"));
    COCO_ASSIGN_OR_RETURN(Bytes e, Base64UrlMember(jwk, "e"));
    auto key = crypto::Key::FromRsaPublic(n, e);
    if (!key.ok()) return InJwk(key.error(), "members \"n\"/\"e\"");
    return key;
  }
  if (kty == "OKP") {
    COCO_ASSIGN_OR_RETURN(std::string crv, StringMember(jwk, "crv"));
    if (crv != "Ed25519") {
      return MakeError(Code::kInvalidArgument,
                       "JWK member \"crv\" is \"" + crv + "\"; only Ed25519 is supported for OKP");
    }
    COCO_ASSIGN_OR_RETURN(Bytes x, Base64UrlMember(jwk, "x"));
    if (x.size() != 32) {
      return MakeError(Code::kInvalidArgument, "JWK member \"x\" has " + std::to_string(x.size()) +
                                                   " bytes, expected 32 for Ed25519");
    }
    auto key = crypto::Key::FromEd25519Public(x);
    if (!key.ok()) return InJwk(key.error(), "member \"x\"");
    return key;
  }
  return MakeError(Code::kInvalidArgument,
                   "JWK member \"kty\" is \"" + kty + "\"; expected \"EC\", \"RSA\" or \"OKP\"");
}

}  // namespace

Result<crypto::Key> KeyFromJwk(const nlohmann::json& jwk) {
  try {
    return ParseJwk(jwk);
  } catch (const nlohmann::json::exception& e) {
    return MakeError(Code::kInvalidArgument, std::string("malformed JWK: ") + e.what());
  }
}

Result<nlohmann::json> PublicJwk(const crypto::Key& key, const std::string& alg) {
  if (key.get() == nullptr) return MakeError(Code::kInvalidArgument, "PublicJwk: the key is empty");
  Json jwk = Json::object();
  switch (key.type()) {
    case crypto::Key::Type::kEc: {
      COCO_ASSIGN_OR_RETURN(auto point, key.EcPublicPoint());
      jwk["kty"] = "EC";
      jwk["crv"] = crypto::CurveName(key.curve());
      jwk["x"] = Base64UrlEncode(point.x);
      jwk["y"] = Base64UrlEncode(point.y);
      break;
    }
    case crypto::Key::Type::kRsa: {
      COCO_ASSIGN_OR_RETURN(auto params, key.RsaPublicParams());
      jwk["kty"] = "RSA";
      jwk["n"] = Base64UrlEncode(params.n);
      jwk["e"] = Base64UrlEncode(params.e);
      break;
    }
    case crypto::Key::Type::kEd25519: {
      COCO_ASSIGN_OR_RETURN(Bytes raw, key.Ed25519PublicRaw());
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      jwk["x"] = Base64UrlEncode(raw);
      break;
    }
  }
  if (!alg.empty()) jwk["alg"] = alg;
  return jwk;
}

}  // namespace coco::jose
