// TPM evidence (src/attestation/tpm.h): TPMS_ATTEST and TPMT_SIGNATURE parsing and the
// verifier. The first input byte picks the part: 0 TPMS_ATTEST, 1 TPMT_SIGNATURE, else the
// rest is evidence JSON.
// Invariants: a parsed quote's PCR selections and digest lie within the input; evidence that
// parses round-trips through its JSON form; verification never crashes.
#include "attestation/tpm.h"
#include "fuzz_util.h"

namespace att = coco::attestation;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  coco::Bytes body(data + 1, data + size);
  if (data[0] == 0) {
    auto q = att::ParseTpmsAttest(body);
    if (q.ok()) {
      FUZZ_CHECK(q->pcr_digest.size() <= body.size() && q->extra_data.size() <= body.size());
      for (const auto& s : q->selections) FUZZ_CHECK(s.bitmap.size() <= 255);
    }
    return 0;
  }
  if (data[0] == 1) {
    auto s = att::ParseTpmtSignature(body);
    if (s.ok()) FUZZ_CHECK(s->rsa.size() + s->r.size() + s->s.size() <= body.size());
    return 0;
  }
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return 0;
  auto e = att::TpmEvidenceFromJson(j);
  if (!e.ok()) return 0;
  auto back = att::TpmEvidenceFromJson(att::TpmEvidenceToJson(*e));
  FUZZ_CHECK_OK(back);
  FUZZ_CHECK(back->message == e->message && back->pcrs == e->pcrs);
  (void)att::VerifyTpmEvidence(*e, {}, coco::Bytes(48, 1), coco::Bytes(32, 2));
  return 0;
}
