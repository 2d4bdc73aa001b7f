// TDX quotes from real machines (upstream's vectors, testdata/SOURCES.md): parsing, upstream's
// claims, and the signature chain, with byte flips that each must break a named check.
#include "attestation/tdx.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace coco::attestation {
namespace {

Bytes ReadData(const std::string& name) {
  std::ifstream f(std::string(COCO_ATTESTATION_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  EXPECT_FALSE(s.empty()) << name;
  return Bytes(s.begin(), s.end());
}

TdxSignatureOptions At2026() {
  TdxSignatureOptions o;
  o.at = *crypto::ParseRfc3339("2026-01-01T00:00:00Z");
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
  late.at = *crypto::ParseRfc3339("2031-01-01T00:00:00Z");
  auto expired = VerifyTdxQuoteSignatures(*q, late);
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(expired.error().message.find("TDX certificate validity"), std::string::npos);
}

TEST(TdxSignatures, EveryFlipNamesItsCheck) {
  Bytes raw = ReadData("tdx/tdx_quote_4.dat");
  auto q = *ParseTdxQuote(raw);
  size_t sig = kTdxHeaderSize + kTdxBody10Size + 4;  // the signature data
  size_t qe_report = sig + 128 + 6;
  size_t auth = qe_report + kSgxReportSize + 64 + 2;
  auto flip = [&](size_t at) {
    Bytes b = raw;
    b[at] ^= 0x01;
    return ErrorOf(b);
  };
  for (size_t i = 0; i < kTdxHeaderSize + kTdxBody10Size; i += 11) {
    std::string err = flip(i);
    // Some header flips make the quote unparsable (version, TEE type): also refused.
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
  Bytes b = raw;
  b[pem] = b[pem] == 'A' ? 'B' : 'A';
  std::string err = ErrorOf(b);
  EXPECT_NE(err.find("TDX PCK"), std::string::npos) << err;
}

}  // namespace
}  // namespace coco::attestation
