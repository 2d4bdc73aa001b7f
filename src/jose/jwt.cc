#include "jose/jwt.h"

#include <cmath>

#include "base/bytes.h"
#include "base/json.h"

namespace coco::jose {
namespace {

using Json = nlohmann::json;

Result<std::string> Dump(const Json& j, const char* what) {
  try {
    return j.dump();
  } catch (const Json::exception& e) {
    return MakeError(Code::kInvalidArgument,
                     std::string("cannot serialize JWT ") + what + ": " + e.what());
  }
}

Result<Json> DecodePart(std::string_view b64, const char* what) {
  auto raw = Base64UrlDecode(b64);
  if (!raw.ok()) {
    return MakeError(Code::kInvalidArgument,
                     std::string("JWT ") + what + " is not base64url: " + raw.error().message);
  }
  Json j = ParseJsonOrDiscarded(*raw);
  if (j.is_discarded()) {
    return MakeError(Code::kInvalidArgument, std::string("JWT ") + what + " is not valid JSON");
  }
  if (!j.is_object()) {
    return MakeError(Code::kInvalidArgument, std::string("JWT ") + what + " is not a JSON object");
  }
  return j;
}

constexpr double kMaxNumericDate = 253402300799.0;  // 9999-12-31T23:59:59Z

// Reads an optional NumericDate claim; `present` tells whether it exists.
Result<double> NumericDate(const Json& claims, const char* name, bool* present) {
  auto it = claims.find(name);
  *present = it != claims.end();
  if (!*present) return 0.0;
  if (!it->is_number()) {
    return MakeError(Code::kInvalidArgument,
                     std::string("JWT claim \"") + name + "\" is not a number");
  }
  double d = it->get<double>();
  // A date beyond year 9999 (or not finite) is not a date: "exp": 1e308 must not mean "never".
  if (!std::isfinite(d) || d < 0 || d > kMaxNumericDate) {
    return MakeError(Code::kInvalidArgument,
                     std::string("JWT claim \"") + name + "\" is not a date between 1970 and 9999");
  }
  return d;
}

std::string FormatDate(double d) {
  if (std::floor(d) == d && std::fabs(d) < 1e18) return std::to_string(static_cast<int64_t>(d));
  return std::to_string(d);
}

Result<Json> Verify(std::string_view token, const crypto::Key& public_key, int64_t now_unix,
                    bool require_exp) {
  COCO_ASSIGN_OR_RETURN(DecodedJwt jwt, DecodeJwt(token));
  auto alg_it = jwt.header.find("alg");
  if (alg_it == jwt.header.end() || !alg_it->is_string()) {
    return MakeError(Code::kInvalidArgument, "JWT header has no string \"alg\"");
  }
  const std::string& alg = alg_it->get_ref<const std::string&>();
  if (alg == "none" || alg == "None" || alg == "NONE") {
    return MakeError(Code::kUnauthenticated, "JWT alg \"none\" (unsigned token) is refused");
  }
  COCO_ASSIGN_OR_RETURN(std::string expected, SigningAlg(public_key));
  if (alg != expected) {
    return MakeError(
        Code::kUnauthenticated,
        "JWT alg \"" + alg + "\" does not match the verification key (" + expected + ")");
  }
  if (jwt.header.contains("crit")) {
    return MakeError(Code::kInvalidArgument, "JWT header \"crit\" extensions are not supported");
  }
  Status sig_ok = Status::Ok();
  if (public_key.type() == crypto::Key::Type::kEd25519) {
    sig_ok = crypto::Ed25519Verify(public_key, jwt.signing_input, jwt.signature);
  } else {
    sig_ok = crypto::EcdsaVerify(public_key, jwt.signing_input, jwt.signature);
  }
  if (!sig_ok.ok()) {
    return MakeError(Code::kUnauthenticated, "JWT signature is invalid: " + sig_ok.error().message);
  }

  bool has_exp = false, has_nbf = false;
  COCO_ASSIGN_OR_RETURN(double exp, NumericDate(jwt.claims, "exp", &has_exp));
  COCO_ASSIGN_OR_RETURN(double nbf, NumericDate(jwt.claims, "nbf", &has_nbf));
  double now = static_cast<double>(now_unix);
  if (!has_exp && require_exp) {
    return MakeError(Code::kInvalidArgument, "JWT has no \"exp\" claim but one is required");
  }
  if (has_exp && exp <= now) {
    return MakeError(Code::kUnauthenticated, "JWT expired: \"exp\" " + FormatDate(exp) +
                                                 " is not after now (" + std::to_string(now_unix) +
                                                 ")");
  }
  if (has_nbf && nbf > now) {
    return MakeError(Code::kUnauthenticated, "JWT not yet valid: \"nbf\" " + FormatDate(nbf) +
                                                 " is after now (" + std::to_string(now_unix) +
                                                 ")");
  }
  return std::move(jwt.claims);
}

}  // namespace

Result<std::string> SigningAlg(const crypto::Key& key) {
  if (key.get() == nullptr) return MakeError(Code::kInvalidArgument, "signing key is empty");
  switch (key.type()) {
    case crypto::Key::Type::kEc:
      if (key.curve() == crypto::Curve::kP256) return std::string("ES256");
      if (key.curve() == crypto::Curve::kP384) return std::string("ES384");
      return MakeError(Code::kInvalidArgument,
                       "JWT signing with EC " + crypto::CurveName(key.curve()) +
                           " is not supported (use P-256, P-384 or Ed25519)");
    case crypto::Key::Type::kEd25519:
      return std::string("EdDSA");
    case crypto::Key::Type::kRsa:
      return MakeError(Code::kInvalidArgument,
                       "JWT signing with RSA keys is not supported (use P-256, P-384 or Ed25519)");
  }
  return MakeError(Code::kInvalidArgument, "unknown key type");
}

Result<std::string> SignJwt(const crypto::Key& private_key, const nlohmann::json& claims,
                            const nlohmann::json& extra_header) {
  COCO_ASSIGN_OR_RETURN(std::string alg, SigningAlg(private_key));
  if (!private_key.has_private()) {
    return MakeError(Code::kInvalidArgument, "SignJwt needs a private key, got a public-only key");
  }
  if (!claims.is_object())
    return MakeError(Code::kInvalidArgument, "JWT claims are not a JSON object");
  if (!extra_header.is_object()) {
    return MakeError(Code::kInvalidArgument, "JWT extra header is not a JSON object");
  }
  Json header = extra_header;
  auto alg_it = header.find("alg");
  if (alg_it != header.end() && *alg_it != alg) {
    return MakeError(Code::kInvalidArgument, "JWT extra header sets \"alg\" to " + alg_it->dump() +
                                                 " but the key signs " + alg);
  }
  auto typ_it = header.find("typ");
  if (typ_it != header.end() && *typ_it != "JWT") {
    return MakeError(Code::kInvalidArgument,
                     "JWT extra header sets \"typ\" to " + typ_it->dump() + ", expected \"JWT\"");
  }
  header["alg"] = alg;
  header["typ"] = "JWT";
  COCO_ASSIGN_OR_RETURN(std::string header_text, Dump(header, "header"));
  COCO_ASSIGN_OR_RETURN(std::string claims_text, Dump(claims, "claims"));
  std::string input = Base64UrlEncode(header_text) + "." + Base64UrlEncode(claims_text);
  Result<Bytes> sig = private_key.type() == crypto::Key::Type::kEd25519
                          ? crypto::Ed25519Sign(private_key, input)
                          : crypto::EcdsaSign(private_key, input);
  if (!sig.ok()) return sig.error();
  return input + "." + Base64UrlEncode(*sig);
}

Result<DecodedJwt> DecodeJwt(std::string_view token) {
  size_t dot1 = token.find('.');
  size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return MakeError(Code::kInvalidArgument,
                     "JWT is not three dot-separated parts (header.payload.signature)");
  }
  if (dot1 == 0) return MakeError(Code::kInvalidArgument, "JWT header part is empty");
  try {
    DecodedJwt out;
    COCO_ASSIGN_OR_RETURN(out.header, DecodePart(token.substr(0, dot1), "header"));
    COCO_ASSIGN_OR_RETURN(out.claims,
                          DecodePart(token.substr(dot1 + 1, dot2 - dot1 - 1), "payload"));
    auto sig = Base64UrlDecode(token.substr(dot2 + 1));
    if (!sig.ok()) {
      return MakeError(Code::kInvalidArgument,
                       "JWT signature is not base64url: " + sig.error().message);
    }
    out.signature = std::move(sig).value();
    out.signing_input = std::string(token.substr(0, dot2));
    return out;
  } catch (const Json::exception& e) {
    return MakeError(Code::kInvalidArgument, std::string("malformed JWT: ") + e.what());
  }
}

Result<nlohmann::json> VerifyJwt(std::string_view token, const crypto::Key& public_key,
                                 int64_t now_unix, bool require_exp) {
  try {
    return Verify(token, public_key, now_unix, require_exp);
  } catch (const Json::exception& e) {
    return MakeError(Code::kInvalidArgument, std::string("malformed JWT: ") + e.what());
  }
}

}  // namespace coco::jose
