// Policy evaluation: does containers-policy.json accept this image, given its signatures?
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "signature/image_ref.h"
#include "signature/lookaside.h"
#include "signature/policy.h"
#include "signature/simple_signing.h"

namespace coco::signature {

// Simple-signing blobs found for an image, and a description of where they were looked for
// (e.g. "lookaside file:///x/library/busybox@sha256=…"), used in error messages.
struct SimpleSignatureSet {
  std::vector<std::string> blobs;
  std::string location;
};

// Where signatures come from. The image service implements this over its registry client;
// tests use in-memory fakes. Implementations need not be thread-safe: Verify calls them from
// the calling thread only.
class SignatureSources {
 public:
  virtual ~SignatureSources() = default;
  // Every simple-signing blob stored for (image, manifest_digest); none is not an error.
  virtual Result<SimpleSignatureSet> SimpleSignatures(const ImageReference& image,
                                                      const std::string& manifest_digest) = 0;
  // The cosign signature manifest (tag CosignSignatureTag(manifest_digest) in the image's
  // repository), or nullopt when that tag does not exist.
  virtual Result<std::optional<std::string>> CosignManifest(const ImageReference& image,
                                                            const std::string& manifest_digest) = 0;
  // A blob of the image's repository, by digest (the caller verifies the digest).
  virtual Result<std::string> CosignBlob(const ImageReference& image,
                                         const std::string& blob_digest) = 0;
};

// SignatureSources over registries.d lookaside stores plus optional registry callbacks.
class StoreSignatureSources : public SignatureSources {
 public:
  // Reads a manifest by tag in the repository of `image`: body, or nullopt if absent.
  using ManifestByTag = std::function<Result<std::optional<std::string>>(
      const ImageReference& image, const std::string& tag)>;
  // Reads a blob by digest in the repository of `image`.
  using BlobByDigest =
      std::function<Result<std::string>(const ImageReference& image, const std::string& digest)>;

  // `http` serves http(s) lookaside URLs (may be empty: such URLs then fail). The registry
  // callbacks may be empty: cosign signatures are then reported as absent.
  StoreSignatureSources(RegistriesConfig registries, UrlFetcher http = {},
                        ManifestByTag manifest_by_tag = {}, BlobByDigest blob_by_digest = {});

  Result<SimpleSignatureSet> SimpleSignatures(const ImageReference& image,
                                              const std::string& manifest_digest) override;
  Result<std::optional<std::string>> CosignManifest(const ImageReference& image,
                                                    const std::string& manifest_digest) override;
  Result<std::string> CosignBlob(const ImageReference& image,
                                 const std::string& blob_digest) override;

 private:
  RegistriesConfig registries_;
  UrlFetcher http_;
  ManifestByTag manifest_by_tag_;
  BlobByDigest blob_by_digest_;
};

// Returns the key bytes for a keyPath the image service must fetch itself (e.g. "kbs:///a/b/c"
// from the key broker).
using KeyResolver = std::function<Result<std::string>(const std::string& key_path)>;

struct VerifyOptions {
  // Used for every keyPath beginning with "kbs:"; without it such key paths fail. Other key
  // paths are files (an optional "file://" prefix is stripped).
  KeyResolver remote_keys;
};

// Evaluates `policy` for the docker transport: picks the requirement list for `image` (a
// name-only reference is treated as ":latest"), and requires ALL its requirements to pass for
// the manifest whose digest is `manifest_digest` ("sha256:<hex>", computed by the caller from
// the bytes it pulled). signedBy / sigstoreSigned pass when at least one signature verifies
// with a trusted key, signs exactly `manifest_digest`, and has an acceptable identity.
// On refusal the error (kind "PolicyDenied", or the underlying kind for I/O and key loading
// failures) reads like
//   `image docker.io/a/b:1 (transport docker scope "docker.io/a"): requirement 1 of 1
//    (signedBy) failed: signed digest sha256:aaa does not match manifest sha256:bbb`.
Status Verify(const Policy& policy, const ImageReference& image, const std::string& manifest_digest,
              SignatureSources& sources, const VerifyOptions& options = {});

// Signs (image, manifest_digest) with GPG and appends the blob to the file:// lookaside
// (staging preferred) configured for `image` in `registries`. The signed identity is
// image.String() without its digest (":latest" added if it has no tag), like `skopeo copy
// --sign-by`. Returns the URL written. Fails if no writable file:// lookaside is configured.
Result<std::string> SignToLookaside(const RegistriesConfig& registries, const ImageReference& image,
                                    const std::string& manifest_digest,
                                    const GpgSignOptions& options);

}  // namespace coco::signature
