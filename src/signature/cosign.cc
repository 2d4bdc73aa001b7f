#include "signature/cosign.h"

#include <openssl/evp.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "signature/image_ref.h"

namespace coco::signature {
namespace {

using nlohmann::json;

constexpr size_t kMaxPayload = 1 << 20;

std::string Sha256Digest(std::string_view data) {
  return "sha256:" + HexEncode(crypto::Sha256(data));
}

Error Bad(const std::string& why) {
  return MakeError(Code::kInvalidArgument, "cosign signature manifest: " + why);
}

Result<Bytes> SignDer(const crypto::Key& key, std::string_view data) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) != 1) {
    return MakeError(Code::kCrypto, "cannot start ECDSA signing");
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len,
                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1) {
    return MakeError(Code::kCrypto, "ECDSA signing failed");
  }
  sig.resize(len);
  return sig;
}

}  // namespace

Result<std::string> CosignSignatureTag(const std::string& manifest_digest) {
  COCO_RETURN_IF_ERROR(ValidateDigest(manifest_digest));
  std::string tag = manifest_digest;
  tag[tag.find(':')] = '-';
  return tag + ".sig";
}

Result<std::vector<CosignSignature>> ReadCosignSignatures(const std::string& manifest_json,
                                                          const BlobFetcher& fetch) {
  std::vector<CosignSignature> out;
  try {
    auto parsed = ParseJson(manifest_json, "the signature manifest");
    if (!parsed.ok()) return Bad(parsed.error().message);
    json m = std::move(parsed).value();
    if (!m.is_object()) return Bad("not a JSON object");
    if (!m.contains("layers") || !m.at("layers").is_array()) return Bad("no \"layers\" array");
    const json& layers = m.at("layers");
    for (size_t i = 0; i < layers.size(); ++i) {
      const json& l = layers[i];
      std::string where = "layer " + std::to_string(i);
      if (!l.is_object()) return Bad(where + " is not an object");
      if (l.value("mediaType", "") != kCosignLayerMediaType) continue;
      if (!l.contains("digest") || !l.at("digest").is_string())
        return Bad(where + " has no digest");
      CosignSignature s;
      s.layer_digest = l.at("digest").get<std::string>();
      Status valid = ValidateDigest(s.layer_digest);
      if (!valid.ok()) return Bad(where + ": " + valid.error().message);
      if (s.layer_digest.rfind("sha256:", 0) != 0) return Bad(where + " digest is not sha256");
      const json* ann = nullptr;
      if (l.contains("annotations") && l.at("annotations").is_object() &&
          l.at("annotations").contains(kCosignSignatureAnnotation)) {
        ann = &l.at("annotations").at(kCosignSignatureAnnotation);
      }
      if (!ann || !ann->is_string()) {
        return Bad(where + " (" + s.layer_digest + ") has no " + kCosignSignatureAnnotation);
      }
      auto sig = Base64Decode(ann->get<std::string>());
      if (!sig.ok() || sig->empty()) return Bad(where + " signature annotation is not base64");
      s.signature = std::move(*sig);
      if (!fetch) return MakeError(Code::kInvalidArgument, "no blob fetcher for cosign layers");
      auto blob = fetch(s.layer_digest);
      if (!blob.ok()) {
        return Annotate(blob.error(), "cannot fetch cosign layer " + s.layer_digest);
      }
      if (blob->size() > kMaxPayload) return Bad(where + " payload is larger than 1 MiB");
      std::string actual = Sha256Digest(*blob);
      if (actual != s.layer_digest) {
        return Bad(where + " blob has digest " + actual + ", descriptor says " + s.layer_digest);
      }
      if (l.contains("size") &&
          (!l.at("size").is_number_unsigned() || l.at("size").get<uint64_t>() != blob->size())) {
        return Bad(where + " blob size does not match its descriptor");
      }
      s.payload = std::move(*blob);
      out.push_back(std::move(s));
    }
  } catch (const json::exception& e) {
    return Bad(std::string("invalid JSON: ") + e.what());
  }
  return out;
}

Result<SignaturePayload> VerifyCosignSignature(const crypto::Key& public_key,
                                               const CosignSignature& sig) {
  if (public_key.type() != crypto::Key::Type::kEc) {
    return MakeError(Code::kInvalidArgument, "cosign verification needs an EC public key");
  }
  Status s =
      crypto::EcdsaVerifyRaw(public_key, crypto::HashAlg::kSha256, sig.payload, sig.signature);
  if (!s.ok()) {
    return MakeError(Code::kSignatureInvalid, "cosign signature on layer " + sig.layer_digest +
                                                  " does not verify with the policy's key (" +
                                                  s.error().message + ")");
  }
  auto p = ParsePayload(sig.payload, kCosignType);
  if (!p.ok()) {
    return Annotate(p.error(), "cosign layer " + sig.layer_digest);
  }
  return p;
}

Result<CosignSigned> SignCosign(const crypto::Key& private_key, const std::string& docker_reference,
                                const std::string& manifest_digest) {
  if (private_key.type() != crypto::Key::Type::kEc || !private_key.has_private()) {
    return MakeError(Code::kInvalidArgument, "cosign signing needs an EC private key");
  }
  CosignSigned out;
  COCO_ASSIGN_OR_RETURN(out.tag, CosignSignatureTag(manifest_digest));
  out.payload = MakePayload({kCosignType, docker_reference, manifest_digest});
  out.payload_digest = Sha256Digest(out.payload);
  COCO_ASSIGN_OR_RETURN(Bytes der, SignDer(private_key, out.payload));
  out.signature_base64 = Base64Encode(der);
  json config = {
      {"architecture", ""},
      {"os", ""},
      {"config", json::object()},
      {"rootfs", {{"type", "layers"}, {"diff_ids", json::array({out.payload_digest})}}},
  };
  out.config = config.dump();
  out.config_digest = Sha256Digest(out.config);
  json manifest = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
        {"size", out.config.size()},
        {"digest", out.config_digest}}},
      {"layers",
       json::array({{{"mediaType", kCosignLayerMediaType},
                     {"size", out.payload.size()},
                     {"digest", out.payload_digest},
                     {"annotations", {{kCosignSignatureAnnotation, out.signature_base64}}}}})},
  };
  out.manifest = manifest.dump();
  return out;
}

}  // namespace coco::signature
