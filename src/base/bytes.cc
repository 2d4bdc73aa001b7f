#include "base/bytes.h"

#include <openssl/crypto.h>

#include <array>

namespace coco {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string Encode64(const Bytes& in, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  size_t rest = in.size() - i;
  if (rest == 1) {
    uint32_t v = in[i] << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    uint32_t v = (in[i] << 16) | (in[i + 1] << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

Result<Bytes> Decode64(std::string_view in, const char* alphabet, bool allow_pad,
                       const char* what) {
  std::array<int, 256> table;
  table.fill(-1);
  for (int i = 0; i < 64; ++i) table[static_cast<uint8_t>(alphabet[i])] = i;
  size_t len = in.size();
  if (allow_pad) {
    size_t pads = 0;
    while (len > 0 && in[len - 1] == '=' && pads < 2) {
      --len;
      ++pads;
    }
    if (pads > 0 && in.size() % 4 != 0)
      return MakeError(Code::kInvalidArgument, std::string("bad padding in ") + what);
  }
  if (len % 4 == 1) return MakeError(Code::kInvalidArgument, std::string("truncated ") + what);
  Bytes out;
  out.reserve(len * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; ++i) {
    int v = table[static_cast<uint8_t>(in[i])];
    if (v < 0)
      return MakeError(Code::kInvalidArgument, std::string("invalid character at offset ") +
                                                   std::to_string(i) + " in " + what);
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

std::string HexEncode(const Bytes& data) {
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Result<Bytes> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return MakeError(Code::kInvalidArgument, "hex string has odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return MakeError(Code::kInvalidArgument,
                       "invalid hex character at offset " + std::to_string(2 * i));
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string Base64Encode(const Bytes& data) { return Encode64(data, kStd, true); }
Result<Bytes> Base64Decode(std::string_view text) { return Decode64(text, kStd, true, "base64"); }
std::string Base64UrlEncode(const Bytes& data) { return Encode64(data, kUrl, false); }
Result<Bytes> Base64UrlDecode(std::string_view text) {
  return Decode64(text, kUrl, false, "base64url");
}

bool ConstantTimeEqual(const Bytes& a, const Bytes& b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}
bool ConstantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    other.data_.clear();
  }
  return *this;
}
SecretBytes::~SecretBytes() { Wipe(); }
void SecretBytes::Wipe() {
  if (!data_.empty()) OPENSSL_cleanse(data_.data(), data_.size());
}

}  // namespace coco
