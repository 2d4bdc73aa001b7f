#include "ocicrypt/layer_keys.h"

namespace coco::ocicrypt {
namespace {

// Each entry may cost a private-key operation or a broker request: bound what an image asks.
constexpr size_t kMaxEntries = 64;

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace

Result<std::map<std::string, std::string>> EncryptionAnnotations(
    const PrivateOptions& priv, const PublicOptions& pub,
    const std::vector<KeyWrapper*>& wrappers) {
  if (wrappers.empty()) {
    return MakeError(Code::kInvalidArgument, "an encrypted layer needs at least one recipient");
  }
  SecretBytes privopts = SerializePrivateOptions(priv);
  std::map<std::string, std::string> out;
  for (KeyWrapper* w : wrappers) {
    COCO_ASSIGN_OR_RETURN(Bytes blob, w->Wrap(privopts));
    std::string& value = out[w->annotation()];
    if (!value.empty()) value += ",";
    value += Base64Encode(blob);
  }
  out[kAnnotationPubOpts] = Base64Encode(ToBytes(SerializePublicOptions(pub)));
  return out;
}

Result<LayerKey> UnwrapLayerKey(const std::map<std::string, std::string>& annotations,
                                const std::vector<KeyUnwrapper*>& unwrappers) {
  auto pub_it = annotations.find(kAnnotationPubOpts);
  if (pub_it == annotations.end()) {
    return MakeError(Code::kInvalidArgument,
                     "encrypted layer has no " + std::string(kAnnotationPubOpts) + " annotation");
  }
  auto pub_json = Base64Decode(pub_it->second);
  if (!pub_json.ok()) {
    return MakeError(Code::kInvalidArgument, std::string(kAnnotationPubOpts) + " is not base64");
  }
  COCO_ASSIGN_OR_RETURN(PublicOptions pub, ParsePublicOptions(ToString(*pub_json)));

  std::vector<std::string> seen;
  std::string why;
  Code last_code = Code::kKeyMissing;
  for (const auto& [name, value] : annotations) {
    if (name.rfind(kAnnotationKeysPrefix, 0) != 0) continue;
    std::string scheme = name.substr(sizeof(kAnnotationKeysPrefix) - 1);
    seen.push_back(scheme);
    KeyUnwrapper* handler = nullptr;
    for (KeyUnwrapper* u : unwrappers) {
      if (u->Handles(name)) {
        handler = u;
        break;
      }
    }
    if (handler == nullptr) continue;
    std::vector<std::string> entries = SplitComma(value);
    if (entries.size() > kMaxEntries) {
      return MakeError(Code::kInvalidArgument, name + " has " + std::to_string(entries.size()) +
                                                   " wrapped keys; at most " +
                                                   std::to_string(kMaxEntries) + " are read");
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      std::string where = scheme + (entries.size() > 1 ? " #" + std::to_string(i + 1) : "");
      auto blob = Base64Decode(entries[i]);
      if (!blob.ok()) {
        why += "\n  " + where + ": entry is not base64";
        continue;
      }
      auto privopts = handler->Unwrap(name, *blob);
      if (!privopts.ok()) {
        last_code = privopts.error().code;
        why += "\n  " + where + ": " + privopts.error().message;
        continue;
      }
      auto priv = ParsePrivateOptions(*privopts);
      if (!priv.ok()) {
        last_code = Code::kKeyMismatch;
        why += "\n  " + where + ": unwrapped, but " + priv.error().message +
               " (wrong key-encryption key?)";
        continue;
      }
      return LayerKey{std::move(priv).value(), std::move(pub), name};
    }
  }
  if (seen.empty()) {
    return MakeError(
        Code::kInvalidArgument,
        "encrypted layer carries no " + std::string(kAnnotationKeysPrefix) + "* annotation");
  }
  std::string schemes;
  for (const std::string& s : seen) schemes += (schemes.empty() ? "" : ", ") + s;
  if (why.empty()) {
    return MakeError(Code::kKeyMissing,
                     "no key given for this layer's key schemes (" + schemes +
                         "): give --decryption-key FILE for jwe, or --kbs URL for "
                         "provider.attestation-agent");
  }
  return MakeError(last_code, "cannot unwrap the layer key (schemes: " + schemes + "):" + why);
}

}  // namespace coco::ocicrypt
