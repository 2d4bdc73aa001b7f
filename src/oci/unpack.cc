#include "oci/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "base/bytes.h"
#include "base/file.h"
#include "crypto/crypto.h"

namespace coco::oci {
namespace {

using crypto::HashAlg;
using crypto::Hasher;

constexpr size_t kReadChunk = 1 << 20;
constexpr size_t kPrefetchBuffers = 4;
constexpr int kMaxSymlinks = 40;
constexpr size_t kMaxWarnings = 100;

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

Error Errno(std::string what, int err) {
  return MakeError("Io", std::move(what) + ": " + std::strerror(err));
}

Error Refused(std::string what) { return MakeError("PermissionDenied", std::move(what)); }

// Lexically normalizes a tar member name: strips leading "/" and "./", drops "." and empty
// components, resolves ".." against earlier components. Fails if ".." would climb above the root.
// The result has no leading or trailing '/' ("" is the root itself).
Result<std::string> NormalizePath(std::string_view raw) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i <= raw.size()) {
    size_t j = raw.find('/', i);
    if (j == std::string_view::npos) j = raw.size();
    std::string_view c = raw.substr(i, j - i);
    i = j + 1;
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (parts.empty()) return Refused("path escapes the root with '..'");
      parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

void SplitPath(std::string_view path, std::string_view* dir, std::string_view* name) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) {
    *dir = {};
    *name = path;
  } else {
    *dir = path.substr(0, slash);
    *name = path.substr(slash + 1);
  }
}

// The uncompressed tar stream, counted against the size limit.
class CountingReader : public Reader {
 public:
  CountingReader(Reader& src, uint64_t limit, uint64_t total_limit)
      : src_(src), limit_(limit), total_limit_(total_limit) {}
  Result<size_t> Read(uint8_t* buf, size_t n) override {
    COCO_ASSIGN_OR_RETURN(size_t got, src_.Read(buf, n));
    bytes_ += got;
    if (bytes_ > limit_) {
      return MakeError("ResourceExhausted", "uncompressed size exceeds the limit of " +
                                                std::to_string(total_limit_) + " bytes");
    }
    return got;
  }

 private:
  Reader& src_;
  uint64_t limit_;
  uint64_t total_limit_;
  uint64_t bytes_ = 0;
};

// Runs `src` (decompression) on a helper thread, a few bounded buffers ahead of the
// consumer, so inflating overlaps with writing files. Chunks are handed out without copying.
class Prefetcher {
 public:
  Prefetcher(Reader& src, size_t nbuf, size_t size)
      : src_(src), bufs_(nbuf, std::vector<uint8_t>(size)), lens_(nbuf) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  // The next chunk; empty at end of stream. Valid until the next call.
  Result<std::pair<const uint8_t*, size_t>> Next() {
    std::unique_lock<std::mutex> l(mu_);
    if (holding_) {
      holding_ = false;
      head_ = (head_ + 1) % bufs_.size();
      --count_;
      cv_.notify_all();
    }
    cv_.wait(l, [&] { return count_ > 0 || done_; });
    if (count_ > 0) {
      holding_ = true;
      return std::make_pair<const uint8_t*, size_t>(bufs_[head_].data(), size_t{lens_[head_]});
    }
    if (error_) return *error_;
    return std::make_pair<const uint8_t*, size_t>(nullptr, 0);
  }

 private:
  void Run() {
    for (size_t tail = 0;; tail = (tail + 1) % bufs_.size()) {
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return count_ < bufs_.size() || stop_; });
        if (stop_) break;
      }
      auto& buf = bufs_[tail];
      size_t len = 0;
      std::optional<Error> err;
      bool eof = false;
      while (len < buf.size()) {
        auto got = src_.Read(buf.data() + len, buf.size() - len);
        if (!got.ok()) {
          err = got.error();
          break;
        }
        if (*got == 0) {
          eof = true;
          break;
        }
        len += *got;
      }
      std::lock_guard<std::mutex> l(mu_);
      if (len > 0) {
        lens_[tail] = len;
        ++count_;
      }
      if (err || eof) {
        error_ = std::move(err);
        done_ = true;
      }
      cv_.notify_all();
      if (done_) break;
    }
    std::lock_guard<std::mutex> l(mu_);
    done_ = true;
    cv_.notify_all();
  }

  Reader& src_;
  std::vector<std::vector<uint8_t>> bufs_;
  std::vector<size_t> lens_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t head_ = 0, count_ = 0;
  bool holding_ = false, done_ = false, stop_ = false;
  std::optional<Error> error_;
  std::thread thread_;
};

