// TPM quotes: upstream's recorded evidence (testdata/SOURCES.md) verifies with its claims, and
// each broken part is refused with the check named. Real quotes from swtpm are verified by
// tests/e2e/tpm_test.py.
#include "attestation/tpm.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "attestation/testdata_util.h"
#include "crypto/crypto.h"

namespace coco::attestation {
namespace {

nlohmann::json Evidence() {
  return nlohmann::json::parse(ToString(ReadData("tpm/tpm_evidence.json")));
}

std::string ErrorOf(const nlohmann::json& j, const std::optional<Bytes>& rd = std::nullopt,
                    const std::optional<Bytes>& init = std::nullopt,
                    const TpmVerifyOptions& o = {}) {
  auto e = TpmEvidenceFromJson(j);
  if (!e.ok()) return e.error().message;
  auto c = VerifyTpmEvidence(*e, o, rd, init);
  return c.ok() ? "verified" : c.error().message;
}

TEST(TpmQuote, ParsesRecordedEvidence) {
  auto e = TpmEvidenceFromJson(Evidence());
  ASSERT_TRUE(e.ok()) << e.error().message;
  auto q = ParseTpmsAttest(e->message);
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->extra_data.size(), 64u);
  ASSERT_EQ(q->selections.size(), 1u);
  EXPECT_EQ(q->selections[0].hash, kTpmAlgSha256);
  for (size_t i = 0; i < 24; ++i) EXPECT_TRUE(q->selections[0].Selects(i));
  auto s = ParseTpmtSignature(e->signature);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->alg, kTpmAlgRsassa);
  EXPECT_EQ(s->rsa.size(), 256u);
  // JSON round trip.
  EXPECT_EQ(TpmEvidenceToJson(*e), Evidence());
}

TEST(TpmVerify, RecordedEvidenceVerifiesWithItsClaims) {
  auto e = *TpmEvidenceFromJson(Evidence());
  auto q = *ParseTpmsAttest(e.message);
  Bytes report_data(q.extra_data.begin(), q.extra_data.begin() + 48);  // a SHA-384 digest
  auto claims = VerifyTpmEvidence(e, {}, report_data, std::nullopt);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ((*claims)["report_data"], HexEncode(q.extra_data));
  EXPECT_EQ((*claims)["init_data"], std::string(64, '0'));
  EXPECT_EQ((*claims)["ak_public"], Evidence()["ak_public"]);
  EXPECT_EQ((*claims)["pcr23"], Evidence()["tpm_quote"]["pcrs"][23]);
  EXPECT_EQ(claims->size(), 27u);
  // Through the Verifier interface.
  auto v = NewTpmVerifier({});
  EXPECT_EQ(v->tee(), "tpm");
  EXPECT_TRUE(v->Verify({Evidence(), report_data, std::nullopt}).ok());
}

TEST(TpmVerify, EachBrokenPartIsNamed) {
  auto e = *TpmEvidenceFromJson(Evidence());
  auto q = *ParseTpmsAttest(e.message);
  Bytes rd(q.extra_data.begin(), q.extra_data.begin() + 48);
  auto with = [&](const TpmEvidence& x) { return TpmEvidenceToJson(x); };
  for (size_t i = 0; i < e.message.size(); i += 13) {
    TpmEvidence b = e;
    b.message[i] ^= 1;
    EXPECT_NE(ErrorOf(with(b), rd).find("TPM signature"), std::string::npos) << "byte " << i;
  }
  TpmEvidence b = e;
  b.signature[100] ^= 1;
  EXPECT_NE(ErrorOf(with(b), rd).find("TPM signature"), std::string::npos);
  b = e;
  b.pcrs[11][0] ^= 1;
  EXPECT_NE(ErrorOf(with(b), rd).find("TPM PCRs"), std::string::npos);
  b = e;
  b.ak_public[40] ^= 1;
  EXPECT_NE(ErrorOf(with(b), rd), "verified");
  Bytes other = rd;
  other[0] ^= 1;
  EXPECT_NE(ErrorOf(Evidence(), other).find("TPM report data"), std::string::npos);
  // PCR 8 is zero: no init-data digest was extended.
  EXPECT_NE(ErrorOf(Evidence(), rd, Bytes(32, 1)).find("TPM init-data"), std::string::npos);
  // A list of trusted attestation keys that does not hold this one.
  TpmVerifyOptions o;
  o.trusted_aks = {Bytes(10, 1)};
  EXPECT_NE(ErrorOf(Evidence(), rd, std::nullopt, o).find("TPM attestation key"),
            std::string::npos);
  o.trusted_aks.push_back(e.ak_public);
  EXPECT_EQ(ErrorOf(Evidence(), rd, std::nullopt, o), "verified");
  // Malformed JSON forms.
  auto j = Evidence();
  j["tpm_quote"]["pcrs"].erase(0);
  EXPECT_NE(ErrorOf(j).find("24 PCR"), std::string::npos);
  j = Evidence();
  j["tpm_quote"]["pcrs"][0] = "zz";
  EXPECT_NE(ErrorOf(j).find("hex"), std::string::npos);
}

TEST(TpmVerify, InitDataPcr) {
  // PCR 8 after one extend of a SHA-256 init-data digest.
  Bytes d = crypto::Sha256("init-data");
  Bytes m(32, 0);
  m.insert(m.end(), d.begin(), d.end());
  EXPECT_EQ(TpmInitDataPcr(d), crypto::Hash(crypto::HashAlg::kSha256, m));
}

}  // namespace
}  // namespace coco::attestation
