// Where images come from and go to: a registry (docker://) or an OCI layout directory (oci:).
// Copy, encrypt, decrypt and pull work on these two interfaces, whatever the transport.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "base/stream.h"
#include "oci/manifest.h"
#include "oci/reference.h"
#include "oci/registry.h"

namespace coco::oci {

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  // The manifest (or index) the location names, exactly as stored.
  virtual Result<FetchedManifest> GetManifest() = 0;
  // A manifest of this image's repository by digest (an index's platform entry).
  virtual Result<FetchedManifest> GetManifestByDigest(const Digest& digest) = 0;
  // Streams a blob into `out` (not closed here; `out` checks the digest if it cares).
  virtual Status FetchBlob(const Descriptor& desc, Writer& out,
                           const ProgressFn& progress = nullptr) = 0;
};

class ImageDestination {
 public:
  virtual ~ImageDestination() = default;
  virtual Result<bool> HasBlob(const Digest& digest) = 0;
  // Stores a blob; the bytes must hash to desc.digest (checked by layouts, by registries).
  virtual Status PutBlob(const Descriptor& desc, Reader& content) = 0;
  // Stores the manifest and points the location's tag (or digest) at it.
  virtual Status PutManifest(const std::string& media_type, const std::string& bytes) = 0;
};

// `registry` serves docker:// locations and must outlive the returned object; it may be null for
// oci: locations.
Result<std::unique_ptr<ImageSource>> OpenImageSource(const ImageLocation& loc,
                                                     RegistryClient* registry);
// An oci: destination directory is created if missing; its index.json is updated atomically.
Result<std::unique_ptr<ImageDestination>> OpenImageDestination(const ImageLocation& loc,
                                                               RegistryClient* registry);

// Resolves an index to the manifest for linux/amd64 (or the given platform); a manifest is
// returned as is. Errors list the platforms the index offers.
Result<FetchedManifest> ResolveManifest(ImageSource& source, const std::string& os = "linux",
                                        const std::string& architecture = "amd64");

}  // namespace coco::oci
