// Verifier: checks one TEE's evidence (broker side) and turns it into claims.
// Implementations are stateless after construction and thread-safe.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "base/result.h"

namespace coco::attestation {

struct VerifierInput {
  nlohmann::json evidence;                  // the TEE-specific "primary_evidence" JSON
  Bytes expected_report_data;               // H(JCS(runtime data)), as the broker computed it
  std::optional<Bytes> expected_init_data;  // H(init-data TOML) when init-data was sent
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  // The TEE name as it appears in the protocol ("sample", "snp", "tdx", ...).
  virtual std::string tee() const = 0;
  // Verifies the evidence and its binding to the runtime data (and init-data, where the TEE
  // measures it). Returns the TEE claims with upstream's claim names, or an error naming the
  // failed check.
  virtual Result<nlohmann::json> Verify(const VerifierInput& input) const = 0;
};

// The development TEE: evidence {"svn","report_data"}, no signature; report_data must equal the
// expected digest exactly. Claims as upstream: svn, report_data, launch_digest, platform_version,
// debug, init_data.
std::unique_ptr<Verifier> NewSampleVerifier();

}  // namespace coco::attestation
