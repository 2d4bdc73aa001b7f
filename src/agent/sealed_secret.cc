#include "agent/sealed_secret.h"

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "crypto/crypto.h"
#include "jose/jwk.h"

namespace coco::agent {
namespace {

Error Bad(const std::string& why) {
  return MakeError(Code::kInvalidArgument, "sealed secret: " + why);
}

Result<nlohmann::json> JsonPart(std::string_view b64, const char* what) {
  auto bytes = Base64UrlDecode(b64);
  if (!bytes.ok()) return Bad(std::string(what) + " is not base64url");
  auto j = ParseJsonOrDiscarded(*bytes);
  if (j.is_discarded() || !j.is_object()) return Bad(std::string(what) + " is not a JSON object");
  return j;
}

std::string StringMember(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

bool IsSealedSecret(std::string_view value) { return value.rfind(kSealedPrefix, 0) == 0; }

Result<SecretBytes> UnsealSecret(std::string_view sealed, const ResourceGetter& get) {
  if (!IsSealedSecret(sealed)) return Bad("does not start with \"sealed.\"");
  std::string_view jws = sealed.substr(kSealedPrefix.size());
  size_t d1 = jws.find('.');
  size_t d2 = d1 == std::string_view::npos ? d1 : jws.find('.', d1 + 1);
  if (d2 == std::string_view::npos || jws.find('.', d2 + 1) != std::string_view::npos) {
    return Bad("expected sealed.<header>.<payload>.<signature>");
  }
  std::string_view header_b64 = jws.substr(0, d1), payload_b64 = jws.substr(d1 + 1, d2 - d1 - 1),
                   sig_b64 = jws.substr(d2 + 1);
  COCO_ASSIGN_OR_RETURN(nlohmann::json header, JsonPart(header_b64, "the JWS header"));
  if (StringMember(header, "alg") != "ES256") {
    return Bad("the JWS header's alg must be ES256, not \"" + StringMember(header, "alg") + "\"");
  }
  std::string kid = StringMember(header, "kid");
  if (kid.rfind("kbs:", 0) != 0) {
    return Bad("the signing key id \"" + kid + "\" must be a kbs:/// resource holding the JWK");
  }
  if (!get) return Bad("unsealing needs the key broker, and the pod has none (--kbs)");
  COCO_ASSIGN_OR_RETURN(SecretBytes jwk_bytes, get(kid));
  auto jwk = ParseJsonOrDiscarded(jwk_bytes.bytes());
  if (jwk.is_discarded()) return Bad("the signing key " + kid + " is not a JWK");
  auto key = jose::KeyFromJwk(jwk);
  if (!key.ok()) return Bad("the signing key " + kid + ": " + key.error().message);
  if (key->type() != crypto::Key::Type::kEc || key->curve() != crypto::Curve::kP256) {
    return Bad("the signing key " + kid + " must be an EC P-256 key for ES256");
  }
  auto sig = Base64UrlDecode(sig_b64);
  if (!sig.ok() || sig->size() != 64) return Bad("the signature must be 64 bytes (r||s)");
  std::string signing_input = std::string(header_b64) + "." + std::string(payload_b64);
  if (!crypto::EcdsaVerify(*key, signing_input, *sig).ok()) {
    return MakeError(Code::kPermissionDenied,
                     "sealed secret: the ES256 signature does not verify with " + kid);
  }
  COCO_ASSIGN_OR_RETURN(nlohmann::json payload, JsonPart(payload_b64, "the payload"));
  if (StringMember(payload, "version") != "0.1.0") {
    return Bad("payload version must be \"0.1.0\"");
  }
  std::string type = StringMember(payload, "type");
  if (type == "vault") {
    std::string provider = StringMember(payload, "provider"), name = StringMember(payload, "name");
    if (provider != "kbs") {
      return Bad("vault provider \"" + provider + "\" is not supported (only kbs)");
    }
    if (name.rfind("kbs:", 0) != 0) return Bad("vault name must be a kbs:/// resource");
    return get(name);
  }
  if (type == "envelope") {
    return Bad("envelope secrets need a cloud KMS provider (\"" +
               StringMember(payload, "provider") +
               "\"), which coco does not have; use a vault secret with provider kbs");
  }
  return Bad("unknown secret type \"" + type + "\" (vault or envelope)");
}

}  // namespace coco::agent
