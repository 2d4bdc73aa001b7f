#include "kbs/broker.h"

#include <gtest/gtest.h>

#include "kbs/broker_test_fixture.h"

namespace coco::kbs {
namespace {


TEST_F(BrokerTest, FullFlowReleasesEncryptedResource) {
  ProvisionSampleReferenceValues();
  ASSERT_EQ(AdminCall("POST", "/kbs/v0/resource/default/key/1", "top secret").status, 200);
  Flow f = Auth();
  Response att = Call("POST", "/kbs/v0/attest", AttestBody(f, f.nonce), {{"cookie", f.cookie}});
  ASSERT_EQ(att.status, 200) << att.body;
  std::string token = nlohmann::json::parse(att.body)["token"];
  auto decoded = jose::DecodeJwt(token);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->header["alg"], "ES256");
  const auto& cpu0 = decoded->claims["submods"]["cpu0"];
  EXPECT_EQ(cpu0["ear.status"], "affirming");
  EXPECT_EQ(cpu0["ear.veraison.annotated-evidence"]["runtime_data_claims"]["tee-pubkey"], f.jwk);
  EXPECT_EQ(cpu0["ear.veraison.annotated-evidence"]["sample"]["launch_digest"], "abcde");

  Response res = Call("GET", "/kbs/v0/resource/default/key/1", "", {{"cookie", f.cookie}});
  ASSERT_EQ(res.status, 200) << res.body;
  auto plain = jose::JweDecrypt(nlohmann::json::parse(res.body), *f.key);
  ASSERT_TRUE(plain.ok()) << plain.error().message;
  EXPECT_EQ(ToString(plain->bytes()), "top secret");

  // Bearer token alone works too.
  res = Call("GET", "/kbs/v0/resource/default/key/1", "", {{"authorization", "Bearer " + token}});
  ASSERT_EQ(res.status, 200) << res.body;
  // Token expiry is enforced for cookie sessions and Bearer tokens.
  now_ += 61;
  res = Call("GET", "/kbs/v0/resource/default/key/1", "", {{"authorization", "Bearer " + token}});
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(Variant(res), "TokenVerifierError");
}

TEST_F(BrokerTest, ContraindicatedWithoutReferenceValuesIsDenied) {
  ASSERT_EQ(AdminCall("POST", "/kbs/v0/resource/default/key/1", "s").status, 200);
  Flow f = Auth();
  ASSERT_EQ(Call("POST", "/kbs/v0/attest", AttestBody(f, f.nonce), {{"cookie", f.cookie}}).status,
            200);
  Response res = Call("GET", "/kbs/v0/resource/default/key/1", "", {{"cookie", f.cookie}});
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(Variant(res), "PolicyDeny");
  EXPECT_NE(res.body.find("contraindicated"), std::string::npos);
}

TEST_F(BrokerTest, ProtocolRefusals) {
  Response r =
      Call("POST", "/kbs/v0/auth", R"({"version":"0.1.1","tee":"sample","extra-params":""})");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Variant(r), "AttestationError");
  EXPECT_NE(r.body.find("0.1.1"), std::string::npos);
  EXPECT_NE(r.body.find("0.4.0"), std::string::npos);
  r = Call("POST", "/kbs/v0/auth", R"({"version":"0.4.0","tee":"foo","extra-params":""})");
  EXPECT_EQ(Variant(r), "AttestationError");
  r = Call("POST", "/kbs/v0/auth", "{not json");
  EXPECT_EQ(Variant(r), "SerdeError");
  r = Call("POST", "/kbs/v0/auth", R"({"version":"0.4.0"})");
  EXPECT_EQ(Variant(r), "SerdeError");

