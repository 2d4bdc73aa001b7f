// TDX collateral and TCB status: Intel's real collateral for the platform of tdx_quote_6
// (testdata/SOURCES.md), each broken part refused with its check named, and the grading rules
// on edited copies of the parsed collateral.
#include "attestation/tdx_collateral.h"

#include <gtest/gtest.h>

#include <fstream>

#include "attestation/ccel.h"
#include "attestation/tdx.h"
#include "attestation/testdata_util.h"
#include "base/time.h"

namespace coco::attestation {
namespace {

// Inside the TCB info's and QE identity's validity (2025-10-28 to 2025-11-26).
std::time_t At() { return *ParseRfc3339("2025-11-10T00:00:00Z"); }

TdxCollateralFiles RealFiles() {
  TdxCollateralFiles f;
  f.tcb_info = ToString(ReadData("tdx/collateral/tcb_info_00A06D080000.json"));
  f.qe_identity = ToString(ReadData("tdx/collateral/qe_identity.json"));
  f.tcb_signing_chain = ToString(ReadData("tdx/collateral/tcb_signing_chain.pem"));
  f.pck_crl = ReadData("tdx/collateral/pck_crl_platform.pem");
  f.root_ca_crl = ReadData("tdx/collateral/root_ca_crl.der");
  return f;
}

TdxCollateralOptions Opts() {
  TdxCollateralOptions o;
  o.at = At();
  return o;
}

std::string LoadError(const TdxCollateralFiles& f) {
  auto c = LoadTdxCollateral(f, Opts());
  return c.ok() ? "loaded" : c.error().message;
}

struct Graded {
  TdxQuote quote;
  PckInfo pck;
};
Graded Quote(const char* name) {
  auto q = ParseTdxQuote(ReadData(name));
  EXPECT_TRUE(q.ok());
  TdxSignatureOptions so;
  so.at = At();
  auto pck = VerifyTdxQuoteSignatures(*q, so);
  EXPECT_TRUE(pck.ok()) << pck.error().message;
  return {*q, *pck};
}

TEST(RawJsonMember, ReturnsTheTextAsWritten) {
  std::string j = R"( {"a" : [1, {"b":"}"}], "tcbInfo":{"x":"q\"}","y":[{}]} ,"s":"z"})";
  EXPECT_EQ(*RawJsonMember(j, "tcbInfo"), R"({"x":"q\"}","y":[{}]})");
  EXPECT_EQ(*RawJsonMember(j, "a"), R"([1, {"b":"}"}])");
  EXPECT_EQ(*RawJsonMember(j, "s"), R"("z")");
  EXPECT_EQ(RawJsonMember(j, "nope").error().code, Code::kNotFound);
  EXPECT_FALSE(RawJsonMember("[1]", "a").ok());
  EXPECT_FALSE(RawJsonMember(R"({"a":{"b":1)", "a").ok());
  EXPECT_FALSE(RawJsonMember(R"({"a" 1})", "a").ok());
  // A second copy of the member (a JSON parser would keep the last) is refused.
  auto twice = RawJsonMember(R"({"a":1,"b":2,"a":3})", "a");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message.find("appears twice"), std::string::npos);
  EXPECT_FALSE(RawJsonMember(R"({"a":"unterminated)", "a").ok());
}

TEST(RevocationList, ReadsChecksAndLooksUp) {
  // testdata/synthetic/make.py: a CA, a certificate it revoked, one it did not.
  auto certs = crypto::Certificate::AllFromPem(ToString(ReadData("synthetic/crl_certs.pem")));
  ASSERT_TRUE(certs.ok());
  const auto& ca = (*certs)[0];
  for (const char* f : {"synthetic/crl.der", "synthetic/crl.pem"}) {
    auto crl = crypto::RevocationList::Parse(ReadData(f));
    ASSERT_TRUE(crl.ok()) << f << ": " << crl.error().message;
    EXPECT_TRUE(crl->VerifySignedBy(ca).ok()) << f;
    EXPECT_TRUE(crl->Revokes((*certs)[1])) << f;
    EXPECT_FALSE(crl->Revokes((*certs)[2])) << f;
    EXPECT_EQ(crl->Number(), 42u);
    EXPECT_EQ(crl->ThisUpdate(), *ParseRfc3339("2025-01-01T00:00:00Z"));
    EXPECT_EQ(crl->NextUpdate(), *ParseRfc3339("2025-02-01T00:00:00Z"));
    // Another issuer's key: refused, with the names in the message.
    auto other = crl->VerifySignedBy((*certs)[1]);
    ASSERT_FALSE(other.ok());
    EXPECT_NE(other.error().message.find("is not issued by"), std::string::npos);
  }
  Bytes der = ReadData("synthetic/crl.der");
  der.push_back(0);
  EXPECT_FALSE(crypto::RevocationList::Parse(der).ok());
  Bytes pem = ReadData("synthetic/crl.pem");
  Bytes twice = pem;
  twice.insert(twice.end(), pem.begin(), pem.end());
  EXPECT_FALSE(crypto::RevocationList::Parse(twice).ok());
  Bytes bad_sig = ReadData("synthetic/crl.der");
  bad_sig[bad_sig.size() - 3] ^= 1;
  auto broken = crypto::RevocationList::Parse(bad_sig);
  ASSERT_TRUE(broken.ok());
  EXPECT_FALSE(broken->VerifySignedBy(ca).ok());
}

