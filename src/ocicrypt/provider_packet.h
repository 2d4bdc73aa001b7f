// CoCo's key-provider packet: the layer's private options encrypted with a key-encryption key
// (KEK) that a key broker holds under a resource id. Stored base64 in
// "org.opencontainers.image.enc.keys.provider.attestation-agent":
//   {"kid":"kbs:///repo/type/tag","wrapped_data":b64(ciphertext[+GCM tag]),"iv":b64,
//    "wrap_type":"A256GCM"|"A256CTR"}
// (a v2 packet adds "version", "provider", "provider_settings", "annotations"; both are read).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "base/result.h"
#include "ocicrypt/keywrap.h"

namespace coco::ocicrypt {

struct ProviderPacket {
  std::string kid;
  Bytes wrapped_data;
  Bytes iv;
  std::string wrap_type = "A256GCM";
  std::string provider = "kbs";  // v2 only; "kbs" unless another key service is named
};

Result<ProviderPacket> ParseProviderPacket(const Bytes& json);
std::string SerializeProviderPacket(const ProviderPacket& p);

// Encrypts private options with `kek` (32 bytes). A256GCM: 12-byte IV, tag appended;
// A256CTR: 16-byte IV, no integrity of its own (the layer HMAC and digest still check).
Result<ProviderPacket> WrapWithKek(const std::string& kid, const SecretBytes& kek,
                                   const SecretBytes& private_options,
                                   const std::string& wrap_type = "A256GCM");
Result<SecretBytes> UnwrapWithKek(const ProviderPacket& packet, const SecretBytes& kek);

// Reads a key-encryption key file: exactly 32 raw bytes. Errors name the file.
Result<SecretBytes> LoadKek(const std::string& path);

// Resolves a packet's "kid" (e.g. "kbs:///default/key/1") to its KEK.
using KekSource = std::function<Result<SecretBytes>(const std::string& kid)>;

// Wraps under keys.provider.<provider> with a fixed KEK and kid.
std::unique_ptr<KeyWrapper> NewProviderWrapper(std::string provider, std::string kid,
                                               SecretBytes kek, std::string wrap_type = "A256GCM");
// Unwraps packets under keys.provider.attestation-agent and keys.provider.coco, fetching KEKs
// from `source` (once per kid). Errors name the kid.
// A256CTR packets are refused unless `allow_ctr`: without integrity, a host that alters the
// packet and watches which pulls fail learns the layer key bit by bit (and the same KEK's GCM
// keystream can be replayed as CTR).
std::unique_ptr<KeyUnwrapper> NewProviderUnwrapper(KekSource source, bool allow_ctr = false);

}  // namespace coco::ocicrypt
