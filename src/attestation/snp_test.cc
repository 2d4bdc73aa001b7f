// SEV-SNP parsing and verification on real reports and certificates from AMD machines
// (upstream's test vectors, testdata/SOURCES.md), plus byte flips that each must break a named
// check.
#include "attestation/snp.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "attestation/testdata_util.h"
#include "base/time.h"

namespace coco::attestation {
namespace {

crypto::Certificate Cert(const std::string& name) {
  auto c = crypto::Certificate::FromDer(ReadData(name));
  EXPECT_TRUE(c.ok()) << name << ": " << c.error().message;
  return *c;
}

std::time_t At(const char* t) { return *ParseRfc3339(t); }

// The Milan version 2 report with its VCEK given by hand.
SnpEvidence MilanV2() {
  auto r = ParseSnpReport(ReadData("snp/test-report.bin"), SnpGeneration::kMilan);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return SnpEvidence{*r, std::nullopt};
}

SnpVerifyOptions WithCert(const std::string& name, const char* at) {
  SnpVerifyOptions o;
  o.extra_certs = {Cert(name)};
  o.at = At(at);
  return o;
}

std::string ErrorOf(const SnpEvidence& e, const SnpVerifyOptions& o) {
  auto v = VerifySnpEvidence(e, o, std::nullopt, std::nullopt);
  return v.ok() ? std::string("verified") : v.error().message;
}

TEST(SnpRoots, BuiltInCertificatesAreAmdsAndChain) {
  for (SnpGeneration g : {SnpGeneration::kMilan, SnpGeneration::kGenoa, SnpGeneration::kTurin}) {
    auto amd = BuiltInAmdCertificates(g);
    ASSERT_TRUE(amd.ok()) << amd.error().message;
    std::string n = SnpGenerationName(g);
    EXPECT_EQ(*amd->ark.SubjectCommonName(), "ARK-" + n);
    EXPECT_EQ(*amd->ask.SubjectCommonName(), "SEV-" + n);
    EXPECT_EQ(*amd->asvk.SubjectCommonName(), "SEV-VLEK-" + n);
    EXPECT_TRUE(amd->ark.VerifySignedBy(amd->ark).ok()) << n;
    EXPECT_TRUE(amd->ask.VerifySignedBy(amd->ark).ok()) << n;
    EXPECT_TRUE(amd->asvk.VerifySignedBy(amd->ark).ok()) << n;
  }
  auto milan = BuiltInAmdCertificates(SnpGeneration::kMilan);
  auto genoa = BuiltInAmdCertificates(SnpGeneration::kGenoa);
  EXPECT_FALSE(milan->ask.VerifySignedBy(genoa->ark).ok());
}

TEST(SnpReport, ParsesMilanV2FieldByField) {
  SnpReport r = MilanV2().report;
  EXPECT_EQ(r.version, 2u);
  EXPECT_EQ(r.vmpl, 0u);
  EXPECT_EQ(r.policy, 0x3001fu);
  EXPECT_EQ(r.sig_algo, 1u);
  EXPECT_EQ(HexEncode(r.measurement).substr(0, 8), "a1f39304");
  EXPECT_EQ(HexEncode(r.measurement).substr(88), "50d3d38c");
  EXPECT_EQ(r.reported_tcb, (SnpTcb{std::nullopt, 3, 0, 8, 115}));
  EXPECT_EQ(r.committed_tcb, (SnpTcb{std::nullopt, 3, 0, 8, 115}));
  EXPECT_EQ(r.current_tcb.microcode, 206);
  EXPECT_EQ(r.current.major, 1);
  EXPECT_EQ(r.current.minor, 52);
  EXPECT_EQ(r.current.build, 4);
  EXPECT_FALSE(r.cpuid_fam_id.has_value());
  EXPECT_EQ(r.signing_key(), 0u);
}

TEST(SnpReport, BinaryAndJsonRoundTrip) {
  for (const char* f : {"snp/test-report.bin", "snp/test-vlek-report.bin"}) {
    Bytes raw = ReadData(f);
    auto r = ParseSnpReport(raw, SnpGeneration::kMilan);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*EncodeSnpReport(*r), raw) << f;
    auto back = SnpReportFromJson(SnpReportToJson(*r));
    ASSERT_TRUE(back.ok()) << back.error().message;
    EXPECT_EQ(*EncodeSnpReport(*back), raw) << f;
  }
}

TEST(SnpReport, RefusesBadInput) {
  Bytes raw = ReadData("snp/test-report.bin");
  EXPECT_FALSE(ParseSnpReport(Bytes(raw.begin(), raw.end() - 1)).ok());
  Bytes v9 = raw;
  v9[0] = 9;
  auto r = ParseSnpReport(v9);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("version 9"), std::string::npos);
  // Version 3 on an unknown CPU family.
  Bytes v3 = ReadData("snp/test-vlek-report.bin");
  v3[0x188] = 0x17;
  r = ParseSnpReport(v3);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("family 0x17"), std::string::npos);
  // JSON with a short array.
  auto j = SnpReportToJson(*ParseSnpReport(raw, SnpGeneration::kMilan));
  j["measurement"].erase(0);
  auto bad = SnpReportFromJson(j);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("measurement"), std::string::npos);
}