TEST(TdxCollateral, IntelsCollateralLoads) {
  auto c = LoadTdxCollateral(RealFiles(), Opts());
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(HexEncode(c->fmspc), "00a06d080000");
  EXPECT_EQ(c->tcb_eval_num, 17u);
  EXPECT_EQ(c->tcb_levels.size(), 2u);
  ASSERT_EQ(c->module_identities.size(), 2u);
  EXPECT_EQ(c->module_identities[0].id, "TDX_03");
  EXPECT_EQ(c->qe_isvprodid, 2);
  EXPECT_EQ(c->qe_levels.size(), 1u);
  EXPECT_EQ(c->pck_crl->Number().has_value(), true);
}

TEST(TdxCollateral, GradesTheRealQuote) {
  auto c = LoadTdxCollateral(RealFiles(), Opts());
  ASSERT_TRUE(c.ok()) << c.error().message;
  Graded g = Quote("tdx/tdx_quote_6.dat");
  auto claims = GradeTdxQuote(g.quote, g.pck, *c, At());
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  // The PCK's PCESVN is 11: below the UpToDate level's 13, so the second level (OutOfDate,
  // 2018-01-04) is the platform's. TEE_TCB_SVN 05 03: module TDX_03 at SVN 5, UpToDate.
  EXPECT_EQ((*claims)["tcb_status"], "OutOfDate");
  EXPECT_EQ((*claims)["tcb_date"], "2018-01-04T00:00:00Z");
  EXPECT_EQ((*claims)["advisory_ids"], nlohmann::json::array());
  EXPECT_EQ((*claims)["tcb_eval_num"], 17);
  EXPECT_EQ((*claims)["sgx_type"], "Scalable with Integrity");
  EXPECT_EQ((*claims)["is_smt_enabled"], true);
  EXPECT_EQ((*claims)["platform_provider_id"], HexEncode(g.pck.ppid));
  // SHA-384 of Intel's root public key (04 || x || y).
  EXPECT_EQ((*claims)["root_key_id"],
            "46e403bd34f05a3f2817ab9badcaacc7ffc98e0f261008cd30dae936cace18d5dcf58eef31463613"
            "de1570d516200993");
  // The recorded CRLs are older than the TCB info: the root CA CRL's nextUpdate (2024-04-02) is
  // the earliest expiry, so the collateral counts as expired.
  EXPECT_EQ((*claims)["collateral_expiration_status"], "1");
  EXPECT_EQ((*claims)["earliest_expiration_date"], "2024-04-02T10:22:51Z");
  EXPECT_EQ((*claims)["latest_issue_date"], "2025-10-28T06:45:09Z");
}

