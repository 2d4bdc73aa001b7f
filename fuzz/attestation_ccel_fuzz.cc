// The CCEL event log (src/attestation/ccel.h): parsing, replay and upstream's claims.
// Invariants: every parsed event's digests have the sizes the header declared for their
// algorithm (so replay works for each), and claims are made or refused without crashing.
#include "attestation/ccel.h"
#include "fuzz_util.h"

namespace att = coco::attestation;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  coco::Bytes log(data, data + size);
  auto events = att::ParseCcel(log);
  if (!events.ok()) return 0;
  for (const auto& e : *events) {
    FUZZ_CHECK(e.data.size() <= size);
    for (const auto& d : e.digests) FUZZ_CHECK(d.digest.size() <= size);
  }
  for (uint32_t i = 1; i <= 4; ++i) {
    auto reg = att::ReplayCcel(*events, i);
    FUZZ_CHECK(reg.ok() && reg->size() == 48);
  }
  auto claims = att::CcelClaims(*events);
  if (claims.ok()) FUZZ_CHECK(claims->size() == events->size());
  return 0;
}
