#include "oci/unpack.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "base/file.h"
#include "oci/unpack_test_util.h"

namespace coco::oci {
namespace {

namespace fs = std::filesystem;
using testing::DiffId;
using testing::Dir;
using testing::File;
using testing::Gzip;
using testing::Hardlink;
using testing::MakeTar;
using testing::Symlink;
using testing::TarEntry;
using testing::Zstd;

constexpr char kTarGz[] = "application/vnd.oci.image.layer.v1.tar+gzip";

LayerSource Layer(const std::string& tar, std::string media = kTarGz) {
  std::string blob = media == kTarGz ? Gzip(tar) : media.ends_with("zstd") ? Zstd(tar) : tar;
  return LayerSource{[blob]() -> Result<std::unique_ptr<Reader>> {
                       return std::unique_ptr<Reader>(std::make_unique<MemoryReader>(blob, 3001));
                     },
                     std::move(media), DiffId(tar)};
}

class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/coco-unpack-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    root_ = tmp_ + "/root";
    outside_ = tmp_ + "/outside";
    ASSERT_TRUE(MakeDirs(outside_).ok());
    ASSERT_TRUE(WriteFileAtomic(outside_ + "/secret", "secret").ok());
  }
  void TearDown() override {
    int fd = ::open("/tmp", O_RDONLY | O_DIRECTORY);
    EXPECT_TRUE(RemoveTreeAt(fd, fs::path(tmp_).filename()).ok());
    ::close(fd);
  }

  // Every path under `dir` with its type, mode and contents or target; hard links share "#n".
  std::set<std::string> Tree(const std::string& dir) {
    std::set<std::string> out;
    std::map<ino_t, int> inodes;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::end(it); it.increment(ec)) {
      std::string p = it->path().lexically_relative(dir).string();
      struct stat st;
      ::lstat(it->path().c_str(), &st);
      char mode[16];
      std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
      if (S_ISDIR(st.st_mode)) {
        out.insert(p + "/ " + mode);
      } else if (S_ISLNK(st.st_mode)) {
        out.insert(p + " -> " + fs::read_symlink(it->path()).string());
      } else if (S_ISREG(st.st_mode)) {
        std::string line = p + " " + mode + " " + *ReadFile(it->path());
        if (st.st_nlink > 1) {
          auto [pos, added] = inodes.emplace(st.st_ino, static_cast<int>(inodes.size()) + 1);
          line += " #" + std::to_string(pos->second);
        }
        out.insert(line);
      } else {
        out.insert(p + " special");
      }
    }
    return out;
  }

  // Nothing but root (if `root_expected`) and the untouched outside dir is left in tmp_.
  void ExpectNoDebris(bool root_expected) {
    std::set<std::string> names;
    for (auto& e : fs::directory_iterator(tmp_)) names.insert(e.path().filename());
    std::set<std::string> want{"outside"};
    if (root_expected) want.insert("root");
    EXPECT_EQ(names, want);
    EXPECT_EQ(Tree(outside_), (std::set<std::string>{"secret 0644 secret"}));
  }

  // Unpacks one crafted layer; expects refusal naming `entry` and no trace of it anywhere.
  void ExpectRefused(const std::vector<TarEntry>& entries, const std::string& entry,
                     UnpackOptions opt = {}) {
    auto r = UnpackImage({Layer(MakeTar(entries))}, root_, opt);
    ASSERT_FALSE(r.ok()) << "unpack of a layer with '" << entry << "' succeeded";
    EXPECT_NE(r.error().message.find(entry), std::string::npos) << r.error().message;
    ExpectNoDebris(false);
  }

  std::string tmp_, root_, outside_;
};

std::string Layer1() {
  return MakeTar({
      Dir("usr"),
      Dir("usr/lib"),
      File("usr/lib/a.so", "A", 0755),
      Symlink("lib", "usr/lib"),
      Dir("etc"),
      File("etc/hosts", "hosts"),
      Hardlink("etc/hosts.link", "etc/hosts"),
      File("etc/motd", "motd"),
      Dir("opt"),
      Dir("opt/app"),
      File("opt/app/old1", "1"),
      Dir("opt/app/sub"),
      File("opt/app/sub/old2", "2"),
      Dir("var"),
      File("var/gone", "gone"),
      Dir("var/dir"),
      File("var/dir/x", "x"),
      File("tobedir", "f"),
      Dir("tobefile"),
      File("tobefile/inner", "i"),
  });
}

