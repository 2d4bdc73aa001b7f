#include "kbs/admin_auth.h"

#include "jose/jwt.h"
#include "kbs/errors.h"

namespace coco::kbs {

std::vector<AclRule> DefaultAcl() { return {{"admin", {"^/kbs/v0/.+$"}}}; }

Result<AdminAuth> AdminAuth::Create(std::vector<crypto::Key> public_keys,
                                    std::vector<AclRule> acl) {
  AdminAuth a;
  for (auto& k : public_keys) {
    auto alg = jose::SigningAlg(k);
    if (!alg.ok()) return MakeError(Code::kInvalidArgument, "admin key: " + alg.error().message);
    a.keys_.push_back(k.PublicOnly());
  }
  for (const auto& rule : acl) {
    CompiledRule c{rule.role, {}};
    for (const auto& re : rule.allowed_endpoints) {
      if (re.rfind("^/kbs", 0) != 0 || re.empty() || re.back() != '$')
        return MakeError(Code::kInvalidArgument,
                         "admin ACL regex \"" + re + "\" must start with ^/kbs and end with $");
      try {
        c.endpoints.emplace_back(re, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return MakeError(Code::kInvalidArgument, "admin ACL regex \"" + re + "\": " + e.what());
      }
    }
    a.rules_.push_back(std::move(c));
  }
  return a;
}

Status AdminAuth::Authorize(const std::string& authorization, const std::string& path,
                            int64_t now) const {
  const std::string prefix = "Bearer ";
  if (authorization.rfind(prefix, 0) != 0)
    return WireError(Variant::kAdminAuthAccess,
                     "admin request without an admin token (expected Authorization: Bearer <jwt>)");
  std::string token = authorization.substr(prefix.size());
  if (keys_.empty())
    return WireError(Variant::kAdminAuthAccess,
                     "no admin public key is configured: admin API disabled");
  auto decoded = jose::DecodeJwt(token);
  if (!decoded.ok())
    return WireError(Variant::kAdminAuthAccess, "admin token: " + decoded.error().message);
  std::string last_error = "admin token is not signed by a trusted admin key";
  std::optional<nlohmann::json> claims;
  for (const auto& key : keys_) {
    auto alg = jose::SigningAlg(key);
    if (!alg.ok() || decoded->header.value("alg", "") != *alg) continue;
    auto verified = jose::VerifyJwt(token, key, now, /*require_exp=*/true);
    if (verified.ok()) {
      claims = std::move(verified).value();
      break;
    }
    // Keep the most telling reason (an expired token signed by our key says "expired").
    if (verified.error().message.find("signature") == std::string::npos)
      last_error = "admin token: " + verified.error().message;
  }
  if (!claims) return WireError(Variant::kAdminAuthAccess, last_error);
  // An admin token lives at most kMaxAdminTokenSecs from now, whatever its signer wrote.
  if (claims->value("exp", 0.0) > static_cast<double>(now + kMaxAdminTokenSecs))
    return WireError(Variant::kAdminAuthAccess,
                     "admin token expires more than 10 years from now; issue a shorter-lived one "
                     "(coco kbs keygen --token-days)");
  auto role = claims->find("role");
  if (role == claims->end() || !role->is_string())
    return WireError(Variant::kAdminAuthAccess, "admin token has no \"role\" claim");
  for (const auto& rule : rules_) {
    if (rule.role != role->get<std::string>()) continue;
    for (const auto& re : rule.endpoints)
      if (std::regex_match(path, re)) return Status::Ok();
  }
  return WireError(Variant::kAdminAuthAccess,
                   "role \"" + role->get<std::string>() + "\" may not call " + path);
}

}  // namespace coco::kbs