TEST(SnpVerify, MilanV2WithItsVcek) {
  auto claims = VerifySnpEvidence(MilanV2(), WithCert("snp/test-vcek.der", "2026-01-01T00:00:00Z"),
                                  std::nullopt, std::nullopt);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  const auto& c = *claims;
  EXPECT_EQ(c["policy_abi_major"], 0);
  EXPECT_EQ(c["policy_abi_minor"], 31);
  EXPECT_EQ(c["policy_smt_allowed"], true);
  EXPECT_EQ(c["policy_migrate_ma"], false);
  EXPECT_EQ(c["policy_debug_allowed"], false);
  EXPECT_EQ(c["policy_single_socket"], false);
  EXPECT_EQ(c["reported_tcb_bootloader"], 3);
  EXPECT_EQ(c["reported_tcb_tee"], 0);
  EXPECT_EQ(c["reported_tcb_snp"], 8);
  EXPECT_EQ(c["reported_tcb_microcode"], 115);
  EXPECT_EQ(c["platform_smt_enabled"], true);
  EXPECT_EQ(c["platform_tsme_enabled"], false);
  EXPECT_EQ(c["measurement"].get<std::string>().substr(0, 8), "a1f39304");
  EXPECT_EQ(c["chip_id"].get<std::string>().substr(0, 16), "c38427a30d4c7af9");
  EXPECT_EQ(c.size(), 16u);
}

TEST(SnpVerify, MilanVlekReport) {
  auto e = SnpEvidence{*ParseSnpReport(ReadData("snp/test-vlek-report.bin")), std::nullopt};
  auto o = WithCert("snp/test-vlek.der", "2025-06-01T00:00:00Z");
  // It was taken at VMPL 1: refused by default, accepted when VMPL 1 is allowed.
  EXPECT_NE(ErrorOf(e, o).find("SNP VMPL"), std::string::npos) << ErrorOf(e, o);
  o.max_vmpl = 1;
  auto claims = VerifySnpEvidence(e, o, std::nullopt, std::nullopt);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ((*claims)["measurement"].get<std::string>().substr(0, 8), "8922ebbd");
  EXPECT_EQ((*claims)["measurement"].get<std::string>().substr(88), "570d7bf0");
  EXPECT_EQ((*claims)["reported_tcb_microcode"], 0xd9);
  // The VLEK expired on 2025-12-10.
  o.at = At("2026-06-01T00:00:00Z");
  EXPECT_NE(ErrorOf(e, o).find("expired"), std::string::npos) << ErrorOf(e, o);
  // A VLEK is signed by the ASVK, not the ASK: the VCEK's chain does not accept it as a VCEK.
  o.at = At("2025-06-01T00:00:00Z");
  auto vlek_as_vcek = e;
  vlek_as_vcek.certs = std::vector<SnpCert>{{"VCEK", ReadData("snp/test-vlek.der")}};
  o.extra_certs.clear();
  EXPECT_NE(ErrorOf(vlek_as_vcek, o).find("certificate chain"), std::string::npos)
      << ErrorOf(vlek_as_vcek, o);
}

