#include "attestation/ccel.h"

#include <algorithm>
#include <map>
#include <optional>

#include "crypto/crypto.h"

namespace coco::attestation {
namespace {

constexpr uint32_t kEvNoAction = 0x3;
constexpr uint32_t kAaelTag = 0x4141454c;

Error Bad(const std::string& what) { return MakeError(Code::kEvidence, "CCEL: " + what); }

class Reader {
 public:
  Reader(const Bytes& b, size_t pos = 0) : b_(b), pos_(std::min(pos, b.size())) {}
  size_t pos() const { return pos_; }
  size_t left() const { return b_.size() - pos_; }
  Result<uint64_t> Le(size_t n, const char* what) {
    if (left() < n) return Bad(std::string(what) + " runs past the end");
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(b_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  Result<Bytes> Take(size_t n, const char* what) {
    if (left() < n) return Bad(std::string(what) + " runs past the end");
    Bytes out(b_.begin() + static_cast<long>(pos_), b_.begin() + static_cast<long>(pos_ + n));
    pos_ += n;
    return out;
  }

 private:
  const Bytes& b_;
  size_t pos_;
};

const std::map<uint32_t, const char*>& EventNames() {
  static const std::map<uint32_t, const char*> names = {
      {0x0, "EV_PREBOOT_CERT"},
      {0x1, "EV_POST_CODE"},
      {0x2, "EV_UNUSED"},
      {0x3, "EV_NO_ACTION"},
      {0x4, "EV_SEPARATOR"},
      {0x5, "EV_ACTION"},
      {0x6, "EV_EVENT_TAG"},
      {0x7, "EV_S_CRTM_CONTENTS"},
      {0x8, "EV_S_CRTM_VERSION"},
      {0x9, "EV_CPU_MICROCODE"},
      {0xA, "EV_PLATFORM_CONFIG_FLAGS"},
      {0xB, "EV_TABLE_OF_DEVICES"},
      {0xC, "EV_COMPACT_HASH"},
      {0xD, "EV_IPL"},
      {0xE, "EV_IPL_PARTITION_DATA"},
      {0xF, "EV_NONHOST_CODE"},
      {0x10, "EV_NONHOST_CONFIG"},
      {0x11, "EV_NONHOST_INFO"},
      {0x12, "EV_OMIT_BOOT_DEVICE_EVENTS"},
      {0x80000000, "EV_EFI_EVENT_BASE"},
      {0x80000001, "EV_EFI_VARIABLE_DRIVER_CONFIG"},
      {0x80000002, "EV_EFI_VARIABLE_BOOT"},
      {0x80000003, "EV_EFI_BOOT_SERVICES_APPLICATION"},
      {0x80000004, "EV_EFI_BOOT_SERVICES_DRIVER"},
      {0x80000005, "EV_EFI_RUNTIME_SERVICES_DRIVER"},
      {0x80000006, "EV_EFI_GPT_EVENT"},
      {0x80000007, "EV_EFI_ACTION"},
      {0x80000008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"},
      {0x80000009, "EV_EFI_HANDOFF_TABLES"},
      {0x8000000A, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"},
      {0x8000000B, "EV_EFI_HANDOFF_TABLES2"},
      {0x8000000C, "EV_EFI_VARIABLE_BOOT2"},
      {0x80000010, "EV_EFI_HCRTM_EVENT"},
      {0x800000E0, "EV_EFI_VARIABLE_AUTHORITY"},
      {0x800000E1, "EV_EFI_SPDM_FIRMWARE_BLOB"},
      {0x800000E2, "EV_EFI_SPDM_FIRMWARE_CONFIG"},
  };
  return names;
}

const char* AlgName(uint16_t alg) {
  switch (alg) {
    case 0x1:
      return "RSA";
    case 0x3:
      return "TDES";
    case 0x4:
      return "SHA-1";
    case 0xB:
      return "SHA-256";
    case 0xC:
      return "SHA-384";
    case 0xD:
      return "SHA-512";
    case 0x12:
      return "SM3";
    default:
      return nullptr;
  }
}

Result<crypto::HashAlg> HashOf(uint16_t alg) {
  switch (alg) {
    case 0xB:
      return crypto::HashAlg::kSha256;
    case 0xC:
      return crypto::HashAlg::kSha384;
    case 0xD:
      return crypto::HashAlg::kSha512;
    default: {
      const char* n = AlgName(alg);
      return Bad(std::string("digest algorithm ") + (n ? n : std::to_string(alg).c_str()) +
                 " cannot be checked against its event");
    }
  }
}

// ---- Text, as upstream's parsers read it ---------------------------------------------------

// Strict UTF-8 to code points; nullopt when the bytes are not valid UTF-8.
std::optional<std::vector<uint32_t>> Utf8(const uint8_t* p, size_t n) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < n;) {
    uint8_t c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > n) return std::nullopt;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return std::nullopt;
      cp = cp << 6 | (p[i + k] & 0x3F);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string Encode(const std::vector<uint32_t>& cps) {
  std::string s;
  for (uint32_t cp : cps) {
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | cp >> 6);
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | cp >> 12);
      s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | cp >> 18);
      s += static_cast<char>(0x80 | (cp >> 12 & 0x3F));
      s += static_cast<char>(0x80 | (cp >> 6 & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return s;
}

Result<std::string> StrictUtf8(const uint8_t* p, size_t n, const char* what) {
  auto cps = Utf8(p, n);
  if (!cps) return Bad(std::string(what) + " is not UTF-8");
  return Encode(*cps);
}

// Invalid bytes become U+FFFD, one per byte.
std::string LossyUtf8(const uint8_t* p, size_t n) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < n;) {
    size_t best = 0;
    for (size_t len = 1; len <= 4 && i + len <= n; ++len) {
      auto cps = Utf8(p + i, len);
      if (cps && cps->size() == 1) {
        best = len;
        out.push_back((*cps)[0]);
        break;
      }
    }
    if (best == 0) {
      out.push_back(0xFFFD);
      best = 1;
    }
    i += best;
  }
  return Encode(out);
}

// UTF-16LE to code points; strict (unpaired surrogates refused) or lossy (U+FFFD).
std::optional<std::vector<uint32_t>> Utf16(const uint8_t* p, size_t words, bool lossy) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < words; ++i) {
    uint32_t w = p[2 * i] | p[2 * i + 1] << 8;
    if (w >= 0xD800 && w <= 0xDBFF && i + 1 < words) {
      uint32_t lo = p[2 * i + 2] | p[2 * i + 3] << 8;
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        out.push_back(0x10000 + ((w - 0xD800) << 10) + (lo - 0xDC00));
        ++i;
        continue;
      }
    }
    if (w >= 0xD800 && w <= 0xDFFF) {
      if (!lossy) return std::nullopt;
      w = 0xFFFD;
    }
    out.push_back(w);
  }
  return out;
}

