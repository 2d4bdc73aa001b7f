// Intel TDX evidence: the DCAP ECDSA quote (versions 4 and 5; TD 1.0 and 1.5 bodies), its
// signature chain (attestation key, QE report, PCK certificate chain to Intel's SGX root), the
// PCK certificate's SGX extensions, and upstream's claims.
//
// The collateral and TCB status are in tdx_collateral.h; the verifier and attester below.
#pragma once

#include <array>
#include <cstdint>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "attestation/attester.h"
#include "attestation/tsm.h"
#include "attestation/verifier.h"
#include "base/bytes.h"
#include "base/result.h"
#include "crypto/x509.h"

namespace coco::attestation {

constexpr size_t kTdxHeaderSize = 48;
constexpr size_t kTdxBody10Size = 584;
constexpr size_t kTdxBody15Size = 648;
constexpr size_t kSgxReportSize = 384;

struct TdxBody {
  Bytes tcb_svn;                                         // 16
  Bytes mr_seam;                                         // 48
  Bytes mrsigner_seam;                                   // 48
  Bytes seam_attributes;                                 // 8
  Bytes td_attributes;                                   // 8
  Bytes xfam;                                            // 8
  Bytes mr_td, mr_config_id, mr_owner, mr_owner_config;  // 48 each
  std::array<Bytes, 4> rtmr;                             // 48 each
  Bytes report_data;                                     // 64
  std::optional<Bytes> tee_tcb_svn2;                     // 16, TD 1.5
  std::optional<Bytes> mr_servicetd;                     // 48, TD 1.5
};

struct TdxQuote {
  uint16_t version = 0;  // 4 or 5
  Bytes header;          // the 48 header bytes: version, att_key_type, tee_type, reserved,
                         // vendor_id (16), user_data (20)
  std::optional<uint16_t> body_type;  // version 5: 2 (TD 1.0) or 3 (TD 1.5)
  uint32_t body_size = 0;             // version 5
  TdxBody body;
  Bytes signed_part;  // header (and v5 type and size) and body: what the attestation key signs
  // Signature data.
  Bytes signature;            // 64: r || s, big-endian, P-256
  Bytes attestation_key;      // 64: x || y
  Bytes qe_report;            // 384: an SGX report body
  Bytes qe_report_signature;  // 64
  Bytes qe_auth_data;
  std::string pck_chain_pem;  // leaf, intermediate CA, root

  Bytes vendor_id() const { return Bytes(header.begin() + 12, header.begin() + 28); }
  // TD_ATTRIBUTES as a little-endian number.
  uint64_t td_attributes() const;
};

// Parses a quote: exactly its bytes, optionally followed by zero padding.
Result<TdxQuote> ParseTdxQuote(const Bytes& raw);

// What a PCK certificate's SGX extensions (OID 1.2.840.113741.1.13.1) say about the platform.
struct PckInfo {
  Bytes ppid;            // 16
  Bytes tcb_components;  // 16 SGX TCB component SVNs
  uint16_t pcesvn = 0;
  Bytes cpusvn;                               // 16
  Bytes pceid;                                // 2
  Bytes fmspc;                                // 6
  int sgx_type = 0;                           // 0 Standard, 1 Scalable, 2 ScalableWithIntegrity
  bool platform_ca = false;                   // issued by the Platform CA (else the Processor CA)
  std::optional<Bytes> platform_instance_id;  // 16, Platform CA only
  std::optional<bool> dynamic_platform, cached_keys, smt_enabled;
  // Set by VerifyTdxQuoteSignatures: the verified PCK certificate and its issuing CA.
  std::optional<crypto::Certificate> pck_cert, ca_cert;
};
Result<PckInfo> ParsePckExtensions(const crypto::Certificate& pck);

// Intel's SGX Root CA, built in: the trust anchor of every PCK chain.
Result<crypto::Certificate> IntelSgxRootCa();

struct TdxSignatureOptions {
  std::optional<std::time_t> at;  // certificate validity time; now when unset
  // The trust anchor. Unset: Intel's built-in SGX Root CA. Only tests set it (to Intel's
  // self-contained sample collateral, which has its own root).
  std::optional<crypto::Certificate> root;
};
// Checks the quote's signatures: the PCK chain (leaf <- Platform/Processor CA <- Intel SGX Root
// CA, the built-in one), the QE report signed by the PCK key, the QE report data binding the
// attestation key (SHA-256(attestation key || QE auth data)), and the quote signed by the
// attestation key. Returns the PCK certificate's platform information.
Result<PckInfo> VerifyTdxQuoteSignatures(const TdxQuote& q, const TdxSignatureOptions& o);

// Upstream's claims: quote.header, quote.body (hex of the raw fields), quote.type and
// quote.size for version 5, td_attributes flags, report_data, init_data (MRCONFIGID) and
// platform_instance_id (Platform CA PCKs).
nlohmann::json TdxClaims(const TdxQuote& q, const PckInfo& pck);

class TdxCollateralSource;

// Upstream's evidence: {"quote": "<base64 quote>", "cc_eventlog": "<base64 CCEL>" | null}.
struct TdxEvidence {
  Bytes quote;
  std::optional<Bytes> cc_eventlog;
};
Result<TdxEvidence> TdxEvidenceFromJson(const nlohmann::json& j);
nlohmann::json TdxEvidenceToJson(const TdxEvidence& e);

struct TdxVerifyOptions {
  std::shared_ptr<TdxCollateralSource> collateral;  // required: TCB status needs it
  std::optional<std::time_t> at;                    // now when unset
  std::optional<crypto::Certificate> root;          // tests only (see TdxSignatureOptions)
};
// Verifies TDX evidence: the quote's signatures, its TCB status against the collateral
// (Revoked fails), REPORT_DATA = the runtime-data digest padded to 64 bytes, MRCONFIGID = the
// init-data digest padded to 48, and, when an event log is sent, that it replays into the
// quote's RTMRs. Returns upstream's claims with the TCB status ones and uefi_event_logs.
Result<nlohmann::json> VerifyTdxEvidence(const TdxEvidence& e, const TdxVerifyOptions& opts,
                                         const std::optional<Bytes>& expected_report_data,
                                         const std::optional<Bytes>& expected_init_data);
std::unique_ptr<Verifier> NewTdxVerifier(TdxVerifyOptions opts);

// ---- Guest side ----------------------------------------------------------------------------

struct TdxAttesterOptions {
  std::string configfs_root = "/sys/kernel/config/tsm/report";
  std::string ccel_path = "/sys/firmware/acpi/tables/data/CCEL";  // sent when readable
  std::shared_ptr<TsmFs> tsm;  // tests: a recorded provider instead of the kernel's configfs
};
// A TD quote through configfs-tsm (provider tdx_guest), with the CCEL when present.
std::unique_ptr<Attester> NewTdxAttester(TdxAttesterOptions opts = {});

}  // namespace coco::attestation
