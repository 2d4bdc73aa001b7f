// A gzip tar layer of mixed content (mixed_content.h) written for the benchmarks, hashed with
// OpenSSL directly so the benches' digests do not depend on coco's code: half large files
// (4-24 MiB), half many small files (0.5-16 KiB) in nested directories, plus links.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "mixed_content.h"

namespace coco::bench {

inline std::string Hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

// SHA-256 with OpenSSL directly.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  std::string HexFinish() {
    unsigned char md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    return Hex(md, len);
  }

 private:
  EVP_MD_CTX* ctx_;
};

struct MixedLayer {
  std::string digest_hex;   // sha256 of the gzip bytes
  std::string diff_id_hex;  // sha256 of the tar bytes
  uint64_t size = 0;        // gzip bytes
  uint64_t tar_size = 0;    // tar bytes
};

// What the layer's target size counts.
enum class LayerTarget { kGzipBytes, kFileContentBytes };

// Writes the layer to `path` (zlib level 6) until `target` bytes of the given kind; exits with
// a message on a write failure.
inline MixedLayer WriteMixedLayer(const std::string& path, LayerTarget kind, uint64_t target,
                                  uint64_t seed) {
  auto die = [&](const char* what) {
    std::fprintf(stderr, "cannot %s %s\n", what, path.c_str());
    std::exit(1);
  };
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) die("create");
  struct Sink {
    explicit Sink(FILE* f) : out(f) {}
    FILE* out;
    z_stream z{};
    Sha256 tar_hash, gz_hash;
    uint64_t gz_size = 0, tar_size = 0;
    bool failed = false;
    std::vector<unsigned char> buf = std::vector<unsigned char>(1 << 20);
    void Feed(const void* p, size_t n, int flush) {
      tar_hash.Update(p, n);
      tar_size += n;
      z.next_in = static_cast<Bytef*>(const_cast<void*>(p));
      z.avail_in = static_cast<uInt>(n);
      do {
        z.next_out = buf.data();
        z.avail_out = static_cast<uInt>(buf.size());
        deflate(&z, flush);
        size_t k = buf.size() - z.avail_out;
        gz_hash.Update(buf.data(), k);
        gz_size += k;
        failed |= std::fwrite(buf.data(), 1, k, out) != k;
      } while (z.avail_out == 0);
    }
  } sink(f);
  deflateInit2(&sink.z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(
      a, &sink, nullptr,
      [](struct archive*, void* c, const void* b, size_t n) -> la_ssize_t {
        static_cast<Sink*>(c)->Feed(b, n, Z_NO_FLUSH);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  std::mt19937_64 rng(seed);
  std::string data;
  uint64_t content = 0;
  auto add = [&](const std::string& name, int type, size_t size, const char* link = nullptr) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_mtime(e, 1'700'000'000, 0);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    if (type == AE_IFLNK) archive_entry_set_symlink(e, link);
    if (type == AE_IFREG && link) archive_entry_set_hardlink(e, link);
    if (type == AE_IFREG && !link) archive_entry_set_size(e, static_cast<int64_t>(size));
    archive_write_header(a, e);
    archive_entry_free(e);
    if (type == AE_IFREG && !link && size > 0) {
      for (size_t off = 0; off < size; off += data.size()) {
        FillMixed(rng, data, std::min<size_t>(size - off, 4 << 20));
        archive_write_data(a, data.data(), data.size());
      }
      content += size;
    }
  };
  const uint64_t& done = kind == LayerTarget::kGzipBytes ? sink.gz_size : content;
  int big = 0;
  while (done < target / 2) {
    add("opt/big/blob" + std::to_string(big++), AE_IFREG, (4 + rng() % 21) << 20);
  }
  for (int d = 0; done < target; ++d) {
    std::string dir = "usr/share/pkg" + std::to_string(d / 20) + "/sub" + std::to_string(d);
    if (d % 20 == 0) add("usr/share/pkg" + std::to_string(d / 20), AE_IFDIR, 0);
    add(dir, AE_IFDIR, 0);
    for (int i = 0; i < 100 && done < target; ++i) {
      add(dir + "/file" + std::to_string(i), AE_IFREG, 512 + rng() % (16 << 10));
    }
    add(dir + "/link", AE_IFLNK, 0, "file0");
    add(dir + "/hard", AE_IFREG, 0, (dir + "/file1").c_str());
  }
  archive_write_close(a);
  archive_write_free(a);
  sink.Feed(nullptr, 0, Z_FINISH);
  deflateEnd(&sink.z);
  if (std::fclose(f) != 0 || sink.failed) die("write");
  return {sink.gz_hash.HexFinish(), sink.tar_hash.HexFinish(), sink.gz_size, sink.tar_size};
}

}  // namespace coco::bench