std::string Layer2() {
  return MakeTar({
      // What this layer adds to opt/app before the opaque marker is kept.
      File("opt/app/new1", "n1"), Dir("opt/app/sub"), File("opt/app/.wh..wh..opq", ""),
      File("opt/app/sub/new2", "n2"), File("etc/.wh.motd", ""), File("var/.wh.dir", ""),
      File("./var/.wh.gone", ""),
      File("lib/b.so", "B", 0700),  // through the in-root symlink lib -> usr/lib
      Hardlink("etc/hosts.link2", "/etc/hosts"), Dir("tobedir", 0700), File("tobedir/y", "y"),
      File("tobefile", "now a file", 0600),
      File("etc/hosts", "new hosts"),  // replaces; the old inode stays at hosts.link
  });
}

TEST_F(UnpackTest, TwoLayersWithLinksWhiteoutsAndOpaqueDirs) {
  auto r = UnpackImage({Layer(Layer1()), Layer(Layer2())}, root_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Tree(root_), (std::set<std::string>{
                             "etc/ 0755",
                             "etc/hosts 0644 new hosts",
                             "etc/hosts.link 0644 hosts #1",
                             "etc/hosts.link2 0644 hosts #1",
                             "lib -> usr/lib",
                             "opt/ 0755",
                             "opt/app/ 0755",
                             "opt/app/new1 0644 n1",
                             "opt/app/sub/ 0755",
                             "opt/app/sub/new2 0644 n2",
                             "tobedir/ 0700",
                             "tobedir/y 0644 y",
                             "tobefile 0600 now a file",
                             "usr/ 0755",
                             "usr/lib/ 0755",
                             "usr/lib/a.so 0755 A",
                             "usr/lib/b.so 0700 B",
                             "var/ 0755",
                         }));
  EXPECT_EQ(r->whiteouts, 4u);
  struct stat st;
  ASSERT_EQ(::stat((root_ + "/usr/lib/a.so").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtime, 1'600'000'000);
  ExpectNoDebris(true);
}

TEST_F(UnpackTest, GzipZstdAndPlainGiveTheSameTree) {
  std::set<std::string> first;
  for (std::string media :
       {std::string(kTarGz), std::string("application/vnd.oci.image.layer.v1.tar+zstd"),
        std::string("application/vnd.oci.image.layer.v1.tar"),
        std::string("application/vnd.docker.image.rootfs.diff.tar.gzip")}) {
    UnpackOptions opt;
    opt.replace_existing = true;
    auto r = UnpackImage({Layer(Layer1(), media)}, root_, opt);
    ASSERT_TRUE(r.ok()) << media << ": " << r.error().message;
    if (first.empty()) first = Tree(root_);
    EXPECT_EQ(Tree(root_), first) << media;
    EXPECT_EQ(first.size(), 20u);
  }
  ExpectNoDebris(true);
}

TEST_F(UnpackTest, DiffIdMismatchRefused) {
  LayerSource l = Layer(Layer1());
  l.diff_id = DiffId("something else");
  auto r = UnpackImage({l}, root_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kDigestMismatch);
  EXPECT_NE(r.error().message.find("diff_id mismatch"), std::string::npos);
  ExpectNoDebris(false);
  l.diff_id = "sha256:abc";
  EXPECT_FALSE(UnpackImage({l}, root_).ok());
}

TEST_F(UnpackTest, DotDotEscapeRefused) {
  ExpectRefused({File("ok", "1"), File("a/../../outside/pwned", "x")}, "a/../../outside/pwned");
  ExpectRefused({File("../outside/pwned", "x")}, "../outside/pwned");
}

TEST_F(UnpackTest, WriteThroughAbsoluteSymlinkRefused) {
  ExpectRefused({Symlink("evil", outside_), File("evil/pwned", "x")}, "evil/pwned");
  ExpectRefused({Symlink("etc", "/etc"), File("etc/pwned", "x")}, "etc/pwned");
}

TEST_F(UnpackTest, WriteThroughDotDotSymlinkRefused) {
  ExpectRefused({Symlink("up", "../../.."), File("up/pwned", "x")}, "up/pwned");
  ExpectRefused({Dir("d"), Symlink("d/up", "../../outside"), Dir("d/up/newdir")}, "d/up/newdir");
  // A chain: each link is in-root on its own, together they climb out.
  ExpectRefused({Dir("a"), Symlink("a/b", ".."), Symlink("c", "a/b/.."), File("c/pwned", "x")},
                "c/pwned");
}

TEST_F(UnpackTest, HardLinksOutsideOrMissingRefused) {
  ExpectRefused({Hardlink("link", "../outside/secret")}, "link");
  struct stat before, after;
  ASSERT_EQ(::stat("/etc/passwd", &before), 0);
  ExpectRefused({Dir("etc"), Hardlink("etc/shadow", "/etc/passwd")}, "etc/shadow");
  ASSERT_EQ(::stat("/etc/passwd", &after), 0);
  EXPECT_EQ(before.st_nlink, after.st_nlink);
  ExpectRefused({Symlink("out", outside_), Hardlink("x", "out/secret")}, "x");
}

TEST_F(UnpackTest, LimitsRefused) {
  UnpackOptions few;
  few.max_entries = 10;
  std::vector<TarEntry> many;
  for (int i = 0; i < 11; ++i) many.push_back(File("f" + std::to_string(i), ""));
  ExpectRefused(many, "f10", few);

  std::string longpath;
  while (longpath.size() < 5000) longpath += std::string(100, 'd') + "/";
  ExpectRefused({File(longpath + "f", "x")}, "dddd");

  UnpackOptions small;
  small.max_file_size = 1000;
  ExpectRefused({File("big", std::string(1001, 'b'))}, "big", small);

  UnpackOptions total;
  total.max_total_bytes = 1 << 20;
  auto r = UnpackImage({Layer(MakeTar({File("huge", std::string(2 << 20, 'h'))}))}, root_, total);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("limit"), std::string::npos) << r.error().message;
  ExpectNoDebris(false);
}

TEST_F(UnpackTest, TruncatedGzipRefused) {
  std::string tar = MakeTar({File("a", std::string(200000, 'a')), File("b", "b")});
  std::string blob = Gzip(tar);
  blob.resize(blob.size() - 10);
  LayerSource l{[blob]() -> Result<std::unique_ptr<Reader>> {
                  return std::unique_ptr<Reader>(std::make_unique<MemoryReader>(blob, 1 << 16));
                },
                kTarGz, DiffId(tar)};
  auto r = UnpackImage({l}, root_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("truncated"), std::string::npos) << r.error().message;
  ExpectNoDebris(false);
}

TEST_F(UnpackTest, SetuidKeptOrStripped) {
  std::string tar = MakeTar({File("su", "x", 04755), Dir("sg", 02775)});
  ASSERT_TRUE(UnpackImage({Layer(tar)}, root_).ok());
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"su 4755 x", "sg/ 2775"}));
  UnpackOptions strip;
  strip.keep_setuid_setgid = false;
  strip.replace_existing = true;
  ASSERT_TRUE(UnpackImage({Layer(tar)}, root_, strip).ok());
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"su 0755 x", "sg/ 0775"}));
}

