// Writers that check a blob on its way through: DigestCheck hashes it (with the expected
// digest's algorithm, sha256 or sha512) and checks the digest and size; SizeCheck checks only the
// size. Close() checks first and only then closes downstream, so a downstream that commits on
// Close() (a store's blob, a layout's file) never commits content that failed.
#pragma once

#include <optional>
#include <string>

#include "base/bytes.h"
#include "base/stream.h"
#include "crypto/crypto.h"
#include "oci/reference.h"

namespace coco::oci {

// Passes bytes on while hashing them; Close() checks digest (and size, if `size` >= 0) first and
// then closes `down` (which may be null). Without `expected` the SHA-256 is only computed.
class DigestCheck final : public Writer {
 public:
  DigestCheck(Writer* down, std::optional<Digest> expected, int64_t size, std::string what)
      : down_(down),
        expected_(std::move(expected)),
        size_(size),
        what_(std::move(what)),
        hasher_(expected_ && expected_->algorithm == "sha512" ? crypto::HashAlg::kSha512
                                                              : crypto::HashAlg::kSha256) {}
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
    digest_ = Digest{expected_ ? expected_->algorithm : "sha256", HexEncode(hasher_.Finish())};
    if (expected_ && !(digest_ == *expected_)) {
      return MakeError(Code::kDigestMismatch,
                       what_ + " hashes to " + digest_.str() + ", expected " + expected_->str());
    }
    if (size_ >= 0 && got_size_ != static_cast<uint64_t>(size_)) {
      return MakeError(Code::kDigestMismatch, what_ + " has " + std::to_string(got_size_) +
                                                  " bytes, expected " + std::to_string(size_));
    }
    return down_ ? down_->Close() : Status::Ok();
  }
  // After a successful Close().
  const Digest& digest() const { return digest_; }
  uint64_t size() const { return got_size_; }

 private:
  Writer* down_;
  std::optional<Digest> expected_;
  int64_t size_;
  std::string what_;
  crypto::Hasher hasher_;
  uint64_t got_size_ = 0;
  Digest digest_;
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

}  // namespace coco::oci