bool IsControl(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

nlohmann::json Str(std::string s) { return {{"string", std::move(s)}}; }

// ---- Event details, per type ---------------------------------------------------------------

// A UEFI GUID in its text form (the first three fields little-endian).
std::string GuidText(const uint8_t* g) {
  char buf[40];
  std::snprintf(
      buf, sizeof buf, "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X",
      static_cast<unsigned>(g[0] | g[1] << 8 | g[2] << 16 | static_cast<uint32_t>(g[3]) << 24),
      static_cast<unsigned>(g[4] | g[5] << 8), static_cast<unsigned>(g[6] | g[7] << 8), g[8], g[9],
      g[10], g[11], g[12], g[13], g[14], g[15]);
  return buf;
}

uint64_t LeAt(const Bytes& b, size_t off, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[off + i]) << (8 * i);
  return v;
}

// One device path node in upstream's text form; nodes it does not name print as
// Path(type,subtype,hex).
std::string DevicePathNode(uint8_t type, uint8_t sub, const Bytes& data) {
  char buf[160];
  if (type == 1 && sub == 1 && data.size() >= 2) {  // PCI: function, device
    std::snprintf(buf, sizeof buf, "Pci(%u,%u)", data[0], data[1]);
    return buf;
  }
  if (type == 2 && sub == 1 && data.size() >= 8) {  // ACPI: compressed EISA HID, UID
    uint32_t hid = static_cast<uint32_t>(LeAt(data, 0, 4));
    uint32_t vendor = hid & 0xFFFF;
    std::snprintf(
        buf, sizeof buf, "ACPI(%c%c%c%04X,%u)", static_cast<char>((vendor >> 10 & 0x1F) + '@'),
        static_cast<char>((vendor >> 5 & 0x1F) + '@'), static_cast<char>((vendor & 0x1F) + '@'),
        hid >> 16, static_cast<unsigned>(LeAt(data, 4, 4)));
    return buf;
  }
  if (type == 4 && sub == 1 && data.size() >= 38 && (data[36] == 1 || data[36] == 2)) {  // HD
    uint32_t number = static_cast<uint32_t>(LeAt(data, 0, 4));
    std::string sig;
    if (data[36] == 1) {
      std::snprintf(buf, sizeof buf, "MBR,0x%08x", static_cast<unsigned>(LeAt(data, 20, 4)));
      sig = buf;
    } else {
      sig = "GPT," + GuidText(data.data() + 20);
    }
    std::string out = "HD(" + std::to_string(number) + "," + sig;
    if (number != 0) {
      std::snprintf(buf, sizeof buf, ",0x%llx,0x%llx",
                    static_cast<unsigned long long>(LeAt(data, 4, 8)),    // NOLINT(runtime/int)
                    static_cast<unsigned long long>(LeAt(data, 12, 8)));  // NOLINT(runtime/int)
      out += buf;
    }
    return out + ")";
  }
  if (type == 4 && sub == 3 && data.size() >= 16)  // vendor media
    return "VenMedia(" + GuidText(data.data()) + "," +
           HexEncode(Bytes(data.begin() + 16, data.end())) + ")";
  if (type == 4 && sub == 4 && !data.empty() && data.size() % 2 == 0) {  // file path, UTF-16
    auto cps = Utf16(data.data(), data.size() / 2 - 1, true);
    if (cps) return "File(" + Encode(*cps) + ")";
  }
  return "Path(" + std::to_string(type) + "," + std::to_string(sub) + "," + HexEncode(data) + ")";
}