TEST(TdxCollateral, EveryBrokenPartNamesItsCheck) {
  TdxCollateralFiles f = RealFiles();
  auto flip_in = [](std::string s, const std::string& marker) {
    size_t at = s.find(marker);
    EXPECT_NE(at, std::string::npos) << marker;
    s[at + marker.size()] ^= 0x01;  // the character after the marker
    return s;
  };
  // A changed level in the signed body; a changed signature.
  TdxCollateralFiles t = f;
  t.tcb_info = flip_in(f.tcb_info, "\"pcesvn\":1");
  EXPECT_NE(LoadError(t).find("TDX TCB info: its signature does not verify"), std::string::npos)
      << LoadError(t);
  t = f;
  t.tcb_info = flip_in(f.tcb_info, "\"signature\":\"");
  EXPECT_NE(LoadError(t).find("TDX TCB info: its signature"), std::string::npos);
  t = f;
  t.qe_identity = flip_in(f.qe_identity, "\"isvprodid\":");  // 2 -> 3
  EXPECT_NE(LoadError(t).find("TDX QE identity: its signature does not verify"), std::string::npos)
      << LoadError(t);
  // Whitespace outside the signed member does not matter; inside it does.
  t = f;
  t.tcb_info = " " + f.tcb_info;
  EXPECT_EQ(LoadError(t), "loaded");
  t = f;
  t.tcb_info.insert(t.tcb_info.find("\"version\""), " ");
  EXPECT_NE(LoadError(t).find("TDX TCB info: its signature"), std::string::npos);
  // A forged second tcbInfo after the signed one: refused, not read.
  t = f;
  t.tcb_info.insert(t.tcb_info.rfind(",\"signature\""),
                    ",\"tcbInfo\":{\"id\":\"TDX\",\"version\":3}");
  EXPECT_NE(LoadError(t).find("appears twice"), std::string::npos) << LoadError(t);
  // The QE identity signed, but swapped in for the TCB info.
  t = f;
  t.tcb_info = f.qe_identity;
  EXPECT_NE(LoadError(t).find("TDX TCB info"), std::string::npos);
  // A signer that is not the TCB signing certificate: the root itself.
  t = f;
  t.tcb_signing_chain = f.tcb_signing_chain.substr(f.tcb_signing_chain.find("-----END"));
  t.tcb_signing_chain = t.tcb_signing_chain.substr(t.tcb_signing_chain.find("-----BEGIN"));
  EXPECT_NE(LoadError(t).find("TDX TCB signing chain: the signer is \"Intel SGX Root CA\""),
            std::string::npos)
      << LoadError(t);
  // The signing certificate, as of a time before it was issued.
  TdxCollateralOptions early;
  early.at = *ParseRfc3339("2025-01-01T00:00:00Z");
  auto e = LoadTdxCollateral(f, early);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("TDX TCB signing chain: certificate"), std::string::npos)
      << e.error().message;
  // A root CRL whose signature is broken, and one that is not a CRL.
  t = f;
  t.root_ca_crl.back() ^= 0x01;
  EXPECT_NE(LoadError(t).find("TDX root CA CRL"), std::string::npos) << LoadError(t);
  t = f;
  t.root_ca_crl = ToBytes("not a CRL");
  EXPECT_NE(LoadError(t).find("TDX root CA CRL: not an X.509 CRL"), std::string::npos);
  // The Processor CA's CRL for a quote whose PCK the Platform CA issued.
  t = f;
  t.pck_crl = ReadData("tdx/collateral/pck_crl_processor.pem");
  auto c = LoadTdxCollateral(t, Opts());
  ASSERT_TRUE(c.ok()) << c.error().message;
  Graded g = Quote("tdx/tdx_quote_6.dat");
  auto r = GradeTdxQuote(g.quote, g.pck, *c, At());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("TDX PCK CRL"), std::string::npos) << r.error().message;
}

TEST(TdxCollateral, RefusesAnotherPlatformsCollateral) {
  auto c = LoadTdxCollateral(RealFiles(), Opts());
  ASSERT_TRUE(c.ok());
  Graded g = Quote("tdx/tdx_quote_4.dat");
  auto r = GradeTdxQuote(g.quote, g.pck, *c, At());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("TDX collateral: the TCB info is for FMSPC 00a06d080000"),
            std::string::npos)
      << r.error().message;
}

// The grading rules, on edited copies of the real collateral.
class TdxGrading : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = LoadTdxCollateral(RealFiles(), Opts());
    ASSERT_TRUE(c.ok());
    c_ = *c;
    g_ = Quote("tdx/tdx_quote_6.dat");
  }
  Result<nlohmann::json> Grade() { return GradeTdxQuote(g_.quote, g_.pck, c_, At()); }
  std::string Status() {
    auto r = Grade();
    return r.ok() ? (*r)["tcb_status"].get<std::string>() : r.error().message;
  }
  TdxCollateral c_;
  Graded g_;
};

TEST_F(TdxGrading, PlatformLevelsAreMatchedHighestFirst) {
  // With the PCK's PCESVN at 13 the first level matches.
  g_.pck.pcesvn = 13;
  EXPECT_EQ(Status(), "UpToDate");
  EXPECT_EQ((*Grade())["tcb_date"], "2024-03-13T00:00:00Z");
  // One SGX component below every level: no level matches.
  g_.pck.tcb_components[4] = 3;
  EXPECT_NE(Status().find("TDX TCB level: no TCB level"), std::string::npos) << Status();
  g_.pck.tcb_components[4] = 4;
  // TEE_TCB_SVN byte 2 below every level's.
  g_.quote.body.tcb_svn[2] = 1;
  EXPECT_NE(Status().find("TDX TCB level: no TCB level"), std::string::npos);
  g_.quote.body.tcb_svn[2] = 2;
  // Bytes 0 and 1 are the module's, graded by its identity: they do not pick platform levels.
  g_.quote.body.tcb_svn[0] = 4;
  EXPECT_EQ(Status(), "UpToDate");
}

