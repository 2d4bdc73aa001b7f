// Benchmark: evidence verifications per second on one core with caches warm, side by side with
// the raw signature-verification bound measured in the same run (OpenSSL verify of the same
// signature with the same key). The real Genoa SNP evidence, the real tdx_quote_6 with Intel's
// collateral for its platform, and upstream's recorded TPM quote (src/attestation/testdata) are
// used.
//
//   build/bin/evidence_bench [--seconds 2] [--rounds 3]
//
// Rounds alternate between the measurements so that machine noise hits them alike; the median
// round is reported. Target: SNP >= 50 % of the P-384 verify bound.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "attestation/snp.h"
#include "attestation/tdx.h"
#include "attestation/tdx_collateral.h"
#include "attestation/tpm.h"
#include "base/time.h"
#include "crypto/crypto.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace att = coco::attestation;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Operations per second of `op` over about `seconds`.
double Rate(const std::function<void()>& op, double seconds) {
  auto start = Clock::now();
  auto until = start + std::chrono::duration<double>(seconds);
  long n = 0;  // NOLINT(runtime/int)
  while (Clock::now() < until) {
    for (int i = 0; i < 16; ++i) op();
    n += 16;
  }
  return n / std::chrono::duration<double>(Clock::now() - start).count();
}

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "evidence_bench: %s\n", msg.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "SNP, TDX and TPM evidence verifications per second vs the raw signature verify bounds"};
  double seconds = 2;
  int rounds = 3;
  std::string data = COCO_ATTESTATION_TESTDATA;
  app.add_option("--seconds", seconds, "time per measurement per round")->capture_default_str();
  app.add_option("--rounds", rounds, "rounds (median reported)")->capture_default_str();
  app.add_option("--testdata", data, "src/attestation/testdata")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::string text = Slurp(data + "/snp/genoa-evidence.json");
  if (text.empty()) Die("cannot read " + data + "/snp/genoa-evidence.json");
  auto json = nlohmann::json::parse(text);
  auto evidence = att::SnpEvidenceFromJson(json);
  if (!evidence.ok()) Die(evidence.error().message);
  att::SnpVerifyOptions opts;
  opts.at = *coco::ParseRfc3339("2026-01-01T00:00:00Z");
  auto verifier = att::NewSnpVerifier(opts);
  coco::Bytes report_data = evidence->report.report_data;

  // The bound: the same report signature verified with the same VCEK key, nothing else.
  auto vcek = coco::crypto::Certificate::FromDer((*evidence->certs)[0].der);
  auto key = vcek->PublicKey();
  auto raw = att::EncodeSnpReport(evidence->report);
  coco::Bytes rs;
  for (const auto* part : {&evidence->report.signature_r, &evidence->report.signature_s})
    rs.insert(rs.end(), part->rbegin() + 24, part->rend());
  std::string_view signed_part(reinterpret_cast<const char*>(raw->data()), att::kSnpSignedSize);
  if (!coco::crypto::EcdsaVerifyRaw(*key, coco::crypto::HashAlg::kSha384, signed_part, rs).ok())
    Die("the bound's signature does not verify");
  // A P-256 bound too, for the evidence kinds that sign with it.
  auto p256 = *coco::crypto::Key::GenerateEc(coco::crypto::Curve::kP256);
  auto p256_sig = *coco::crypto::EcdsaSign(p256, signed_part);

  auto snp_json = [&] {
    auto j = nlohmann::json::parse(text);
    auto c = verifier->Verify({j, report_data, std::nullopt});
    if (!c.ok()) Die(c.error().message);
  };
  auto snp_parsed = [&] {
    auto c = att::VerifySnpEvidence(*evidence, opts, report_data, std::nullopt);
    if (!c.ok()) Die(c.error().message);
  };
  auto p384_verify = [&] {
    if (!coco::crypto::EcdsaVerifyRaw(*key, coco::crypto::HashAlg::kSha384, signed_part, rs).ok())
      Die("verify");
  };
  auto p256_verify = [&] {
    if (!coco::crypto::EcdsaVerify(p256, signed_part, p256_sig).ok()) Die("verify");
  };
  snp_json();  // warm the caches (parsed roots, verified chain)

  // TPM: upstream's recorded quote (RSASSA, RSA-2048 AK), and its bound: the RSA verify of the
  // same signature over the same TPMS_ATTEST with the same key.
  std::string tpm_text = Slurp(data + "/tpm/tpm_evidence.json");
  if (tpm_text.empty()) Die("cannot read " + data + "/tpm/tpm_evidence.json");
  auto tpm_ev = att::TpmEvidenceFromJson(nlohmann::json::parse(tpm_text));
  if (!tpm_ev.ok()) Die(tpm_ev.error().message);
  auto tpm_quote = att::ParseTpmsAttest(tpm_ev->message);
  coco::Bytes tpm_rd(tpm_quote->extra_data.begin(), tpm_quote->extra_data.begin() + 48);
  auto tpm_verifier = att::NewTpmVerifier({});
  auto tpm_key = coco::crypto::Key::FromPublicDer(tpm_ev->ak_public);
  auto tpm_sig = att::ParseTpmtSignature(tpm_ev->signature);
  std::string_view tpm_msg(reinterpret_cast<const char*>(tpm_ev->message.data()),
                           tpm_ev->message.size());
  auto tpm_json = [&] {
    auto c = tpm_verifier->Verify({nlohmann::json::parse(tpm_text), tpm_rd, std::nullopt});
    if (!c.ok()) Die(c.error().message);
  };
  auto rsa_verify = [&] {
    if (!coco::crypto::RsaVerify(*tpm_key, coco::crypto::HashAlg::kSha256, tpm_msg, tpm_sig->rsa,
                                 false)
             .ok())
      Die("verify");
  };

  // TDX: tdx_quote_6 with Intel's collateral for its platform, verified as of a time inside the
  // collateral's validity; its bound: the P-256 verify of the quote's own signature.
  std::string tdx_quote = Slurp(data + "/tdx/tdx_quote_6.dat");
  if (tdx_quote.empty()) Die("cannot read " + data + "/tdx/tdx_quote_6.dat");
  std::string tdx_text =
      nlohmann::json{{"quote", coco::Base64Encode(coco::ToBytes(tdx_quote))}}.dump();
  att::TdxVerifyOptions tdx_opts;
  att::TdxCollateralOptions tdx_copts;
  tdx_opts.at = tdx_copts.at = *coco::ParseRfc3339("2025-11-10T00:00:00Z");
  tdx_opts.collateral = att::NewTdxCollateralDir(data + "/tdx/collateral", tdx_copts);
  auto tdx_verifier = att::NewTdxVerifier(tdx_opts);
  auto tdx_parsed = att::ParseTdxQuote(coco::ToBytes(tdx_quote));
  if (!tdx_parsed.ok()) Die(tdx_parsed.error().message);
  coco::Bytes tdx_rd = tdx_parsed->body.report_data;
  auto tdx_key = coco::crypto::Key::FromEcPublic(
      coco::crypto::Curve::kP256,
      coco::Bytes(tdx_parsed->attestation_key.begin(), tdx_parsed->attestation_key.begin() + 32),
      coco::Bytes(tdx_parsed->attestation_key.begin() + 32, tdx_parsed->attestation_key.end()));
  std::string_view tdx_signed(reinterpret_cast<const char*>(tdx_parsed->signed_part.data()),
                              tdx_parsed->signed_part.size());
  auto tdx_json = [&] {
    auto c = tdx_verifier->Verify({nlohmann::json::parse(tdx_text), tdx_rd, std::nullopt});
    if (!c.ok()) Die(c.error().message);
  };
  auto tdx_bound = [&] {
    if (!coco::crypto::EcdsaVerifyRaw(*tdx_key, coco::crypto::HashAlg::kSha256, tdx_signed,
                                      tdx_parsed->signature)
             .ok())
      Die("verify");
  };
  tdx_json();  // warm the collateral cache

  std::vector<double> a, b, c, d, t, u, x, y;
  for (int r = 0; r < rounds; ++r) {
    a.push_back(Rate(snp_json, seconds));
    b.push_back(Rate(snp_parsed, seconds));
    c.push_back(Rate(p384_verify, seconds));
    d.push_back(Rate(p256_verify, seconds));
    t.push_back(Rate(tpm_json, seconds));
    u.push_back(Rate(rsa_verify, seconds));
    x.push_back(Rate(tdx_json, seconds));
    y.push_back(Rate(tdx_bound, seconds));
  }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double snp_j = med(a), snp_p = med(b), bound = med(c), bound256 = med(d);
  double tpm_j = med(t), rsa_bound = med(u), tdx_j = med(x), tdx_b = med(y);
  std::printf(
      "evidence verifications per second, one core, caches warm (%d rounds of %.1f s, "
      "median)\n\n",
      rounds, seconds);
  std::printf("%-58s %10.0f /s\n", "SNP: evidence JSON text -> claims (Genoa, VCEK chain)", snp_j);
  std::printf("%-58s %10.0f /s\n", "SNP: parsed evidence -> claims", snp_p);
  std::printf("%-58s %10.0f /s\n", "bound: ECDSA P-384 verify of the same report", bound);
  std::printf("%-58s %10.0f /s\n", "bound: ECDSA P-256 verify (for P-256-signed evidence)",
              bound256);
  std::printf("%-58s %10.0f /s\n", "TDX: evidence JSON text -> claims (quote v4, TCB graded)",
              tdx_j);
  std::printf("%-58s %10.0f /s\n", "bound: ECDSA P-256 verify of the same quote", tdx_b);
  std::printf("%-58s %10.0f /s\n", "TPM: evidence JSON text -> claims (RSASSA-2048 AK)", tpm_j);
  std::printf("%-58s %10.0f /s\n", "bound: RSASSA-2048 verify of the same quote", rsa_bound);
  std::printf("\nratios:\n");
  std::printf("  SNP (JSON text) / P-384 bound: %5.1f %%  (target >= 50 %%)%s\n",
              100 * snp_j / bound, snp_j / bound >= 0.5 ? "" : "  below target");
  std::printf("  SNP (parsed)    / P-384 bound: %5.1f %%\n", 100 * snp_p / bound);
  std::printf("  TPM (JSON text) / RSA-2048 bound: %5.1f %%\n", 100 * tpm_j / rsa_bound);
  std::printf("  TDX (JSON text) / P-256 bound: %5.1f %%\n", 100 * tdx_j / tdx_b);
  return 0;
}
