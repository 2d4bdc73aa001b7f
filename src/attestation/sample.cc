#include "attestation/attester.h"
#include "attestation/verifier.h"

namespace coco::attestation {
namespace {

class SampleVerifier final : public Verifier {
 public:
  std::string tee() const override { return "sample"; }

  Result<nlohmann::json> Verify(const VerifierInput& input) const override {
    const auto& ev = input.evidence;
    if (!ev.is_object()) return MakeError(Code::kEvidence, "sample evidence is not a JSON object");
    auto rd = ev.find("report_data");
    if (rd == ev.end() || !rd->is_string())
      return MakeError(Code::kEvidence, "sample evidence has no string field \"report_data\"");
    auto svn = ev.find("svn");
    if (svn == ev.end() || !svn->is_string())
      return MakeError(Code::kEvidence, "sample evidence has no string field \"svn\"");
    auto decoded = Base64Decode(rd->get<std::string>());
    if (!decoded.ok())
      return MakeError(Code::kEvidence, "sample report_data: " + decoded.error().message);
    if (!ConstantTimeEqual(*decoded, input.expected_report_data))
      return MakeError(Code::kEvidence,
                       "sample report_data does not match the digest of the runtime data "
                       "(nonce and tee-pubkey binding failed)");
    nlohmann::json claims = {
        {"svn", *svn},
        {"report_data", *rd},
        {"launch_digest", "abcde"},
        {"platform_version", {{"major", 1}, {"minor", 4}}},
        {"debug", false},
    };
    if (input.expected_init_data) claims["init_data"] = Base64Encode(*input.expected_init_data);
    return claims;
  }
};

class SampleAttester final : public Attester {
 public:
  std::string tee() const override { return "sample"; }
  Result<nlohmann::json> GetEvidence(const Bytes& report_data) const override {
    return nlohmann::json{{"svn", "1"}, {"report_data", Base64Encode(report_data)}};
  }
};

}  // namespace

std::unique_ptr<Verifier> NewSampleVerifier() { return std::make_unique<SampleVerifier>(); }
std::unique_ptr<Attester> NewSampleAttester() { return std::make_unique<SampleAttester>(); }

}  // namespace coco::attestation
