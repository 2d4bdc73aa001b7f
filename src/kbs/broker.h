// The key broker's request handling (RCAR protocol, resources, admin API), independent of the
// HTTP transport so that tests can drive it directly. Thread-safe: Handle() may be called from
// many threads at once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attestation/verifier.h"
#include "kbs/admin_auth.h"
#include "kbs/errors.h"
#include "kbs/metrics.h"
#include "kbs/policy.h"
#include "kbs/reference_values.h"
#include "kbs/session.h"
#include "kbs/storage.h"
#include "kbs/token.h"

namespace coco::kbs {

inline constexpr const char* kProtocolVersion = "0.4.0";
inline constexpr const char* kSessionCookie = "kbs-session-id";

struct BrokerOptions {
  bool dev = false;  // accept the sample TEE
  int64_t session_timeout_secs = 300;
  size_t max_sessions = 8192;  // attested sessions (and attestations in progress) remembered
  int64_t token_lifetime_secs = 300;
  std::vector<std::string> extra_teekey_paths;  // JSON pointers tried before the defaults
};

struct Request {
  std::string method;
  std::string path;                            // raw path, no query
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

class Broker {
 public:
  using Clock = std::function<int64_t()>;  // unix seconds

  // `storage` must outlive the broker. Verifiers are keyed by their tee(); in non-dev mode the
  // sample verifier is refused even if given.
  static Result<std::unique_ptr<Broker>> Create(
      BrokerOptions options, Storage* storage, AdminAuth admin,
      std::vector<std::unique_ptr<attestation::Verifier>> verifiers, Clock clock = nullptr);

  Response Handle(const Request& request);
  Metrics& metrics() { return metrics_; }
  NonceRecord& nonces() { return nonces_; }

 private:
  Broker(BrokerOptions options, Storage* storage, AdminAuth admin, Clock clock);

  Response HandleRoute(const Request& r);
  Response Auth(const Request& r);
  Response Attest(const Request& r);
  Response GetResource(const Request& r, const std::string& path);
  Response Admin(const Request& r, const std::vector<std::string>& segments);
  Result<std::pair<nlohmann::json, std::string>> ParsePolicyRequest(const Request& r,
                                                                    const char* what);
  Response SetResourcePolicy(const Request& r);
  Response SetAttestationPolicy(const Request& r);
  Response SetReferenceValue(const Request& r);

  Result<std::shared_ptr<const nlohmann::json>> ClaimsForResource(const Request& r);
  nlohmann::json TeePubkey(const nlohmann::json& claims) const;
  Status CheckTokenScope(const nlohmann::json& claims) const;
  std::shared_ptr<const ResourcePolicy> resource_policy();
  std::shared_ptr<const AttestationPolicy> attestation_policy();
  Status LoadPolicies();

  BrokerOptions options_;
  Storage* storage_;
  AdminAuth admin_;
  Clock clock_;
  std::map<std::string, std::unique_ptr<attestation::Verifier>> verifiers_;
  std::unique_ptr<TokenIssuer> tokens_;
  ReferenceValues reference_values_;
  SessionSealer sealer_;
  NonceRecord nonces_;
  Metrics metrics_;
  std::mutex policy_mu_;
  std::shared_ptr<const ResourcePolicy> resource_policy_;
  std::shared_ptr<const AttestationPolicy> attestation_policy_;
};

// Splits "/a/b/c" into {"a","b","c"}; empty segments are kept so they can be refused.
std::vector<std::string> SplitPath(const std::string& path);
// A resource path segment as upstream accepts it: ^[a-zA-Z0-9_\-]+[a-zA-Z0-9_\-\.]*$
bool ValidResourceSegment(const std::string& segment);

}  // namespace coco::kbs
