// Internal to the unpack library: the tree writer that applies tar entries under a root directory
// through file descriptors (see unpack.h for the policy). Not a public interface.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "base/result.h"
#include "oci/unpack.h"

namespace coco::oci::internal {

constexpr size_t kMaxWarnings = 100;  // kept in UnpackStats::warnings

// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// An Io error: `what` followed by strerror(err).
Error Errno(std::string what, int err);
// A PermissionDenied error: the layer asked for something the policy forbids.
inline Error Refused(std::string what) {
  return MakeError(Code::kPermissionDenied, std::move(what));
}

// Lexically normalizes a tar member name: strips leading "/" and "./", drops "." and empty
// components, resolves ".." against earlier components. Fails if ".." would climb above the root.
// The result has no leading or trailing '/' ("" is the root itself).
Result<std::string> NormalizePath(std::string_view raw);

// Splits "a/b/c" into "a/b" and "c" ("" and "c" for a single component).
void SplitPath(std::string_view path, std::string_view* dir, std::string_view* name);

struct DirMeta {
  std::string path;
  mode_t mode;
  int64_t uid, gid;
  struct timespec times[2];
};

class Applier {
 public:
  Applier(int root, const UnpackOptions& opt, UnpackStats& stats)
      : root_(root), opt_(opt), stats_(stats) {
    privileged_ = opt.privileged.value_or(geteuid() == 0);
    keep_owner_ = opt.ownership == UnpackOptions::Ownership::kKeep ||
                  (opt.ownership == UnpackOptions::Ownership::kDefault && privileged_);
  }

  Status Entry(struct archive* a, struct archive_entry* e);
  Status Finish();

 private:
  Result<UniqueFd> Walk(std::string_view dir, bool create);
  Result<int> Parent(std::string_view dir, bool create);
  Status RemoveExisting(int pfd, const std::string& name);
  Status Whiteout(std::string_view dir, std::string_view name);
  Status PurgeLower(int dirfd, const std::string& path, int depth);
  Status WriteFile(struct archive* a, struct archive_entry* e, int pfd, const std::string& name);
  Status Special(struct archive_entry* e, int pfd, const std::string& name, mode_t type);
  Status HardLink(struct archive_entry* e, const std::string& path, int pfd,
                  const std::string& name);
  Status Xattrs(struct archive_entry* e, int fd, const std::string& path);
  mode_t Mode(struct archive_entry* e) const {
    mode_t m = archive_entry_perm(e) & 07777;
    if (!opt_.keep_setuid_setgid) m &= ~mode_t{06000};
    return m;
  }
  void Times(struct archive_entry* e, struct timespec ts[2]) const {
    ts[1] = {static_cast<time_t>(archive_entry_mtime(e)), archive_entry_mtime_nsec(e)};
    ts[0] = archive_entry_atime_is_set(e)
                ? timespec{static_cast<time_t>(archive_entry_atime(e)), archive_entry_atime_nsec(e)}
                : ts[1];
  }
  void Warn(std::string w) {
    if (stats_.warnings.size() < kMaxWarnings) stats_.warnings.push_back(std::move(w));
  }
  void MarkCreated(std::string_view path) { created_.insert(std::hash<std::string_view>{}(path)); }
  bool WasCreated(std::string_view path) const {
    return created_.count(std::hash<std::string_view>{}(path)) != 0;
  }
  // Forgets the cached parent (a removal may have detached it). The fd stays open so a borrowed
  // parent fd remains usable until the next Parent() call.
  void Invalidate() { cache_valid_ = false; }

  int root_;
  const UnpackOptions& opt_;
  UnpackStats& stats_;
  bool privileged_;
  bool keep_owner_;
  uint64_t entries_ = 0;
  // Hashes of the paths this layer created (and their ancestors), for whiteout semantics.
  std::unordered_set<size_t> created_;
  std::vector<DirMeta> dirs_;
  std::string cache_dir_;
  UniqueFd cache_fd_;
  bool cache_valid_ = false;
  std::vector<uint8_t> scratch_;
};

}  // namespace coco::oci::internal
