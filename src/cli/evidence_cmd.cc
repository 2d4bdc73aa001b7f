// coco evidence verify: offline verification of TEE evidence (upstream's evidence JSON, or a raw
// SNP report with its certificates), printing upstream's claims.
#include <iostream>

#include "attestation/runtime_data.h"
#include "attestation/snp.h"
#include "attestation/tdx.h"
#include "attestation/tdx_collateral.h"
#include "attestation/tdx_collateral_pccs.h"
#include "attestation/tpm.h"
#include "base/file.h"
#include "base/json.h"
#include "base/time.h"
#include "cli/commands.h"
#include "crypto/x509.h"

namespace coco::cli {
namespace {

struct EvidenceOptions {
  std::string file;
  std::string tee;  // empty: detect
  std::vector<std::string> certs;
  std::string cert_table;
  std::string vcek_dir;
  std::string collateral;
  std::string pccs;
  std::string pccs_ca;
  std::string at;
  std::string report_data_hex;
  std::string init_data_file;
  std::string init_data_digest_hex;
  uint32_t max_vmpl = 0;
  std::vector<std::string> trusted_aks;
};

// Every certificate of a file: DER (one) or PEM (one or more).
Result<std::vector<crypto::Certificate>> LoadCertificates(const std::string& path) {
  COCO_ASSIGN_OR_RETURN(std::string data, ReadFile(path));
  if (data.find("-----BEGIN CERTIFICATE-----") != std::string::npos) {
    auto all = crypto::Certificate::AllFromPem(data);
    if (!all.ok()) return MakeError(Code::kInvalidArgument, path + ": " + all.error().message);
    return *all;
  }
  auto one = crypto::Certificate::FromDer(ToBytes(data));
  if (!one.ok())
    return MakeError(Code::kInvalidArgument,
                     path + ": neither a PEM nor a DER certificate (" + one.error().message + ")");
  return std::vector<crypto::Certificate>{*one};
}

// What the input is, when --tee does not say.
std::string DetectTee(const std::string& data, const nlohmann::json* j) {
  if (j) {
    if (j->contains("attestation_report")) return "snp";
    if (j->contains("quote")) return "tdx";
    if (j->contains("tpm_quote") || j->contains("ak_public")) return "tpm";
    if (j->contains("svn") && j->contains("report_data")) return "sample";
    return "";
  }
  if (data.size() == attestation::kSnpReportSize) return "snp";
  if (data.size() > 48 && (data[0] == 4 || data[0] == 5) && data[1] == 0 &&
      static_cast<uint8_t>(data[4]) == 0x81)
    return "tdx";
  return "";
}

Status RunSnp(const EvidenceOptions& o, const std::string& data, const nlohmann::json* j,
              const std::optional<Bytes>& report_data, const std::optional<Bytes>& init_data) {
  attestation::SnpVerifyOptions vo;
  vo.vcek_dir = o.vcek_dir;
  vo.max_vmpl = o.max_vmpl;
  if (!o.at.empty()) {
    COCO_ASSIGN_OR_RETURN(vo.at, ParseRfc3339(o.at));
  }
  for (const auto& f : o.certs) {
    COCO_ASSIGN_OR_RETURN(auto certs, LoadCertificates(f));
    vo.extra_certs.insert(vo.extra_certs.end(), certs.begin(), certs.end());
  }
  attestation::SnpEvidence e;
  if (j) {
    COCO_ASSIGN_OR_RETURN(e, attestation::SnpEvidenceFromJson(*j));
  } else {
    // A version 2 report does not name its CPU: the endorsement key's issuer does.
    std::optional<attestation::SnpGeneration> hint;
    for (const auto& c : vo.extra_certs)
      if (!hint) hint = attestation::SnpGenerationOfSigner(c);
    COCO_ASSIGN_OR_RETURN(e.report, attestation::ParseSnpReport(ToBytes(data), hint));
  }
  if (!o.cert_table.empty()) {
    COCO_ASSIGN_OR_RETURN(std::string table, ReadFile(o.cert_table));
    COCO_ASSIGN_OR_RETURN(auto certs, attestation::ParseSnpCertTable(ToBytes(table)));
    if (!e.certs) e.certs.emplace();
    e.certs->insert(e.certs->end(), certs.begin(), certs.end());
  }
  COCO_ASSIGN_OR_RETURN(nlohmann::json claims,
                        attestation::VerifySnpEvidence(e, vo, report_data, init_data));
  std::cout << claims.dump(2) << "\n";
  std::cerr << "coco: verified: SNP report version " << e.report.version << " ("
            << attestation::SnpGenerationName(e.report.generation) << ")"
            << (report_data ? ", report_data bound" : "")
            << (init_data ? ", init-data bound to HOST_DATA" : "") << "\n";
  return Status::Ok();
}

Status RunTdx(const EvidenceOptions& o, const std::string& data, const nlohmann::json* j,
              const std::optional<Bytes>& report_data, const std::optional<Bytes>& init_data) {
  if (o.collateral.empty() == o.pccs.empty())
    return MakeError(Code::kInvalidArgument,
                     "TDX evidence needs Intel's collateral to grade its TCB: give --collateral "
                     "DIR (tcb_info_<FMSPC>.json, qe_identity.json, tcb_signing_chain.pem, "
                     "pck_crl_{platform,processor}.{pem,der}, root_ca_crl.{pem,der}) or --pccs "
                     "URL, one of them");
  attestation::TdxVerifyOptions vo;
  attestation::TdxCollateralOptions co;
  if (!o.at.empty()) {
    COCO_ASSIGN_OR_RETURN(std::time_t at, ParseRfc3339(o.at));
    vo.at = co.at = at;
  }
  if (!o.collateral.empty()) {
    vo.collateral = attestation::NewTdxCollateralDir(o.collateral, co);
  } else {
    attestation::PccsOptions po;
    po.url = o.pccs;
    if (!o.pccs_ca.empty()) po.ca_files.push_back(o.pccs_ca);
    po.proxy = net::ProxyConfigFromEnvironment();
    COCO_ASSIGN_OR_RETURN(vo.collateral, attestation::NewTdxCollateralPccs(po, co));
  }
  attestation::TdxEvidence e;
  if (j) {
    COCO_ASSIGN_OR_RETURN(e, attestation::TdxEvidenceFromJson(*j));
  } else {
    e.quote = ToBytes(data);
  }
  COCO_ASSIGN_OR_RETURN(nlohmann::json claims,
                        attestation::VerifyTdxEvidence(e, vo, report_data, init_data));
  std::cout << claims.dump(2) << "\n";
  std::cerr << "coco: verified: TDX quote version "
            << claims["quote"]["header"]["version"].get<std::string>() << ", TCB status "
            << claims["tcb_status"].get<std::string>()
            << (claims["collateral_expiration_status"] == "1" ? " (collateral expired)" : "")
            << (e.cc_eventlog ? ", event log replayed into the RTMRs" : "")
            << (report_data ? ", report_data bound" : "")
            << (init_data ? ", init-data bound to MRCONFIGID" : "") << "\n";
  return Status::Ok();
}

Status Run(const EvidenceOptions& o) {
  COCO_ASSIGN_OR_RETURN(std::string data, ReadInput(o.file));
  std::optional<nlohmann::json> parsed;
  if (!data.empty() && (data[0] == '{' || data[0] == ' ' || data[0] == '\n')) {
    COCO_ASSIGN_OR_RETURN(parsed, ParseJson(data, o.file));
    // A KBS attestation message's TEE part: {"primary_evidence": {...}, ...}.
    if (parsed->is_object() && parsed->contains("primary_evidence"))
      parsed = nlohmann::json((*parsed)["primary_evidence"]);
  }
  const nlohmann::json* j = parsed ? &*parsed : nullptr;
  std::string tee = o.tee.empty() ? DetectTee(data, j) : o.tee;
  if (tee.empty())
    return MakeError(Code::kInvalidArgument,
                     o.file + ": cannot tell which TEE this evidence is from; say --tee");

  std::optional<Bytes> report_data, init_data;
  if (!o.report_data_hex.empty()) {
    COCO_ASSIGN_OR_RETURN(report_data, HexDecode(o.report_data_hex));
  }
  if (!o.init_data_digest_hex.empty()) {
    COCO_ASSIGN_OR_RETURN(init_data, HexDecode(o.init_data_digest_hex));
  }
  if (!o.init_data_file.empty()) {
    COCO_ASSIGN_OR_RETURN(std::string toml, ReadFile(o.init_data_file));
    auto parsed_init = attestation::ParseInitData(toml);
    if (!parsed_init.ok())
      return MakeError(Code::kInvalidArgument,
                       o.init_data_file + ": " + parsed_init.error().message);
    init_data = parsed_init->digest;
  }
  if (tee == "snp") return RunSnp(o, data, j, report_data, init_data);
  if (tee == "tpm") {
    if (!j) return MakeError(Code::kInvalidArgument, "TPM evidence is upstream's JSON form");
    COCO_ASSIGN_OR_RETURN(attestation::TpmEvidence e, attestation::TpmEvidenceFromJson(*j));
    attestation::TpmVerifyOptions to;
    for (const auto& f : o.trusted_aks) {
      COCO_ASSIGN_OR_RETURN(std::string pem, ReadFile(f));
      auto key = crypto::Key::FromPem(pem);
      if (!key.ok()) return MakeError(Code::kInvalidArgument, f + ": " + key.error().message);
      COCO_ASSIGN_OR_RETURN(Bytes der, key->PublicDer());
      to.trusted_aks.push_back(der);
    }
    COCO_ASSIGN_OR_RETURN(nlohmann::json claims,
                          attestation::VerifyTpmEvidence(e, to, report_data, init_data));
    std::cout << claims.dump(2) << "\n";
    std::cerr << "coco: verified: TPM quote" << (report_data ? ", report_data bound" : "")
              << (init_data ? ", init-data bound to PCR 8" : "") << "\n";
    return Status::Ok();
  }
  if (tee == "tdx") return RunTdx(o, data, j, report_data, init_data);
  if (tee == "sample")
    return MakeError(Code::kInvalidArgument,
                     "sample evidence carries no signature: there is nothing to verify offline");
  return MakeError(Code::kInvalidArgument, "unknown TEE \"" + tee + "\" (snp, tdx, tpm, sample)");
}

}  // namespace

void AddEvidenceCommands(CLI::App& app) {
  auto* evidence = app.add_subcommand("evidence", "work with TEE evidence offline");
  evidence->require_subcommand(1);
  auto o = std::make_shared<EvidenceOptions>();
  auto* verify = evidence->add_subcommand(
      "verify",
      "verify TEE evidence offline and print its claims as JSON (upstream's claim names)\n"
      "FILE is upstream's evidence JSON (as an attester sends it: SNP, TDX or TPM), a raw SNP "
      "report (1184 bytes) or a raw TD quote.\nSNP certificates come from the evidence, --cert, "
      "--cert-table or --vcek-dir; TDX collateral from --collateral or --pccs. AMD's and Intel's "
      "roots "
      "are built in and nothing is fetched from the network.\n"
      "On failure the check that failed is named and the exit code is 1.\n\n"
      "Examples:\n"
      "  coco evidence verify evidence.json\n"
      "  coco evidence verify report.bin --cert vcek.der --at 2026-01-01T00:00:00Z\n"
      "  coco evidence verify report.bin --cert-table certs.bin --report-data <128 hex>\n"
      "  coco evidence verify quote.dat --collateral /etc/coco-kbs/tdx-collateral");
  verify->add_option("FILE", o->file, "evidence file, or - for stdin")->required();
  verify->add_option("--tee", o->tee, "the TEE: snp, tdx, tpm, sample (default: detected)")
      ->check(CLI::IsMember({"snp", "tdx", "tpm", "sample"}));
  verify->add_option("--cert", o->certs,
                     "a certificate file (PEM or DER; VCEK, VLEK, ASK or ARK); repeatable");
  verify->add_option("--cert-table", o->cert_table,
                     "the extended report's binary certificate table (as configfs-tsm's auxblob)");
  verify->add_option("--vcek-dir", o->vcek_dir,
                     "offline VCEK store: DIR/vcek/<hwid>/[<tcb>_]vcek.der");
  verify->add_option("--collateral", o->collateral,
                     "TDX collateral directory: tcb_info_<FMSPC>.json, qe_identity.json, "
                     "tcb_signing_chain.pem, pck_crl_{platform,processor}.{pem,der}, "
                     "root_ca_crl.{pem,der}");
  verify->add_option("--pccs", o->pccs,
                     "fetch TDX collateral from this PCCS or Intel PCS (v4 API base URL)");
  verify->add_option("--pccs-ca", o->pccs_ca, "PEM CA of the PCCS's TLS certificate");
  verify->add_option("--at", o->at,
                     "check certificate validity as of this RFC 3339 time instead of now");
  verify->add_option("--report-data", o->report_data_hex,
                     "expected REPORT_DATA (hex; padded with zeros to the field's size)");
  auto* digest_opt =
      verify->add_option("--init-data-digest", o->init_data_digest_hex,
                         "expected init-data digest (hex) bound to HOST_DATA / MRCONFIGID");
  verify
      ->add_option("--init-data", o->init_data_file,
                   "init-data TOML whose digest must be bound to HOST_DATA / MRCONFIGID")
      ->excludes(digest_opt);
  verify->add_option("--max-vmpl", o->max_vmpl, "highest SNP VMPL accepted")->capture_default_str();
  verify->add_option("--trusted-ak", o->trusted_aks,
                     "a PEM public key: TPM quotes are accepted only from these keys; repeatable");
  verify->callback([o] {
    auto s = Run(*o);
    if (!s.ok()) Fail("evidence verify: " + s.error().message);
  });
}

}  // namespace coco::cli
