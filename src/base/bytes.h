// Byte buffers, encodings (hex, base64 standard and url-safe) and secret bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace coco {

using Bytes = std::vector<uint8_t>;

inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline std::string ToString(const Bytes& b) { return std::string(b.begin(), b.end()); }

std::string HexEncode(const Bytes& data);
Result<Bytes> HexDecode(std::string_view hex);

// Standard alphabet with '=' padding (RFC 4648 §4).
std::string Base64Encode(const Bytes& data);
// Accepts standard base64, padded or not. Rejects any other character.
Result<Bytes> Base64Decode(std::string_view text);

// URL-safe alphabet without padding (RFC 4648 §5, as JOSE uses it).
std::string Base64UrlEncode(const Bytes& data);
inline std::string Base64UrlEncode(std::string_view s) { return Base64UrlEncode(ToBytes(s)); }
// Accepts only the url-safe alphabet; trailing '=' padding is rejected.
Result<Bytes> Base64UrlDecode(std::string_view text);

// Compares in time independent of where the inputs differ (lengths may leak).
bool ConstantTimeEqual(const Bytes& a, const Bytes& b);
bool ConstantTimeEqual(std::string_view a, std::string_view b);

// Bytes that are wiped from memory when destroyed. Use for keys and plaintext secrets.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(Bytes data) : data_(std::move(data)) {}
  SecretBytes(const SecretBytes&) = default;
  SecretBytes& operator=(const SecretBytes&) = default;
  SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)) { other.data_.clear(); }
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  ~SecretBytes();

  const Bytes& bytes() const { return data_; }
  Bytes& mutable_bytes() { return data_; }
  size_t size() const { return data_.size(); }
  const uint8_t* data() const { return data_.data(); }

 private:
  void Wipe();
  Bytes data_;
};

}  // namespace coco
