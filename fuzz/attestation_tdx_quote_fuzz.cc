// TDX quote parsing and the PCK certificate's SGX extensions (src/attestation/tdx.h).
// Invariants: a parsed quote's parts have their fixed sizes and its signed part is a prefix of
// the input; claims are produced for every parsed quote; the signature check never crashes.
#include "attestation/tdx.h"
#include "fuzz_util.h"

namespace att = coco::attestation;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  coco::Bytes raw(data, data + size);
  auto q = att::ParseTdxQuote(raw);
  if (!q.ok()) return 0;
  FUZZ_CHECK(q->header.size() == att::kTdxHeaderSize);
  FUZZ_CHECK(q->signature.size() == 64 && q->attestation_key.size() == 64);
  FUZZ_CHECK(q->qe_report.size() == att::kSgxReportSize);
  FUZZ_CHECK(q->signed_part.size() <= size &&
             std::equal(q->signed_part.begin(), q->signed_part.end(), raw.begin()));
  FUZZ_CHECK(q->body.report_data.size() == 64);
  att::PckInfo none;
  FUZZ_CHECK(att::TdxClaims(*q, none).contains("quote"));
  att::TdxSignatureOptions o;
  o.at = 1767225600;  // 2026-01-01
  (void)att::VerifyTdxQuoteSignatures(*q, o);
  return 0;
}