TEST(SnpVerify, GenoaEvidenceJson) {
  auto j = nlohmann::json::parse(ToString(ReadData("snp/genoa-evidence.json")));
  auto e = SnpEvidenceFromJson(j);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->report.generation, SnpGeneration::kGenoa);
  SnpVerifyOptions o;
  o.at = At("2026-01-01T00:00:00Z");
  auto claims = VerifySnpEvidence(*e, o, std::nullopt, std::nullopt);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ((*claims)["reported_tcb_bootloader"], 10);
  EXPECT_EQ((*claims)["reported_tcb_snp"], 23);
  EXPECT_EQ((*claims)["reported_tcb_microcode"], 25);
  EXPECT_EQ((*claims)["policy_debug_allowed"], false);
  EXPECT_EQ((*claims)["init_data"], std::string(64, '0'));
  // The evidence's own report_data, as expected data, binds; another does not.
  Bytes rd = e->report.report_data;
  EXPECT_TRUE(VerifySnpEvidence(*e, o, rd, std::nullopt).ok());
  rd[0] ^= 1;
  auto bad = VerifySnpEvidence(*e, o, rd, std::nullopt);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("SNP report data"), std::string::npos);
  // HOST_DATA is zero: an init-data digest does not match it.
  bad = VerifySnpEvidence(*e, o, std::nullopt, Bytes(32, 7));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("SNP init-data"), std::string::npos);
  // Through the Verifier interface, as the broker calls it.
  auto v = NewSnpVerifier(o);
  EXPECT_EQ(v->tee(), "snp");
  auto via = v->Verify({j, e->report.report_data, std::nullopt});
  ASSERT_TRUE(via.ok()) << via.error().message;
  EXPECT_EQ(*via, *claims);
}

TEST(SnpVerify, EveryFlippedSignedByteBreaksTheSignature) {
  SnpEvidence base = MilanV2();
  Bytes raw = *EncodeSnpReport(base.report);
  auto o = WithCert("snp/test-vcek.der", "2026-01-01T00:00:00Z");
  // Step through the signed region; each flip must fail, and name the check that failed.
  for (size_t i = 0; i < kSnpSignedSize; i += 7) {
    Bytes b = raw;
    b[i] ^= 0x01;
    auto r = ParseSnpReport(b, SnpGeneration::kMilan);
    if (!r.ok()) continue;  // the flip made it unparsable (e.g. the version): also refused
    std::string err = ErrorOf({*r, std::nullopt}, o);
    EXPECT_NE(err.find("SNP signature"), std::string::npos) << "byte " << i << ": " << err;
  }
  // Upstream's two flips: byte 42 (in FAMILY_ID) and byte 384 (the reported TCB).
  for (size_t i : {42u, 384u}) {
    Bytes b = raw;
    b[i] += 1;
    std::string err = ErrorOf({*ParseSnpReport(b, SnpGeneration::kMilan), std::nullopt}, o);
    EXPECT_NE(err.find("SNP signature"), std::string::npos) << err;
  }
  // The signature itself.
  for (size_t i : {0x2A0u, 0x2A0u + 47, 0x2E8u, 0x2E8u + 20}) {
    Bytes b = raw;
    b[i] ^= 0x80;
    std::string err = ErrorOf({*ParseSnpReport(b, SnpGeneration::kMilan), std::nullopt}, o);
    EXPECT_NE(err.find("SNP signature"), std::string::npos) << err;
  }
}

TEST(SnpVerify, FlippedCertificateBytesBreakTheChain) {
  Bytes vcek = ReadData("snp/test-vcek.der");
  int refused = 0;
  for (size_t i = 200; i < vcek.size(); i += 97) {
    Bytes b = vcek;
    b[i] ^= 0x01;
    auto c = crypto::Certificate::FromDer(b);
    if (!c.ok()) {
      ++refused;  // no longer a certificate at all
      continue;
    }
    SnpVerifyOptions o;
    o.extra_certs = {*c};
    o.at = At("2026-01-01T00:00:00Z");
    std::string err = ErrorOf(MilanV2(), o);
    EXPECT_NE(err, "verified") << "byte " << i;
    EXPECT_TRUE(err.find("SNP certificate chain") != std::string::npos ||
                err.find("SNP TCB") != std::string::npos ||
                err.find("SNP chip identity") != std::string::npos)
        << "byte " << i << ": " << err;
    ++refused;
  }
  EXPECT_GT(refused, 5);
}

