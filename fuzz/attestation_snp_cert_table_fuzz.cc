// The SEV-SNP extended report's certificate table (src/attestation/snp.h): 24-byte entries
// {GUID, offset, length} ended by an all-zero entry.
// Invariants: every entry's bytes lie inside the input; entries are typed by a known GUID or
// "OTHER"; parsing the same input twice gives the same entries.
#include "attestation/snp.h"
#include "fuzz_util.h"

namespace att = coco::attestation;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  coco::Bytes table(data, data + size);
  auto certs = att::ParseSnpCertTable(table);
  if (!certs.ok()) return 0;
  size_t total = 0;
  for (const auto& c : *certs) {
    FUZZ_CHECK(c.der.size() <= size);
    FUZZ_CHECK(c.type == "ARK" || c.type == "ASK" || c.type == "VCEK" || c.type == "VLEK" ||
               c.type == "CRL" || c.type == "OTHER");
    total += 1;
    (void)coco::crypto::Certificate::FromDer(c.der);  // whatever the bytes are, no crash
  }
  FUZZ_CHECK(total * 24 + 24 <= size);
  auto again = att::ParseSnpCertTable(table);
  FUZZ_CHECK_OK(again);
  FUZZ_CHECK(again->size() == certs->size());
  return 0;
}
