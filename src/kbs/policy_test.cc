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
  EXPECT_EQ(custom.error().kind, "ParsePolicy");
  EXPECT_FALSE(CompileAttestationPolicy("other", DefaultAttestationPolicyText()).ok());
}

}  // namespace
}  // namespace coco::kbs
