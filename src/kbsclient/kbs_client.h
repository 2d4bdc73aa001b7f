// KbsClient: the guest side of the RCAR protocol (auth → attest → resource), shared by the
// `coco` CLI and coco-agent. It holds one TEE key pair, caches the attestation token and its
// session, re-attests once when the broker answers 401 for an expired or unknown session/token,
// and retries transport failures with backoff. Not thread-safe: use one client per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "attestation/attester.h"
#include "base/bytes.h"
#include "base/result.h"
#include "crypto/crypto.h"
#include "net/http_client.h"

namespace coco::kbsclient {

struct KbsClientOptions {
  std::string url = "http://127.0.0.1:8080";  // http(s)://host[:port]
  std::string ca_cert;                        // PEM file to trust for https
  std::optional<std::string> init_data_toml;  // sent with /attest when set
  int max_attempts = 3;                       // transport retries per request
  int timeout_secs = 30;
  net::ProxyConfig proxy;  // none by default (the pod's agent); `coco` takes the environment's
};

// A broker error as received: variant from the "type" URI, "detail", HTTP status.
struct BrokerError {
  int status = 0;
  std::string variant;
  std::string detail;
};

class KbsClient {
 public:
  // `tee_key` is the key resources are encrypted to (EC P-256 by default: ECDH-ES+A256KW).
  static Result<std::unique_ptr<KbsClient>> Create(
      KbsClientOptions options, std::unique_ptr<attestation::Attester> attester,
      std::optional<crypto::Key> tee_key = std::nullopt);
  ~KbsClient();

  // Runs auth + attest (unless a cached token is still valid) and returns the token.
  Result<std::string> Attest();
  // Fetches and decrypts a resource; `path` is "repo/type/tag" or "kbs:///repo/type/tag".
  Result<SecretBytes> GetResource(const std::string& path);

  const nlohmann::json& tee_pubkey() const { return tee_jwk_; }

 private:
  struct Impl;
  explicit KbsClient(std::unique_ptr<Impl> impl, nlohmann::json jwk);
  std::unique_ptr<Impl> impl_;
  nlohmann::json tee_jwk_;
};

// "kbs:///repo/type/tag" (or "kbs://host/repo/type/tag", or "repo/type/tag") → "repo/type/tag".
// Fails unless there are exactly three valid segments.
Result<std::string> ParseResourcePath(const std::string& uri);

// Formats a broker error for people: "PolicyDeny: <detail> (HTTP 401)".

}  // namespace coco::kbsclient
