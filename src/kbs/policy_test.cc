#include "kbs/policy.h"

#include <gtest/gtest.h>

namespace coco::kbs {
namespace {

nlohmann::json SampleClaims() {
  return {{"svn", "1"},
          {"launch_digest", "abcde"},
          {"platform_version", {{"major", 1}, {"minor", 4}}},
          {"debug", false}};
}

TEST(Tiers, Ar4siRanges) {
  EXPECT_EQ(TierOf(0), "none");
  EXPECT_EQ(TierOf(2), "affirming");
  EXPECT_EQ(TierOf(31), "affirming");
  EXPECT_EQ(TierOf(32), "warning");
  EXPECT_EQ(TierOf(95), "warning");
  EXPECT_EQ(TierOf(96), "contraindicated");
  EXPECT_EQ(StatusOf({{"a", 2}, {"b", 33}, {"c", 0}}), "warning");
  EXPECT_EQ(StatusOf({{"a", 2}, {"b", 97}}), "contraindicated");
  EXPECT_EQ(StatusOf({{"a", 0}}), "none");
}

TEST(DefaultCpu, SampleAffirmingOnlyWithReferenceValues) {
  auto p = CompileAttestationPolicy("default_cpu", DefaultAttestationPolicyText());
  ASSERT_TRUE(p.ok());
  auto none = [](const std::string&) { return nlohmann::json(); };
  auto a = (*p)->Appraise("sample", SampleClaims(), none);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, "contraindicated");
  EXPECT_EQ(a->trust_vector["executables"], 33);
  EXPECT_EQ(a->trust_vector["hardware"], 97);

  nlohmann::json rv = {{"launch_digest", {"abcde"}},
                       {"svn", {"1"}},
                       {"major_version", {1}},
                       {"minimum_minor_version", {4}}};
  auto lookup = [&](const std::string& n) { return rv.value(n, nlohmann::json()); };
  a = (*p)->Appraise("sample", SampleClaims(), lookup);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->status, "affirming");
  EXPECT_EQ(a->trust_vector["executables"], 3);
  EXPECT_EQ(a->trust_vector["hardware"], 2);
  EXPECT_EQ(a->trust_vector["configuration"], 2);

  rv["minimum_minor_version"] = {5};
  a = (*p)->Appraise("sample", SampleClaims(), lookup);
  EXPECT_EQ(a->trust_vector["hardware"], 97);
  rv["minimum_minor_version"] = "3";  // scalar and string forms are accepted
  a = (*p)->Appraise("sample", SampleClaims(), lookup);
  EXPECT_EQ(a->trust_vector["hardware"], 2);
  auto debug = SampleClaims();
  debug["debug"] = true;
  a = (*p)->Appraise("sample", debug, lookup);
  EXPECT_EQ(a->trust_vector["configuration"], 36);
  EXPECT_EQ(a->status, "warning");
}

// The claims the SNP verifier gives for the real Genoa evidence (attestation testdata).
nlohmann::json GenoaClaims() {
  return {{"policy_abi_major", 0},
          {"policy_abi_minor", 0},
          {"policy_smt_allowed", true},
          {"policy_migrate_ma", false},
          {"policy_debug_allowed", false},
          {"policy_single_socket", false},
          {"reported_tcb_bootloader", 10},
          {"reported_tcb_tee", 0},
          {"reported_tcb_snp", 23},
          {"reported_tcb_microcode", 25},
          {"platform_tsme_enabled", false},
          {"platform_smt_enabled", true},
          {"measurement", "6a6519d757e68c2e"},
          {"report_data", "7e73"},
          {"init_data", "00"},
          {"chip_id", "371c"}};
}