TEST_F(UnpackTest, DevicesWhenNotPrivileged) {
  TarEntry dev{TarEntry::kChar, "dev/null", "", 0666};
  TarEntry fifo{TarEntry::kFifo, "run/fifo", "", 0600};
  std::string tar = MakeTar({Dir("dev"), dev, Dir("run"), fifo});
  UnpackOptions unpriv;
  unpriv.privileged = false;
  auto r = UnpackImage({Layer(tar)}, root_, unpriv);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"dev/ 0755", "run/ 0755", "run/fifo special"}));
  ASSERT_EQ(r->warnings.size(), 1u);
  EXPECT_NE(r->warnings[0].find("dev/null"), std::string::npos);

  UnpackOptions refuse;
  refuse.devices = UnpackOptions::Devices::kRefuse;
  refuse.replace_existing = true;
  auto bad = UnpackImage({Layer(tar)}, root_, refuse);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("dev/null"), std::string::npos);
  // The earlier successful tree is untouched.
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"dev/ 0755", "run/ 0755", "run/fifo special"}));
}

TEST_F(UnpackTest, ExistingRootRefusedUnlessReplacing) {
  ASSERT_TRUE(MakeDirs(root_).ok());
  ASSERT_TRUE(WriteFileAtomic(root_ + "/keep", "mine").ok());
  auto r = UnpackImage({Layer(MakeTar({File("new", "n")}))}, root_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"keep 0644 mine"}));
  UnpackOptions replace;
  replace.replace_existing = true;
  ASSERT_TRUE(UnpackImage({Layer(MakeTar({File("new", "n")}))}, root_, replace).ok());
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"new 0644 n"}));
  ExpectNoDebris(true);
}

