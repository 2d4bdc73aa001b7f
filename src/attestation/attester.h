// Attester: produces TEE evidence inside the guest (or the `coco` CLI acting as a guest).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/bytes.h"
#include "base/result.h"

namespace coco::attestation {

class Attester {
 public:
  virtual ~Attester() = default;
  virtual std::string tee() const = 0;
  // Evidence whose report data binds `report_data` (the runtime-data digest, up to 64 bytes).
  virtual Result<nlohmann::json> GetEvidence(const Bytes& report_data) const = 0;
};

// The development attester: {"svn":"1","report_data":base64(report_data)}. Proves nothing.
std::unique_ptr<Attester> NewSampleAttester();

struct DetectOptions {
  // Use the sample attester when no TEE is found. Off: finding no TEE is an error.
  bool allow_sample = false;
  std::string dev_dir = "/dev";
  std::string configfs_root = "/sys/kernel/config/tsm/report";
  // Makes the TPM attester (it lives in coco_attestation_tpm, which only TPM users link). When
  // set and <dev_dir>/tpmrm0 exists, a guest without SNP or TDX attests with its TPM.
  std::function<std::unique_ptr<Attester>()> tpm;
};
// The attester of the TEE this guest runs in: SNP when /dev/sev-guest exists or configfs-tsm's
// provider is sev_guest; TDX when /dev/tdx_guest exists or the provider is tdx_guest; else the
// TPM when /dev/tpmrm0 exists and `tpm` is set. Falls back to the sample attester only when
// allowed.
Result<std::unique_ptr<Attester>> DetectAttester(const DetectOptions& o);

}  // namespace coco::attestation