// What libarchive reads: chunks from the prefetcher, hashed here (on the consumer thread, which
// balances the two threads) for the diff_id.
struct ArchiveSource {
  ArchiveSource(Prefetcher* p, const UnpackOptions* o, uint64_t b, HashAlg alg)
      : prefetch(p), opt(o), base(b), hasher(alg) {}
  Prefetcher* prefetch;
  const UnpackOptions* opt;
  uint64_t base;  // bytes of earlier layers, for progress
  Hasher hasher;
  uint64_t bytes = 0, reported = 0;
  std::optional<Error> error;

  Result<std::pair<const uint8_t*, size_t>> Next() {
    COCO_ASSIGN_OR_RETURN(auto got, prefetch->Next());
    hasher.Update(got.first, got.second);
    bytes += got.second;
    if (opt->progress && (bytes - reported >= (8u << 20) || got.second == 0)) {
      reported = bytes;
      opt->progress(base + bytes);
    }
    return got;
  }
};

la_ssize_t ArchiveRead(struct archive* a, void* client, const void** out) {
  auto* src = static_cast<ArchiveSource*>(client);
  auto got = src->Next();
  if (!got.ok()) {
    src->error = got.error();
    archive_set_error(a, EIO, "%s", got.error().message.c_str());
    return -1;
  }
  *out = got->first;
  return static_cast<la_ssize_t>(got->second);
}

struct ArchiveDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

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

