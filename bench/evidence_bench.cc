// Benchmark: evidence verifications per second on one core with caches warm, side by side with
// the raw signature-verification bound measured in the same run (OpenSSL verify of the same
// signature with the same key). The real Genoa SNP evidence and upstream's recorded TPM quote
// (src/attestation/testdata) are used.
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
#include "attestation/tpm.h"
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
  CLI::App app{"SNP evidence verifications per second vs the raw ECDSA P-384 verify bound"};
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
  opts.at = *coco::crypto::ParseRfc3339("2026-01-01T00:00:00Z");
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

  std::vector<double> a, b, c, d, t, u;
  for (int r = 0; r < rounds; ++r) {
    a.push_back(Rate(snp_json, seconds));
    b.push_back(Rate(snp_parsed, seconds));
    c.push_back(Rate(p384_verify, seconds));
    d.push_back(Rate(p256_verify, seconds));
    t.push_back(Rate(tpm_json, seconds));
    u.push_back(Rate(rsa_verify, seconds));
  }
  auto med = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double snp_j = med(a), snp_p = med(b), bound = med(c), bound256 = med(d);
  double tpm_j = med(t), rsa_bound = med(u);
  std::printf(
      "evidence verifications per second, one core, caches warm (%d rounds of %.1f s, "
      "median)\n\n",
      rounds, seconds);
  std::printf("%-58s %10.0f /s\n", "SNP: evidence JSON text -> claims (Genoa, VCEK chain)", snp_j);
  std::printf("%-58s %10.0f /s\n", "SNP: parsed evidence -> claims", snp_p);
  std::printf("%-58s %10.0f /s\n", "bound: ECDSA P-384 verify of the same report", bound);
  std::printf("%-58s %10.0f /s\n", "bound: ECDSA P-256 verify (for P-256-signed evidence)",
              bound256);
  std::printf("%-58s %10.0f /s\n", "TPM: evidence JSON text -> claims (RSASSA-2048 AK)", tpm_j);
  std::printf("%-58s %10.0f /s\n", "bound: RSASSA-2048 verify of the same quote", rsa_bound);
  std::printf("\nratios:\n");
  std::printf("  SNP (JSON text) / P-384 bound: %5.1f %%  (target >= 50 %%)%s\n",
              100 * snp_j / bound, snp_j / bound >= 0.5 ? "" : "  below target");
  std::printf("  SNP (parsed)    / P-384 bound: %5.1f %%\n", 100 * snp_p / bound);
  std::printf("  TPM (JSON text) / RSA-2048 bound: %5.1f %%\n", 100 * tpm_j / rsa_bound);
  std::printf("  TDX: not measured (its verifier is not complete)\n");
  return 0;
}
