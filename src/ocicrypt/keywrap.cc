#include "ocicrypt/keywrap.h"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "base/file.h"
#include "base/json.h"
#include "jose/jwk.h"
#include "ocicrypt/options.h"

namespace coco::ocicrypt {
namespace {

class JweWrapper : public KeyWrapper {
 public:
  explicit JweWrapper(std::vector<jose::JweRecipient> r) : recipients_(std::move(r)) {}
  std::string annotation() const override { return kAnnotationJwe; }
  Result<Bytes> Wrap(const SecretBytes& private_options) override {
    COCO_ASSIGN_OR_RETURN(nlohmann::json jwe,
                          jose::JweEncryptToRecipients(recipients_, private_options.bytes()));
    return ToBytes(jwe.dump());
  }

 private:
  std::vector<jose::JweRecipient> recipients_;
};

class JweUnwrapper : public KeyUnwrapper {
 public:
  explicit JweUnwrapper(std::vector<crypto::Key> keys) : keys_(std::move(keys)) {}
  bool Handles(const std::string& annotation) const override {
    return annotation == kAnnotationJwe;
  }
  Result<SecretBytes> Unwrap(const std::string&, const Bytes& blob) override {
    nlohmann::json jwe = ParseJsonOrDiscarded(blob);
    if (jwe.is_discarded()) {
      return MakeError(Code::kInvalidArgument, "the layer's JWE key entry is not JSON");
    }
    return jose::JweDecryptWithAny(jwe, keys_);
  }

 private:
  std::vector<crypto::Key> keys_;
};

}  // namespace

std::unique_ptr<KeyWrapper> NewJweWrapper(std::vector<jose::JweRecipient> recipients) {
  return std::make_unique<JweWrapper>(std::move(recipients));
}

std::unique_ptr<KeyUnwrapper> NewJweUnwrapper(std::vector<crypto::Key> private_keys) {
  return std::make_unique<JweUnwrapper>(std::move(private_keys));
}

Result<jose::JweRecipient> LoadRecipient(const std::string& path) {
  COCO_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  std::optional<crypto::Key> key_out;
  std::string alg;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    nlohmann::json jwk = ParseJsonOrDiscarded(text);
    if (jwk.is_discarded() || !jwk.is_object()) {
      return MakeError(Code::kInvalidArgument, path + ": not a JSON Web Key");
    }
    auto key = jose::KeyFromJwk(jwk);
    if (!key.ok()) return MakeError(Code::kInvalidArgument, path + ": " + key.error().message);
    key_out = std::move(key).value();
    if (jwk.contains("alg") && jwk["alg"].is_string()) alg = jwk["alg"].get<std::string>();
  } else {
    auto key = crypto::Key::FromPem(text);
    if (!key.ok()) {
      return MakeError(Code::kInvalidArgument,
                       path + ": not a PEM public key or JWK: " + key.error().message);
    }
    key_out = key->PublicOnly();
  }
  if (key_out->type() == crypto::Key::Type::kEd25519) {
    return MakeError(Code::kInvalidArgument, path +
                                                 ": an Ed25519 key cannot receive an encrypted "
                                                 "layer key (use RSA or EC P-256/384/521)");
  }
  return jose::JweRecipient{*key_out, alg};
}

Result<crypto::Key> LoadPrivateKey(const std::string& path) {
  COCO_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto key = crypto::Key::FromPem(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!key.ok()) {
    return MakeError(Code::kInvalidArgument,
                     path + ": not a PEM private key: " + key.error().message);
  }
  if (!key->has_private()) {
    return MakeError(Code::kInvalidArgument,
                     path + ": holds a public key; decryption needs the private key");
  }
  return std::move(key).value();
}

}  // namespace coco::ocicrypt
