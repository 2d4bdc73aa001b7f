// Content store on disk: blobs by digest, shared between images, never half-written.
//
// Layout: DIR/blobs/<alg>/<hex>, DIR/tmp/ (in-flight writes), DIR/images/<sha256(name)>.json
// (which blobs an image uses; the roots of `Prune`), DIR/lock.
// A blob is written under DIR/tmp and renamed into place only after its digest (and size, when
// known) checked, so a failed or interrupted write leaves no blob behind. Several processes may
// use one store at once; Prune takes the store exclusively.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/stream.h"
#include "oci/reference.h"

namespace coco::oci {

// A Writer into the store. Close() verifies and commits; destroying it without a successful
// Close() discards what was written.
class BlobWriter : public Writer {
 public:
  ~BlobWriter() override = default;
  // The committed blob's digest (valid after a successful Close()).
  virtual const Digest& digest() const = 0;
  virtual uint64_t size() const = 0;
};

struct PruneReport {
  size_t blobs_removed = 0;
  uint64_t bytes_removed = 0;
  size_t blobs_kept = 0;
  size_t temp_files_removed = 0;
};

struct ImageRecord {
  std::string name;           // e.g. "docker://localhost:5000/app:v1"
  Digest manifest;            // the manifest pulled
  std::vector<Digest> blobs;  // every blob the image uses (manifest, config, layers, ...)
};

class ContentStore {
 public:
  // Opens (creating if needed) the store at `dir` and holds a shared lock on it.
  static Result<std::unique_ptr<ContentStore>> Open(const std::string& dir);
  ~ContentStore();

  const std::string& dir() const { return dir_; }
  std::string BlobPath(const Digest& d) const;
  bool Has(const Digest& d) const;

  // A writer for a blob whose digest is known; `expected_size` < 0 when unknown. Close() fails
  // (and commits nothing) when the content does not hash to `expected` or has another size.
  Result<std::unique_ptr<BlobWriter>> NewWriter(const Digest& expected, int64_t expected_size);
  // A writer for a blob whose digest is found while writing (sha256); Close() commits it.
  Result<std::unique_ptr<BlobWriter>> NewWriter();

  // Small blobs (manifests, configs): read whole, refusing more than `max_size` bytes, and
  // checked against the digest again.
  Result<std::string> ReadBlob(const Digest& d, size_t max_size = 16 << 20) const;
  Result<std::unique_ptr<Reader>> OpenBlob(const Digest& d) const;
  // Stores `data` and returns its sha256 digest.
  Result<Digest> PutBlob(std::string_view data);

  // Marks a blob as private: it was obtained by decryption, so only a pull that obtained the
  // layer's key may use the stored copy; anyone else must fetch it from a registry (which proves
  // it is public) — see image/puller.h. Cleared again when the blob is fetched in the clear.
  Status MarkPrivate(const Digest& d);
  bool IsPrivate(const Digest& d) const;
  void ClearPrivate(const Digest& d);

  // Records (replacing) the blobs an image uses, so Prune keeps them.
  Status RecordImage(const ImageRecord& image);
  Status RemoveImage(const std::string& name);
  Result<std::vector<ImageRecord>> ListImages() const;

  // Removes blobs no recorded image uses and stale temporary files. Needs the store exclusively:
  // fails with a clear error while another process uses it.
  Result<PruneReport> Prune();

 private:
  explicit ContentStore(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}
  std::string dir_;
  int lock_fd_;
};

}  // namespace coco::oci
