// TPM 2.0 evidence: a quote (TPMS_ATTEST) signed by an attestation key, with the PCR values it
// covers, in upstream's JSON form:
//   {"ak_public": base64(DER SubjectPublicKeyInfo),
//    "tpm_quote": {"message": base64(TPMS_ATTEST), "signature": base64(TPMT_SIGNATURE),
//                  "pcrs": [24 hex SHA-256 PCR values]}}
// Report data rides in the quote's extraData (the nonce); the init-data digest is extended once
// into PCR 8.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "attestation/attester.h"
#include "attestation/verifier.h"
#include "base/bytes.h"
#include "base/result.h"

namespace coco::attestation {

constexpr uint16_t kTpmAlgSha256 = 0x000B;
constexpr uint16_t kTpmAlgSha384 = 0x000C;
constexpr uint16_t kTpmAlgSha512 = 0x000D;
constexpr uint16_t kTpmAlgRsassa = 0x0014;
constexpr uint16_t kTpmAlgRsapss = 0x0016;
constexpr uint16_t kTpmAlgEcdsa = 0x0018;
constexpr size_t kTpmInitDataPcr = 8;

struct TpmPcrSelection {
  uint16_t hash = 0;
  std::vector<uint8_t> bitmap;  // bit i of byte j selects PCR 8*j + i
  bool Selects(size_t pcr) const {
    return pcr / 8 < bitmap.size() && (bitmap[pcr / 8] >> (pcr % 8) & 1);
  }
};

// TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE (big-endian TPM marshalling).
struct TpmQuoteInfo {
  Bytes qualified_signer;
  Bytes extra_data;  // the nonce
  uint64_t clock = 0;
  uint32_t reset_count = 0, restart_count = 0;
  bool safe = false;
  uint64_t firmware_version = 0;
  std::vector<TpmPcrSelection> selections;
  Bytes pcr_digest;
};
Result<TpmQuoteInfo> ParseTpmsAttest(const Bytes& message);

// TPMT_SIGNATURE: RSASSA or RSAPSS (one signature) or ECDSA (r and s).
struct TpmSignature {
  uint16_t alg = 0;
  uint16_t hash = 0;
  Bytes rsa;   // RSASSA/RSAPSS
  Bytes r, s;  // ECDSA, big-endian
};
Result<TpmSignature> ParseTpmtSignature(const Bytes& sig);

struct TpmEvidence {
  Bytes ak_public;          // DER SubjectPublicKeyInfo
  Bytes message;            // TPMS_ATTEST
  Bytes signature;          // TPMT_SIGNATURE
  std::vector<Bytes> pcrs;  // SHA-256 bank, PCR 0..23
};
Result<TpmEvidence> TpmEvidenceFromJson(const nlohmann::json& j);
nlohmann::json TpmEvidenceToJson(const TpmEvidence& e);

struct TpmVerifyOptions {
  // When not empty, only these attestation keys (DER SubjectPublicKeyInfo) are accepted.
  std::vector<Bytes> trusted_aks;
};

// Verifies a quote: the attestation key's signature over TPMS_ATTEST, the PCR values against
// the quote's PCR digest, the nonce against the report data, and PCR 8 against the init-data
// digest. Returns upstream's claims: init_data (PCR 8), report_data (the nonce), ak_public and
// pcr00..pcr23.
Result<nlohmann::json> VerifyTpmEvidence(const TpmEvidence& e, const TpmVerifyOptions& o,
                                         const std::optional<Bytes>& expected_report_data,
                                         const std::optional<Bytes>& expected_init_data);

std::unique_ptr<Verifier> NewTpmVerifier(TpmVerifyOptions o);

// PCR 8 after extending the init-data digest (padded or truncated to 32 bytes) into zeros.
Bytes TpmInitDataPcr(const Bytes& init_data_digest);

}  // namespace coco::attestation
