#include "oci/decompress.h"

#include <isa-l/igzip_lib.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "base/bytes.h"

namespace coco::oci {
namespace {

constexpr size_t kInputBuffer = 1 << 20;
constexpr int kZstdWindowLogMax = 27;  // 128 MiB, zstd's own default limit

Error Corrupt(std::string_view format, std::string_view what) {
  return MakeError(Code::kInvalidArgument, std::string(format) + " stream: " + std::string(what));
}

// Bounded input buffer over a Reader.
class Input {
 public:
  explicit Input(Reader& src) : src_(src), buf_(kInputBuffer) {}

  // Makes input available if the buffer is empty. Returns false at end of stream.
  Result<bool> Fill() {
    if (pos_ < len_) return true;
    if (eof_) return false;
    COCO_ASSIGN_OR_RETURN(size_t got, src_.Read(buf_.data(), buf_.size()));
    pos_ = 0;
    len_ = got;
    if (got == 0) eof_ = true;
    return got > 0;
  }
  uint8_t* data() { return buf_.data() + pos_; }
  size_t size() const { return len_ - pos_; }
  void Consume(size_t n) { pos_ += n; }

 private:
  Reader& src_;
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
  size_t len_ = 0;
  bool eof_ = false;
};

// Shared member/trailer logic for the two gzip backends.
class GzipReaderBase : public Reader {
 public:
  explicit GzipReaderBase(Reader& src) : in_(src) {}

  Result<size_t> Read(uint8_t* out, size_t n) override {
    n = std::min<size_t>(n, 1u << 30);
    size_t produced = 0;
    while (produced < n && !done_) {
      if (!in_member_) {
        // Between members: end of stream, another member, or zero padding (gzip(1) accepts it).
        COCO_ASSIGN_OR_RETURN(bool more, in_.Fill());
        if (!more) {
          if (members_ == 0) return Corrupt("gzip", "empty input (no gzip member)");
          done_ = true;
          break;
        }
        if (members_ > 0 && in_.data()[0] == 0) {
          COCO_RETURN_IF_ERROR(SkipZeros());
          continue;
        }
        StartMember();
        in_member_ = true;
      }
      COCO_ASSIGN_OR_RETURN(bool more, in_.Fill());
      size_t before = produced;
      COCO_ASSIGN_OR_RETURN(bool finished, Step(out + produced, n - produced, &produced));
      if (finished) {
        in_member_ = false;
        ++members_;
        continue;
      }
      if (!more && produced == before) {
        return Corrupt("gzip", "unexpected end of data (truncated stream)");
      }
    }
    return produced;
  }

 protected:
  virtual void StartMember() = 0;
  // Inflates from in_ into out[0..cap); adds the bytes written to *produced; returns true when the
  // member (including its trailer) is complete.
  virtual Result<bool> Step(uint8_t* out, size_t cap, size_t* produced) = 0;

  Input in_;

 private:
  Status SkipZeros() {
    for (;;) {
      COCO_ASSIGN_OR_RETURN(bool more, in_.Fill());
      if (!more) {
        done_ = true;
        return Status::Ok();
      }
      const uint8_t* p = in_.data();
      for (size_t i = 0; i < in_.size(); ++i) {
        if (p[i] != 0) return Corrupt("gzip", "trailing garbage after the last member");
      }
      in_.Consume(in_.size());
    }
  }

  bool in_member_ = false;
  bool done_ = false;
  uint64_t members_ = 0;
};

class IsalGzipReader : public GzipReaderBase {
 public:
  explicit IsalGzipReader(Reader& src)
      : GzipReaderBase(src), st_(std::make_unique<inflate_state>()) {}

 protected:
  void StartMember() override {
    isal_inflate_init(st_.get());
    st_->crc_flag = ISAL_GZIP;
  }
  Result<bool> Step(uint8_t* out, size_t cap, size_t* produced) override {
    st_->next_in = in_.data();
    st_->avail_in = static_cast<uint32_t>(in_.size());
    st_->next_out = out;
    st_->avail_out = static_cast<uint32_t>(cap);
    int rc = isal_inflate(st_.get());
    in_.Consume(in_.size() - st_->avail_in);
    *produced += cap - st_->avail_out;
    if (rc < 0) {
      switch (rc) {
        case ISAL_INCORRECT_CHECKSUM:
          return Corrupt("gzip", "checksum mismatch (corrupt data)");
        case ISAL_INVALID_WRAPPER:
        case ISAL_UNSUPPORTED_METHOD:
          return Corrupt("gzip", "not a gzip member (bad header)");
        default:
          return Corrupt("gzip", "invalid deflate data (code " + std::to_string(rc) + ")");
      }
    }
    return st_->block_state == ISAL_BLOCK_FINISH;
  }

