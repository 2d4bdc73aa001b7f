// Regression tests for hostile input to the broker's handlers: each attack is refused with a clear
// error, the broker stays up, and a legitimate flow succeeds right after (or during) it.
#include <gtest/gtest.h>

#include "kbs/broker_test_fixture.h"

namespace coco::kbs {
namespace {

std::string Deep(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

class BrokerAttackTest : public BrokerTest {
 protected:
  // A whole legitimate flow: auth, attest, fetch default/key/1 (stored by SetUp's caller).
  void ExpectLegitimateFlow() {
    Flow f = Auth();
    Response att = Call("POST", "/kbs/v0/attest", AttestBody(f, f.nonce), {{"cookie", f.cookie}});
    ASSERT_EQ(att.status, 200) << att.body;
    Response res = Call("GET", "/kbs/v0/resource/default/key/1", "", {{"cookie", f.cookie}});
    ASSERT_EQ(res.status, 200) << res.body;
    auto plain = jose::JweDecrypt(nlohmann::json::parse(res.body), *f.key);
    ASSERT_TRUE(plain.ok());
    EXPECT_EQ(ToString(plain->bytes()), "top secret");
  }
  void Provision() {
    ProvisionSampleReferenceValues();
    ASSERT_EQ(AdminCall("POST", "/kbs/v0/resource/default/key/1", "top secret").status, 200);
  }
  // The attestation body with `field` (a JSON pointer) replaced by raw JSON text.
  std::string AttestWith(const Flow& f, const std::string& marker_field, const std::string& raw) {
    auto body = nlohmann::json::parse(AttestBody(f, f.nonce));
    nlohmann::json::json_pointer ptr(marker_field);
    body[ptr] = "@@MARK@@";
    std::string text = body.dump();
    text.replace(text.find("\"@@MARK@@\""), 10, raw);
    return text;
  }
};

// Finding 1: JSON nested ~150,000 deep in primary_evidence, ~500,000 deep in tee-pubkey.
TEST_F(BrokerAttackTest, DeepEvidenceAndPubkeyAreRefusedBeforeAnyCopy) {
  Provision();
  Flow f = Auth();
  for (const auto& [field, depth] : std::vector<std::pair<std::string, int>>{
           {"/tee-evidence/primary_evidence", 150000}, {"/runtime-data/tee-pubkey", 500000}}) {
    Response r = Call("POST", "/kbs/v0/attest", AttestWith(f, field, Deep(depth)),
                      {{"cookie", f.cookie}});
    EXPECT_EQ(r.status, 401) << field;
    EXPECT_EQ(Variant(r), "SerdeError") << field;
    EXPECT_NE(r.body.find("nests deeper than 64"), std::string::npos) << r.body;
  }
  // The session's nonce was never claimed by the refused bodies.
  Response att = Call("POST", "/kbs/v0/attest", AttestBody(f, f.nonce), {{"cookie", f.cookie}});
  EXPECT_EQ(att.status, 200) << att.body;
  ExpectLegitimateFlow();
}

// Finding 2: init-data TOML with a dotted key of 20,000 parts (40 KB).
TEST_F(BrokerAttackTest, HostileInitDataTomlIsRefused) {
  Provision();
  std::string key = "k";
  for (int i = 0; i < 20000; ++i) key += ".k";
  for (const std::string& toml :
       {"algorithm = \"sha384\"\nversion = \"0.1.0\"\n" + key + " = 1\n",
        "algorithm = \"sha384\"\nversion = \"0.1.0\"\n[data]\nx = " + Deep(20000) + "\n"}) {
    Flow f = Auth();
    auto body = nlohmann::json::parse(AttestBody(f, f.nonce));
    body["init-data"] = {{"format", "toml"}, {"body", toml}};
    Response r = Call("POST", "/kbs/v0/attest", body.dump(), {{"cookie", f.cookie}});
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(Variant(r), "AttestationError");
    EXPECT_TRUE(r.body.find("more than 32 parts") != std::string::npos ||
                r.body.find("deeper than 32") != std::string::npos)
        << r.body;
  }
  ExpectLegitimateFlow();
}

// Finding 3: an admin reference value nested 60,000-120,000 deep, in the body or its payload.
TEST_F(BrokerAttackTest, DeepReferenceValuesAreRefused) {
  Provision();
  for (int depth : {60000, 120000}) {
    std::string payload = "{\"launch_digest\":" + Deep(depth) + "}";
    nlohmann::json msg = {{"version", "0.1.0"},
                          {"type", "sample"},
                          {"payload", Base64Encode(ToBytes(payload))}};
    Response r = AdminCall("POST", "/kbs/v0/reference-value", msg.dump());
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(Variant(r), "RvpsError");
    std::string raw = R"({"version":"0.1.0","type":"sample","payload":)" + Deep(depth) + "}";
    r = AdminCall("POST", "/kbs/v0/reference-value", raw);
    EXPECT_EQ(Variant(r), "SerdeError");
  }
  ExpectLegitimateFlow();  // the reference values registered before are intact
}

// Finding 5: an /auth flood keeps nothing, so it evicts nobody: a guest that takes its time
// between /auth and /attest still succeeds after 50,000 handshakes by others (the old table held 4,096).
TEST_F(BrokerAttackTest, AuthFloodEvictsNobody) {
  Provision();
  Flow slow = Auth();
  for (int i = 0; i < 50000; ++i) {
    Response r =
        Call("POST", "/kbs/v0/auth", R"({"version":"0.4.0","tee":"sample","extra-params":""})");
    ASSERT_EQ(r.status, 200);
  }
  EXPECT_EQ(broker_->nonces().size(), 0u);  // nothing was stored for them
  now_ += 2;  // the slow guest's evidence took two seconds
  Response att =
      Call("POST", "/kbs/v0/attest", AttestBody(slow, slow.nonce), {{"cookie", slow.cookie}});
  EXPECT_EQ(att.status, 200) << att.body;
  ExpectLegitimateFlow();
}

// Finding 6: a multipart upload is refused and leaves the stored secret as it was.
TEST_F(BrokerAttackTest, MultipartUploadIsRefusedAndStoresNothing) {
  Provision();
  std::string multipart =
      "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"secret.bin\"\r\n\r\n"
      "new\r\n--b--\r\n";
  for (const char* type : {"multipart/form-data; boundary=b", "application/x-www-form-urlencoded",
                           "MULTIPART/mixed"}) {
    Response r = Call("POST", "/kbs/v0/resource/default/key/1", multipart,
                      {{"authorization", "Bearer " + admin_token_}, {"content-type", type}});
    EXPECT_EQ(r.status, 415) << type;
    EXPECT_NE(r.body.find("--data-binary"), std::string::npos);
  }
  Response ok = Call("POST", "/kbs/v0/resource/default/key/2", "raw",
                     {{"authorization", "Bearer " + admin_token_},
                      {"content-type", "application/octet-stream"}});
  EXPECT_EQ(ok.status, 200);
  ExpectLegitimateFlow();  // default/key/1 still holds "top secret"
}

// Finding 8: a token issued in --dev mode is refused once the broker runs without --dev.
TEST_F(BrokerAttackTest, DevTokenIsRefusedAfterRestartWithoutDev) {
  Provision();
  Flow f = Auth();
  Response att = Call("POST", "/kbs/v0/attest", AttestBody(f, f.nonce), {{"cookie", f.cookie}});
  ASSERT_EQ(att.status, 200);
  std::string token = nlohmann::json::parse(att.body)["token"];
  auto claims = jose::DecodeJwt(token);
  ASSERT_TRUE(claims.ok());
  EXPECT_EQ(claims->claims["coco"], (nlohmann::json{{"tee", "sample"}, {"mode", "dev"}}));
  Start(/*dev=*/false, /*keep_storage=*/true);  // same signing key, same resources
  Response r = Call("GET", "/kbs/v0/resource/default/key/1", "",
                    {{"authorization", "Bearer " + token}});
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Variant(r), "TokenVerifierError");
  EXPECT_NE(r.body.find("--dev"), std::string::npos) << r.body;
  // A token of the same key without the scope claim (an older broker's) is refused too.
  nlohmann::json bare = claims->claims;
  bare.erase("coco");
  auto key_pem = storage_->Get(kNsKeys, "token-signing-key");
  ASSERT_TRUE(key_pem.ok() && key_pem->has_value());
  auto forged = jose::SignJwt(*crypto::Key::FromPem(**key_pem), bare);
  ASSERT_TRUE(forged.ok());
  r = Call("GET", "/kbs/v0/resource/default/key/1", "", {{"authorization", "Bearer " + *forged}});
  EXPECT_EQ(Variant(r), "TokenVerifierError");
}

// Smaller finding: admin tokens with "exp": 1e308 (or 11 years away) are refused.
TEST_F(BrokerAttackTest, AdminTokenWithAbsurdExpiryIsRefused) {
  for (const nlohmann::json& exp : {nlohmann::json(1e308), nlohmann::json(now_ + 11LL * 366 * 86400)}) {
    nlohmann::json claims = {{"role", "admin"}, {"iat", now_}, {"exp", exp}};
    auto token = jose::SignJwt(admin_key_, claims);
    ASSERT_TRUE(token.ok());
    Response r = Call("POST", "/kbs/v0/resource/default/key/1", "x",
                      {{"authorization", "Bearer " + *token}});
    EXPECT_EQ(r.status, 401) << exp.dump();
    EXPECT_EQ(Variant(r), "AdminAuthAccess");
  }
  EXPECT_EQ(AdminCall("POST", "/kbs/v0/resource/default/key/1", "x").status, 200);
}

}  // namespace
}  // namespace coco::kbs