TEST(SnpVerify, MissingAndForeignEndorsementKeys) {
  std::string err = ErrorOf(MilanV2(), SnpVerifyOptions{});
  EXPECT_NE(err.find("no VCEK or VLEK"), std::string::npos) << err;
  // The Genoa VCEK does not sign the Milan report (its chain is Genoa's).
  auto j = nlohmann::json::parse(ToString(ReadData("snp/genoa-evidence.json")));
  auto genoa = SnpEvidenceFromJson(j);
  auto milan = MilanV2();
  milan.certs = genoa->certs;
  SnpVerifyOptions o;
  o.at = At("2026-01-01T00:00:00Z");
  err = ErrorOf(milan, o);
  EXPECT_NE(err, "verified");
  // The "invalid" VCEKs upstream keeps carry a made-up hwID, in both encodings.
  for (const char* f : {"snp/test-vcek-invalid-legacy.der", "snp/test-vcek-invalid-new.der"}) {
    auto c = Cert(f);
    auto hw = c.Extension("1.3.6.1.4.1.3704.1.4");
    ASSERT_TRUE(hw.ok() && hw->has_value()) << f;
    err = ErrorOf(MilanV2(), WithCert(f, "2026-01-01T00:00:00Z"));
    EXPECT_NE(err, "verified") << f;
  }
}

TEST(SnpVerify, OfflineVcekStore) {
  SnpEvidence e = MilanV2();
  std::string dir = ::testing::TempDir() + "/snp-vcek-store";
  std::string hw = dir + "/vcek/" + HexEncode(e.report.chip_id);
  ASSERT_EQ(system(("rm -rf " + dir + " && mkdir -p " + hw).c_str()), 0);
  SnpVerifyOptions o;
  o.vcek_dir = dir;
  o.at = At("2026-01-01T00:00:00Z");
  std::string err = ErrorOf(e, o);
  EXPECT_NE(err.find("offline store"), std::string::npos) << err;
  Bytes der = ReadData("snp/test-vcek.der");
  std::ofstream(hw + "/bl03_tee00_snp08_ucode115_vcek.der", std::ios::binary)
      .write(reinterpret_cast<const char*>(der.data()), static_cast<std::streamsize>(der.size()));
  EXPECT_EQ(ErrorOf(e, o), "verified");
}

// A certificate table as the firmware writes it: one VCEK entry, the all-zero terminator, then
// the certificate.
Bytes VcekTable() {
  Bytes vcek = ReadData("snp/test-vcek.der");
  Bytes t = {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64,
             0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd};
  t.resize(48, 0);
  t[16] = 48;
  t[20] = static_cast<uint8_t>(vcek.size() & 0xFF);
  t[21] = static_cast<uint8_t>(vcek.size() >> 8);
  t.insert(t.end(), vcek.begin(), vcek.end());
  return t;
}

TEST(SnpCertTable, ParsesFirmwareTable) {
  Bytes vcek = ReadData("snp/test-vcek.der");
  Bytes t = VcekTable();
  auto certs = ParseSnpCertTable(t);
  ASSERT_TRUE(certs.ok()) << certs.error().message;
  ASSERT_EQ(certs->size(), 1u);
  EXPECT_EQ((*certs)[0].type, "VCEK");
  EXPECT_EQ((*certs)[0].der, vcek);
  SnpEvidence e = MilanV2();
  e.certs = *certs;
  SnpVerifyOptions o;
  o.at = At("2026-01-01T00:00:00Z");
  EXPECT_EQ(ErrorOf(e, o), "verified");
  // Out-of-bounds length and a missing terminator are refused.
  Bytes bad = t;
  bad[22] = 0x10;
  EXPECT_FALSE(ParseSnpCertTable(bad).ok());
  EXPECT_FALSE(ParseSnpCertTable(Bytes(t.begin(), t.begin() + 30)).ok());
}

}  // namespace
}  // namespace coco::attestation

