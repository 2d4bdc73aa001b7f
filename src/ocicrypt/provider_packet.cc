#include "ocicrypt/provider_packet.h"

#include <openssl/crypto.h>

#include <map>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/json.h"
#include "crypto/crypto.h"
#include "ocicrypt/options.h"

namespace coco::ocicrypt {
namespace {

using Json = nlohmann::ordered_json;

Result<Bytes> B64Field(const Json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return MakeError(Code::kInvalidArgument,
                     std::string("key-provider packet has no base64 string \"") + name + "\"");
  }
  auto b = Base64Decode(it->get<std::string>());
  if (!b.ok()) {
    return MakeError(Code::kInvalidArgument, std::string("key-provider packet \"") + name +
                                                 "\" is not base64: " + b.error().message);
  }
  return std::move(b).value();
}

class ProviderWrapper : public KeyWrapper {
 public:
  ProviderWrapper(std::string provider, std::string kid, SecretBytes kek, std::string wrap_type)
      : provider_(std::move(provider)),
        kid_(std::move(kid)),
        kek_(std::move(kek)),
        wrap_type_(std::move(wrap_type)) {}
  std::string annotation() const override { return kAnnotationProviderPrefix + provider_; }
  Result<Bytes> Wrap(const SecretBytes& private_options) override {
    COCO_ASSIGN_OR_RETURN(ProviderPacket p, WrapWithKek(kid_, kek_, private_options, wrap_type_));
    return ToBytes(SerializeProviderPacket(p));
  }

 private:
  std::string provider_, kid_;
  SecretBytes kek_;
  std::string wrap_type_;
};

class ProviderUnwrapper : public KeyUnwrapper {
 public:
  ProviderUnwrapper(KekSource source, bool allow_ctr)
      : source_(std::move(source)), allow_ctr_(allow_ctr) {}
  bool Handles(const std::string& annotation) const override {
    return annotation == std::string(kAnnotationProviderPrefix) + kAttestationAgentProvider ||
           annotation == std::string(kAnnotationProviderPrefix) + "coco";
  }
  Result<SecretBytes> Unwrap(const std::string&, const Bytes& blob) override {
    COCO_ASSIGN_OR_RETURN(ProviderPacket p, ParseProviderPacket(blob));
    if (p.provider != "kbs") {
      return MakeError(Code::kUnimplemented, "key id " + p.kid + ": key provider \"" + p.provider +
                                                 "\" is not supported (only \"kbs\")");
    }
    if (p.wrap_type == "A256CTR" && !allow_ctr_) {
      return MakeError(Code::kUnimplemented,
                       "key id " + p.kid +
                           ": the layer key is wrapped with A256CTR, which has no integrity; "
                           "refused (re-encrypt with A256GCM, or allow it explicitly with "
                           "--allow-ctr-key-wrap)");
    }
    auto cached = keks_.find(p.kid);
    if (cached == keks_.end()) {
      auto kek = source_(p.kid);
      if (!kek.ok()) {
        return MakeError(kek.error().code,
                         "key id " + p.kid + ": cannot obtain the key: " + kek.error().message);
      }
      cached = keks_.emplace(p.kid, std::move(kek).value()).first;
    }
    auto plain = UnwrapWithKek(p, cached->second);
    if (!plain.ok()) {
      return Annotate(plain.error(), "key id " + p.kid);
    }
    // A256CTR has no integrity of its own: a wrong key shows only as garbage options.
    if (!ParsePrivateOptions(*plain).ok()) {
      return MakeError(Code::kKeyMismatch, "key id " + p.kid +
                                               ": the unwrapped layer key is not valid (wrong "
                                               "key-encryption key, or the packet was altered)");
    }
    return plain;
  }

 private:
  KekSource source_;
  bool allow_ctr_;
  std::map<std::string, SecretBytes> keks_;
};

}  // namespace

Result<SecretBytes> LoadKek(const std::string& path) {
  COCO_ASSIGN_OR_RETURN(std::string raw, ReadFile(path));
  SecretBytes kek(ToBytes(raw));
  OPENSSL_cleanse(raw.data(), raw.size());
  if (kek.size() != 32) {
    return MakeError(Code::kInvalidArgument, "keypath " + path + " holds " +
                                                 std::to_string(kek.size()) +
                                                 " bytes; a key-encryption key is 32 raw bytes");
  }
  return kek;
}