TEST_F(UnpackTest, ApplyLayerOnCallerRoot) {
  ASSERT_TRUE(MakeDirs(root_).ok());
  int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY);
  std::string tar = MakeTar({Dir("./"), File("./a/b/c", "deep")});
  std::string gz = Gzip(tar);
  MemoryReader src(gz, 1 << 16);
  UnpackStats stats;
  ASSERT_TRUE(ApplyLayer(fd, src, kTarGz, DiffId(tar), {}, &stats).ok());
  ::close(fd);
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"a/ 0755", "a/b/ 0755", "a/b/c 0644 deep"}));
  EXPECT_EQ(stats.entries, 2u);
  EXPECT_EQ(stats.uncompressed_bytes, tar.size());
}

TEST_F(UnpackTest, ProgressAndEmptyLayer) {
  std::string tar = MakeTar({});
  uint64_t last = 0;
  UnpackOptions opt;
  opt.progress = [&](uint64_t b) { last = b; };
  auto r = UnpackImage({Layer(tar)}, root_, opt);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(last, tar.size());
  EXPECT_TRUE(Tree(root_).empty());
}

TEST_F(UnpackTest, AbsoluteHardLinkResolvesInsideTheRoot) {
  auto r = UnpackImage({Layer(MakeTar({Dir("etc"), File("etc/passwd", "root:x:0:0"),
                                       Hardlink("etc/passwd-", "/etc/passwd")}))},
                       root_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"etc/ 0755", "etc/passwd 0644 root:x:0:0 #1",
                                                "etc/passwd- 0644 root:x:0:0 #1"}));
}

TEST_F(UnpackTest, WhiteoutSparesWhatTheSameLayerAdded) {
  std::string l1 = MakeTar({File("a", "lower"), File("b", "lower")});
  std::string l2 = MakeTar({File("a", "upper"), File(".wh.a", ""), File(".wh.b", ""),
                            File(".wh..wh.plnk", ""), Dir(".wh..wh.orph")});
  auto r = UnpackImage({Layer(l1), Layer(l2)}, root_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"a 0644 upper"}));
}

TEST_F(UnpackTest, SymlinkLoopRefused) {
  ExpectRefused({Symlink("a", "b"), Symlink("b", "a"), File("a/x", "x")}, "a/x");
}

TEST_F(UnpackTest, ReplacingSymlinkDoesNotFollowIt) {
  // A file entry over an existing symlink replaces the link; it never writes to its target.
  auto r =
      UnpackImage({Layer(MakeTar({Symlink("f", outside_ + "/secret"), File("f", "mine")}))}, root_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(Tree(root_), (std::set<std::string>{"f 0644 mine"}));
  ExpectNoDebris(true);
}

TEST_F(UnpackTest, UserXattrsApplied) {
  // libarchive writes xattrs as pax SCHILY.xattr records; craft one through the entry API.
  struct archive* a = archive_write_new();
  std::string out;
  archive_write_set_format_pax(a);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* c, const void* b, size_t n) -> la_ssize_t {
        static_cast<std::string*>(c)->append(static_cast<const char*>(b), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "f");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, 1);
  archive_entry_xattr_add_entry(e, "user.coco", "v", 1);
  archive_entry_xattr_add_entry(e, "security.capability", "c", 1);
  archive_write_header(a, e);
  archive_write_data(a, "x", 1);
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  auto r = UnpackImage({Layer(out)}, root_);
  ASSERT_TRUE(r.ok()) << r.error().message;
  char v[8] = {};
  ssize_t n = ::getxattr((root_ + "/f").c_str(), "user.coco", v, sizeof(v));
  if (n < 0 && errno == ENOTSUP) GTEST_SKIP() << "no user xattrs on this filesystem";
  EXPECT_EQ(std::string(v, n > 0 ? n : 0), "v");
  EXPECT_LT(::getxattr((root_ + "/f").c_str(), "security.capability", v, sizeof(v)), 0);
}

}  // namespace
}  // namespace coco::oci
