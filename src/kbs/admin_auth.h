// Admin API authorisation: a Bearer JWT signed by one of the configured admin keys (EdDSA or
// ES256), whose "role" claim is mapped to the endpoints it may call (regexes matched against the
// request path). Secure by default: with no key configured, every admin request is refused.
// Thread-safe after construction.
#pragma once

#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "base/result.h"
#include "crypto/crypto.h"

namespace coco::kbs {

// The longest an admin token may still be valid for, counted from now.
inline constexpr int64_t kMaxAdminTokenSecs = int64_t{3660} * 24 * 3600;

struct AclRule {
  std::string role;
  std::vector<std::string> allowed_endpoints;  // each "^/kbs...$"
};

class AdminAuth {
 public:
  // Fails when a rule's regex is invalid or does not start with "^/kbs" and end with "$".
  static Result<AdminAuth> Create(std::vector<crypto::Key> public_keys, std::vector<AclRule> acl);

  // Checks `authorization` ("Bearer <jwt>") for `path` at `now_unix`. The error message says
  // which check failed (missing header, bad signature, expired, no role, role not allowed).
  Status Authorize(const std::string& authorization, const std::string& path,
                   int64_t now_unix) const;

 private:
  struct CompiledRule {
    std::string role;
    std::vector<std::regex> endpoints;
  };
  std::vector<crypto::Key> keys_;
  std::vector<CompiledRule> rules_;
};

// The default ACL: role "admin" may call every admin endpoint.
std::vector<AclRule> DefaultAcl();

// Admin tokens are made on the client side: kbsclient/admin.h, MakeAdminToken.

}  // namespace coco::kbs