Result<nlohmann::json> DevicePaths(const Bytes& path) {
  nlohmann::json out = nlohmann::json::array();
  size_t at = 0;
  while (at < path.size()) {
    if (path.size() - at < 4) return Bad("a device path node is shorter than 4 bytes");
    size_t len = static_cast<size_t>(LeAt(path, at + 2, 2));
    if (len < 4 || len > path.size() - at) return Bad("a device path node runs past the end");
    out.push_back(DevicePathNode(path[at], path[at + 1],
                                 Bytes(path.begin() + static_cast<long>(at + 4),
                                       path.begin() + static_cast<long>(at + len))));
    at += len;
  }
  return out;
}

Result<nlohmann::json> Details(uint32_t type, const Bytes& d) {
  switch (type) {
    case 0x1:
    case 0x5:
    case 0xC:
    case 0x12:
    case 0x80000007: {  // simple strings
      COCO_ASSIGN_OR_RETURN(std::string s, StrictUtf8(d.data(), d.size(), "a string event"));
      return Str(s);
    }
    case 0xA: {  // EV_PLATFORM_CONFIG_FLAGS: text with 0x10 as a space, controls dropped
      auto cps = Utf8(d.data(), d.size());
      std::vector<uint32_t> kept;
      if (cps) {
        for (uint32_t cp : *cps) {
          if (cp == 0x10) cp = ' ';
          if (!IsControl(cp)) kept.push_back(cp);
        }
      }
      return Str(Encode(kept));
    }
    case 0x6: {  // EV_EVENT_TAG
      Reader r(d);
      COCO_ASSIGN_OR_RETURN(uint64_t id, r.Le(4, "the event tag ID"));
      COCO_ASSIGN_OR_RETURN(uint64_t size, r.Le(4, "the event tag size"));
      COCO_ASSIGN_OR_RETURN(Bytes body, r.Take(static_cast<size_t>(size), "the event tag data"));
      std::string s = LossyUtf8(body.data(), body.size());
      s.erase(std::remove(s.begin(), s.end(), '\0'), s.end());
      (void)id;  // AAEL-tagged events (id kAaelTag) carry more data upstream; not decoded here
      static_assert(kAaelTag == 0x4141454c);
      return Str(s);
    }
    case 0xD: {  // EV_IPL
      if (d.size() < 2) return Bad("an EV_IPL event is shorter than 2 bytes");
      if (d[0] == 0x2E && d[1] == 0x00) {  // UTF-16 text
        size_t n = d.size() - 2;
        if (n == 0 || n % 2 != 0) return Bad("an EV_IPL event is not UTF-16 text");
        auto cps = Utf16(d.data() + 2, (n - 2) / 2, true);
        return Str(Encode(*cps));
      }
      size_t cut = std::find(d.begin(), d.end(), 0) - d.begin();
      auto cps = Utf8(d.data(), cut);
      return Str(cps ? Encode(*cps) : HexEncode(d));
    }
    case 0x80000001:
    case 0x80000002:
    case 0x8000000C:
    case 0x800000E0: {  // EFI variables
      Reader r(d);
      COCO_ASSIGN_OR_RETURN(Bytes guid, r.Take(16, "the variable GUID"));
      COCO_ASSIGN_OR_RETURN(uint64_t name_len, r.Le(8, "the variable name length"));
      COCO_ASSIGN_OR_RETURN(uint64_t data_len, r.Le(8, "the variable data length"));
      if (name_len > d.size() / 2) return Bad("an EFI variable name runs past the end");
      COCO_ASSIGN_OR_RETURN(Bytes name, r.Take(static_cast<size_t>(name_len) * 2, "the name"));
      auto cps = Utf16(name.data(), name.size() / 2, false);
      if (!cps) return Bad("an EFI variable name is not UTF-16");
      std::string value;
      if (data_len > 0) {
        if (data_len > d.size()) return Bad("EFI variable data runs past the end");
        COCO_ASSIGN_OR_RETURN(Bytes v, r.Take(static_cast<size_t>(data_len), "the variable data"));
        value = Base64Encode(v);
      }
      auto hex = [&](size_t a, size_t b) {
        return HexEncode(
            Bytes(guid.begin() + static_cast<long>(a), guid.begin() + static_cast<long>(b)));
      };
      return nlohmann::json{{"unicode_name", Encode(*cps)},
                            {"unicode_name_length", name_len},
                            {"variable_data", value},
                            {"variable_data_length", data_len},
                            {"variable_name", hex(0, 4) + "-" + hex(4, 6) + "-" + hex(6, 8) + "-" +
                                                  hex(8, 10) + "-" + hex(10, 16)}};
    }
    case 0x80000003: {  // EV_EFI_BOOT_SERVICES_APPLICATION: an image and its device path
      Reader r(d, 24);
      COCO_ASSIGN_OR_RETURN(uint64_t len, r.Le(8, "the device path length"));
      if (len == 0) return nlohmann::json::object();
      if (len < 4 || len - 4 > d.size() - 32)
        return Bad("an EV_EFI_BOOT_SERVICES_APPLICATION device path runs past the end");
      // The nodes before the end node.
      COCO_ASSIGN_OR_RETURN(nlohmann::json paths,
                            DevicePaths(Bytes(d.begin() + 32, d.begin() + 32 + (len - 4))));
      return nlohmann::json{{"device_paths", paths}};
    }
    case 0x8000000A:
    case 0x8000000B: {  // a length-prefixed description
      if (d.empty() || d[0] == 0) return Bad("a firmware blob or table event has no description");
      size_t end = d[0];
      if (d.size() < end) return Bad("a description runs past the end of its event");
      COCO_ASSIGN_OR_RETURN(std::string s, StrictUtf8(d.data() + 1, end - 1, "a description"));
      return Str(s);
    }
    default:
      return nlohmann::json::object();
  }
}

}  // namespace

