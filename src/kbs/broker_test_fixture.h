// The broker test fixture: a broker over memory storage with a settable clock, an admin token and
// helpers for the sample-TEE RCAR flow. Shared by broker_test.cc and broker_attack_test.cc.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>

#include "attestation/attester.h"
#include "attestation/runtime_data.h"
#include "jose/jwe.h"
#include "jose/jwk.h"
#include "jose/jwt.h"
#include "kbs/broker.h"
#include "kbsclient/admin.h"

namespace coco::kbs {

using kbsclient::MakeAdminToken;  // the client side makes admin tokens

class BrokerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(true); }

  // A new broker; `keep_storage` restarts it on the same storage (same keys, same resources).
  void Start(bool dev, bool keep_storage = false) {
    if (!keep_storage || !storage_) storage_ = NewMemoryStorage();
    admin_key_ = *crypto::Key::GenerateEd25519();
    auto admin = AdminAuth::Create({admin_key_.PublicOnly()}, DefaultAcl());
    ASSERT_TRUE(admin.ok());
    std::vector<std::unique_ptr<attestation::Verifier>> v;
    v.push_back(attestation::NewSampleVerifier());
    BrokerOptions o;
    o.dev = dev;
    o.token_lifetime_secs = 60;
    o.session_timeout_secs = 30;
    auto b =
        Broker::Create(o, storage_.get(), std::move(*admin), std::move(v), [this] { return now_; });
    ASSERT_TRUE(b.ok()) << b.error().message;
    broker_ = std::move(*b);
    admin_token_ = *MakeAdminToken(admin_key_, "admin", now_, 3600);
  }

  Response Call(const std::string& method, const std::string& path, const std::string& body,
                std::map<std::string, std::string> headers = {}) {
    return broker_->Handle({method, path, headers, body});
  }
  Response AdminCall(const std::string& method, const std::string& path, const std::string& body) {
    return Call(method, path, body, {{"authorization", "Bearer " + admin_token_}});
  }
  static std::string Variant(const Response& r) {
    auto j = nlohmann::json::parse(r.body);
    std::string t = j["type"];
    return t.substr(t.rfind('/') + 1);
  }

  void ProvisionSampleReferenceValues() {
    nlohmann::json payload = {{"launch_digest", {"abcde"}},
                              {"svn", {"1"}},
                              {"major_version", {1}},
                              {"minimum_minor_version", {4}}};
    nlohmann::json msg = {{"version", "0.1.0"},
                          {"type", "sample"},
                          {"payload", Base64Encode(ToBytes(payload.dump()))}};
    ASSERT_EQ(AdminCall("POST", "/kbs/v0/reference-value", msg.dump()).status, 200);
  }

  struct Flow {
    std::string cookie, nonce;
    nlohmann::json jwk;
    std::optional<crypto::Key> key;
  };
  Flow Auth() {
    Flow f;
    Response r =
        Call("POST", "/kbs/v0/auth", R"({"version":"0.4.0","tee":"sample","extra-params":""})");
    EXPECT_EQ(r.status, 200) << r.body;
    auto ch = nlohmann::json::parse(r.body);
    f.nonce = ch["nonce"];
    EXPECT_EQ(ch["extra-params"], "");
    EXPECT_EQ(Base64Decode(f.nonce)->size(), 32u);
    for (auto& [k, v] : r.headers)
      if (k == "Set-Cookie") f.cookie = v.substr(0, v.find(';'));
    f.key = *crypto::Key::GenerateEc(crypto::Curve::kP256);
    f.jwk = *jose::PublicJwk(*f.key, "ECDH-ES+A256KW");
    return f;
  }
  std::string AttestBody(const Flow& f, const std::string& nonce, bool tamper = false) {
    auto rd = attestation::PrimaryRuntimeData(f.jwk, nonce, "");
    Bytes digest = *attestation::RuntimeDataDigest(rd);
    if (tamper) digest[0] ^= 1;
    auto ev = *attestation::NewSampleAttester()->GetEvidence(digest);
    nlohmann::json body = {
        {"runtime-data", {{"nonce", nonce}, {"tee-pubkey", f.jwk}}},
        {"tee-evidence", {{"primary_evidence", ev}, {"additional_evidence", ""}}}};
    return body.dump();
  }

  int64_t now_ = 1'800'000'000;
  std::unique_ptr<Storage> storage_;
  crypto::Key admin_key_ = *crypto::Key::GenerateEd25519();
  std::string admin_token_;
  std::unique_ptr<Broker> broker_;
};

}  // namespace coco::kbs
