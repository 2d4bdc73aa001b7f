// Test helpers for decompress/unpack tests: craft tar streams with libarchive's writer, compress
// them with zlib/zstd, and read them back through a chunked in-memory Reader.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/stream.h"
#include "crypto/crypto.h"

namespace coco::oci::testing {

inline std::string ReadAll(Reader& r, size_t buf = 7777) {
  std::string out;
  std::vector<uint8_t> b(buf);
  for (;;) {
    auto got = r.Read(b.data(), b.size());
    if (!got.ok() || *got == 0) break;
    out.append(reinterpret_cast<char*>(b.data()), *got);
  }
  return out;
}

struct TarEntry {
  enum Type { kFile, kDir, kSymlink, kHardlink, kChar, kFifo } type = kFile;
  std::string path;
  std::string data;  // file contents, or symlink/hardlink target
  unsigned mode = 0644;
  int64_t uid = 0, gid = 0;
  int64_t mtime = 1'600'000'000;
  int64_t declared_size = -1;  // overrides the header size if >= 0 (data is then not written)
};

inline TarEntry File(std::string p, std::string d, unsigned mode = 0644) {
  return {TarEntry::kFile, std::move(p), std::move(d), mode};
}
inline TarEntry Dir(std::string p, unsigned mode = 0755) {
  return {TarEntry::kDir, std::move(p), "", mode};
}
inline TarEntry Symlink(std::string p, std::string t) {
  return {TarEntry::kSymlink, std::move(p), std::move(t), 0777};
}
inline TarEntry Hardlink(std::string p, std::string t) {
  return {TarEntry::kHardlink, std::move(p), std::move(t), 0644};
}

// A pax tar of `entries`, in order.
inline std::string MakeTar(const std::vector<TarEntry>& entries) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_per_block(a, 10240);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& t : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, t.mtime, 0);
    switch (t.type) {
      case TarEntry::kFile:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(
            e, t.declared_size >= 0 ? t.declared_size : static_cast<int64_t>(t.data.size()));
        break;
      case TarEntry::kDir:
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
      case TarEntry::kSymlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, t.data.c_str());
        break;
      case TarEntry::kHardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, t.data.c_str());
        break;
      case TarEntry::kChar:
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdevmajor(e, 1);
        archive_entry_set_rdevminor(e, 3);
        break;
      case TarEntry::kFifo:
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
    }
    archive_entry_set_perm(e, t.mode);
    archive_write_header(a, e);
    if (t.type == TarEntry::kFile && t.declared_size < 0 && !t.data.empty()) {
      archive_write_data(a, t.data.data(), t.data.size());
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

inline std::string Gzip(const std::string& in, int level = 6) {
  z_stream z{};
  deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

inline std::string Zstd(const std::string& in, int level = 3) {
  std::string out(ZSTD_compressBound(in.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), level);
  out.resize(n);
  return out;
}

inline std::string DiffId(const std::string& tar) {
  return "sha256:" + HexEncode(crypto::Sha256(tar));
}

}  // namespace coco::oci::testing
