// SEV-SNP report parsing (src/attestation/snp.h): the firmware layout and upstream's JSON form.
// The first input byte picks the form: even, the bytes are a raw report (with a generation hint
// chosen by the byte); odd, they are evidence JSON.
// Invariants: a parsed report encodes to a report that parses to the same fields; its JSON form
// parses back and encodes to the same bytes; claims are produced for every parsed report.
#include "attestation/snp.h"
#include "fuzz_util.h"

namespace att = coco::attestation;

namespace {

void CheckRoundTrips(const att::SnpReport& r) {
  auto enc = att::EncodeSnpReport(r);
  FUZZ_CHECK_OK(enc);
  auto again = att::ParseSnpReport(*enc, r.generation);
  FUZZ_CHECK_OK(again);
  FUZZ_CHECK(att::EncodeSnpReport(*again).value() == *enc);
  auto from_json = att::SnpReportFromJson(att::SnpReportToJson(r));
  FUZZ_CHECK_OK(from_json);
  FUZZ_CHECK(att::EncodeSnpReport(*from_json).value() == *enc);
  FUZZ_CHECK(att::SnpClaims(r).size() == 16);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  uint8_t mode = data[0];
  coco::Bytes body(data + 1, data + size);
  if (mode % 2 == 0) {
    std::optional<att::SnpGeneration> hint;
    if (mode / 2 % 4 != 3) hint = static_cast<att::SnpGeneration>(mode / 2 % 4);
    if (auto r = att::ParseSnpReport(body, hint); r.ok()) CheckRoundTrips(*r);
    return 0;
  }
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded()) return 0;
  if (auto e = att::SnpEvidenceFromJson(j); e.ok()) {
    CheckRoundTrips(e->report);
    auto back = att::SnpEvidenceFromJson(att::SnpEvidenceToJson(*e));
    FUZZ_CHECK_OK(back);
    FUZZ_CHECK(back->certs.has_value() == e->certs.has_value());
  }
  return 0;
}