namespace coco::attestation {
namespace {

// ---- Shapes no real vector covers, signed by the synthetic chain (testdata/synthetic) -------

struct Synthetic {
  AmdCertificates cas;
  crypto::Certificate vcek, vlek;
  crypto::Key key;
};

Synthetic LoadSynthetic() {
  auto cas = crypto::Certificate::AllFromPem(ToString(ReadData("synthetic/cas.pem")));
  EXPECT_TRUE(cas.ok() && cas->size() == 3);
  auto key = crypto::Key::FromPem(ToString(ReadData("synthetic/vek.key")));
  EXPECT_TRUE(key.ok());
  return {{(*cas)[1], (*cas)[0], (*cas)[2]},
          Cert("synthetic/vcek.der"),
          Cert("synthetic/vlek.der"),
          *key};
}

// A Turin version 5 report whose TCB matches the synthetic VCEK (fmc 1, bl 2, tee 3, snp 4,
// ucode 5) and whose CHIP_ID starts with its hwID.
SnpReport TurinV5() {
  SnpReport r;
  r.version = 5;
  r.policy = 0x30000 | (1 << 8) | 55;  // ABI 1.55, SMT allowed, bit 17 (reserved, must be 1)
  r.family_id = Bytes(16, 0);
  r.image_id = Bytes(16, 0);
  r.sig_algo = 1;
  r.current_tcb = {1, 2, 3, 4, 6};
  r.plat_info = 0x3;  // SMT and TSME enabled
  r.report_data = Bytes(64, 0xAB);
  r.measurement = Bytes(48, 0x5A);
  r.host_data = Bytes(32, 0);
  r.id_key_digest = Bytes(48, 0);
  r.author_key_digest = Bytes(48, 0);
  r.report_id = Bytes(32, 1);
  r.report_id_ma = Bytes(32, 0xFF);
  r.reported_tcb = {1, 2, 3, 4, 5};
  r.cpuid_fam_id = 0x1A;
  r.cpuid_mod_id = 0x02;
  r.cpuid_step = 1;
  r.chip_id = Bytes(64, 0);
  for (int i = 0; i < 8; ++i) r.chip_id[i] = static_cast<uint8_t>(0x11 + i);
  r.committed_tcb = {1, 2, 3, 4, 5};
  r.current = {1, 55, 9};
  r.committed = {1, 55, 9};
  r.launch_tcb = {1, 2, 3, 4, 5};
  r.launch_mit_vector = 0x10;
  r.current_mit_vector = 0x30;
  r.generation = SnpGeneration::kTurin;
  r.signature_r = Bytes(72, 0);
  r.signature_s = Bytes(72, 0);
  return r;
}

// Signs `r` as the firmware would (P-384, SHA-384, little-endian r and s) and returns it as if
// parsed from those bytes.
SnpReport Sign(SnpReport r, const crypto::Key& key) {
  r.raw.clear();
  Bytes raw = *EncodeSnpReport(r);
  auto sig = crypto::EcdsaSign(
      key, std::string_view(reinterpret_cast<const char*>(raw.data()), kSnpSignedSize));
  EXPECT_TRUE(sig.ok());
  r.signature_r.assign(sig->rbegin() + 48, sig->rend());
  r.signature_s.assign(sig->rbegin(), sig->rbegin() + 48);
  r.signature_r.resize(72, 0);
  r.signature_s.resize(72, 0);
  auto parsed = ParseSnpReport(*EncodeSnpReport(r));
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return *parsed;
}

SnpVerifyOptions SyntheticOptions(const Synthetic& s, const crypto::Certificate& vek) {
  SnpVerifyOptions o;
  o.roots = [cas = s.cas](SnpGeneration) -> Result<AmdCertificates> { return cas; };
  o.extra_certs = {vek};
  return o;
}

TEST(SnpSynthetic, TurinVersion5VerifiesAndRoundTrips) {
  Synthetic s = LoadSynthetic();
  SnpReport r = Sign(TurinV5(), s.key);
  EXPECT_EQ(r.generation, SnpGeneration::kTurin);
  EXPECT_EQ(r.reported_tcb, (SnpTcb{1, 2, 3, 4, 5}));
  EXPECT_EQ(r.launch_mit_vector, 0x10u);
  EXPECT_EQ(r.current_mit_vector, 0x30u);
  auto claims = VerifySnpEvidence({r, std::nullopt}, SyntheticOptions(s, s.vcek), r.report_data,
                                  std::nullopt);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ((*claims)["policy_abi_major"], 1);
  EXPECT_EQ((*claims)["policy_abi_minor"], 55);
  EXPECT_EQ((*claims)["platform_tsme_enabled"], true);
  // JSON carries fmc and the mitigation vectors; the signature still verifies from JSON.
  auto j = SnpEvidenceToJson({r, std::nullopt});
  EXPECT_EQ(j["attestation_report"]["reported_tcb"]["fmc"], 1);
  EXPECT_EQ(j["attestation_report"]["current_mit_vector"], 0x30);
  auto back = SnpEvidenceFromJson(j);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_TRUE(
      VerifySnpEvidence(*back, SyntheticOptions(s, s.vcek), std::nullopt, std::nullopt).ok());
  // AMD's real Turin roots do not accept the synthetic chain.
  SnpVerifyOptions real;
  real.extra_certs = {s.vcek};
  EXPECT_NE(ErrorOf({r, std::nullopt}, real).find("SNP certificate chain"), std::string::npos);
}

TEST(SnpSynthetic, EachCheckNamesItself) {
  Synthetic s = LoadSynthetic();
  auto o = SyntheticOptions(s, s.vcek);
  auto fails = [&](SnpReport r, const SnpVerifyOptions& opts, const std::string& want) {
    std::string err = ErrorOf({Sign(std::move(r), s.key), std::nullopt}, opts);
    EXPECT_NE(err.find(want), std::string::npos) << "want \"" << want << "\", got: " << err;
  };
  SnpReport r = TurinV5();
  r.reported_tcb.fmc = 2;
  r.committed_tcb.fmc = 1;
  fails(r, o, "SNP TCB: reported TCB fmc is 2 but the endorsement key was issued for 1");
  r = TurinV5();
  r.reported_tcb.microcode = 9;
  fails(r, o, "SNP TCB: reported TCB microcode");
  r = TurinV5();
  r.committed_tcb.snp = 5;  // above the current 4
  fails(r, o, "SNP TCB: committed snp 5 is above the current 4");
  r = TurinV5();
  r.chip_id[3] ^= 1;
  fails(r, o, "SNP chip identity");
  r = TurinV5();
  r.key_info = 1 << 2;  // says VLEK
  fails(r, o, "SNP signature: the report says it is signed by a VLEK");
  r = TurinV5();
  r.sig_algo = 2;
  fails(r, o, "SNP signature: algorithm 2");
  r = TurinV5();
  r.vmpl = 2;
  fails(r, o, "SNP VMPL");
  // A masked CHIP_ID claims no chip: a VCEK still verifies it.
  r = TurinV5();
  r.chip_id = Bytes(64, 0);
  EXPECT_EQ(ErrorOf({Sign(r, s.key), std::nullopt}, o), "verified");
  // The VLEK path: KEY_INFO says VLEK, the chain goes through the ASVK, no hwID.
  r = TurinV5();
  r.key_info = 1 << 2;
  r.chip_id = Bytes(64, 0);
  EXPECT_EQ(ErrorOf({Sign(r, s.key), std::nullopt}, SyntheticOptions(s, s.vlek)), "verified");
  // Certificates checked as of a time before they were issued.
  o.at = At("1999-01-01T00:00:00Z");
  fails(TurinV5(), o, "SNP certificate validity");
}

TEST(SnpSynthetic, InitDataBindsHostData) {
  Synthetic s = LoadSynthetic();
  SnpReport r = TurinV5();
  Bytes digest = crypto::Sha256("algorithm = \"sha256\"\nversion = \"0.1.0\"\n");
  r.host_data = digest;
  r = Sign(r, s.key);
  auto o = SyntheticOptions(s, s.vcek);
  EXPECT_TRUE(VerifySnpEvidence({r, std::nullopt}, o, std::nullopt, digest).ok());
  // A SHA-384 init-data digest is truncated to HOST_DATA's 32 bytes, as upstream does.
  Bytes long_digest = digest;
  long_digest.resize(48, 0xEE);
  EXPECT_TRUE(VerifySnpEvidence({r, std::nullopt}, o, std::nullopt, long_digest).ok());
  Bytes other = digest;
  other[31] ^= 1;
  EXPECT_FALSE(VerifySnpEvidence({r, std::nullopt}, o, std::nullopt, other).ok());
}

}  // namespace
}  // namespace coco::attestation