 private:
  std::unique_ptr<inflate_state> st_;
};

class ZlibGzipReader : public GzipReaderBase {
 public:
  explicit ZlibGzipReader(Reader& src) : GzipReaderBase(src) {
    std::memset(&z_, 0, sizeof(z_));
    ok_ = inflateInit2(&z_, 16 + MAX_WBITS) == Z_OK;
  }
  ~ZlibGzipReader() override {
    if (ok_) inflateEnd(&z_);
  }
  bool ok() const { return ok_; }

 protected:
  void StartMember() override { inflateReset(&z_); }
  Result<bool> Step(uint8_t* out, size_t cap, size_t* produced) override {
    z_.next_in = in_.data();
    z_.avail_in = static_cast<uInt>(in_.size());
    z_.next_out = out;
    z_.avail_out = static_cast<uInt>(cap);
    int rc = inflate(&z_, Z_NO_FLUSH);
    in_.Consume(in_.size() - z_.avail_in);
    *produced += cap - z_.avail_out;
    if (rc == Z_STREAM_END) return true;
    if (rc == Z_OK || rc == Z_BUF_ERROR) return false;
    return Corrupt("gzip", z_.msg ? z_.msg : "invalid data (zlib code " + std::to_string(rc) + ")");
  }

 private:
  z_stream z_;
  bool ok_ = false;
};

class ZstdReader : public Reader {
 public:
  explicit ZstdReader(Reader& src) : in_(src), ctx_(ZSTD_createDCtx()) {
    if (ctx_) ZSTD_DCtx_setParameter(ctx_, ZSTD_d_windowLogMax, kZstdWindowLogMax);
  }
  ~ZstdReader() override { ZSTD_freeDCtx(ctx_); }
  bool ok() const { return ctx_ != nullptr; }

  Result<size_t> Read(uint8_t* out, size_t n) override {
    ZSTD_outBuffer ob{out, n, 0};
    while (ob.pos < ob.size) {
      COCO_ASSIGN_OR_RETURN(bool more, in_.Fill());
      if (!more) {
        if (!saw_input_) return Corrupt("zstd", "empty input (no zstd frame)");
        if (!frame_open_) break;
        // Flush output the context still holds for the open frame.
        ZSTD_inBuffer ib{nullptr, 0, 0};
        size_t before = ob.pos;
        size_t rc = ZSTD_decompressStream(ctx_, &ob, &ib);
        if (ZSTD_isError(rc)) return Corrupt("zstd", ZSTD_getErrorName(rc));
        if (ob.pos == before) return Corrupt("zstd", "unexpected end of data (truncated frame)");
        frame_open_ = rc != 0;
        continue;
      }
      saw_input_ = true;
      ZSTD_inBuffer ib{in_.data(), in_.size(), 0};
      size_t rc = ZSTD_decompressStream(ctx_, &ob, &ib);
      in_.Consume(ib.pos);
      if (ZSTD_isError(rc)) return Corrupt("zstd", ZSTD_getErrorName(rc));
      frame_open_ = rc != 0;
    }
    return ob.pos;
  }

 private:
  Input in_;
  ZSTD_DCtx* ctx_;
  bool saw_input_ = false;
  bool frame_open_ = false;
};

class PassthroughReader : public Reader {
 public:
  explicit PassthroughReader(Reader& src) : src_(src) {}
  Result<size_t> Read(uint8_t* buf, size_t n) override { return src_.Read(buf, n); }