TEST(DefaultCpu, SnpGradedAsUpstreamsDefaultPolicy) {
  auto p = CompileAttestationPolicy("default_cpu", DefaultAttestationPolicyText());
  ASSERT_TRUE(p.ok());
  nlohmann::json rv = nlohmann::json::object();
  auto lookup = [&](const std::string& n) { return rv.value(n, nlohmann::json()); };
  // No reference values: only the safe-configuration tier (no debug, no migration agent).
  auto a = (*p)->Appraise("snp", GenoaClaims(), lookup);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->trust_vector["executables"], 33);
  EXPECT_EQ(a->trust_vector["hardware"], 97);
  EXPECT_EQ(a->trust_vector["configuration"], 3);
  EXPECT_EQ(a->status, "contraindicated");

  rv = {{"snp_launch_measurement", {"6a6519d757e68c2e"}},
        {"snp_bootloader", {10}},
        {"snp_microcode", {"25"}},
        {"snp_snp_svn", {23, 24}},
        {"snp_tee_svn", {0}},
        {"snp_smt_enabled", true},
        {"snp_tsme_enabled", false},
        {"snp_guest_abi_major", 0},
        {"snp_guest_abi_minor", 0},
        {"snp_single_socket", false},
        {"snp_smt_allowed", true}};
  a = (*p)->Appraise("snp", GenoaClaims(), lookup);
  EXPECT_EQ(a->trust_vector["executables"], 3);
  EXPECT_EQ(a->trust_vector["hardware"], 2);
  EXPECT_EQ(a->trust_vector["configuration"], 2);
  EXPECT_EQ(a->status, "affirming");

  // An older microcode than the reference values list: hardware is not affirmed.
  auto old = GenoaClaims();
  old["reported_tcb_microcode"] = 24;
  EXPECT_EQ((*p)->Appraise("snp", old, lookup)->trust_vector["hardware"], 97);
  // Debug allowed: no configuration tier is reached, so the default (36) stands.
  auto debug = GenoaClaims();
  debug["policy_debug_allowed"] = true;
  EXPECT_EQ((*p)->Appraise("snp", debug, lookup)->trust_vector["configuration"], 36);
  // A configuration that differs from the reference values but is safe: tier 3.
  rv["snp_tsme_enabled"] = true;
  EXPECT_EQ((*p)->Appraise("snp", GenoaClaims(), lookup)->trust_vector["configuration"], 3);
  // Sample claims are not graded as SNP.
  EXPECT_EQ((*p)->Appraise("sample", GenoaClaims(), lookup)->trust_vector["executables"], 33);
}

TEST(DefaultCpu, TdxGradedAsUpstreamsDefaultPolicy) {
  auto p = CompileAttestationPolicy("default_cpu", DefaultAttestationPolicyText());
  ASSERT_TRUE(p.ok());
  nlohmann::json claims = {
      {"quote",
       {{"header", {{"tee_type", "81000000"}, {"vendor_id", "939a7233f79c4ca9940a0db3957f0607"}}},
        {"body", {{"mr_td", "aa"}, {"rtmr_1", "r1"}, {"rtmr_2", "r2"}, {"xfam", "e7"}}}}},
      {"td_attributes", {{"debug", false}}},
      {"tcb_status", "UpToDate"},
      {"collateral_expiration_status", "0"},
      {"uefi_event_logs",
       {{{"type_name", "EV_EFI_BOOT_SERVICES_APPLICATION"},
         {"details", {{"device_paths", {"VenMedia(X,)", "File(kernel)"}}}},
         {"digests", {{{"alg", "SHA-384"}, {"digest", "k1"}}}}},
        {{"type_name", "EV_EVENT_TAG"},
         {"details", {{"string", "LOADED_IMAGE::LoadOptions"}}},
         {"digests", {{{"alg", "SHA-384"}, {"digest", "p1"}}}}}}}};
  nlohmann::json rv = {{"rtmr_1", {"r1"}}, {"rtmr_2", {"r2"}},   {"mr_td", {"aa"}},
                       {"xfam", {"e7"}},   {"tdvfkernel", "k1"}, {"tdvfkernelparams", {"p1"}}};
  auto lookup = [&](const std::string& n) { return rv.value(n, nlohmann::json()); };
  auto grade = [&](const nlohmann::json& c) {
    return (*p)->Appraise("tdx", c, lookup)->trust_vector;
  };
  auto v = grade(claims);
  EXPECT_EQ(v["executables"], 3);
  EXPECT_EQ(v["hardware"], 2);
  EXPECT_EQ(v["configuration"], 2);
  // Without the kernel event (a grub boot): the RTMRs alone give tier 4.
  auto grub = claims;
  grub["uefi_event_logs"].erase(0);
  EXPECT_EQ(grade(grub)["executables"], 4);
  // Not UpToDate, or expired collateral: hardware is not affirmed.
  auto old = claims;
  old["tcb_status"] = "OutOfDate";
  EXPECT_EQ(grade(old)["hardware"], 97);
  auto expired = claims;
  expired["collateral_expiration_status"] = "1";
  EXPECT_EQ(grade(expired)["hardware"], 97);
  // A debug TD: no configuration tier.
  auto debug = claims;
  debug["td_attributes"]["debug"] = true;
  EXPECT_EQ(grade(debug)["configuration"], 36);
  // Another RTMR 1: no executables tier.
  auto other = claims;
  other["quote"]["body"]["rtmr_1"] = "r9";
  EXPECT_EQ(grade(other)["executables"], 33);
}