  Flow f = Auth();
  r = Call("POST", "/kbs/v0/attest", AttestBody(f, "wrong-nonce"), {{"cookie", f.cookie}});
  EXPECT_EQ(Variant(r), "AttestationError");
  // A failed attempt releases the nonce (a fresh one costs nothing, so keeping it would only let
  // failures fill the record); a successful attestation uses it up: a replay is refused.
  r = Call("POST", "/kbs/v0/attest", AttestBody(f, f.nonce), {{"cookie", f.cookie}});
  EXPECT_EQ(r.status, 200) << r.body;
  r = Call("POST", "/kbs/v0/attest", AttestBody(f, f.nonce), {{"cookie", f.cookie}});
  EXPECT_EQ(Variant(r), "AttestationError");
  EXPECT_NE(r.body.find("already used"), std::string::npos);
  // A cookie the broker did not seal is refused, whatever it holds.
  r = Call("POST", "/kbs/v0/attest", AttestBody(f, f.nonce),
           {{"cookie", "kbs-session-id=0123456789abcdef0123456789abcdef"}});
  EXPECT_EQ(Variant(r), "AttestationError");
  EXPECT_NE(r.body.find("not issued by this broker"), std::string::npos);

  Flow g = Auth();
  r = Call("POST", "/kbs/v0/attest", AttestBody(g, g.nonce, /*tamper=*/true),
           {{"cookie", g.cookie}});
  EXPECT_EQ(Variant(r), "AttestationError");
  EXPECT_NE(r.body.find("report_data"), std::string::npos);

  Flow h = Auth();
  now_ += 31;
  r = Call("POST", "/kbs/v0/attest", AttestBody(h, h.nonce), {{"cookie", h.cookie}});
  EXPECT_EQ(Variant(r), "AttestationError");
  EXPECT_NE(r.body.find("expired"), std::string::npos);
}

TEST_F(BrokerTest, OddJsonShapesAreRefusedNotThrown) {
  Flow f = Auth();
  auto body = nlohmann::json::parse(AttestBody(f, f.nonce));
  body["init-data"] = {{"format", 7}, {"body", "x"}};
  Response r = Call("POST", "/kbs/v0/attest", body.dump(), {{"cookie", f.cookie}});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Variant(r), "AttestationError");
  for (const char* bad : {R"({"version":1,"tee":"sample"})", R"({"version":"0.4.0","tee":[]})",
                          "[]", "null", R"("x")"}) {
    r = Call("POST", "/kbs/v0/auth", bad);
    EXPECT_EQ(Variant(r), "SerdeError") << bad;
  }
  Flow g = Auth();
  for (const char* bad : {R"({"runtime-data":[],"tee-evidence":{}})",
                          R"({"runtime-data":{"nonce":5},"tee-evidence":{}})",
                          R"({"runtime-data":{"nonce":"n","tee-pubkey":{}},"tee-evidence":[]})"}) {
    r = Call("POST", "/kbs/v0/attest", bad, {{"cookie", g.cookie}});
    EXPECT_EQ(Variant(r), "SerdeError") << bad;
  }
  nlohmann::json policy = {{"policy_id", 3},
                           {"policy", Base64UrlEncode(DefaultAttestationPolicyText())}};
  EXPECT_EQ(Variant(AdminCall("POST", "/kbs/v0/attestation-policy", policy.dump())), "SerdeError");
}

TEST_F(BrokerTest, SampleRefusedWithoutDev) {
  Start(false);
  Response r =
      Call("POST", "/kbs/v0/auth", R"({"version":"0.4.0","tee":"sample","extra-params":""})");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Variant(r), "AttestationError");
  EXPECT_NE(r.body.find("--dev"), std::string::npos);
}

