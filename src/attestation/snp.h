// AMD SEV-SNP evidence: the attestation report (versions 2 to 5) in its firmware byte layout
// and in upstream's JSON form, the certificate table, and the verifier.
//
// Evidence JSON (as upstream's attester sends it and its verifier reads it):
//   {"attestation_report": {...field by field...},
//    "cert_chain": [{"cert_type": "VCEK"|"VLEK"|"ASK"|"ARK", "data": [bytes]}] | null}
// Byte arrays are JSON arrays of numbers; TCB versions are objects
// {"fmc": n|null, "bootloader", "tee", "snp", "microcode"}.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
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

constexpr size_t kSnpReportSize = 0x4A0;  // 1184 bytes
constexpr size_t kSnpSignedSize = 0x2A0;  // the signature covers bytes [0, 0x2A0)

enum class SnpGeneration { kMilan, kGenoa, kTurin };
std::string SnpGenerationName(SnpGeneration g);  // "Milan", "Genoa", "Turin"
// From the report's CPUID family and model (versions 3 and later).
Result<SnpGeneration> SnpGenerationFromCpuid(uint8_t family, uint8_t model);

// A TCB version. Milan and Genoa lay it out as bootloader, tee, 4 reserved, snp, microcode;
// Turin as fmc, bootloader, tee, snp, 3 reserved, microcode.
struct SnpTcb {
  std::optional<uint8_t> fmc;  // Turin only
  uint8_t bootloader = 0, tee = 0, snp = 0, microcode = 0;
  bool operator==(const SnpTcb&) const = default;
};

struct SnpVersion {
  uint8_t major = 0, minor = 0, build = 0;
};

struct SnpReport {
  uint32_t version = 0;
  uint32_t guest_svn = 0;
  uint64_t policy = 0;
  Bytes family_id, image_id;  // 16 each
  uint32_t vmpl = 0;
  uint32_t sig_algo = 0;
  SnpTcb current_tcb;
  uint64_t plat_info = 0;
  uint32_t key_info = 0;
  Bytes report_data;              // 64
  Bytes measurement;              // 48
  Bytes host_data;                // 32
  Bytes id_key_digest;            // 48
  Bytes author_key_digest;        // 48
  Bytes report_id, report_id_ma;  // 32 each
  SnpTcb reported_tcb;
  std::optional<uint8_t> cpuid_fam_id, cpuid_mod_id, cpuid_step;  // version 3 and later
  Bytes chip_id;                                                  // 64
  SnpTcb committed_tcb;
  SnpVersion current, committed;
  SnpTcb launch_tcb;
  std::optional<uint64_t> launch_mit_vector, current_mit_vector;  // version 5 and later
  Bytes signature_r, signature_s;                                 // 72 each, little-endian

  SnpGeneration generation = SnpGeneration::kGenoa;  // decides the TCB layout
  // The bytes it was parsed from (empty for a report read from JSON). The signature is checked
  // over these, reserved bytes included; a JSON report is checked over its encoding.
  Bytes raw;

  // Policy bits (SNP ABI: guest policy).
  uint8_t policy_abi_minor() const { return policy & 0xFF; }
  uint8_t policy_abi_major() const { return (policy >> 8) & 0xFF; }
  bool policy_smt_allowed() const { return policy >> 16 & 1; }
  bool policy_migrate_ma() const { return policy >> 18 & 1; }
  bool policy_debug_allowed() const { return policy >> 19 & 1; }
  bool policy_single_socket() const { return policy >> 20 & 1; }
  bool platform_smt_enabled() const { return plat_info & 1; }
  bool platform_tsme_enabled() const { return plat_info >> 1 & 1; }
  // KEY_INFO.SIGNING_KEY: 0 VCEK, 1 VLEK, 7 none.
  uint32_t signing_key() const { return (key_info >> 2) & 7; }
};

// Parses the firmware layout (exactly kSnpReportSize bytes, versions 2 to 5). Versions 3 and
// later name their CPU; a version 2 report does not, so its generation (for the TCB layout) is
// `v2_generation` when given, else guessed as upstream does (Turin when only the first 8 bytes
// of CHIP_ID are set).
Result<SnpReport> ParseSnpReport(const Bytes& raw,
                                 std::optional<SnpGeneration> v2_generation = std::nullopt);
