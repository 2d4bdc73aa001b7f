// The broker end to end (src/kbs/http_server.h, broker.h): request bytes are parsed with the
// server's limits and handled by a real Broker (dev mode, memory storage, sample verifier).
// The first byte picks what the rest is:
//   0: a whole HTTP request (request line, headers, body);
//   1: the body of /kbs/v0/attest on a live session;
//   2: the body of an admin reference-value or resource-policy request, with a valid admin token;
//   3: an init-data TOML document inside an otherwise valid /attest.
// Invariants: no crash, every answer is a status in 200..599 with a JSON error body on failure,
// and nothing the input asks for is built deeper than the wire limits.
#include "attestation/attester.h"
#include "attestation/runtime_data.h"
#include "base/log.h"
#include "fuzz_keys.h"
#include "fuzz_util.h"
#include "jose/jwk.h"
#include "kbs/broker.h"
#include "kbs/http_server.h"
#include "kbsclient/admin.h"

namespace kbs = coco::kbs;

namespace {

struct World {
  std::unique_ptr<kbs::Storage> storage = kbs::NewMemoryStorage();
  coco::crypto::Key admin_key = *coco::crypto::Key::FromPem(coco::fuzz::kEcP256Pem);
  std::unique_ptr<kbs::Broker> broker;
  std::string admin_token;
  std::string cookie;
  std::string nonce;
  nlohmann::json jwk;
  kbs::HttpOptions http;

  World() {
    coco::log::SetLevel(coco::log::Level::kError);
    std::vector<std::unique_ptr<coco::attestation::Verifier>> v;
    v.push_back(coco::attestation::NewSampleVerifier());
    kbs::BrokerOptions o;
    o.dev = true;
    o.session_timeout_secs = 1'000'000'000;
    o.max_sessions = 64;  // keeps the record (and the fuzzer's memory) small
    auto admin = kbs::AdminAuth::Create({admin_key.PublicOnly()}, kbs::DefaultAcl());
    broker = std::move(*kbs::Broker::Create(o, storage.get(), std::move(*admin), std::move(v),
                                            [] { return int64_t{1'800'000'000}; }));
    admin_token = *coco::kbsclient::MakeAdminToken(admin_key, "admin", 1'800'000'000, 3600);
    http.max_body_bytes = 1 << 20;
    jwk = *coco::jose::PublicJwk(*coco::crypto::Key::GenerateEc(coco::crypto::Curve::kP256),
                                 "ECDH-ES+A256KW");
  }

  // A fresh session for each /attest input: a success would use its nonce up.
  void NewSession() {
    kbs::Response r = broker->Handle(
        {"POST", "/kbs/v0/auth", {}, R"({"version":"0.4.0","tee":"sample","extra-params":""})"});
    nonce = nlohmann::json::parse(r.body)["nonce"];
    for (auto& [k, v] : r.headers)
      if (k == "Set-Cookie") cookie = v.substr(0, v.find(';'));
  }

  std::string AttestBody(const std::string& init_data) {
    auto rd = coco::attestation::PrimaryRuntimeData(jwk, nonce, "");
    auto ev = *coco::attestation::NewSampleAttester()->GetEvidence(
        *coco::attestation::RuntimeDataDigest(rd));
    nlohmann::json body = {
        {"runtime-data", {{"nonce", nonce}, {"tee-pubkey", jwk}}},
        {"tee-evidence", {{"primary_evidence", ev}, {"additional_evidence", ""}}},
        {"init-data", {{"format", "toml"}, {"body", init_data}}}};
    // The input may not be UTF-8; the broker sees it as a JSON client would send it.
    return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
};

void CheckAnswer(const kbs::Response& r) {
  FUZZ_CHECK(r.status >= 200 && r.status < 600);
  if (r.status != 200) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    FUZZ_CHECK(j.is_object() && j.contains("type") && j.contains("detail"));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  if (size == 0) return 0;
  std::string rest(coco::fuzz::AsString(data + 1, size - 1));
  switch (data[0] % 4) {
    case 0: {
      auto req = kbs::ParseRequestBytes(rest, w.http);
      if (!req.ok()) return 0;
      FUZZ_CHECK(req->body.size() <= w.http.max_body_bytes);
      CheckAnswer(w.broker->Handle(*req));
      break;
    }
    case 1:
      w.NewSession();
      CheckAnswer(w.broker->Handle({"POST", "/kbs/v0/attest", {{"cookie", w.cookie}}, rest}));
      break;
    case 2:
      for (const char* path : {"/kbs/v0/reference-value", "/kbs/v0/resource-policy"})
        CheckAnswer(
            w.broker->Handle({"POST", path, {{"authorization", "Bearer " + w.admin_token}}, rest}));
      break;
    case 3:
      w.NewSession();
      CheckAnswer(
          w.broker->Handle({"POST", "/kbs/v0/attest", {{"cookie", w.cookie}}, w.AttestBody(rest)}));
      break;
  }
  return 0;
}