 private:
  Reader& src_;
};

// Replays bytes already read from `src` (the sniffed magic), then continues with `src`.
class PrefixedReader : public Reader {
 public:
  PrefixedReader(Bytes prefix, Reader& src) : prefix_(std::move(prefix)), src_(src) {}
  Result<size_t> Read(uint8_t* buf, size_t n) override {
    if (pos_ < prefix_.size()) {
      size_t k = std::min(n, prefix_.size() - pos_);
      std::memcpy(buf, prefix_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    return src_.Read(buf, n);
  }

 private:
  Bytes prefix_;
  size_t pos_ = 0;
  Reader& src_;
};

// Owns the sniffing prefix reader and the decoder built on it.
class AutoReader : public Reader {
 public:
  explicit AutoReader(std::unique_ptr<PrefixedReader> prefix) : prefix_(std::move(prefix)) {}
  void set_inner(std::unique_ptr<Reader> inner) { inner_ = std::move(inner); }
  PrefixedReader& prefix() { return *prefix_; }
  Result<size_t> Read(uint8_t* buf, size_t n) override { return inner_->Read(buf, n); }

 private:
  std::unique_ptr<PrefixedReader> prefix_;
  std::unique_ptr<Reader> inner_;
};

Result<std::unique_ptr<Reader>> NewDecoder(Reader& source, Compression c, GzipBackend gzip) {
  switch (c) {
    case Compression::kNone:
      return std::unique_ptr<Reader>(std::make_unique<PassthroughReader>(source));
    case Compression::kGzip:
      if (gzip == GzipBackend::kZlib) {
        auto r = std::make_unique<ZlibGzipReader>(source);
        if (!r->ok()) return MakeError(Code::kInternal, "zlib inflateInit2 failed");
        return std::unique_ptr<Reader>(std::move(r));
      }
      return std::unique_ptr<Reader>(std::make_unique<IsalGzipReader>(source));
    case Compression::kZstd: {
      auto r = std::make_unique<ZstdReader>(source);
      if (!r->ok()) return MakeError(Code::kInternal, "ZSTD_createDCtx failed");
      return std::unique_ptr<Reader>(std::move(r));
    }
    case Compression::kAuto:
      break;
  }
  return MakeError(Code::kInternal, "unreachable compression kind");
}

}  // namespace

Result<Compression> CompressionForMediaType(std::string_view mt) {
  auto strip = [&](std::string_view prefix) {
    if (mt.substr(0, prefix.size()) != prefix) return false;
    mt.remove_prefix(prefix.size());
    return true;
  };
  std::string_view original = mt;
  if (original.find("+encrypted") != std::string_view::npos) {
    return MakeError(Code::kInvalidArgument, "layer media type " + std::string(original) +
                                                 " is encrypted: decrypt it before unpacking");
  }
  if (strip("application/vnd.oci.image.layer.v1.tar") ||
      strip("application/vnd.oci.image.layer.nondistributable.v1.tar")) {
    if (mt.empty()) return Compression::kAuto;
    if (mt == "+gzip") return Compression::kGzip;
    if (mt == "+zstd") return Compression::kZstd;
  } else if (mt == "application/vnd.docker.image.rootfs.diff.tar.gzip" ||
             mt == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" ||
             mt == "application/vnd.docker.image.rootfs.diff.tar") {
    return Compression::kAuto;
  }
  return MakeError(Code::kInvalidArgument,
                   "unsupported layer media type: " + std::string(original));
}

Result<std::unique_ptr<Reader>> NewDecompressingReader(Reader& source, Compression compression,
                                                       GzipBackend gzip) {
  if (compression != Compression::kAuto) return NewDecoder(source, compression, gzip);
  Bytes magic(4);
  size_t have = 0;
  while (have < magic.size()) {
    COCO_ASSIGN_OR_RETURN(size_t got, source.Read(magic.data() + have, magic.size() - have));
    if (got == 0) break;
    have += got;
  }
  magic.resize(have);
  Compression c = Compression::kNone;
  if (have >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    c = Compression::kGzip;
  } else if (have >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f &&
             magic[3] == 0xfd) {
    c = Compression::kZstd;
  }
  auto out = std::make_unique<AutoReader>(std::make_unique<PrefixedReader>(magic, source));
  COCO_ASSIGN_OR_RETURN(auto inner, NewDecoder(out->prefix(), c, gzip));
  out->set_inner(std::move(inner));
  return std::unique_ptr<Reader>(std::move(out));
}

}  // namespace coco::oci
