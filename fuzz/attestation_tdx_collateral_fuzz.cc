// TDX collateral documents (src/attestation/tdx_collateral.h): the signed-member extraction and
// the TCB info / QE identity readers, on the same input as either document.
// Invariants: an extracted member is a piece of the input; a TCB info that reads has 16 SGX and
// 16 TDX components in every level and a 6-byte FMSPC; a QE identity that reads has its masks
// sized as its values.
#include <cstring>

#include "attestation/tdx_collateral.h"
#include "fuzz_util.h"

namespace att = coco::attestation;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;  // an empty text means "no such document" to the reader
  std::string text(reinterpret_cast<const char*>(data), size);
  for (const char* key : {"tcbInfo", "enclaveIdentity"}) {
    auto m = att::RawJsonMember(text, key);
    if (m.ok()) FUZZ_CHECK(m->data() >= text.data() && m->data() + m->size() <= text.data() + size);
  }
  att::TdxCollateral tcb;
  if (att::ParseTdxCollateralJsonUnverified(text, "", &tcb).ok()) {
    FUZZ_CHECK(tcb.fmspc.size() == 6 && tcb.pce_id.size() == 2 && !tcb.tcb_levels.empty());
    for (const auto& l : tcb.tcb_levels)
      FUZZ_CHECK(l.sgx_svns.size() == 16 && l.tdx_svns.size() == 16);
  }
  att::TdxCollateral qe;
  if (att::ParseTdxCollateralJsonUnverified("", text, &qe).ok()) {
    FUZZ_CHECK(qe.qe_miscselect.size() == qe.qe_miscselect_mask.size());
    FUZZ_CHECK(qe.qe_attributes.size() == qe.qe_attributes_mask.size());
    FUZZ_CHECK(!qe.qe_levels.empty());
  }
  return 0;
}