Result<std::vector<CcelEvent>> ParseCcel(const Bytes& log) {
  Reader r(log);
  // The header: a TCG_PCR_EVENT (SHA-1 sized) whose EV_NO_ACTION event is the Spec ID event.
  COCO_ASSIGN_OR_RETURN(uint64_t header_register, r.Le(4, "the header's register"));
  (void)header_register;
  COCO_ASSIGN_OR_RETURN(uint64_t type, r.Le(4, "the header's event type"));
  if (!EventNames().count(static_cast<uint32_t>(type)))
    return Bad("unknown header event type " + std::to_string(type));
  COCO_ASSIGN_OR_RETURN(Bytes header_digest, r.Take(20, "the header's digest"));
  (void)header_digest;
  COCO_ASSIGN_OR_RETURN(uint64_t spec_size, r.Le(4, "the header's event size"));
  std::map<uint16_t, size_t> sizes;
  if (type == kEvNoAction) {
    COCO_ASSIGN_OR_RETURN(Bytes spec, r.Take(static_cast<size_t>(spec_size), "the Spec ID event"));
    if (spec.size() < 24) return Bad("the Spec ID event is shorter than its 24-byte header");
    Reader s(spec, 24);
    COCO_ASSIGN_OR_RETURN(uint64_t n, s.Le(4, "the algorithm count"));
    for (uint64_t i = 0; i < n; ++i) {
      COCO_ASSIGN_OR_RETURN(uint64_t id, s.Le(2, "an algorithm ID"));
      COCO_ASSIGN_OR_RETURN(uint64_t size, s.Le(2, "a digest size"));
      if (!AlgName(static_cast<uint16_t>(id)))
        return Bad("unknown digest algorithm " + std::to_string(id));
      sizes[static_cast<uint16_t>(id)] = static_cast<size_t>(size);
    }
    COCO_ASSIGN_OR_RETURN(uint64_t vendor, s.Le(1, "the vendor info size"));
    COCO_ASSIGN_OR_RETURN(Bytes vendor_info,
                          s.Take(static_cast<size_t>(vendor), "the vendor info"));
    (void)vendor_info;
    if (s.pos() != spec.size()) return Bad("the Spec ID event has trailing bytes");
  }

  std::vector<CcelEvent> events;
  while (r.left() >= 8) {
    Reader peek(log, r.pos());
    uint64_t marker = *peek.Le(8, "");
    if (marker == 0 || marker == ~0ULL) break;
    CcelEvent e;
    COCO_ASSIGN_OR_RETURN(uint64_t index, r.Le(4, "an event's register"));
    COCO_ASSIGN_OR_RETURN(uint64_t etype, r.Le(4, "an event's type"));
    e.index = static_cast<uint32_t>(index);
    e.type = static_cast<uint32_t>(etype);
    if (!EventNames().count(e.type)) return Bad("unknown event type " + std::to_string(e.type));
    COCO_ASSIGN_OR_RETURN(uint64_t count, r.Le(4, "an event's digest count"));
    if (count > 16) return Bad("an event with " + std::to_string(count) + " digests");
    for (uint64_t i = 0; i < count; ++i) {
      CcelDigest d;
      COCO_ASSIGN_OR_RETURN(uint64_t alg, r.Le(2, "a digest's algorithm"));
      d.alg = static_cast<uint16_t>(alg);
      auto size = sizes.find(d.alg);
      if (size == sizes.end())
        return Bad("a digest of algorithm " + std::to_string(alg) + " the header did not size");
      COCO_ASSIGN_OR_RETURN(d.digest, r.Take(size->second, "a digest"));
      e.digests.push_back(std::move(d));
    }
    COCO_ASSIGN_OR_RETURN(uint64_t size, r.Le(4, "an event's data size"));
    COCO_ASSIGN_OR_RETURN(e.data, r.Take(static_cast<size_t>(size), "an event's data"));
    events.push_back(std::move(e));
  }
  return events;
}