TEST_F(TdxGrading, ModuleAndQeStatusesFoldIn) {
  g_.pck.pcesvn = 13;
  c_.module_identities[0].levels[0].status = "OutOfDate";
  c_.module_identities[0].levels[0].advisory_ids = {"INTEL-SA-00001"};
  EXPECT_EQ(Status(), "OutOfDate");
  EXPECT_EQ((*Grade())["advisory_ids"], nlohmann::json::array({"INTEL-SA-00001"}));
  c_.tcb_levels[0].status = "ConfigurationNeeded";
  c_.tcb_levels[0].advisory_ids = {"INTEL-SA-00002", "INTEL-SA-00001"};
  EXPECT_EQ(Status(), "OutOfDateConfigurationNeeded");
  EXPECT_EQ((*Grade())["advisory_ids"],
            nlohmann::json::array({"INTEL-SA-00002", "INTEL-SA-00001"}));
  c_.module_identities[0].levels[0].status = "UpToDate";
  EXPECT_EQ(Status(), "ConfigurationNeeded");
  c_.qe_levels[0].status = "OutOfDate";
  c_.qe_levels[0].date = *ParseRfc3339("2020-02-02T00:00:00Z");
  EXPECT_EQ(Status(), "OutOfDateConfigurationNeeded");
  EXPECT_EQ((*Grade())["tcb_date"], "2020-02-02T00:00:00Z");
  c_.qe_levels[0].status = "Revoked";
  EXPECT_NE(Status().find("TDX TCB status: the platform's TCB level is Revoked"),
            std::string::npos);
}

TEST_F(TdxGrading, ModuleIdentityIsChecked) {
  g_.quote.body.tcb_svn[1] = 7;
  EXPECT_NE(Status().find("TDX TDX module: the TCB info has no identity TDX_07"), std::string::npos)
      << Status();
  g_.quote.body.tcb_svn[1] = 3;
  g_.quote.body.tcb_svn[0] = 2;  // TDX_03's only level is isvsvn 3
  EXPECT_NE(Status().find("no TCB level of TDX_03"), std::string::npos) << Status();
  g_.quote.body.tcb_svn[0] = 5;
  g_.quote.body.mrsigner_seam[0] = 1;
  EXPECT_NE(Status().find("MRSIGNERSEAM"), std::string::npos);
  g_.quote.body.mrsigner_seam[0] = 0;
  g_.quote.body.seam_attributes[0] = 1;
  EXPECT_NE(Status().find("SEAMATTRIBUTES"), std::string::npos);
}

TEST_F(TdxGrading, QuotingEnclaveIsChecked) {
  Bytes& r = g_.quote.qe_report;
  Bytes saved = r;
  r[128] ^= 1;  // MRSIGNER
  EXPECT_NE(Status().find("TDX QE identity: the QE report's MRSIGNER"), std::string::npos);
  r = saved;
  r[256] ^= 1;  // ISVPRODID
  EXPECT_NE(Status().find("ISVPRODID"), std::string::npos);
  r = saved;
  r[48] ^= 0x02;  // an attribute bit the mask covers
  EXPECT_NE(Status().find("attributes"), std::string::npos);
  r = saved;
  r[258] = 3;  // ISVSVN below the only level (4)
  r[259] = 0;
  EXPECT_NE(Status().find("no TCB level matches the QE's ISVSVN 3"), std::string::npos);
}

TEST(TdxCollateral, DirectorySourceFindsAndCachesFiles) {
  std::string dir = std::string(COCO_ATTESTATION_TESTDATA) + "/tdx/collateral";
  auto src = NewTdxCollateralDir(dir, Opts());
  Graded g = Quote("tdx/tdx_quote_6.dat");
  auto a = src->Get(g.pck.fmspc, true);
  ASSERT_TRUE(a.ok()) << a.error().message;
  auto b = src->Get(g.pck.fmspc, true);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->get(), b->get());  // parsed and checked once
  // Another platform: there is no TCB info for it (nor a tcb_info.json for any).
  auto other = src->Get(Quote("tdx/tdx_quote_4.dat").pck.fmspc, true);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("has no tcb_info_50806F000000.json"), std::string::npos)
      << other.error().message;
  auto missing = NewTdxCollateralDir("/nonexistent", Opts())->Get(g.pck.fmspc, true);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("tcb_info_00A06D080000.json"), std::string::npos)
      << missing.error().message;
}

