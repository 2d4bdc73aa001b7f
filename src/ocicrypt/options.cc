#include "ocicrypt/options.h"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "crypto/crypto.h"
#include "ocicrypt/layer_cipher.h"

namespace coco::ocicrypt {
namespace {

using Json = nlohmann::ordered_json;

// Go encodes []byte as standard base64 (padded); be lenient about padding on input.
Result<Bytes> B64Member(const Json& obj, const char* name, const char* where) {
  auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return Bytes();
  if (!it->is_string()) {
    return MakeError(Code::kInvalidArgument,
                     std::string(where) + " member \"" + name + "\" is not a base64 string");
  }
  auto b = Base64Decode(it->get<std::string>());
  if (!b.ok()) {
    return MakeError(Code::kInvalidArgument, std::string(where) + " member \"" + name +
                                                 "\" is not base64: " + b.error().message);
  }
  return std::move(b).value();
}

Result<Json> ParseObject(std::string_view text, const char* where) {
  Json j = ParseJsonOrDiscarded(text);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(Code::kInvalidArgument, std::string(where) + " are not a JSON object");
  }
  return j;
}

}  // namespace

PrivateOptions NewPrivateOptions(const std::string& digest) {
  PrivateOptions o;
  o.symkey = SecretBytes(crypto::RandomBytes(kSymKeySize));
  o.digest = digest;
  o.nonce = crypto::RandomBytes(kNonceSize);
  return o;
}

Result<PrivateOptions> ParsePrivateOptions(const SecretBytes& json) {
  std::string_view text(reinterpret_cast<const char*>(json.data()), json.size());
  COCO_ASSIGN_OR_RETURN(Json j, ParseObject(text, "layer private options"));
  PrivateOptions o;
  auto key = B64Member(j, "symkey", "layer private options");
  // The parsed JSON holds the key in base64: wipe that copy whatever happens next.
  if (auto it = j.find("symkey"); it != j.end() && it->is_string()) {
    std::string& text = it->get_ref<std::string&>();
    OPENSSL_cleanse(text.data(), text.size());
  }
  if (!key.ok()) return key.error();
  o.symkey = SecretBytes(std::move(key).value());
  if (o.symkey.size() != kSymKeySize) {
    return MakeError(Code::kInvalidArgument, "layer private options: \"symkey\" has " +
                                                 std::to_string(o.symkey.size()) +
                                                 " bytes, need 32");
  }
  auto d = j.find("digest");
  if (d == j.end() || !d->is_string() || d->get<std::string>().empty()) {
    return MakeError(Code::kInvalidArgument,
                     "layer private options have no \"digest\" of the plaintext layer");
  }
  o.digest = d->get<std::string>();
  auto co = j.find("cipheroptions");
  if (co == j.end() || !co->is_object()) {
    return MakeError(Code::kInvalidArgument,
                     "layer private options have no \"cipheroptions\" object");
  }
  COCO_ASSIGN_OR_RETURN(o.nonce, B64Member(*co, "nonce", "layer private cipheroptions"));
  if (o.nonce.size() != kNonceSize) {
    return MakeError(Code::kInvalidArgument, "layer private options: \"nonce\" has " +
                                                 std::to_string(o.nonce.size()) +
                                                 " bytes, need 16");
  }
  return o;
}

SecretBytes SerializePrivateOptions(const PrivateOptions& opts) {
  std::string key_b64 = Base64Encode(opts.symkey.bytes());
  std::string digest = Json(opts.digest).dump();
  std::string nonce = Base64Encode(opts.nonce);
  // One buffer, sized up front, so no reallocation leaves an unwiped copy of the key behind.
  SecretBytes result;
  Bytes& out = result.mutable_bytes();
  out.reserve(64 + key_b64.size() + digest.size() + nonce.size());
  for (std::string_view part : {std::string_view("{\"symkey\":\""), std::string_view(key_b64),
                                std::string_view("\",\"digest\":"), std::string_view(digest),
                                std::string_view(",\"cipheroptions\":{\"nonce\":\""),
                                std::string_view(nonce), std::string_view("\"}}")}) {
    out.insert(out.end(), part.begin(), part.end());
  }
  OPENSSL_cleanse(key_b64.data(), key_b64.size());
  return result;
}

Result<PublicOptions> ParsePublicOptions(std::string_view json) {
  COCO_ASSIGN_OR_RETURN(Json j, ParseObject(json, "layer public options"));
  PublicOptions o;
  auto c = j.find("cipher");
  if (c == j.end() || !c->is_string()) {
    return MakeError(Code::kInvalidArgument, "layer public options have no \"cipher\"");
  }
  o.cipher = c->get<std::string>();
  if (o.cipher != kCipherAesCtrHmac) {
    return MakeError(Code::kUnimplemented, "layer cipher \"" + o.cipher +
                                               "\" is not supported (only " +
                                               std::string(kCipherAesCtrHmac) + ")");
  }
  COCO_ASSIGN_OR_RETURN(o.hmac, B64Member(j, "hmac", "layer public options"));
  if (o.hmac.size() != kHmacSize) {
    return MakeError(Code::kInvalidArgument,
                     o.hmac.empty() ? std::string("layer public options carry no \"hmac\"")
                                    : "layer public options: \"hmac\" has " +
                                          std::to_string(o.hmac.size()) + " bytes, need 32");
  }
  return o;
}

std::string SerializePublicOptions(const PublicOptions& opts) {
  Json j = Json::object();
  j["cipher"] = opts.cipher;
  j["hmac"] = Base64Encode(opts.hmac);
  j["cipheroptions"] = Json::object();
  return j.dump();
}

std::map<std::string, std::string> WithoutEncryptionAnnotations(
    const std::map<std::string, std::string>& annotations) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : annotations) {
    if (k.rfind(kAnnotationPrefix, 0) != 0) out.emplace(k, v);
  }
  return out;
}

}  // namespace coco::ocicrypt
