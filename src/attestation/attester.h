// Attester: produces TEE evidence inside the guest (or the `coco` CLI acting as a guest).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

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

}  // namespace coco::attestation