TEST(TdxEvidence, VerifiesEndToEnd) {
  TdxVerifyOptions o;
  o.at = At();
  o.collateral =
      NewTdxCollateralDir(std::string(COCO_ATTESTATION_TESTDATA) + "/tdx/collateral", Opts());
  TdxEvidence e;
  e.quote = ReadData("tdx/tdx_quote_6.dat");
  Graded g = Quote("tdx/tdx_quote_6.dat");
  Bytes report_data = g.quote.body.report_data;
  Bytes init_data(g.quote.body.mr_config_id.begin(), g.quote.body.mr_config_id.begin() + 32);
  auto claims = VerifyTdxEvidence(e, o, report_data, std::nullopt);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ((*claims)["tcb_status"], "OutOfDate");
  EXPECT_EQ((*claims)["quote"]["header"]["tee_type"], "81000000");
  EXPECT_FALSE(claims->contains("uefi_event_logs"));
  // The round trip through upstream's JSON form.
  auto back = TdxEvidenceFromJson(TdxEvidenceToJson(e));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->quote, e.quote);

  Bytes other = report_data;
  other[0] ^= 1;
  auto r = VerifyTdxEvidence(e, o, other, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("TDX report data"), std::string::npos);
  Bytes init = ToBytes("an init-data digest of 32 bytes!");
  r = VerifyTdxEvidence(e, o, std::nullopt, init);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("TDX init data: MRCONFIGID"), std::string::npos);
  // An event log that is not this TD's.
  e.cc_eventlog = ReadData("tdx/CCEL_data");
  r = VerifyTdxEvidence(e, o, std::nullopt, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("TDX event log: replaying it gives RTMR0"), std::string::npos)
      << r.error().message;
  // No collateral configured.
  e.cc_eventlog.reset();
  o.collateral.reset();
  r = VerifyTdxEvidence(e, o, std::nullopt, std::nullopt);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("TDX collateral: none configured"), std::string::npos);
}

TEST(TdxAttester, RecordedQuoteThroughConfigfsTsmVerifies) {
  Bytes quote = ReadData("tdx/tdx_quote_6.dat");
  Graded g = Quote("tdx/tdx_quote_6.dat");
  std::string dir = ::testing::TempDir() + "/coco-tdx-attester";
  ASSERT_EQ(system(("rm -rf " + dir + " && mkdir -p " + dir).c_str()), 0);
  auto tsm = std::make_shared<RecordedTsm>(quote, Bytes(), "tdx_guest");
  TdxAttesterOptions ao;
  ao.tsm = tsm;
  ao.ccel_path = dir + "/CCEL";  // absent: no event log is sent
  auto attester = NewTdxAttester(ao);
  EXPECT_EQ(attester->tee(), "tdx");
  auto ev = attester->GetEvidence(g.quote.body.report_data);
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  EXPECT_TRUE(tsm->entries_.empty());  // the entry was removed
  EXPECT_TRUE((*ev)["cc_eventlog"].is_null());
  TdxVerifyOptions o;
  o.at = At();
  o.collateral =
      NewTdxCollateralDir(std::string(COCO_ATTESTATION_TESTDATA) + "/tdx/collateral", Opts());
  auto e = TdxEvidenceFromJson(*ev);
  ASSERT_TRUE(e.ok());
  auto claims = VerifyTdxEvidence(*e, o, g.quote.body.report_data, std::nullopt);
  EXPECT_TRUE(claims.ok()) << claims.error().message;
  // With the firmware's event log present, it is sent along.
  std::ofstream(dir + "/CCEL", std::ios::binary).write("log", 3);
  ev = attester->GetEvidence(g.quote.body.report_data);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ((*ev)["cc_eventlog"], Base64Encode(ToBytes("log")));
  // Other report data than the quote carries; another provider.
  Bytes other = g.quote.body.report_data;
  other[0] ^= 1;
  auto bad = attester->GetEvidence(other);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("report data"), std::string::npos);
  ao.tsm = std::make_shared<RecordedTsm>(quote, Bytes(), "sev_guest");
  bad = NewTdxAttester(ao)->GetEvidence(g.quote.body.report_data);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("not tdx_guest"), std::string::npos);
}

}  // namespace
}  // namespace coco::attestation