TEST(DefaultCpu, TpmGradedAsUpstreamsDefaultPolicy) {
  auto p = CompileAttestationPolicy("default_cpu", DefaultAttestationPolicyText());
  ASSERT_TRUE(p.ok());
  nlohmann::json claims = {{"pcr11", "ab"}, {"ak_public", "AK"}, {"init_data", "00"}};
  nlohmann::json rv = nlohmann::json::object();
  auto lookup = [&](const std::string& n) { return rv.value(n, nlohmann::json()); };
  auto a = (*p)->Appraise("tpm", claims, lookup);
  EXPECT_EQ(a->trust_vector["hardware"], 2);
  EXPECT_EQ(a->trust_vector["executables"], 33);
  EXPECT_EQ(a->trust_vector["configuration"], 0);
  EXPECT_EQ(a->status, "warning");
  rv = {{"tpm_pcr11", {"ab"}}, {"trusted_aks", {"AK"}}};
  a = (*p)->Appraise("tpm", claims, lookup);
  EXPECT_EQ(a->trust_vector["executables"], 3);
  EXPECT_EQ(a->status, "affirming");
  rv["trusted_aks"] = {"another"};
  EXPECT_EQ((*p)->Appraise("tpm", claims, lookup)->trust_vector["executables"], 33);
}

TEST(ResourcePolicies, BuiltinsAndRecognition) {
  nlohmann::json affirming = {{"submods", {{"cpu0", {{"ear.status", "affirming"}}}}}};
  nlohmann::json warning = {{"submods", {{"cpu0", {{"ear.status", "warning"}}}}}};
  auto def = CompileResourcePolicy(AffirmingResourcePolicyText());
  ASSERT_TRUE(def.ok());
  EXPECT_TRUE((*def)->Evaluate(affirming, "a/b/c").allow);
  auto d = (*def)->Evaluate(warning, "a/b/c");
  EXPECT_FALSE(d.allow);
  EXPECT_NE(d.reason.find("warning"), std::string::npos);
  EXPECT_FALSE((*def)->Evaluate(nlohmann::json::object(), "a/b/c").allow);

  // Formatting, comments and := vs = do not matter.
  auto deny = CompileResourcePolicy("# no\npackage   policy\n\ndefault allow := false");
  ASSERT_TRUE(deny.ok());
  EXPECT_FALSE((*deny)->Evaluate(affirming, "a/b/c").allow);
  auto allow = CompileResourcePolicy(AllowAllResourcePolicyText());
  ASSERT_TRUE(allow.ok());
  EXPECT_TRUE((*allow)->Evaluate(nlohmann::json::object(), "a/b/c").allow);

  auto custom = CompileResourcePolicy("package policy\nallow if { input.x == 1 }\n");
  ASSERT_FALSE(custom.ok());
  EXPECT_EQ(custom.error().code, Code::kPolicyInvalid);
  EXPECT_FALSE(CompileAttestationPolicy("other", DefaultAttestationPolicyText()).ok());
}

}  // namespace
}  // namespace coco::kbs
