#include "oci/unpack_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>

namespace coco::oci {
namespace internal {
namespace {

constexpr int kMaxSymlinks = 40;

}  // namespace

Error Errno(std::string what, int err) {
  return MakeError(Code::kIo, std::move(what) + ": " + std::strerror(err));
}

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
      if (!create) return MakeError(Code::kNotFound, "'" + walked + "' does not exist");
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
      return MakeError(Code::kInvalidArgument, "'" + walked + "' is not a directory");
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
  if (raw == nullptr) return MakeError(Code::kInvalidArgument, "entry without a usable name");
  std::string_view rawv(raw);
  auto named = [&](const Error& err) {
    return Annotate(err, "entry '" + std::string(rawv.substr(0, 256)) + "'");
  };
  if (++entries_ > opt_.max_entries) {
    return named(
        MakeError(Code::kResourceExhausted,
                  "more than " + std::to_string(opt_.max_entries) + " entries in the layer"));
  }
  ++stats_.entries;
  if (rawv.size() > opt_.max_path_length) {
    return named(MakeError(Code::kResourceExhausted,
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
    if (target == nullptr)
      return named(MakeError(Code::kInvalidArgument, "symlink without a target"));
    if (std::strlen(target) > opt_.max_path_length) {
      return named(MakeError(Code::kResourceExhausted, "symlink target too long"));
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
    s = MakeError(Code::kInvalidArgument, "unsupported entry type " + std::to_string(type));
  }
  return s.ok() ? s : named(s.error());
}

Status Applier::WriteFile(struct archive* a, struct archive_entry* e, int pfd,
                          const std::string& name) {
  int64_t size = archive_entry_size(e);
  if (size < 0 || static_cast<uint64_t>(size) > opt_.max_file_size) {
    return MakeError(Code::kResourceExhausted, "file size " + std::to_string(size) +
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
      return MakeError(Code::kInvalidArgument,
                       std::string("reading file data: ") + archive_error_string(a));
    }
    if (offset + static_cast<int64_t>(len) > size) {
      return MakeError(Code::kInvalidArgument, "file data beyond its declared size");
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
    return MakeError(Code::kResourceExhausted, "hard link target too long");
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
    return Annotate(tfd.error(),
                    "hard link target '" + std::string(raw) + "' cannot be resolved in the root");
  }
  std::string tn(tname);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::linkat(tfd->get(), tn.c_str(), pfd, name.c_str(), 0) == 0) return Status::Ok();
    int err = errno;
    if (err == ENOENT) {
      return MakeError(Code::kNotFound,
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
    return MakeError(Code::kInvalidArgument, "malformed whiteout");
  }
  std::string vpath =
      dir.empty() ? std::string(victim) : std::string(dir) + "/" + std::string(victim);
  if (WasCreated(vpath)) return Status::Ok();  // only lower layers are whited out
  auto parent = Parent(dir, false);
  if (!parent.ok()) return parent.error().code == Code::kNotFound ? Status::Ok() : parent.error();
  return RemoveExisting(*parent, std::string(victim));
}

// Removes from the directory `dirfd` (lexical path `path`) everything this layer did not create;
// descends into directories this layer created or passed through.
Status Applier::PurgeLower(int dirfd, const std::string& path, int depth) {
  if (depth > 2048) return MakeError(Code::kResourceExhausted, "directory tree too deep");
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
    bool is_dir = ent->d_type == DT_DIR;
    if (ent->d_type == DT_UNKNOWN) {
      struct stat st;
      is_dir = ::fstatat(dirfd, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    children.emplace_back(ent->d_name, is_dir);
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

}  // namespace internal

using internal::Errno;

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

}  // namespace coco::oci
