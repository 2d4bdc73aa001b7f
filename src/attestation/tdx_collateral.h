// Intel's quote-verification collateral for TDX: TCB info (v3), QE identity (v2), the PCK and
// root CA CRLs. Each is checked against Intel's SGX root (signatures, chains, revocation) once
// when loaded; a quote is then graded against it: the TCB level its platform, TDX module and
// quoting enclave reach, with the status, date and advisories Intel assigns to that level.
#pragma once

#include <ctime>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "attestation/tdx.h"
#include "base/bytes.h"
#include "base/result.h"
#include "crypto/x509.h"

namespace coco::attestation {

// The collateral as Intel's PCS (or a PCCS) serves it.
struct TdxCollateralFiles {
  std::string tcb_info;     // {"tcbInfo":{...},"signature":"<hex r||s>"}
  std::string qe_identity;  // {"enclaveIdentity":{...},"signature":"..."}
  // The TCB-Info-Issuer-Chain / SGX-Enclave-Identity-Issuer-Chain (PEM): the "Intel SGX TCB
  // Signing" certificate, optionally followed by the root.
  std::string tcb_signing_chain;
  Bytes pck_crl;      // PEM or DER, issued by the PCK Platform or Processor CA
  Bytes root_ca_crl;  // PEM or DER, issued by the SGX root
};

// One TCB level of TCB info or QE identity.
struct TdxTcbLevel {
  std::vector<uint8_t> sgx_svns;  // 16 (platform levels)
  uint16_t pcesvn = 0;
  std::vector<uint8_t> tdx_svns;  // 16 (platform levels)
  uint16_t isvsvn = 0;            // module and QE levels
  std::time_t date = 0;
  std::string status;  // UpToDate, SWHardeningNeeded, ConfigurationNeeded, ...
  std::vector<std::string> advisory_ids;
};

struct TdxModuleIdentity {
  std::string id;                     // "TDX_03"; empty for the TD 1.0 `tdxModule` entry
  Bytes mrsigner;                     // 48
  Bytes attributes, attributes_mask;  // 8 each
  std::vector<TdxTcbLevel> levels;
};

// Collateral that passed its checks (signatures, chain to the root, revocation of the signer).
struct TdxCollateral {
  // TCB info.
  Bytes fmspc, pce_id;
  std::time_t tcb_issue = 0, tcb_next_update = 0;
  uint32_t tcb_eval_num = 0;
  std::optional<TdxModuleIdentity> tdx_module;
  std::vector<TdxModuleIdentity> module_identities;
  std::vector<TdxTcbLevel> tcb_levels;
  // QE identity.
  Bytes qe_miscselect, qe_miscselect_mask;  // 4
  Bytes qe_attributes, qe_attributes_mask;  // 16
  Bytes qe_mrsigner;                        // 32
  uint16_t qe_isvprodid = 0;
  std::time_t qe_issue = 0, qe_next_update = 0;
  uint32_t qe_eval_num = 0;
  std::vector<TdxTcbLevel> qe_levels;
  // The TCB signing certificate, the root and the CRLs (always set once loaded).
  std::optional<crypto::Certificate> tcb_signer, root;
  std::string root_key_id;  // hex SHA-384 of the root's public key, as Intel's library reports it
  // Over all of the above: the earliest and latest issue and the earliest expiry (nextUpdate or
  // notAfter), and the CRL numbers (0 when absent). A quote's PCK chain adds its own dates.
  std::time_t earliest_issue = 0, latest_issue = 0, earliest_expiry = 0;
  uint64_t pck_crl_num = 0, root_ca_crl_num = 0;
  std::optional<crypto::RevocationList> pck_crl, root_ca_crl;
};

struct TdxCollateralOptions {
  std::optional<std::time_t> at;  // when certificates must be valid; now when unset
  // The trust anchor. Unset: Intel's built-in SGX Root CA. Only tests set it.
  std::optional<crypto::Certificate> root;
};

// Parses and checks collateral files: both JSON signatures by the TCB signing certificate, that
// certificate's chain to the root and validity, the root CRL's signature and that it does not
// revoke the signer. (The PCK CRL is checked against the quote's CA when a quote is graded.)
Result<TdxCollateral> LoadTdxCollateral(const TdxCollateralFiles& files,
                                        const TdxCollateralOptions& opts);

// Reads the TCB info and QE identity documents into `c` WITHOUT checking their signatures (an
// empty text is skipped). For fuzzing and diagnostics only; LoadTdxCollateral is the checked
// path.
Status ParseTdxCollateralJsonUnverified(const std::string& tcb_info, const std::string& qe_identity,
                                        TdxCollateral* c);

// The text of member `key` of the top-level JSON object `json`, exactly as written: what
// Intel signs. An error when `json` is not an object or has no such member.
Result<std::string_view> RawJsonMember(std::string_view json, std::string_view key);

// Grades a quote (already signature-checked; `pck` from its PCK certificate) against the
// collateral: FMSPC and PCE-ID match, the PCK and its CA are not revoked, the platform TCB
// level, the TDX module identity and level, the QE identity and level, combined as Intel's
// library does. Revoked or unmatched levels fail. Returns the supplemental claims:
// tcb_status, tcb_date, advisory_ids, collateral_expiration_status, earliest/latest dates,
// CRL numbers, tcb_eval_num, root_key_id, sgx_type, platform_provider_id and the platform
// configuration flags.
Result<nlohmann::json> GradeTdxQuote(const TdxQuote& q, const PckInfo& pck, const TdxCollateral& c,
                                     std::time_t at);

// Where collateral comes from. Implementations cache and are thread-safe.
class TdxCollateralSource {
 public:
  virtual ~TdxCollateralSource() = default;
  // Collateral for a platform (FMSPC, 6 bytes) whose PCK was issued by the Platform CA
  // (`platform_ca`) or the Processor CA.
  virtual Result<std::shared_ptr<const TdxCollateral>> Get(const Bytes& fmspc,
                                                           bool platform_ca) = 0;
};

// An offline directory, laid out as:
//   tcb_info_<FMSPC>.json   (or tcb_info.json for a single platform)
//   qe_identity.json
//   tcb_signing_chain.pem
//   pck_crl_platform.{pem,der}, pck_crl_processor.{pem,der}
//   root_ca_crl.{pem,der}
// Files are read and checked on first use and again when they change.
std::unique_ptr<TdxCollateralSource> NewTdxCollateralDir(std::string dir,
                                                         TdxCollateralOptions opts);

}  // namespace coco::attestation
