// TDX quotes from real machines (upstream's vectors, testdata/SOURCES.md): parsing, upstream's
// claims, and the signature chain, with byte flips that each must break a named check.
#include "attestation/tdx.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "attestation/ccel.h"
#include "attestation/testdata_util.h"
#include "base/time.h"

namespace coco::attestation {
namespace {

TdxSignatureOptions At2026() {
  TdxSignatureOptions o;
  o.at = *ParseRfc3339("2026-01-01T00:00:00Z");
  return o;
}

std::string ErrorOf(const Bytes& raw) {
  auto q = ParseTdxQuote(raw);
  if (!q.ok()) return q.error().message;
  auto v = VerifyTdxQuoteSignatures(*q, At2026());
  return v.ok() ? "verified" : v.error().message;
}

TEST(TdxQuote, ParsesVersions4And5) {
  auto q4 = ParseTdxQuote(ReadData("tdx/tdx_quote_4.dat"));
  ASSERT_TRUE(q4.ok()) << q4.error().message;
  EXPECT_EQ(q4->version, 4);
  EXPECT_FALSE(q4->body_type.has_value());
  EXPECT_FALSE(q4->body.mr_servicetd.has_value());
  EXPECT_EQ(HexEncode(q4->vendor_id()), "939a7233f79c4ca9940a0db3957f0607");
  EXPECT_EQ(q4->signed_part.size(), kTdxHeaderSize + kTdxBody10Size);
  EXPECT_EQ(q4->qe_auth_data.size(), 32u);
  auto q5 = ParseTdxQuote(ReadData("tdx/tdx_quote_5.dat"));
  ASSERT_TRUE(q5.ok()) << q5.error().message;
  EXPECT_EQ(q5->version, 5);
  EXPECT_EQ(q5->body_type, 3);
  EXPECT_EQ(q5->body_size, kTdxBody15Size);
  ASSERT_TRUE(q5->body.mr_servicetd.has_value());
  // tdx_quote_6 is a version 4 quote followed by zero padding: accepted.
  auto q6 = ParseTdxQuote(ReadData("tdx/tdx_quote_6.dat"));
  ASSERT_TRUE(q6.ok()) << q6.error().message;
  EXPECT_EQ(q6->version, 4);
}

TEST(TdxQuote, RefusesBadInput) {
  Bytes q = ReadData("tdx/tdx_quote_4.dat");
  EXPECT_NE(ParseTdxQuote(Bytes(q.begin(), q.begin() + 100)).error().message.find("past the end"),
            std::string::npos);
  Bytes v3 = q;
  v3[0] = 3;
  EXPECT_NE(ParseTdxQuote(v3).error().message.find("version 3"), std::string::npos);
  Bytes sgx = q;
  sgx[4] = 0;
  EXPECT_NE(ParseTdxQuote(sgx).error().message.find("not TDX"), std::string::npos);
  Bytes trailing = q;
  trailing.push_back(1);
  EXPECT_NE(ParseTdxQuote(trailing).error().message.find("non-zero"), std::string::npos);
  Bytes huge = q;
  huge[kTdxHeaderSize + kTdxBody10Size + 3] = 0x7F;  // signature data length
  EXPECT_FALSE(ParseTdxQuote(huge).ok());
}

TEST(TdxQuote, ClaimsAreUpstreams) {
  auto q = ParseTdxQuote(ReadData("tdx/tdx_quote_4.dat"));
  ASSERT_TRUE(q.ok());
  auto pck = VerifyTdxQuoteSignatures(*q, At2026());
  ASSERT_TRUE(pck.ok()) << pck.error().message;
  nlohmann::json claims = TdxClaims(*q, *pck);
  auto expected = nlohmann::json::parse(ToString(ReadData("tdx/parse_tdx_claims_expected.json")));
  // Everything but the event log (parsed from CCEL_data, not part of the quote).
  expected.erase("uefi_event_logs");
  EXPECT_EQ(claims, expected) << claims.dump(1);
}

TEST(TdxSignatures, RealQuotesVerify) {
  for (const char* f : {"tdx/tdx_quote_4.dat", "tdx/tdx_quote_5.dat", "tdx/tdx_quote_6.dat"}) {
    EXPECT_EQ(ErrorOf(ReadData(f)), "verified") << f;
  }
  auto q = ParseTdxQuote(ReadData("tdx/tdx_quote_4.dat"));
  auto pck = VerifyTdxQuoteSignatures(*q, At2026());
  ASSERT_TRUE(pck.ok());
  EXPECT_TRUE(pck->platform_ca);
  EXPECT_EQ(pck->fmspc.size(), 6u);
  EXPECT_EQ(HexEncode(*pck->platform_instance_id), "021ac64d355ba904e2d5948d228d5482");
  EXPECT_TRUE(pck->smt_enabled.has_value());
  auto root = IntelSgxRootCa();
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(*root->SubjectCommonName(), "Intel SGX Root CA");
  EXPECT_EQ(HexEncode(crypto::Hash(crypto::HashAlg::kSha256, root->der())),
            "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
  // Certificates checked as of a time after the PCK certificate expired.
  TdxSignatureOptions late;
  late.at = *ParseRfc3339("2031-01-01T00:00:00Z");
  auto expired = VerifyTdxQuoteSignatures(*q, late);
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(expired.error().message.find("TDX certificate validity"), std::string::npos);
}

TEST(TdxSignatures, EveryFlipNamesItsCheck) {
  for (const char* f : {"tdx/tdx_quote_4.dat", "tdx/tdx_quote_5.dat", "tdx/tdx_quote_6.dat"}) {
    SCOPED_TRACE(f);
    Bytes raw = ReadData(f);
    auto q = *ParseTdxQuote(raw);
    size_t sig = q.signed_part.size() + 4;  // the signature data, after its length
    size_t qe_report = sig + 128 + 6;
    size_t auth = qe_report + kSgxReportSize + 64 + 2;
    auto flip = [&](size_t at) {
      Bytes b = raw;
      b[at] ^= 0x01;
      return ErrorOf(b);
    };
    for (size_t i = 0; i < q.signed_part.size(); i += 11) {
      std::string err = flip(i);
      // Some header flips make the quote unparsable (version, TEE type, body type): refused.
      EXPECT_TRUE(err.find("TDX signature") != std::string::npos ||
                  err.find("TDX quote") != std::string::npos)
          << "byte " << i << ": " << err;
    }
    EXPECT_NE(flip(sig + 5).find("TDX signature"), std::string::npos);       // r
    EXPECT_NE(flip(sig + 64 + 5).find("TDX QE report"), std::string::npos);  // attestation key
    EXPECT_NE(flip(qe_report + 10).find("TDX QE report"), std::string::npos);
    EXPECT_NE(flip(qe_report + kSgxReportSize + 3).find("TDX QE report"), std::string::npos);
    EXPECT_NE(flip(auth + 1).find("TDX QE report: its report data"), std::string::npos);
    // Inside the PEM chain: a base64 character swapped breaks a certificate.
    size_t pem = raw.size() - 200;
    while (raw[pem] == 0) --pem;  // tdx_quote_6 ends in zero padding
    pem -= 100;
    Bytes b = raw;
    b[pem] = b[pem] == 'A' ? 'B' : 'A';
    std::string err = ErrorOf(b);
    EXPECT_NE(err.find("TDX PCK"), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace coco::attestation

namespace coco::attestation {
namespace {

// Upstream's golden for a log: its uefi_event_logs.
nlohmann::json Golden(const std::string& name) {
  auto j = nlohmann::json::parse(ToString(ReadData(name)));
  return j.is_object() ? j["uefi_event_logs"] : j;
}

TEST(Ccel, ClaimsEqualUpstreamsGoldens) {
  for (const auto& [log, golden] :
       {std::pair{"tdx/CCEL_data", "ccel/CCEL_data_out.json"},
        std::pair{"ccel/CCEL_data_ovmf", "ccel/CCEL_data_ovmf_out.json"},
        std::pair{"ccel/CCEL_data_grub", "ccel/CCEL_data_grub_out.json"}}) {
    auto events = ParseCcel(ReadData(log));
    ASSERT_TRUE(events.ok()) << log << ": " << events.error().message;
    auto claims = CcelClaims(*events);
    ASSERT_TRUE(claims.ok()) << log << ": " << claims.error().message;
    nlohmann::json want = Golden(golden);
    ASSERT_EQ(claims->size(), want.size()) << log;
    for (size_t i = 0; i < want.size(); ++i)
      EXPECT_EQ((*claims)[i], want[i]) << log << " event " << i;
  }
  // And the claims upstream gives for tdx_quote_4 with CCEL_data.
  auto expected = nlohmann::json::parse(ToString(ReadData("tdx/parse_tdx_claims_expected.json")));
  EXPECT_EQ(*CcelClaims(*ParseCcel(ReadData("tdx/CCEL_data"))), expected["uefi_event_logs"]);
}

TEST(Ccel, ReplaysIntoRtmrs) {
  struct Case {
    const char* log;
    const char* rtmr[4];
  };
  const std::string zero(96, '0');
  for (const Case& c :
       {Case{"tdx/CCEL_data",
             {"2dc712306a963eadb894ad47dbaa17df44814151555aee11cbb843becca88950ffd079664902e6f2"
              "2c66f7c8213543f4",
              "0fa3be56af61208bbd179dc7b124988eb929319154663c539d6f46445ecac2fec287075047ff7bd1"
              "922829fec28cd3cf",
              nullptr, nullptr}},
        Case{"ccel/CCEL_data_ovmf",
             {"8566f998798db09443b244c62de9a3041fb02e2e6936c4396d784bba2e90177329ec5aba3bb48440"
              "4f2ab9cc90abe193",
              "775b9f6bfe99f8a31396f0d0218e67ffa796d3b96ccf961cbb0deba48c79c00f082cda1a5567c1c1"
              "6305f1fc210c13c6",
              "94eaf7a7bf398ed8d888c91057ae0261802e4f3df084213a76ca7f0b5055ac9d2241de43cd58d9e8"
              "b49c503bbf25f34a",
              nullptr}},
        Case{"ccel/CCEL_data_grub",
             {"cec0a104f691f60da2387fea3c2de00c4ac035e2bb479ff02edcce69039d9e9907f0b3e55031da3d"
              "c7038f423adebd79",
              "6c289e0c62182d41ebe97bdbc9872d10998a08eaa86adcdc684001a363207ee72942c7522cdf00a4"
              "bbc3d784bed7b670",
              "08919d017ba0e52cd6d966351c7de16fe76c1d3d3d3da4554239e4c7d16cb8b82a94e7eaea3a0e6e"
              "18eb690b999fd31e",
              nullptr}}}) {
    auto events = ParseCcel(ReadData(c.log));
    ASSERT_TRUE(events.ok()) << c.log;
    for (uint32_t i = 0; i < 4; ++i) {
      auto reg = ReplayCcel(*events, i + 1);
      ASSERT_TRUE(reg.ok());
      EXPECT_EQ(HexEncode(*reg), c.rtmr[i] ? c.rtmr[i] : zero) << c.log << " RTMR" << i;
    }
  }
}

TEST(Ccel, RefusesBrokenLogs) {
  Bytes log = ReadData("tdx/CCEL_data");
  EXPECT_FALSE(ParseCcel(Bytes(log.begin(), log.begin() + 30)).ok());
  Bytes bad_type = log;
  // The first event after the header: its type set to a value no TCG spec defines.
  size_t header = 32 + (bad_type[28] | bad_type[29] << 8 | bad_type[30] << 16);
  bad_type[header + 4] = 0x77;
  auto r = ParseCcel(bad_type);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("unknown event type"), std::string::npos);
  Bytes huge = log;
  huge[header + 8 + 4 + 2 + 48 + 3] = 0x7F;  // the first event's data size
  EXPECT_FALSE(ParseCcel(huge).ok());
}

}  // namespace
}  // namespace coco::attestation
