// TDX evidence end to end (broker side) and the TDX attester (guest side).
#include <algorithm>

#include "attestation/ccel.h"
#include "attestation/runtime_data.h"
#include "attestation/tdx.h"
#include "attestation/tdx_collateral.h"
#include "base/file.h"

namespace coco::attestation {

namespace {

Error Fail(const std::string& check, const std::string& why) {
  return MakeError(Code::kEvidence, "TDX " + check + ": " + why);
}

class TdxVerifier final : public Verifier {
 public:
  explicit TdxVerifier(TdxVerifyOptions opts) : opts_(std::move(opts)) {}
  std::string tee() const override { return "tdx"; }
  Result<nlohmann::json> Verify(const VerifierInput& input) const override {
    COCO_ASSIGN_OR_RETURN(TdxEvidence e, TdxEvidenceFromJson(input.evidence));
    return VerifyTdxEvidence(e, opts_, input.expected_report_data, input.expected_init_data);
  }

 private:
  TdxVerifyOptions opts_;
};

class TdxAttester final : public Attester {
 public:
  explicit TdxAttester(TdxAttesterOptions o) : o_(std::move(o)) {}
  std::string tee() const override { return "tdx"; }

  Result<nlohmann::json> GetEvidence(const Bytes& report_data) const override {
    if (report_data.size() > 64)
      return MakeError(Code::kInvalidArgument, "TDX report data is at most 64 bytes");
    Bytes data = FitToField(report_data, 64);
    std::shared_ptr<TsmFs> fs =
        o_.tsm ? o_.tsm : std::shared_ptr<TsmFs>(NewConfigfsTsm(o_.configfs_root));
    if (!o_.tsm && !ConfigfsTsmAvailable(o_.configfs_root))
      return MakeError(
          Code::kFailedPrecondition,
          "TDX quotes need configfs-tsm (" + o_.configfs_root + "); this kernel does not offer it");
    COCO_ASSIGN_OR_RETURN(TsmReport r, GetTsmReport(*fs, data));
    if (r.provider != "tdx_guest")
      return MakeError(Code::kFailedPrecondition,
                       "configfs-tsm provider is \"" + r.provider + "\", not tdx_guest");
    TdxEvidence e;
    e.quote = std::move(r.outblob);
    COCO_ASSIGN_OR_RETURN(TdxQuote q, ParseTdxQuote(e.quote));
    if (q.body.report_data != data)
      return MakeError(Code::kIo, "the TD quote does not carry the report data asked for");
    if (auto log = ReadFile(o_.ccel_path); log.ok() && !log->empty())
      e.cc_eventlog = Bytes(log->begin(), log->end());
    return TdxEvidenceToJson(e);
  }

 private:
  TdxAttesterOptions o_;
};

}  // namespace

Result<TdxEvidence> TdxEvidenceFromJson(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("quote") || !j["quote"].is_string())
    return Fail("evidence", "expected {\"quote\": base64, \"cc_eventlog\": base64 or null}");
  TdxEvidence e;
  auto q = Base64Decode(j["quote"].get<std::string>());
  if (!q.ok()) return Fail("evidence", "\"quote\" is not base64");
  e.quote = std::move(*q);
  if (j.contains("cc_eventlog") && !j["cc_eventlog"].is_null()) {
    if (!j["cc_eventlog"].is_string()) return Fail("evidence", "\"cc_eventlog\" is not a string");
    auto log = Base64Decode(j["cc_eventlog"].get<std::string>());
    if (!log.ok()) return Fail("evidence", "\"cc_eventlog\" is not base64");
    e.cc_eventlog = std::move(*log);
  }
  return e;
}

nlohmann::json TdxEvidenceToJson(const TdxEvidence& e) {
  nlohmann::json j = {{"quote", Base64Encode(e.quote)}, {"cc_eventlog", nullptr}};
  if (e.cc_eventlog) j["cc_eventlog"] = Base64Encode(*e.cc_eventlog);
  return j;
}

Result<nlohmann::json> VerifyTdxEvidence(const TdxEvidence& e, const TdxVerifyOptions& opts,
                                         const std::optional<Bytes>& expected_report_data,
                                         const std::optional<Bytes>& expected_init_data) {
  if (!opts.collateral)
    return Fail("collateral",
                "none configured: give a collateral directory or a PCCS (--collateral or --pccs; "
                "[tdx] collateral_dir or pccs_url in the broker's config)");
  std::time_t at = opts.at ? *opts.at : std::time(nullptr);
  COCO_ASSIGN_OR_RETURN(TdxQuote q, ParseTdxQuote(e.quote));
  TdxSignatureOptions so;
  so.at = at;
  so.root = opts.root;
  COCO_ASSIGN_OR_RETURN(PckInfo pck, VerifyTdxQuoteSignatures(q, so));
  COCO_ASSIGN_OR_RETURN(auto collateral, opts.collateral->Get(pck.fmspc, pck.platform_ca));
  COCO_ASSIGN_OR_RETURN(nlohmann::json tcb, GradeTdxQuote(q, pck, *collateral, at));

  if (expected_report_data &&
      !ConstantTimeEqual(FitToField(*expected_report_data, 64), q.body.report_data))
    return Fail("report data",
                "REPORT_DATA is not the digest of the runtime data (nonce and key) this "
                "attestation was asked to bind");
  if (expected_init_data &&
      !ConstantTimeEqual(FitToField(*expected_init_data, 48), q.body.mr_config_id))
    return Fail("init data", "MRCONFIGID is not the digest of the init-data that was sent");

  nlohmann::json claims = TdxClaims(q, pck);
  if (e.cc_eventlog) {
    auto events = ParseCcel(*e.cc_eventlog);
    if (!events.ok()) return Fail("event log", events.error().message);
    for (uint32_t i = 0; i < 4; ++i) {
      COCO_ASSIGN_OR_RETURN(Bytes replayed, ReplayCcel(*events, i + 1));
      if (!ConstantTimeEqual(replayed, q.body.rtmr[i]))
        return Fail("event log", "replaying it gives RTMR" + std::to_string(i) + " " +
                                     HexEncode(replayed) + ", the quote has " +
                                     HexEncode(q.body.rtmr[i]));
    }
    auto log_claims = CcelClaims(*events);
    if (!log_claims.ok()) return Fail("event log", log_claims.error().message);
    claims["uefi_event_logs"] = std::move(*log_claims);
  }
  claims.update(tcb);
  return claims;
}

std::unique_ptr<Verifier> NewTdxVerifier(TdxVerifyOptions opts) {
  return std::make_unique<TdxVerifier>(std::move(opts));
}

std::unique_ptr<Attester> NewTdxAttester(TdxAttesterOptions opts) {
  return std::make_unique<TdxAttester>(std::move(opts));
}

}  // namespace coco::attestation
