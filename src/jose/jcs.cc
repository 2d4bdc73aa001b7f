#include "jose/jcs.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

namespace coco::jose {
namespace {

using Json = nlohmann::json;

// Decodes strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF) into UTF-16 code
// units. Returns false at the first invalid sequence and sets `bad_offset`.
bool Utf8ToUtf16(std::string_view s, std::u16string* out, size_t* bad_offset) {
  size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<uint8_t>(s[i]);
    uint32_t cp;
    size_t len;
    if (b0 < 0x80) {
      cp = b0;
      len = 1;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
      cp = b0 & 0x1F;
      len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      cp = b0 & 0x0F;
      len = 3;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      cp = b0 & 0x07;
      len = 4;
    } else {
      *bad_offset = i;
      return false;
    }
    if (i + len > s.size()) {
      *bad_offset = i;
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xC0) != 0x80) {
        *bad_offset = i;
        return false;
      }
      cp = (cp << 6) | (b & 0x3F);
    }
    bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (overlong || surrogate || cp > 0x10FFFF) {
      *bad_offset = i;
      return false;
    }
    if (out != nullptr) {
      if (cp >= 0x10000) {
        cp -= 0x10000;
        out->push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
        out->push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
      } else {
        out->push_back(static_cast<char16_t>(cp));
      }
    }
    i += len;
  }
  return true;
}

Status AppendString(std::string_view s, std::string* out, const std::string& where) {
  size_t bad = 0;
  if (!Utf8ToUtf16(s, nullptr, &bad)) {
    return MakeError(Code::kInvalidArgument, "invalid UTF-8 at byte " + std::to_string(bad) +
                                                 " of " + where + " (JCS needs valid Unicode)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char c : s) {
    auto u = static_cast<uint8_t>(c);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (u < 0x20) {
          *out += "\\u00";
          out->push_back(kHex[u >> 4]);
          out->push_back(kHex[u & 0xF]);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
  return Status::Ok();
}

Status AppendNumber(double v, std::string* out, const std::string& where) {
  if (!std::isfinite(v)) {
    return MakeError(Code::kInvalidArgument,
                     where + " is " + FormatEcmaScriptNumber(v) + ", which JSON cannot represent");
  }
  *out += FormatEcmaScriptNumber(v);
  return Status::Ok();
}

std::string Describe(const std::string& path) { return path.empty() ? "the value" : path; }

Status Append(const Json& v, std::string* out, const std::string& path, int depth) {
  if (depth > 512) {
    return MakeError(Code::kInvalidArgument, "JSON nesting deeper than 512 at " + Describe(path));
  }
  switch (v.type()) {
    case Json::value_t::null:
      *out += "null";
      return Status::Ok();
    case Json::value_t::boolean:
      *out += v.get<bool>() ? "true" : "false";
      return Status::Ok();
    case Json::value_t::number_integer:
      return AppendNumber(static_cast<double>(v.get<int64_t>()), out, Describe(path));
    case Json::value_t::number_unsigned:
      return AppendNumber(static_cast<double>(v.get<uint64_t>()), out, Describe(path));
    case Json::value_t::number_float:
      return AppendNumber(v.get<double>(), out, Describe(path));
    case Json::value_t::string:
      return AppendString(v.get_ref<const std::string&>(), out, "string " + Describe(path));
    case Json::value_t::array: {
      out->push_back('[');
      size_t i = 0;
      for (const auto& item : v) {
        if (i > 0) out->push_back(',');
        COCO_RETURN_IF_ERROR(Append(item, out, path + "[" + std::to_string(i) + "]", depth + 1));
        ++i;
      }
      out->push_back(']');
      return Status::Ok();
    }
    case Json::value_t::object: {
      // Sort members by the UTF-16 code units of their names (RFC 8785 §3.2.3).
      std::vector<std::pair<std::u16string, Json::const_iterator>> members;
      members.reserve(v.size());
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::u16string key16;
        size_t bad = 0;
        if (!Utf8ToUtf16(it.key(), &key16, &bad)) {
          return MakeError(Code::kInvalidArgument, "invalid UTF-8 at byte " + std::to_string(bad) +
                                                       " of a member name in " + Describe(path) +
                                                       " (JCS needs valid Unicode)");
        }
        members.emplace_back(std::move(key16), it);
      }
      std::sort(members.begin(), members.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out->push_back('{');
      bool first = true;
      for (const auto& [key16, it] : members) {
        if (!first) out->push_back(',');
        first = false;
        std::string child = path.empty() ? it.key() : path + "." + it.key();
        COCO_RETURN_IF_ERROR(AppendString(it.key(), out, "member name " + child));
        out->push_back(':');
        COCO_RETURN_IF_ERROR(Append(it.value(), out, child, depth + 1));
      }
      out->push_back('}');
      return Status::Ok();
    }
    case Json::value_t::binary:
      return MakeError(Code::kInvalidArgument,
                       Describe(path) + " is a binary value, which JSON cannot represent");
    case Json::value_t::discarded:
      return MakeError(Code::kInvalidArgument, Describe(path) + " is a discarded (invalid) value");
  }
  return MakeError(Code::kInvalidArgument, Describe(path) + " has an unknown JSON type");
}

}  // namespace

std::string FormatEcmaScriptNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  if (value == 0) return "0";  // also -0
  std::string sign;
  if (value < 0) {
    sign = "-";
    value = -value;
  }
  // Shortest round-trip digits, in scientific form: d[.ddd]e±XX.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exp10 = std::atoi(std::string(sci.substr(e_pos + 1)).c_str());
  // ECMAScript Number::toString: value = 0.d1d2...dk × 10^n, k = digit count.
  int k = static_cast<int>(digits.size());
  int n = exp10 + 1;
  std::string out = sign;
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<size_t>(n));
    out += '.';
    out += digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += 'e';
    out += (n - 1 >= 0) ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

Result<std::string> Canonicalize(const nlohmann::json& value) {
  std::string out;
  try {
    COCO_RETURN_IF_ERROR(Append(value, &out, "", 0));
  } catch (const nlohmann::json::exception& e) {
    return MakeError(Code::kInvalidArgument, std::string("cannot canonicalize JSON: ") + e.what());
  }
  return out;
}

}  // namespace coco::jose
