// The TPM 2.0 attester (guest side), through the TSS2 ESAPI: an attestation key created as a
// primary key of the endorsement hierarchy (RSA-2048, restricted, RSASSA/SHA-256; the same key
// for the same TPM every time), a quote of the SHA-256 bank's 24 PCRs with the report data as
// the nonce, and the PCR values, in upstream's TPM evidence JSON (tpm.h).
//
// Kept apart from coco_attestation so that programs that never use a TPM do not load the TSS.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "attestation/attester.h"
#include "base/bytes.h"
#include "base/result.h"

namespace coco::attestation {

struct TpmAttesterOptions {
  // A TSS2 TCTI configuration: "device:/dev/tpmrm0" (the default), "swtpm:host=127.0.0.1,
  // port=2321", ...
  std::string tcti = "device:/dev/tpmrm0";
};

std::unique_ptr<Attester> NewTpmAttester(TpmAttesterOptions o = {});

struct PcrExtend {
  uint32_t pcr = 0;
  Bytes digest;  // padded or truncated to 32 bytes
};
// Extends each digest into its PCR of the SHA-256 bank, in order, in one TPM session. The guest
// extends the init-data digest into PCR 8 (kTpmInitDataPcr) once, before it attests.
Status ExtendTpmPcrs(const TpmAttesterOptions& o, const std::vector<PcrExtend>& extends);

// The PCR coco-agent measures the guest's boot configuration into: SHA-256 of the kernel
// command line (/proc/cmdline), extended once when the sandbox is set up.
constexpr uint32_t kTpmBootConfigPcr = 11;

}  // namespace coco::attestation