namespace coco::attestation {
namespace {

// ---- Guest side: the attester on a recorded provider -----------------------------------------

TEST(SnpAttester, RecordedReportThroughConfigfsTsmVerifies) {
  Bytes report = ReadData("snp/test-report.bin");
  Bytes report_data(report.begin() + 0x50, report.begin() + 0x90);
  auto tsm = std::make_shared<RecordedTsm>(report, VcekTable());
  SnpAttesterOptions ao;
  ao.tsm = tsm;
  auto attester = NewSnpAttester(ao);
  EXPECT_EQ(attester->tee(), "snp");
  auto ev = attester->GetEvidence(report_data);
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  EXPECT_TRUE(tsm->entries_.empty());  // the entry was removed
  ASSERT_EQ(tsm->removed_.size(), 1u);
  // Upstream's JSON shape with the VCEK in cert_chain; the verifier takes it as it is.
  EXPECT_EQ((*ev)["cert_chain"][0]["cert_type"], "VCEK");
  EXPECT_EQ((*ev)["attestation_report"]["version"], 2);
  auto e = SnpEvidenceFromJson(*ev);
  ASSERT_TRUE(e.ok()) << e.error().message;
  SnpVerifyOptions vo;
  vo.at = At("2026-01-01T00:00:00Z");
  auto claims = VerifySnpEvidence(*e, vo, report_data, std::nullopt);
  EXPECT_TRUE(claims.ok()) << claims.error().message;

  // Report data other than what the report carries: the attester notices.
  Bytes other = report_data;
  other[0] ^= 1;
  auto bad = NewSnpAttester(ao)->GetEvidence(other);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("report data"), std::string::npos);
  // A concurrent writer between our two generation reads: one retry, then it succeeds.
  tsm->race_once_ = true;
  EXPECT_TRUE(NewSnpAttester(ao)->GetEvidence(report_data).ok());
  EXPECT_EQ(tsm->reads_of_generation_, 4);  // two attempts of two reads
  // Another TEE's provider is refused.
  auto tdx = std::make_shared<RecordedTsm>(report, Bytes(), "tdx_guest");
  ao.tsm = tdx;
  bad = NewSnpAttester(ao)->GetEvidence(report_data);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("tdx_guest"), std::string::npos);
  EXPECT_TRUE(tdx->entries_.empty());
}

