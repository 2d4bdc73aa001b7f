#include "kbsclient/kbs_client.h"

#include <gtest/gtest.h>

#include <thread>

#include "kbs/broker.h"
#include "kbs/http_server.h"

namespace coco::kbsclient {
namespace {

TEST(ParseResourcePath, Forms) {
  EXPECT_EQ(*ParseResourcePath("kbs:///default/key/1"), "default/key/1");
  EXPECT_EQ(*ParseResourcePath("kbs://example/default/key/1"), "default/key/1");
  EXPECT_EQ(*ParseResourcePath("a/b/c.d"), "a/b/c.d");
  EXPECT_FALSE(ParseResourcePath("kbs:///a/b").ok());
  EXPECT_FALSE(ParseResourcePath("kbs:///a/b/c/d").ok());
  EXPECT_FALSE(ParseResourcePath("kbs:///a/../c").ok());
  EXPECT_FALSE(ParseResourcePath("kbs:///a//c").ok());
}

// A real broker over loopback HTTP, driven by the client library.
class ClientOverHttp : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = kbs::NewMemoryStorage();
    auto admin = kbs::AdminAuth::Create({}, kbs::DefaultAcl());
    std::vector<std::unique_ptr<attestation::Verifier>> v;
    v.push_back(attestation::NewSampleVerifier());
    kbs::BrokerOptions o;
    o.dev = true;
    o.max_sessions = 2;
    auto b = kbs::Broker::Create(o, storage_.get(), std::move(*admin), std::move(v));
    ASSERT_TRUE(b.ok());
    broker_ = std::move(*b);
    ASSERT_TRUE(storage_->Put(kbs::kNsPolicy, "resource-policy",
                              "package policy\ndefault allow = true\n").ok());
    // Re-create so the stored allow-all policy is loaded.
    auto admin2 = kbs::AdminAuth::Create({}, kbs::DefaultAcl());
    std::vector<std::unique_ptr<attestation::Verifier>> v2;
    v2.push_back(attestation::NewSampleVerifier());
    broker_ = std::move(*kbs::Broker::Create(o, storage_.get(), std::move(*admin2), std::move(v2)));
    ASSERT_TRUE(storage_->Put(kbs::kNsResource, "default/key/1", "hello").ok());
    kbs::HttpOptions ho;
    ho.port = 0;
    server_ = std::move(*kbs::NewHttpServer(ho, broker_.get()));
    auto port = server_->Bind();
    ASSERT_TRUE(port.ok());
    url_ = "http://127.0.0.1:" + std::to_string(*port);
    thread_ = std::thread([this] { (void)server_->Serve(); });
  }
  void TearDown() override {
    server_->Stop();
    thread_.join();
  }

  std::unique_ptr<kbs::Storage> storage_;
  std::unique_ptr<kbs::Broker> broker_;
  std::unique_ptr<kbs::HttpServer> server_;
  std::thread thread_;
  std::string url_;
};

TEST_F(ClientOverHttp, AttestAndFetchWithEcAndRsaKeys) {
  for (auto key : {*crypto::Key::GenerateEc(crypto::Curve::kP256),
                   *crypto::Key::GenerateEc(crypto::Curve::kP521),
                   *crypto::Key::GenerateRsa(2048)}) {
    KbsClientOptions o;
    o.url = url_;
    auto c = KbsClient::Create(o, attestation::NewSampleAttester(), key);
    ASSERT_TRUE(c.ok()) << c.error().message;
    auto secret = (*c)->GetResource("kbs:///default/key/1");
    ASSERT_TRUE(secret.ok()) << secret.error().message;
    EXPECT_EQ(ToString(secret->bytes()), "hello");
  }
}

TEST_F(ClientOverHttp, ReattestsWhenSessionIsLost) {
  KbsClientOptions o;
  o.url = url_;
  auto c = KbsClient::Create(o, attestation::NewSampleAttester());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->GetResource("default/key/1").ok());
  // Two other guests attest; the record keeps two attested sessions, so the first client's is
  // evicted and its next fetch must heal itself by attesting again.
  for (int i = 0; i < 2; ++i) {
    auto other = KbsClient::Create(o, attestation::NewSampleAttester());
    ASSERT_TRUE((*other)->Attest().ok());
  }
  EXPECT_EQ(broker_->nonces().size(), 2u);
  EXPECT_GE(broker_->nonces().evictions(), 1u);
  auto secret = (*c)->GetResource("default/key/1");
  ASSERT_TRUE(secret.ok()) << secret.error().message;
  EXPECT_EQ(ToString(secret->bytes()), "hello");
}

TEST_F(ClientOverHttp, BrokerErrorsAreReported) {
  KbsClientOptions o;
  o.url = url_;
  auto c = KbsClient::Create(o, attestation::NewSampleAttester());
  auto missing = (*c)->GetResource("default/key/none");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("not found"), std::string::npos);
  o.url = "http://127.0.0.1:1";
  o.max_attempts = 1;
  auto unreachable = KbsClient::Create(o, attestation::NewSampleAttester());
  auto r = (*unreachable)->Attest();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot reach"), std::string::npos);
}

}  // namespace
}  // namespace coco::kbsclient
