// The image pull: manifest → signature check → layers (decrypted when encrypted) into the content
// store, every digest checked. Unpacking into a root directory is a separate step (oci/unpack.h).
//
// Rules that keep a pull honest:
//  * the signature policy is evaluated on every pull, whether or not the blobs are cached;
//  * an encrypted layer is used only after this pull obtained its key: the key unwrap runs first,
//    and only then may a cached plaintext blob (named by the digest inside the key material)
//    stand in for download and decryption;
//  * a blob enters the store only after its digest (and, for encrypted layers, the HMAC and the
//    plaintext digest) checked.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/stream.h"
#include "oci/content_store.h"
#include "oci/manifest.h"
#include "oci/transport.h"

namespace coco::image {

// Decides whether the image may be used (containers-policy.json). Called once per pull, before
// any layer is fetched.
class SignatureCheck {
 public:
  virtual ~SignatureCheck() = default;
  virtual Status Verify(const oci::ImageLocation& location, const oci::FetchedManifest& manifest,
                        oci::ImageSource& source) = 0;
};

// The key of one encrypted layer, obtained for this pull.
class LayerDecryption {
 public:
  virtual ~LayerDecryption() = default;
  // Digest of the plaintext layer blob (from the key material, so it is authenticated).
  virtual const oci::Digest& plaintext_digest() const = 0;
  // A writer that decrypts into `downstream`: its Close() verifies the MAC before closing
  // `downstream`, and fails without closing it on a mismatch.
  virtual Result<std::unique_ptr<Writer>> Decrypter(Writer& downstream) = 0;
};

// Obtains layer keys (private key files, the key broker, ...).
class LayerKeys {
 public:
  virtual ~LayerKeys() = default;
  // Errors name the key ids / annotations tried and why each failed.
  virtual Result<std::unique_ptr<LayerDecryption>> Unwrap(const oci::Descriptor& layer) = 0;
};

struct PullOptions {
  std::string os = "linux";
  std::string architecture = "amd64";
  int max_concurrent_layers = 3;
  // Plain progress lines ("layer 2/3 sha256:… cached"), for logs and terminals alike.
  std::function<void(const std::string&)> status;
  // Per-layer byte progress (layer index, bytes done, bytes total), e.g. for a progress bar.
  std::function<void(size_t, uint64_t, uint64_t)> progress;
};

struct PulledLayer {
  oci::Descriptor descriptor;  // as in the manifest (encrypted media type for encrypted layers)
  oci::Digest stored;          // the blob in the store that holds the (plaintext) layer
  std::string media_type;      // media type of the stored blob (without +encrypted)
  oci::Digest diff_id;         // from the image config
  bool encrypted = false;
  bool cached = false;  // no download was needed
};

struct PulledImage {
  oci::FetchedManifest manifest;
  oci::Manifest parsed;
  std::string config_bytes;
  oci::ImageConfig config;
  std::vector<PulledLayer> layers;
};

// Media type without "+encrypted"; empty if `media_type` is not an encrypted layer type.
std::string PlainMediaType(const std::string& media_type);

// `signatures` and `keys` may be null: then no policy is applied (callers that need one must
// pass it) and encrypted layers are refused with an error saying how to give a key.
Result<PulledImage> Pull(const oci::ImageLocation& location, oci::ImageSource& source,
                         oci::ContentStore& store, SignatureCheck* signatures, LayerKeys* keys,
                         const PullOptions& options);

}  // namespace coco::image

namespace coco::oci {
struct UnpackOptions;
struct UnpackStats;
}  // namespace coco::oci

namespace coco::image {

// Unpacks a pulled image's layers (from the store, bottom first, diff_ids checked) into `root`,
// atomically (see oci/unpack.h).
Result<oci::UnpackStats> UnpackPulled(const PulledImage& image, const oci::ContentStore& store,
                                      const std::string& root, const oci::UnpackOptions& options);

}  // namespace coco::image