TEST(SnpAttester, GuestDeviceResponse) {
  Bytes report = ReadData("snp/test-report.bin");
  Bytes resp(0x20, 0);
  resp[4] = kSnpReportSize & 0xFF;
  resp[5] = kSnpReportSize >> 8;
  resp.insert(resp.end(), report.begin(), report.end());
  resp.resize(4000, 0);
  auto r = ReportFromGuestResponse(resp);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, report);
  resp[0] = 0x16;  // a firmware status
  EXPECT_NE(ReportFromGuestResponse(resp).error().message.find("status 22"), std::string::npos);
  resp[0] = 0;
  resp[4] = 0x10;
  EXPECT_FALSE(ReportFromGuestResponse(resp).ok());
  EXPECT_FALSE(ReportFromGuestResponse(Bytes(100, 0)).ok());
}

TEST(Detect, FindsTheTeeOrFallsBackOnlyWhenAllowed) {
  std::string dir = ::testing::TempDir() + "/coco-detect";
  ASSERT_EQ(system(("rm -rf " + dir + " && mkdir -p " + dir + "/dev").c_str()), 0);
  DetectOptions o;
  o.dev_dir = dir + "/dev";
  o.configfs_root = dir + "/no-configfs";
  auto none = DetectAttester(o);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("no TEE found"), std::string::npos);
  o.allow_sample = true;
  EXPECT_EQ((*DetectAttester(o))->tee(), "sample");
  // A TPM, when the caller can make its attester.
  o.tpm = [] { return NewSampleAttester(); };        // stands in for NewTpmAttester
  EXPECT_EQ((*DetectAttester(o))->tee(), "sample");  // no tpmrm0 yet: the fallback
  std::ofstream(dir + "/dev/tpmrm0").put('\0');
  int made = 0;
  o.tpm = [&made] {
    ++made;
    return NewSampleAttester();
  };
  (void)DetectAttester(o);
  EXPECT_EQ(made, 1);
  std::ofstream(dir + "/dev/tdx_guest").put('\0');
  EXPECT_EQ((*DetectAttester(o))->tee(), "tdx");
  std::ofstream(dir + "/dev/sev-guest").put('\0');
  EXPECT_EQ((*DetectAttester(o))->tee(), "snp");
}

}  // namespace
}  // namespace coco::attestation