// The firmware layout of `r` (reserved bytes zero). ParseSnpReport(Encode(r)) == r.
Result<Bytes> EncodeSnpReport(const SnpReport& r);

// Upstream's JSON form of a report.
nlohmann::json SnpReportToJson(const SnpReport& r);
Result<SnpReport> SnpReportFromJson(const nlohmann::json& j);

// One entry of the extended-report certificate table.
struct SnpCert {
  std::string type;  // "VCEK", "VLEK", "ASK", "ARK" (others are kept and ignored)
  Bytes der;
};
// The binary certificate table that the firmware and configfs-tsm hand out: 24-byte entries
// {GUID, offset u32, length u32} ended by an all-zero entry, offsets from the table's start.
Result<std::vector<SnpCert>> ParseSnpCertTable(const Bytes& table);

struct SnpEvidence {
  SnpReport report;
  std::optional<std::vector<SnpCert>> certs;
};
Result<SnpEvidence> SnpEvidenceFromJson(const nlohmann::json& j);
nlohmann::json SnpEvidenceToJson(const SnpEvidence& e);

// AMD's root and signing certificates, built in: ARK, ASK and ASVK (the VLEK signer) for each
// generation.
struct AmdCertificates {
  crypto::Certificate ark, ask, asvk;
};
Result<AmdCertificates> BuiltInAmdCertificates(SnpGeneration g);

// The generation whose ASK/ASVK issued an endorsement key ("SEV-Milan", "SEV-VLEK-Genoa", ...).
std::optional<SnpGeneration> SnpGenerationOfSigner(const crypto::Certificate& vek);

struct SnpVerifyOptions {
  // Where to find a VCEK when the evidence carries none:
  // <vcek_dir>/vcek/<hwid>/[bl.._tee.._snp.._ucode..[_fmc..]_]vcek.der as upstream's offline
  // store lays it out. No network fetch.
  std::string vcek_dir;
  // Certificates given by hand (PEM or DER files' contents); used like a cert_chain.
  std::vector<crypto::Certificate> extra_certs;
  std::optional<std::time_t> at;  // when to check certificate validity; now when unset
  uint32_t max_vmpl = 0;          // reports from a higher VMPL are refused
  // The trust anchors for a generation. Unset: AMD's built-in certificates. Only this library's
  // tests set it (to a synthetic chain that can sign report shapes no real vector covers).
  std::function<Result<AmdCertificates>(SnpGeneration)> roots;
};

// Verifies a report: the VCEK/VLEK chain to AMD's built-in ARK, the report signature, the TCB
// against the endorsement key's extensions, CHIP_ID against a VCEK's hwID, committed <= current,
// VMPL, and when given the report_data and host_data bindings. Returns upstream's claims.
Result<nlohmann::json> VerifySnpEvidence(const SnpEvidence& evidence, const SnpVerifyOptions& opts,
                                         const std::optional<Bytes>& expected_report_data,
                                         const std::optional<Bytes>& expected_init_data);

// Upstream's claims for a (verified) report.
nlohmann::json SnpClaims(const SnpReport& r);

std::unique_ptr<Verifier> NewSnpVerifier(SnpVerifyOptions opts);

// ---- Guest side ----------------------------------------------------------------------------

struct SnpAttesterOptions {
  std::string configfs_root = "/sys/kernel/config/tsm/report";  // preferred when present
  std::string device = "/dev/sev-guest";                        // else the ioctl interface
  uint32_t vmpl = 0;  // the VMPL to request the report at (0: the guest's own)
  // Tests: a recorded provider instead of the kernel's configfs.
  std::shared_ptr<TsmFs> tsm;
};
// SNP evidence in upstream's JSON form, with the certificate table when the host provides one.
std::unique_ptr<Attester> NewSnpAttester(SnpAttesterOptions opts = {});

// The report inside a /dev/sev-guest SNP_GET_(EXT_)REPORT response (MSG_REPORT_RSP: status u32,
// report size u32, 24 reserved bytes, the report).
Result<Bytes> ReportFromGuestResponse(const Bytes& resp);

}  // namespace coco::attestation
