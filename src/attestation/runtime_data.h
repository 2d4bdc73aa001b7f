// The binding between a challenge and TEE evidence: report_data = H(JCS(runtime data)),
// and init-data (TOML) parsing with its digest.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/crypto.h"

namespace coco::attestation {

// The runtime data the broker binds the primary evidence to:
// {"tee-pubkey":<jwk>,"nonce":<nonce>,"additional-evidence":<string>}.
nlohmann::json PrimaryRuntimeData(const nlohmann::json& tee_pubkey, const std::string& nonce,
                                  const std::string& additional_evidence);

// H(JCS(runtime_data)); SHA-384 for every TEE the project supports.
Result<Bytes> RuntimeDataDigest(const nlohmann::json& runtime_data,
                                crypto::HashAlg alg = crypto::HashAlg::kSha384);

// A digest bound into a fixed-size evidence field (REPORT_DATA, HOST_DATA, MRCONFIGID, a PCR
// extend): zero-padded, or truncated, to `size`.
Bytes FitToField(const Bytes& digest, size_t size);

struct InitData {
  std::string algorithm;  // "sha256" | "sha384" | "sha512"
  std::string version;
  nlohmann::json data;  // the [data] table; "aa.toml"/"cdh.toml" values converted to JSON
  Bytes digest;         // H_algorithm(raw TOML bytes)
};

// Parses an init-data TOML document (upstream format: algorithm, version, [data]).
Result<InitData> ParseInitData(std::string_view toml_text);

}  // namespace coco::attestation
