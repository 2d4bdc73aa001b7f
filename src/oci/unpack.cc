#include "oci/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>

#include "base/bytes.h"
#include "base/file.h"
#include "crypto/crypto.h"
#include "oci/unpack_tree.h"

namespace coco::oci {
namespace {

using crypto::HashAlg;
using crypto::Hasher;
using internal::Applier;
using internal::Errno;
using internal::UniqueFd;

constexpr size_t kReadChunk = 1 << 20;
constexpr size_t kPrefetchBuffers = 4;

// The uncompressed tar stream, counted against the size limit.
class CountingReader : public Reader {
 public:
  CountingReader(Reader& src, uint64_t limit, uint64_t total_limit)
      : src_(src), limit_(limit), total_limit_(total_limit) {}
  Result<size_t> Read(uint8_t* buf, size_t n) override {
    COCO_ASSIGN_OR_RETURN(size_t got, src_.Read(buf, n));
    bytes_ += got;
    if (bytes_ > limit_) {
      return MakeError(Code::kResourceExhausted, "uncompressed size exceeds the limit of " +
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

Result<std::pair<HashAlg, std::string>> ParseDiffId(std::string_view id) {
  auto bad = [&] {
    return MakeError(Code::kInvalidArgument, "malformed diff_id '" + std::string(id) + "'");
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
  if (!a) return MakeError(Code::kInternal, "archive_read_new failed");
  archive_read_support_format_tar(a.get());
  auto fail = [&](const char* what) -> Status {
    if (src.error) return *src.error;
    const char* msg = archive_error_string(a.get());
    return MakeError(Code::kInvalidArgument,
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
    return MakeError(Code::kDigestMismatch, "layer diff_id mismatch: expected " +
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
    return MakeError(Code::kInvalidArgument, "bad unpack root '" + root + "'");
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
        return MakeError(Code::kAlreadyExists, "unpack root " + root + " exists and is not empty");
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
                          " (" + layers[i].diff_id + ")";
      if (!layers[i].open) return abandon(MakeError(Code::kInvalidArgument, label + ": no opener"));
      auto reader = layers[i].open();
      if (!reader.ok()) {
        return abandon(Annotate(reader.error(), label));
      }
      Status s =
          ApplyLayer(rfd.get(), **reader, layers[i].media_type, layers[i].diff_id, options, &stats);
      if (!s.ok()) return abandon(Annotate(s.error(), label));
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
