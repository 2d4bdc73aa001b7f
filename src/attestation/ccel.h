// The confidential-computing event log (CCEL, as a TD's firmware writes it; the TCG PC Client
// "crypto agile" format): a TCG_PCR_EVENT header whose Spec ID event names the digest sizes,
// then TCG_PCR_EVENT2 entries until an all-zero or all-ones marker. Each entry names its CC
// measurement register (1 = RTMR0 ... 4 = RTMR3 on TDX).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"

namespace coco::attestation {

struct CcelDigest {
  uint16_t alg = 0;  // TCG algorithm ID: 0x4 SHA-1, 0xB SHA-256, 0xC SHA-384, 0xD SHA-512
  Bytes digest;
};

struct CcelEvent {
  uint32_t index = 0;  // the CC measurement register
  uint32_t type = 0;   // TCG event type
  std::vector<CcelDigest> digests;
  Bytes data;
};

Result<std::vector<CcelEvent>> ParseCcel(const Bytes& log);

// The register's value after extending, from zero, every digest of `alg` logged for `index`.
Result<Bytes> ReplayCcel(const std::vector<CcelEvent>& events, uint32_t index, uint16_t alg = 0xC);

// Upstream's claim form, "uefi_event_logs": per event {details, digest_matches_event, digests
// [{alg, digest}], event (base64), index, type_name}. `details` is parsed per event type as
// upstream does (strings, EFI variables, tags, and the device paths of boot services
// applications: Pci, ACPI, HD, VenMedia and File nodes by name, others as Path(type,subtype,hex)).
// Fails where upstream fails (e.g. a string event that is not UTF-8).
Result<nlohmann::json> CcelClaims(const std::vector<CcelEvent>& events);

}  // namespace coco::attestation
