// Safe unpacking of OCI image layers into a flattened root filesystem.
//
// The layer bytes are untrusted (this runs inside the confidential VM): every entry is resolved
// component by component from the root directory with O_NOFOLLOW, so nothing is ever created or
// followed outside the root. Refused, with an error naming the entry:
//   - paths whose `..` components escape the root (a leading `/` or `./` is stripped, as tar does);
//   - writing through a symlink whose target escapes the root lexically (absolute target, or more
//     `..` than the depth of the symlink); relative in-root symlinks such as `lib -> usr/lib` in a
//     parent component are followed inside the root;
//   - hard links whose target is outside the root or missing;
//   - anything over the limits in UnpackOptions.
// Symlinks themselves may point anywhere (they are stored verbatim and never followed outward).
// OCI whiteouts are applied: `.wh.<name>` removes <name> from lower layers, `.wh..wh..opq` makes
// its directory opaque (what lower layers put there is removed; what this layer adds is kept,
// whatever the tar order). The uncompressed stream's digest is checked against the diff_id.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/stream.h"
#include "oci/decompress.h"

namespace coco::oci {

struct UnpackOptions {
  enum class Ownership {
    kDefault,      // kKeep when privileged, else kCurrentUser
    kKeep,         // uid/gid as recorded in the tar (needs privilege)
    kCurrentUser,  // everything owned by the unpacking user
  };
  Ownership ownership = Ownership::kDefault;

  enum class Devices {
    kCreate,  // char/block devices when privileged (skipped with a warning otherwise); fifos always
    kSkip,    // skip device nodes and fifos with a warning
    kRefuse,  // fail on the first device node or fifo
  };
  Devices devices = Devices::kCreate;

  // Keep or strip the setuid/setgid bits of regular files and directories.
  bool keep_setuid_setgid = true;

  // Extended attributes from pax headers. security.* (e.g. file capabilities, SELinux labels) are
  // applied only if `security_xattrs` is also set. Applied to regular files and directories;
  // failures (e.g. unsupported by the filesystem) become warnings.
  bool xattrs = true;
  bool security_xattrs = false;

  // Whether to act as a privileged unpacker (chown, mknod). Unset: geteuid() == 0.
  std::optional<bool> privileged;

  // Limits (per layer, except max_total_bytes which is per UnpackImage call as well).
  uint64_t max_entries = 1'000'000;        // tar headers in one layer
  size_t max_path_length = 4096;           // bytes of an entry name or link target
  uint64_t max_file_size = 16ull << 30;    // one regular file, 16 GiB
  uint64_t max_total_bytes = 64ull << 30;  // uncompressed tar bytes, 64 GiB

  // If `root` already exists and is non-empty, UnpackImage refuses unless this is set; then the
  // old tree is atomically swapped out and removed.
  bool replace_existing = false;

  GzipBackend gzip = GzipBackend::kIsal;

  // Called now and then with the uncompressed bytes processed so far (over all layers).
  std::function<void(uint64_t bytes)> progress;
};

struct UnpackStats {
  uint64_t entries = 0;             // tar headers processed
  uint64_t uncompressed_bytes = 0;  // tar stream bytes (what diff_ids hash)
  uint64_t file_bytes = 0;          // regular-file contents written
  uint64_t whiteouts = 0;
  std::vector<std::string> warnings;  // skipped devices, failed xattrs, ... (at most 100 kept)
};

// Applies one layer on top of the tree at `root_dirfd` (an O_DIRECTORY descriptor the caller owns
// and keeps open). `layer` yields the blob as stored (compressed per `media_type`, already
// decrypted); `expected_diff_id` is "sha256:<hex>" or "sha512:<hex>" of the uncompressed tar.
// The digest is known only at the end of the stream, so on ANY error the tree is left partly
// modified: the caller must discard it (UnpackImage does). Adds to *stats if non-null.
// `layer` is read (and decompressed) on a helper thread, a few MiB ahead of extraction; it must
// not be used elsewhere until ApplyLayer returns, which is after that thread has finished.
// options.progress is called on the calling thread. Not thread-safe with respect to the same root.
Status ApplyLayer(int root_dirfd, Reader& layer, std::string_view media_type,
                  std::string_view expected_diff_id, const UnpackOptions& options,
                  UnpackStats* stats = nullptr);

struct LayerSource {
  // Opens the blob; called once, in layer order, just before the layer is applied.
  std::function<Result<std::unique_ptr<Reader>>()> open;
  std::string media_type;
  std::string diff_id;  // from the image config's rootfs.diff_ids
};

// Builds the flattened rootfs of `layers` (bottom first) at `root`, atomically: everything is
// unpacked into a fresh sibling `<root>.partial-<random>` that is renamed to `root` only when every
// layer succeeded. On failure the partial tree is removed and `root` is untouched. Refuses if
// `root` exists and is not an empty directory, unless options.replace_existing. The parent of
// `root` is created if missing.
Result<UnpackStats> UnpackImage(const std::vector<LayerSource>& layers, const std::string& root,
                                const UnpackOptions& options = {});

// Removes the tree at `name` under `dirfd` without following symlinks. Missing is not an error.
Status RemoveTreeAt(int dirfd, const std::string& name);

}  // namespace coco::oci
