// ocicrypt's per-layer cipher options and annotation names. The private options (key, nonce,
// plaintext digest) travel only inside wrapped keys; the public options (cipher, HMAC) sit in
// the layer annotation "org.opencontainers.image.enc.pubopts" as base64 JSON.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"

namespace coco::ocicrypt {

inline constexpr char kCipherAesCtrHmac[] = "AES_256_CTR_HMAC_SHA256";
inline constexpr char kAnnotationPrefix[] = "org.opencontainers.image.enc.";
inline constexpr char kAnnotationPubOpts[] = "org.opencontainers.image.enc.pubopts";
inline constexpr char kAnnotationKeysPrefix[] = "org.opencontainers.image.enc.keys.";
inline constexpr char kAnnotationJwe[] = "org.opencontainers.image.enc.keys.jwe";
inline constexpr char kAnnotationProviderPrefix[] = "org.opencontainers.image.enc.keys.provider.";
// The provider name CoCo guests (confidential-data-hub) look for.
inline constexpr char kAttestationAgentProvider[] = "attestation-agent";

// {"symkey":b64,"digest":"sha256:…","cipheroptions":{"nonce":b64}}
struct PrivateOptions {
  SecretBytes symkey;  // 32 bytes
  std::string digest;  // of the plaintext layer blob, "sha256:<hex>"
  Bytes nonce;         // 16 bytes
};

// Random key and nonce for a layer whose plaintext blob has `digest`.
PrivateOptions NewPrivateOptions(const std::string& digest);
Result<PrivateOptions> ParsePrivateOptions(const SecretBytes& json);
SecretBytes SerializePrivateOptions(const PrivateOptions& opts);

// {"cipher":"AES_256_CTR_HMAC_SHA256","hmac":b64,"cipheroptions":{}}
struct PublicOptions {
  std::string cipher = kCipherAesCtrHmac;
  Bytes hmac;
};

Result<PublicOptions> ParsePublicOptions(std::string_view json);
std::string SerializePublicOptions(const PublicOptions& opts);

// Annotations of an encrypted layer, without the ocicrypt ones (for a decrypted descriptor).
std::map<std::string, std::string> WithoutEncryptionAnnotations(
    const std::map<std::string, std::string>& annotations);

}  // namespace coco::ocicrypt
