// Safe layer unpack (src/oci/unpack.h): the input is applied as an uncompressed tar layer on top
// of a small lower layer (files, in-root and escaping symlinks) in a fresh root directory under
// /dev/shm (else $TMPDIR, else /tmp), with small limits.
// Invariants: nothing appears next to the root or in the two directories above it, and the
// "outside/secret" sibling file keeps its contents and link count (no hard link to it); the root
// can always be removed again.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "base/bytes.h"
#include "crypto/crypto.h"
#include "fuzz_util.h"
#include "oci/unpack.h"

namespace oci = coco::oci;

namespace {

constexpr char kTar[] = "application/vnd.oci.image.layer.v1.tar";  // detected by magic

// <base>/a/b/{root,outside/secret}; <base> and <base>/a hold nothing else.
struct Dirs {
  std::string base;
  int b_fd = -1;
};

std::set<std::string> List(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  FUZZ_CHECK(d != nullptr);
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  ::closedir(d);
  return names;
}

void Cleanup();

// Never destroyed, so that Cleanup() can still use it at exit.
const Dirs& Setup() {
  static const Dirs* dirs = [] {
    std::string parent = "/dev/shm";
    if (::access(parent.c_str(), W_OK) != 0) {
      const char* tmp = std::getenv("TMPDIR");
      parent = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
    }
    std::string tmpl = parent + "/coco-fuzz-unpack-XXXXXX";
    FUZZ_CHECK(::mkdtemp(tmpl.data()) != nullptr);
    auto* d = new Dirs{tmpl};
    FUZZ_CHECK(::mkdir((d->base + "/a").c_str(), 0755) == 0);
    FUZZ_CHECK(::mkdir((d->base + "/a/b").c_str(), 0755) == 0);
    FUZZ_CHECK(::mkdir((d->base + "/a/b/outside").c_str(), 0755) == 0);
    int fd = ::open((d->base + "/a/b/outside/secret").c_str(), O_WRONLY | O_CREAT, 0644);
    FUZZ_CHECK(fd >= 0 && ::write(fd, "secret", 6) == 6);
    ::close(fd);
    d->b_fd = ::open((d->base + "/a/b").c_str(), O_RDONLY | O_DIRECTORY);
    FUZZ_CHECK(d->b_fd >= 0);
    std::atexit(Cleanup);
    return d;
  }();
  return *dirs;
}

void Cleanup() {
  const Dirs& d = Setup();
  std::string parent = d.base.substr(0, d.base.rfind('/'));
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    (void)oci::RemoveTreeAt(fd, d.base.substr(d.base.rfind('/') + 1));
    ::close(fd);
  }
}

// What earlier layers left: whiteouts, opaque directories and symlinked parents act on it.
void LowerLayer(int root) {
  auto file = [root](const char* path) {
    int fd = ::openat(root, path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    FUZZ_CHECK(fd >= 0 && ::write(fd, "lower", 5) == 5);
    ::close(fd);
  };
  for (const char* dir : {"etc", "usr", "usr/lib", "opq", "opq/x"}) {
    FUZZ_CHECK(::mkdirat(root, dir, 0755) == 0);
  }
  for (const char* f : {"etc/passwd", "usr/lib/libc.so", "opq/x/f", "hard"}) file(f);
  FUZZ_CHECK(::symlinkat("usr/lib", root, "lib") == 0);
  FUZZ_CHECK(::symlinkat("/", root, "abs") == 0);
  FUZZ_CHECK(::symlinkat("../..", root, "up") == 0);
  FUZZ_CHECK(::symlinkat("../../outside", root, "etc/out") == 0);
}

void CheckNothingEscaped(const Dirs& d) {
  FUZZ_CHECK(List(d.base) == std::set<std::string>{"a"});
  FUZZ_CHECK(List(d.base + "/a") == std::set<std::string>{"b"});
  FUZZ_CHECK((List(d.base + "/a/b") == std::set<std::string>{"outside", "root"}));
  FUZZ_CHECK(List(d.base + "/a/b/outside") == std::set<std::string>{"secret"});
  struct stat st;
  FUZZ_CHECK(::fstatat(d.b_fd, "outside/secret", &st, AT_SYMLINK_NOFOLLOW) == 0);
  FUZZ_CHECK(S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_size == 6);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Dirs& d = Setup();
  FUZZ_CHECK(::mkdirat(d.b_fd, "root", 0755) == 0);
  int root = ::openat(d.b_fd, "root", O_RDONLY | O_DIRECTORY);
  FUZZ_CHECK(root >= 0);
  LowerLayer(root);

  std::string_view tar = coco::fuzz::AsString(data, size);
  std::string diff_id = "sha256:" + coco::HexEncode(coco::crypto::Sha256(tar));
  oci::UnpackOptions opt;
  opt.privileged = false;  // no chown/mknod even when the fuzzer runs as root
  opt.ownership = oci::UnpackOptions::Ownership::kCurrentUser;
  opt.max_entries = 1000;
  opt.max_file_size = 16 << 20;
  opt.max_total_bytes = 16 << 20;
  coco::MemoryReader layer(tar, 4093);
  oci::UnpackStats stats;
  coco::Status s = oci::ApplyLayer(root, layer, kTar, diff_id, opt, &stats);
  if (!s.ok()) FUZZ_CHECK(!s.error().message.empty());
  if (std::getenv("FUZZ_VERBOSE") != nullptr) {  // to see what a corpus file exercises
    std::fprintf(stderr, "  %llu entries, %zu warnings: %s\n",
                 static_cast<unsigned long long>(stats.entries), stats.warnings.size(),
                 s.ok() ? "ok" : s.error().message.c_str());
  }
  FUZZ_CHECK(stats.entries <= 1000);
  ::close(root);

  CheckNothingEscaped(d);
  FUZZ_CHECK_OK(oci::RemoveTreeAt(d.b_fd, "root"));
  return 0;
}
