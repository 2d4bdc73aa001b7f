// What a verifier already checked and need not check again (a certificate chain's signatures, a
// CRL's signature), keyed by a digest of the inputs. Signatures do not expire, so entries hold
// for the process's life; dates are still checked on every use by the caller. Bounded: when
// full it starts over. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include "base/bytes.h"
#include "crypto/crypto.h"

namespace coco::attestation {

template <class Value>
class VerifiedCache {
 public:
  explicit VerifiedCache(size_t capacity) : capacity_(capacity) {}

  // SHA-256 over the parts, each prefixed with its length (so parts cannot run into each other).
  static Bytes Key(std::initializer_list<std::string_view> parts) {
    crypto::Hasher h(crypto::HashAlg::kSha256);
    for (std::string_view p : parts) {
      uint64_t n = p.size();
      h.Update(&n, sizeof n);
      h.Update(p.data(), p.size());
    }
    return h.Finish();
  }
  static std::string_view View(const Bytes& b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }

  std::optional<Value> Find(const Bytes& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    return it->second;
  }
  void Add(const Bytes& key, Value v) {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.size() >= capacity_) entries_.clear();
    entries_.insert_or_assign(key, std::move(v));
  }

 private:
  size_t capacity_;
  std::mutex mu_;
  std::map<Bytes, Value> entries_;
};

}  // namespace coco::attestation