Result<Bytes> ReplayCcel(const std::vector<CcelEvent>& events, uint32_t index, uint16_t alg) {
  COCO_ASSIGN_OR_RETURN(crypto::HashAlg h, HashOf(alg));
  Bytes reg(crypto::Hash(h, std::string_view()).size(), 0);
  for (const auto& e : events) {
    if (e.index != index) continue;
    for (const auto& d : e.digests) {
      if (d.alg != alg) continue;
      Bytes m = reg;
      m.insert(m.end(), d.digest.begin(), d.digest.end());
      reg = crypto::Hash(h, m);
    }
  }
  return reg;
}

Result<nlohmann::json> CcelClaims(const std::vector<CcelEvent>& events) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& e : events) {
    nlohmann::json digests = nlohmann::json::array();
    bool matches = true;
    for (const auto& d : e.digests)
      digests.push_back({{"alg", AlgName(d.alg)}, {"digest", HexEncode(d.digest)}});
    // As upstream: digests are compared in order, and the first mismatch decides.
    for (const auto& d : e.digests) {
      COCO_ASSIGN_OR_RETURN(crypto::HashAlg h, HashOf(d.alg));
      if (crypto::Hash(h, e.data) != d.digest) {
        matches = false;
        break;
      }
    }
    COCO_ASSIGN_OR_RETURN(nlohmann::json details, Details(e.type, e.data));
    out.push_back({{"details", details},
                   {"digest_matches_event", matches},
                   {"digests", digests},
                   {"event", Base64Encode(e.data)},
                   {"index", e.index},
                   {"type_name", EventNames().at(e.type)}});
  }
  return out;
}

}  // namespace coco::attestation
