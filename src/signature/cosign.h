// Cosign key-based signatures as stored in a registry: tag "sha256-<hex>.sig" holds an OCI
// manifest whose layers (media type application/vnd.dev.cosign.simplesigning.v1+json) are
// payloads (payload.h, type "cosign container image signature"), each annotated with
// "dev.cosignproject.cosign/signature" = base64(DER ECDSA-SHA256 over the layer blob).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/crypto.h"
#include "signature/payload.h"

namespace coco::signature {

inline constexpr char kCosignLayerMediaType[] = "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr char kCosignSignatureAnnotation[] = "dev.cosignproject.cosign/signature";

// "sha256-<hex>.sig" for a manifest digest "sha256:<hex>". Fails for an invalid digest.
Result<std::string> CosignSignatureTag(const std::string& manifest_digest);

// Returns the blob with the given digest ("sha256:<hex>"), or an error (e.g. NotFound).
using BlobFetcher = std::function<Result<std::string>(const std::string& digest)>;

// One signature layer, its blob fetched and checked against the descriptor.
struct CosignSignature {
  std::string layer_digest;  // descriptor digest, equal to sha256(payload)
  std::string payload;       // the layer blob
  Bytes signature;           // decoded annotation (DER)
};

// Parses the signature manifest, fetches each cosign layer through `fetch`, and checks every
// blob's sha256 (and size) against its descriptor. Layers of other media types are skipped;
// a cosign layer without the signature annotation, undecodable base64 or a digest mismatch is
// an error naming the layer. Returns an empty list if the manifest has no cosign layers.
Result<std::vector<CosignSignature>> ReadCosignSignatures(const std::string& manifest_json,
                                                          const BlobFetcher& fetch);

// Verifies `sig.signature` over `sig.payload` with an EC public key (ECDSA with SHA-256, the
// digest cosign uses for every EC curve) and parses the payload. Errors: "SignatureInvalid"
// when the signature does not verify, InvalidArgument for a bad payload or a non-EC key.
// Identity and digest checks are the caller's.
Result<SignaturePayload> VerifyCosignSignature(const crypto::Key& public_key,
                                               const CosignSignature& sig);

// Everything a caller pushes to publish a cosign signature.
struct CosignSigned {
  std::string payload;           // layer blob
  std::string payload_digest;    // "sha256:<hex>" of payload
  std::string signature_base64;  // annotation value
  std::string config;            // config blob
  std::string config_digest;
  std::string manifest;  // OCI image manifest JSON, push under `tag`
  std::string tag;       // "sha256-<hex>.sig"
};

// Signs (docker_reference, manifest_digest) with an EC private key: builds the payload
// ("optional": null), signs it with ECDSA-SHA256 (DER), and builds the config and manifest.
// Fails for a public-only or non-EC key or an invalid digest.
Result<CosignSigned> SignCosign(const crypto::Key& private_key, const std::string& docker_reference,
                                const std::string& manifest_digest);

}  // namespace coco::signature
