// Writers that check a blob on its way through: DigestCheck hashes it (SHA-256) and checks the
// digest and size; SizeCheck checks only the size. Close() checks first and only then closes
// downstream. Internal to src/image.
#pragma once

#include <string>

#include "base/bytes.h"
#include "base/stream.h"
#include "crypto/crypto.h"

namespace coco::image {

// Passes bytes on while hashing them; Close() checks digest (and size, if known) first and then
// closes `down`. `expected` may be empty: then the digest is only computed.
class DigestCheck final : public Writer {
 public:
  DigestCheck(Writer* down, std::string expected, int64_t size, std::string what)
      : down_(down), expected_(std::move(expected)), size_(size), what_(std::move(what)) {}
  Status Write(const uint8_t* p, size_t n) override {
    hasher_.Update(p, n);
    got_size_ += n;
    if (size_ >= 0 && got_size_ > static_cast<uint64_t>(size_)) {
      return MakeError(Code::kDigestMismatch,
                       what_ + " is larger than its " + std::to_string(size_) + " bytes");
    }
    return down_ ? down_->Write(p, n) : Status::Ok();
  }
  Status Close() override {
    digest_ = "sha256:" + HexEncode(hasher_.Finish());
    if (!expected_.empty() && digest_ != expected_) {
      return MakeError(Code::kDigestMismatch,
                       what_ + " hashes to " + digest_ + ", expected " + expected_);
    }
    if (size_ >= 0 && got_size_ != static_cast<uint64_t>(size_)) {
      return MakeError(Code::kDigestMismatch, what_ + " has " + std::to_string(got_size_) +
                                                  " bytes, expected " + std::to_string(size_));
    }
    return down_ ? down_->Close() : Status::Ok();
  }
  const std::string& digest() const { return digest_; }
  uint64_t size() const { return got_size_; }

 private:
  Writer* down_;
  std::string expected_;
  int64_t size_;
  std::string what_;
  crypto::Hasher hasher_{crypto::HashAlg::kSha256};
  uint64_t got_size_ = 0;
  std::string digest_;
};

// Passes bytes on and checks only the byte count: refuses more than `size` bytes at once and
// fewer at Close(). For ciphertexts whose integrity another check (the layer HMAC) covers.
class SizeCheck final : public Writer {
 public:
  SizeCheck(Writer* down, int64_t size, std::string what)
      : down_(down), size_(static_cast<uint64_t>(size)), what_(std::move(what)) {}
  Status Write(const uint8_t* p, size_t n) override {
    got_size_ += n;
    if (got_size_ > size_) {
      return MakeError(Code::kDigestMismatch,
                       what_ + " is larger than its " + std::to_string(size_) + " bytes");
    }
    return down_->Write(p, n);
  }
  Status Close() override {
    if (got_size_ != size_) {
      return MakeError(Code::kDigestMismatch, what_ + " has " + std::to_string(got_size_) +
                                                  " bytes, expected " + std::to_string(size_));
    }
    return down_->Close();
  }

 private:
  Writer* down_;
  uint64_t size_;
  std::string what_;
  uint64_t got_size_ = 0;
};

}  // namespace coco::image