// Resolves directory `dir` (normalized, relative to the root) one component at a time without
// following anything outward: symlinks are expanded by hand and refused if absolute or if their
// `..` would climb above the root. Missing directories are created (mode 0755) if `create`.
Result<UniqueFd> Applier::Walk(std::string_view dir, bool create) {
  std::vector<UniqueFd> stack;
  std::vector<std::string> pending;
  for (size_t end = dir.size(); end > 0;) {
    size_t slash = dir.rfind('/', end - 1);
    size_t begin = slash == std::string_view::npos ? 0 : slash + 1;
    pending.emplace_back(dir.substr(begin, end - begin));
    end = slash == std::string_view::npos ? 0 : slash;
  }
  int links = 0;
  std::string walked;
  auto top = [&] { return stack.empty() ? root_ : stack.back().get(); };
  while (!pending.empty()) {
    std::string c = std::move(pending.back());
    pending.pop_back();
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (stack.empty()) {
        return Refused("symlink under '" + walked + "' climbs above the root");
      }
      stack.pop_back();
      continue;
    }
    if (!walked.empty()) walked += '/';
    walked += c;
    int fd = ::openat(top(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      stack.emplace_back(fd);
      continue;
    }
    int err = errno;
    if (err == ENOENT) {
      if (!create) return MakeError("NotFound", "'" + walked + "' does not exist");
      if (::mkdirat(top(), c.c_str(), 0755) != 0 && errno != EEXIST) {
        return Errno("cannot create directory '" + walked + "'", errno);
      }
      fd = ::openat(top(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return Errno("cannot open directory '" + walked + "'", errno);
      stack.emplace_back(fd);
      continue;
    }
    if (err != ENOTDIR && err != ELOOP) return Errno("cannot open '" + walked + "'", err);
    struct stat st;
    if (::fstatat(top(), c.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return Errno("cannot stat '" + walked + "'", errno);
    }
    if (!S_ISLNK(st.st_mode))
      return MakeError("InvalidArgument", "'" + walked + "' is not a directory");
    if (++links > kMaxSymlinks) return Refused("too many levels of symlinks at '" + walked + "'");
    std::string target(PATH_MAX, '\0');
    ssize_t len = ::readlinkat(top(), c.c_str(), target.data(), target.size());
    if (len < 0) return Errno("cannot read symlink '" + walked + "'", errno);
    target.resize(static_cast<size_t>(len));
    if (target.empty() || target[0] == '/') {
      return Refused("symlink '" + walked + "' -> '" + target +
                     "' is absolute: refusing to write through it");
    }
    for (size_t end = target.size(); end > 0;) {
      size_t slash = target.rfind('/', end - 1);
      size_t begin = slash == std::string::npos ? 0 : slash + 1;
      pending.emplace_back(target.substr(begin, end - begin));
      end = slash == std::string::npos ? 0 : slash;
    }
    walked += " (-> " + target + ")";
  }
  if (stack.empty()) {
    int fd = ::fcntl(root_, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return Errno("cannot dup the root descriptor", errno);
    return UniqueFd(fd);
  }
  return std::move(stack.back());
}

// Walk() with a one-entry cache: tar members usually arrive grouped by directory. The returned fd
// is borrowed and valid until the next Parent() or Invalidate().
Result<int> Applier::Parent(std::string_view dir, bool create) {
  if (dir.empty()) return root_;
  if (cache_valid_ && dir == cache_dir_) return cache_fd_.get();
  COCO_ASSIGN_OR_RETURN(UniqueFd fd, Walk(dir, create));
  if (create) {
    for (size_t i = 0; i <= dir.size(); ++i) {
      if (i == dir.size() || dir[i] == '/') MarkCreated(dir.substr(0, i));
    }
  }
  cache_fd_ = std::move(fd);
  cache_dir_.assign(dir);
  cache_valid_ = true;
  return cache_fd_.get();
}

Status Applier::RemoveExisting(int pfd, const std::string& name) {
  Invalidate();
  return RemoveTreeAt(pfd, name);
}

Status Applier::Entry(struct archive* a, struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (raw == nullptr) raw = archive_entry_pathname_utf8(e);
  if (raw == nullptr) return MakeError("InvalidArgument", "entry without a usable name");
  std::string_view rawv(raw);
  auto named = [&](const Error& err) {
    return Error{err.kind, "entry '" + std::string(rawv.substr(0, 256)) + "': " + err.message};
  };
  if (++entries_ > opt_.max_entries) {
    return named(MakeError("ResourceExhausted", "more than " + std::to_string(opt_.max_entries) +
                                                    " entries in the layer"));
  }
  ++stats_.entries;
  if (rawv.size() > opt_.max_path_length) {
    return named(MakeError("ResourceExhausted",
                           "path longer than " + std::to_string(opt_.max_path_length) + " bytes"));
  }
  auto norm = NormalizePath(rawv);
  if (!norm.ok()) return named(norm.error());
  const std::string& path = *norm;
  mode_t type = archive_entry_filetype(e);
  const char* hardlink = archive_entry_hardlink(e);
  if (path.empty()) {  // the root itself: only its metadata
    if (hardlink == nullptr && type == AE_IFDIR) {
      DirMeta m{"", Mode(e), archive_entry_uid(e), archive_entry_gid(e), {}};
      Times(e, m.times);
      dirs_.push_back(std::move(m));
      return Status::Ok();
    }
    return named(Refused("only a directory may stand for the root"));
  }
  std::string_view dir, namev;
  SplitPath(path, &dir, &namev);
  if (namev.substr(0, 4) == ".wh.") {
    Status s = Whiteout(dir, namev);
    return s.ok() ? s : named(s.error());
  }
  auto parent = Parent(dir, true);
  if (!parent.ok()) return named(parent.error());
  int pfd = *parent;
  std::string name(namev);
  MarkCreated(path);
  Status s;
  if (hardlink != nullptr) {
    s = HardLink(e, path, pfd, name);
  } else if (type == AE_IFREG) {
    s = WriteFile(a, e, pfd, name);
  } else if (type == AE_IFDIR) {
    bool made = ::mkdirat(pfd, name.c_str(), 0755) == 0;
    if (!made && errno == EEXIST) {
      struct stat st;
      if (::fstatat(pfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
        s = RemoveExisting(pfd, name);
        if (s.ok()) {
          made = ::mkdirat(pfd, name.c_str(), 0755) == 0;
          if (!made) s = Errno("cannot create directory", errno);
        }
      }
    } else if (!made) {
      s = Errno("cannot create directory", errno);
    }
    if (s.ok()) {
      DirMeta m{path, Mode(e), archive_entry_uid(e), archive_entry_gid(e), {}};
      Times(e, m.times);
      dirs_.push_back(std::move(m));
      if (opt_.xattrs && archive_entry_xattr_count(e) > 0) {
        UniqueFd dfd(::openat(pfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (dfd.get() >= 0) s = Xattrs(e, dfd.get(), path);
      }
    }
  } else if (type == AE_IFLNK) {
    const char* target = archive_entry_symlink(e);
    if (target == nullptr) target = archive_entry_symlink_utf8(e);
    if (target == nullptr) return named(MakeError("InvalidArgument", "symlink without a target"));
    if (std::strlen(target) > opt_.max_path_length) {
      return named(MakeError("ResourceExhausted", "symlink target too long"));
    }
    if (::symlinkat(target, pfd, name.c_str()) != 0) {
      if (errno != EEXIST) return named(Errno("cannot create symlink", errno));
      s = RemoveExisting(pfd, name);
      if (s.ok()) {
        if (::symlinkat(target, pfd, name.c_str()) != 0) s = Errno("cannot create symlink", errno);
      }
    }
    if (s.ok() && keep_owner_ &&
        ::fchownat(pfd, name.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                   static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0) {
      s = Errno("cannot chown symlink", errno);
    }
    if (s.ok()) {
      struct timespec ts[2];
      Times(e, ts);
      ::utimensat(pfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
    }
  } else if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFIFO) {
    s = Special(e, pfd, name, type);
  } else {
    s = MakeError("InvalidArgument", "unsupported entry type " + std::to_string(type));
  }
  return s.ok() ? s : named(s.error());
}

Status Applier::WriteFile(struct archive* a, struct archive_entry* e, int pfd,
                          const std::string& name) {
  int64_t size = archive_entry_size(e);
  if (size < 0 || static_cast<uint64_t>(size) > opt_.max_file_size) {
    return MakeError("ResourceExhausted", "file size " + std::to_string(size) +
                                              " exceeds the limit of " +
                                              std::to_string(opt_.max_file_size) + " bytes");
  }
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(::openat(pfd, name.c_str(), kFlags, 0600));
  if (fd.get() < 0 && errno == EEXIST) {
    COCO_RETURN_IF_ERROR(RemoveExisting(pfd, name));
    fd.reset(::openat(pfd, name.c_str(), kFlags, 0600));
  }
  if (fd.get() < 0) return Errno("cannot create file", errno);
  int64_t pos = 0;
  for (;;) {
    const void* block;
    size_t len;
    la_int64_t offset;
    int r = archive_read_data_block(a, &block, &len, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return MakeError("InvalidArgument",
                       std::string("reading file data: ") + archive_error_string(a));
    }
    if (offset + static_cast<int64_t>(len) > size) {
      return MakeError("InvalidArgument", "file data beyond its declared size");
    }
    const auto* p = static_cast<const uint8_t*>(block);
    while (len > 0) {
      ssize_t w = offset == pos ? ::write(fd.get(), p, len) : ::pwrite(fd.get(), p, len, offset);
      if (w < 0) {
        if (errno == EINTR) continue;
        return Errno("cannot write file", errno);
      }
      p += w;
      len -= static_cast<size_t>(w);
      offset += w;
      if (offset > pos) pos = offset;
    }
    if (::lseek(fd.get(), pos, SEEK_SET) < 0) return Errno("cannot seek", errno);
  }
  if (pos < size && ::ftruncate(fd.get(), size) != 0) return Errno("cannot size file", errno);
  stats_.file_bytes += static_cast<uint64_t>(size);
  if (keep_owner_ && ::fchown(fd.get(), static_cast<uid_t>(archive_entry_uid(e)),
                              static_cast<gid_t>(archive_entry_gid(e))) != 0) {
    return Errno("cannot chown", errno);
  }
  if (::fchmod(fd.get(), Mode(e)) != 0) return Errno("cannot chmod", errno);
  if (opt_.xattrs && archive_entry_xattr_count(e) > 0) {
    COCO_RETURN_IF_ERROR(Xattrs(e, fd.get(), name));
  }
  struct timespec ts[2];
  Times(e, ts);
  if (::futimens(fd.get(), ts) != 0) return Errno("cannot set times", errno);
  return Status::Ok();
}

Status Applier::Special(struct archive_entry* e, int pfd, const std::string& name, mode_t type) {
  bool fifo = type == AE_IFIFO;
  const char* what = fifo ? "fifo" : "device node";
  if (opt_.devices == UnpackOptions::Devices::kRefuse) {
    return Refused(std::string(what) + " refused by the unpack options");
  }
  if (opt_.devices == UnpackOptions::Devices::kSkip || (!fifo && !privileged_)) {
    Warn(std::string("skipped ") + what + " '" + archive_entry_pathname(e) + "'" +
         (fifo || privileged_ ? "" : " (not privileged)"));
    return Status::Ok();
  }
  dev_t dev = fifo ? 0 : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
  mode_t mode = Mode(e);
  if (::mknodat(pfd, name.c_str(), type | (mode & 0777), dev) != 0) {
    if (errno != EEXIST) return Errno(std::string("cannot create ") + what, errno);
    COCO_RETURN_IF_ERROR(RemoveExisting(pfd, name));
    if (::mknodat(pfd, name.c_str(), type | (mode & 0777), dev) != 0) {
      return Errno(std::string("cannot create ") + what, errno);
    }
  }
  if (keep_owner_ &&
      ::fchownat(pfd, name.c_str(), static_cast<uid_t>(archive_entry_uid(e)),
                 static_cast<gid_t>(archive_entry_gid(e)), AT_SYMLINK_NOFOLLOW) != 0) {
    return Errno("cannot chown", errno);
  }
  ::fchmodat(pfd, name.c_str(), mode, 0);
  struct timespec ts[2];
  Times(e, ts);
  ::utimensat(pfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
  return Status::Ok();
}

Status Applier::HardLink(struct archive_entry* e, const std::string& path, int pfd,
                         const std::string& name) {
  std::string_view raw = archive_entry_hardlink(e);
  if (raw.size() > opt_.max_path_length) {
    return MakeError("ResourceExhausted", "hard link target too long");
  }
  auto norm = NormalizePath(raw);
  if (!norm.ok()) {
    return Refused("hard link target '" + std::string(raw) + "' is outside the root");
  }
  if (*norm == path) return Status::Ok();
  std::string_view tdir, tname;
  SplitPath(*norm, &tdir, &tname);
  if (tname.empty()) return Refused("hard link to the root directory");
  auto tfd = Walk(tdir, false);
  if (!tfd.ok()) {
    return Error{tfd.error().kind, "hard link target '" + std::string(raw) +
                                       "' cannot be resolved in the root: " + tfd.error().message};
  }
  std::string tn(tname);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::linkat(tfd->get(), tn.c_str(), pfd, name.c_str(), 0) == 0) return Status::Ok();
    int err = errno;
    if (err == ENOENT) {
      return MakeError("NotFound",
                       "hard link target '" + std::string(raw) + "' does not exist in the root");
    }
    if (err != EEXIST || attempt > 0) return Errno("cannot create hard link", err);
    struct stat a, b;
    if (::fstatat(tfd->get(), tn.c_str(), &a, AT_SYMLINK_NOFOLLOW) == 0 &&
        ::fstatat(pfd, name.c_str(), &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
      return Status::Ok();  // already the same file
    }
    COCO_RETURN_IF_ERROR(RemoveExisting(pfd, name));
  }
  return Status::Ok();
}

Status Applier::Xattrs(struct archive_entry* e, int fd, const std::string& path) {
  archive_entry_xattr_reset(e);
  const char* key;
  const void* value;
  size_t size;
  while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
    std::string_view k(key);
    if (k.substr(0, 9) == "security." && !opt_.security_xattrs) continue;
    if (::fsetxattr(fd, key, value, size, 0) != 0) {
      Warn("xattr " + std::string(k) + " on '" + path + "' not applied: " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

Status Applier::Whiteout(std::string_view dir, std::string_view name) {
  ++stats_.whiteouts;
  if (name == ".wh..wh..opq") {
    auto parent = Parent(dir, true);
    if (!parent.ok()) return parent.error();
    std::string d(dir);
    UniqueFd fd(::openat(*parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return Errno("cannot open opaque directory", errno);
    return PurgeLower(fd.get(), d, 0);
  }
  if (name.substr(0, 8) == ".wh..wh.") return Status::Ok();  // aufs metadata: ignored
  std::string_view victim = name.substr(4);
  if (victim.empty() || victim == "." || victim == "..") {
    return MakeError("InvalidArgument", "malformed whiteout");
  }
  std::string vpath =
      dir.empty() ? std::string(victim) : std::string(dir) + "/" + std::string(victim);
  if (WasCreated(vpath)) return Status::Ok();  // only lower layers are whited out
  auto parent = Parent(dir, false);
  if (!parent.ok()) return parent.error().kind == "NotFound" ? Status::Ok() : parent.error();
  return RemoveExisting(*parent, std::string(victim));
}

// Removes from the directory `dirfd` (lexical path `path`) everything this layer did not create;
// descends into directories this layer created or passed through.
Status Applier::PurgeLower(int dirfd, const std::string& path, int depth) {
  if (depth > 2048) return MakeError("ResourceExhausted", "directory tree too deep");
  int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return Errno("cannot open '" + path + "'", errno);
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return Errno("cannot list '" + path + "'", errno);
  }
  std::vector<std::pair<std::string, bool>> children;
  while (struct dirent* ent = ::readdir(d)) {
    std::string_view n(ent->d_name);
    if (n == "." || n == "..") continue;
    children.emplace_back(ent->d_name, ent->d_type == DT_DIR);
  }
  ::closedir(d);
  for (auto& [n, is_dir] : children) {
    std::string child = path.empty() ? n : path + "/" + n;
    if (!WasCreated(child)) {
      COCO_RETURN_IF_ERROR(RemoveExisting(dirfd, n));
    } else if (is_dir) {
      UniqueFd cfd(::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (cfd.get() >= 0) COCO_RETURN_IF_ERROR(PurgeLower(cfd.get(), child, depth + 1));
    }
  }
  return Status::Ok();
}

// Directory metadata is applied last (children would bump mtimes; a read-only mode would block
// them), deepest entries first.
Status Applier::Finish() {
  Invalidate();
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    UniqueFd fd;
    if (it->path.empty()) {
      fd.reset(::openat(root_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    } else {
      std::string_view dir, name;
      SplitPath(it->path, &dir, &name);
      auto parent = Parent(dir, false);
      if (!parent.ok()) continue;  // removed later in the layer
      fd.reset(::openat(*parent, std::string(name).c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (fd.get() < 0) continue;
    if (keep_owner_ &&
        ::fchown(fd.get(), static_cast<uid_t>(it->uid), static_cast<gid_t>(it->gid)) != 0) {
      return Errno("entry '" + it->path + "': cannot chown directory", errno);
    }
    if (::fchmod(fd.get(), it->mode) != 0) {
      return Errno("entry '" + it->path + "': cannot chmod directory", errno);
    }
    ::futimens(fd.get(), it->times);
  }
  return Status::Ok();
}

Result<std::pair<HashAlg, std::string>> ParseDiffId(std::string_view id) {
  auto bad = [&] {
    return MakeError("InvalidArgument", "malformed diff_id '" + std::string(id) + "'");
  };
  size_t colon = id.find(':');
  if (colon == std::string_view::npos) return bad();
  std::string_view alg = id.substr(0, colon), hex = id.substr(colon + 1);
  HashAlg a;
  size_t len;
  if (alg == "sha256") {
    a = HashAlg::kSha256;
    len = 64;
  } else if (alg == "sha512") {
    a = HashAlg::kSha512;
    len = 128;
  } else {
    return bad();
  }
  if (hex.size() != len) return bad();
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return bad();
  }
  return std::make_pair(a, std::string(hex));
}

}  // namespace

Status RemoveTreeAt(int dirfd, const std::string& name) {
  if (::unlinkat(dirfd, name.c_str(), 0) == 0 || errno == ENOENT) return Status::Ok();
  if (errno != EISDIR && errno != EPERM) return Errno("cannot remove '" + name + "'", errno);
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open '" + name + "' for removal", errno);
  ::fchmod(fd, 0700);  // an unprivileged caller needs write access to empty it
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return Errno("cannot list '" + name + "'", errno);
  }
  Status s;
  while (struct dirent* ent = ::readdir(d)) {
    std::string_view n(ent->d_name);
    if (n == "." || n == "..") continue;
    s = RemoveTreeAt(::dirfd(d), ent->d_name);
    if (!s.ok()) break;
  }
  ::closedir(d);
  if (!s.ok()) return s;
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return Errno("cannot remove directory '" + name + "'", errno);
  }
  return Status::Ok();
}

Status ApplyLayer(int root_dirfd, Reader& layer, std::string_view media_type,
                  std::string_view expected_diff_id, const UnpackOptions& options,
                  UnpackStats* stats) {
  UnpackStats local;
  UnpackStats& st = stats ? *stats : local;
  COCO_ASSIGN_OR_RETURN(auto diff, ParseDiffId(expected_diff_id));
  COCO_ASSIGN_OR_RETURN(Compression comp, CompressionForMediaType(media_type));
  COCO_ASSIGN_OR_RETURN(auto plain, NewDecompressingReader(layer, comp, options.gzip));
  uint64_t limit = options.max_total_bytes > st.uncompressed_bytes
                       ? options.max_total_bytes - st.uncompressed_bytes
                       : 0;
  CountingReader counting(*plain, limit, options.max_total_bytes);
  std::optional<Prefetcher> prefetch;
  prefetch.emplace(counting, kPrefetchBuffers, kReadChunk);
  ArchiveSource src(&*prefetch, &options, st.uncompressed_bytes, diff.first);
  std::unique_ptr<struct archive, ArchiveDeleter> a(archive_read_new());
  if (!a) return MakeError("Internal", "archive_read_new failed");
  archive_read_support_format_tar(a.get());
  auto fail = [&](const char* what) -> Status {
    if (src.error) return *src.error;
    const char* msg = archive_error_string(a.get());
    return MakeError("InvalidArgument",
                     std::string(what) + ": " + (msg ? msg : "malformed tar stream"));
  };
  if (archive_read_open(a.get(), &src, nullptr, ArchiveRead, nullptr) != ARCHIVE_OK) {
    return fail("cannot read the layer as tar");
  }
  Applier applier(root_dirfd, options, st);
  for (;;) {
    struct archive_entry* e;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return fail("malformed tar stream");
    Status s = applier.Entry(a.get(), e);
    if (!s.ok()) return src.error ? *src.error : s.error();
  }
  // The tar end marker may be followed by padding; the diff_id covers every byte.
  for (;;) {
    COCO_ASSIGN_OR_RETURN(auto chunk, src.Next());
    if (chunk.second == 0) break;
  }
  prefetch.reset();
  st.uncompressed_bytes += src.bytes;
  if (options.progress) options.progress(st.uncompressed_bytes);
  std::string got = HexEncode(src.hasher.Finish());
  if (got != diff.second) {
    return MakeError("DigestMismatch", "layer diff_id mismatch: expected " +
                                           std::string(expected_diff_id) + ", got " +
                                           std::string(expected_diff_id.substr(0, 7)) + got);
  }
  return applier.Finish();
}

Result<UnpackStats> UnpackImage(const std::vector<LayerSource>& layers, const std::string& root,
                                const UnpackOptions& options) {
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  size_t slash = r.rfind('/');
  std::string parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : r.substr(0, slash));
  std::string base = slash == std::string::npos ? r : r.substr(slash + 1);
  if (base.empty() || base == "." || base == ".." || base == "/") {
    return MakeError("InvalidArgument", "bad unpack root '" + root + "'");
  }
  COCO_RETURN_IF_ERROR(MakeDirs(parent));
  UniqueFd pfd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (pfd.get() < 0) return Errno("cannot open " + parent, errno);
  struct stat st;
  bool exists = ::fstatat(pfd.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  bool swap = false;
  if (exists) {
    bool empty_dir = false;
    if (S_ISDIR(st.st_mode)) {
      UniqueFd d(
          ::openat(pfd.get(), base.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      DIR* dir = d.get() >= 0 ? ::fdopendir(d.release()) : nullptr;
      if (dir != nullptr) {
        empty_dir = true;
        while (struct dirent* ent = ::readdir(dir)) {
          std::string_view n(ent->d_name);
          if (n != "." && n != "..") empty_dir = false;
        }
        ::closedir(dir);
      }
    }
    if (!empty_dir) {
      if (!options.replace_existing) {
        return MakeError("AlreadyExists", "unpack root " + root + " exists and is not empty");
      }
      swap = true;
    }
  }
  std::string partial = base + ".partial-" + HexEncode(crypto::RandomBytes(8));
  if (::mkdirat(pfd.get(), partial.c_str(), 0755) != 0) {
    return Errno("cannot create " + parent + "/" + partial, errno);
  }
  UnpackStats stats;
  auto abandon = [&](Error err) -> Result<UnpackStats> {
    (void)RemoveTreeAt(pfd.get(), partial);
    return err;
  };
  {
    UniqueFd rfd(
        ::openat(pfd.get(), partial.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (rfd.get() < 0) return abandon(Errno("cannot open " + partial, errno));
    for (size_t i = 0; i < layers.size(); ++i) {
      std::string label = "layer " + std::to_string(i + 1) + "/" + std::to_string(layers.size()) +
                          " (" + layers[i].diff_id + "): ";
      if (!layers[i].open) return abandon(MakeError("InvalidArgument", label + "no opener"));
      auto reader = layers[i].open();
      if (!reader.ok()) {
        return abandon(Error{reader.error().kind, label + reader.error().message});
      }
      Status s =
          ApplyLayer(rfd.get(), **reader, layers[i].media_type, layers[i].diff_id, options, &stats);
      if (!s.ok()) return abandon(Error{s.error().kind, label + s.error().message});
    }
  }
  if (swap) {
    if (::renameat2(pfd.get(), partial.c_str(), pfd.get(), base.c_str(), RENAME_EXCHANGE) != 0) {
      return abandon(Errno("cannot swap " + partial + " with " + root, errno));
    }
    Status s = RemoveTreeAt(pfd.get(), partial);  // the old tree
    if (!s.ok()) stats.warnings.push_back("old tree not fully removed: " + s.error().message);
  } else if (::renameat(pfd.get(), partial.c_str(), pfd.get(), base.c_str()) != 0) {
    return abandon(Errno("cannot rename " + partial + " to " + root, errno));
  }
  return stats;
}

}  // namespace coco::oci