Result<ProviderPacket> ParseProviderPacket(const Bytes& json) {
  Json j = ParseJsonOrDiscarded(json);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(Code::kInvalidArgument, "key-provider packet is not a JSON object");
  }
  ProviderPacket p;
  auto kid = j.find("kid");
  if (kid == j.end() || !kid->is_string() || kid->get<std::string>().empty()) {
    return MakeError(Code::kInvalidArgument, "key-provider packet has no \"kid\"");
  }
  p.kid = kid->get<std::string>();
  COCO_ASSIGN_OR_RETURN(p.wrapped_data, B64Field(j, "wrapped_data"));
  if (j.contains("provider") && !j["provider"].is_null()) {
    if (!j["provider"].is_string()) {
      return MakeError(Code::kInvalidArgument, "key-provider packet \"provider\" is not a string");
    }
    p.provider = j["provider"].get<std::string>();
  }
  if (j.contains("version") && j["version"] != "0.1.0") {
    std::string v = j["version"].is_string() ? j["version"].get<std::string>().substr(0, 40)
                                             : std::string("(not a string)");
    return MakeError(Code::kUnimplemented, "key id " + p.kid + ": packet version " + v +
                                               " is not supported (want 0.1.0)");
  }
  if (j.contains("wrap_type") && !j["wrap_type"].is_null()) {
    if (!j["wrap_type"].is_string()) {
      return MakeError(Code::kInvalidArgument, "key-provider packet \"wrap_type\" is not a string");
    }
    p.wrap_type = j["wrap_type"].get<std::string>();
  }
  if (j.contains("iv") && !j["iv"].is_null()) {
    COCO_ASSIGN_OR_RETURN(p.iv, B64Field(j, "iv"));
  }
  return p;
}

std::string SerializeProviderPacket(const ProviderPacket& p) {
  Json j = Json::object();
  j["kid"] = p.kid;
  j["wrapped_data"] = Base64Encode(p.wrapped_data);
  j["iv"] = Base64Encode(p.iv);
  j["wrap_type"] = p.wrap_type;
  return j.dump();
}

Result<ProviderPacket> WrapWithKek(const std::string& kid, const SecretBytes& kek,
                                   const SecretBytes& private_options,
                                   const std::string& wrap_type) {
  if (kek.size() != 32) {
    return MakeError(Code::kInvalidArgument, "key id " + kid + ": the key-encryption key has " +
                                                 std::to_string(kek.size()) + " bytes, need 32");
  }
  ProviderPacket p;
  p.kid = kid;
  p.wrap_type = wrap_type;
  if (wrap_type == "A256GCM") {
    p.iv = crypto::RandomBytes(12);
    COCO_ASSIGN_OR_RETURN(crypto::GcmSealed s,
                          crypto::AesGcmEncrypt(kek.bytes(), p.iv, "", private_options.bytes()));
    p.wrapped_data = std::move(s.ciphertext);
    p.wrapped_data.insert(p.wrapped_data.end(), s.tag.begin(), s.tag.end());
  } else if (wrap_type == "A256CTR") {
    p.iv = crypto::RandomBytes(16);
    COCO_ASSIGN_OR_RETURN(p.wrapped_data,
                          crypto::AesCtr(kek.bytes(), p.iv, private_options.bytes()));
  } else {
    return MakeError(Code::kInvalidArgument,
                     "wrap type \"" + wrap_type + "\" is not supported (A256GCM or A256CTR)");
  }
  return p;
}

Result<SecretBytes> UnwrapWithKek(const ProviderPacket& p, const SecretBytes& kek) {
  if (kek.size() != 32) {
    return MakeError(Code::kInvalidArgument, "the key-encryption key has " +
                                                 std::to_string(kek.size()) + " bytes, need 32");
  }
  if (p.wrap_type == "A256GCM") {
    if (p.iv.size() != 12 || p.wrapped_data.size() < 16) {
      return MakeError(Code::kInvalidArgument,
                       "A256GCM packet needs a 12-byte iv and at least a 16-byte tag");
    }
    Bytes ct(p.wrapped_data.begin(), p.wrapped_data.end() - 16);
    Bytes tag(p.wrapped_data.end() - 16, p.wrapped_data.end());
    auto plain = crypto::AesGcmDecrypt(kek.bytes(), p.iv, "", ct, tag);
    if (!plain.ok()) {
      return MakeError(Code::kKeyMismatch,
                       "the wrapped layer key does not decrypt with this key (wrong key, or the "
                       "packet was altered)");
    }
    return plain;
  }
  if (p.wrap_type == "A256CTR") {
    if (p.iv.size() != 16)
      return MakeError(Code::kInvalidArgument, "A256CTR packet needs a 16-byte iv");
    COCO_ASSIGN_OR_RETURN(Bytes plain, crypto::AesCtr(kek.bytes(), p.iv, p.wrapped_data));
    return SecretBytes(std::move(plain));
  }
  return MakeError(Code::kUnimplemented,
                   "wrap type \"" + p.wrap_type + "\" is not supported (A256GCM or A256CTR)");
}

std::unique_ptr<KeyWrapper> NewProviderWrapper(std::string provider, std::string kid,
                                               SecretBytes kek, std::string wrap_type) {
  return std::make_unique<ProviderWrapper>(std::move(provider), std::move(kid), std::move(kek),
                                           std::move(wrap_type));
}

std::unique_ptr<KeyUnwrapper> NewProviderUnwrapper(KekSource source, bool allow_ctr) {
  return std::make_unique<ProviderUnwrapper>(std::move(source), allow_ctr);
}

}  // namespace coco::ocicrypt