TEST_F(BrokerTest, AdminAuthorisation) {
  EXPECT_EQ(Variant(Call("POST", "/kbs/v0/resource/a/b/c", "x")), "AdminAuthAccess");
  auto other = *crypto::Key::GenerateEd25519();
  std::string forged = *MakeAdminToken(other, "admin", now_, 60);
  EXPECT_EQ(
      Variant(Call("POST", "/kbs/v0/resource/a/b/c", "x", {{"authorization", "Bearer " + forged}})),
      "AdminAuthAccess");
  std::string auditor = *MakeAdminToken(admin_key_, "auditor", now_, 60);
  Response r =
      Call("POST", "/kbs/v0/resource/a/b/c", "x", {{"authorization", "Bearer " + auditor}});
  EXPECT_EQ(Variant(r), "AdminAuthAccess");
  EXPECT_NE(r.body.find("auditor"), std::string::npos);
  std::string expired = *MakeAdminToken(admin_key_, "admin", now_ - 100, 10);
  r = Call("POST", "/kbs/v0/resource/a/b/c", "x", {{"authorization", "Bearer " + expired}});
  EXPECT_EQ(Variant(r), "AdminAuthAccess");
  EXPECT_NE(r.body.find("expired"), std::string::npos);
  EXPECT_EQ(AdminCall("POST", "/kbs/v0/resource/a/b/c", "x").status, 200);
}

TEST_F(BrokerTest, PathsAndPolicies) {
  EXPECT_EQ(Variant(Call("GET", "/kbs/v0/resource/a/../b", "")), "InvalidRequestPath");
  EXPECT_EQ(Call("GET", "/kbs/v0/resource/a/../b", "").status, 404);
  EXPECT_EQ(Variant(Call("GET", "/kbs/v0/resource/a/b/c/d", "")), "InvalidRequestPath");
  EXPECT_EQ(Variant(Call("GET", "/kbs/v0/resource/a/b/c", "")), "TokenNotFound");
  EXPECT_EQ(Variant(Call("GET", "/kbs/v0/nebula-ca/x", "")), "PluginNotFound");

  // 37 bytes: standard base64 ends in "==", which base64url-no-pad refuses.
  std::string deny_all = "package policy\ndefault allow = false\n";
  ASSERT_EQ(Base64Encode(ToBytes(deny_all)).back(), '=');
  nlohmann::json padded = {{"policy", Base64Encode(ToBytes(deny_all))}};
  Response r = AdminCall("POST", "/kbs/v0/resource-policy", padded.dump());
  EXPECT_EQ(Variant(r), "ParsePolicyError");
  nlohmann::json ok = {{"policy", Base64UrlEncode("package policy\ndefault allow = true\n")}};
  EXPECT_EQ(AdminCall("POST", "/kbs/v0/resource-policy", ok.dump()).status, 200);
  // The policy persists: a broker on the same storage starts with it.
  auto stored = storage_->Get(kNsPolicy, "resource-policy");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_NE((*stored)->find("allow = true"), std::string::npos);

  ASSERT_EQ(AdminCall("POST", "/kbs/v0/resource/default/key/1", "s").status, 200);
  Flow f = Auth();
  ASSERT_EQ(Call("POST", "/kbs/v0/attest", AttestBody(f, f.nonce), {{"cookie", f.cookie}}).status,
            200);
  EXPECT_EQ(Call("GET", "/kbs/v0/resource/default/key/1", "", {{"cookie", f.cookie}}).status, 200);
  r = Call("GET", "/kbs/v0/resource/default/key/missing", "", {{"cookie", f.cookie}});
  EXPECT_EQ(Variant(r), "PluginInternalError");
  EXPECT_NE(r.body.find("not found"), std::string::npos);
}

TEST_F(BrokerTest, MetricsCountAttestations) {
  Flow f = Auth();
  Call("POST", "/kbs/v0/attest", AttestBody(f, f.nonce), {{"cookie", f.cookie}});
  Response m = Call("GET", "/metrics", "");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("kbs_attestation_total{tee_type=\"sample\",outcome=\"success\"} 1"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("kbs_http_request_duration_seconds_bucket{route=\"attest\""),
            std::string::npos);
}

}  // namespace
}  // namespace coco::kbs
