// Attestation tokens: EAR-shaped JWTs signed ES256 with the broker's persisted P-256 key.
// Thread-safe after construction.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"
#include "crypto/crypto.h"
#include "kbs/storage.h"

namespace coco::kbs {

inline constexpr std::string_view kEatProfile =
    "tag:github.com,2024:confidential-containers/Trustee";

class TokenIssuer {
 public:
  // Loads the signing key from storage, creating and persisting one on first use.
  static Result<std::unique_ptr<TokenIssuer>> LoadOrCreate(Storage* storage);

  struct Issued {
    std::string token;
    nlohmann::json claims;  // exactly what was signed
  };
  // Signs {"eat_profile","iat","exp","iss","ear.verifier-id","submods":{"cpu0": submod},
  // "coco":{"tee": tee, "mode": "dev"|"production"}}: the token names the TEE it was issued for
  // and the broker mode that issued it. The header carries the public "jwk" and its "kid".
  Result<Issued> Issue(const nlohmann::json& cpu0_submod, const std::string& tee, bool dev,
                       int64_t now_unix, int64_t lifetime_secs) const;

  struct Scope {
    std::string tee;
    bool dev = false;
  };
  // The TEE and mode a token's claims were issued for; an error if they are absent or malformed
  // (a token from a broker that did not record them).
  static Result<Scope> ReadScope(const nlohmann::json& claims);

  // Verifies a token issued by this broker (signature, exp) and returns its claims.
  Result<nlohmann::json> Verify(std::string_view token, int64_t now_unix) const;

  // {"keys":[<public JWK with "alg":"ES256","use":"sig","kid">]}
  const nlohmann::json& Jwks() const { return jwks_; }

 private:
  TokenIssuer(crypto::Key key, nlohmann::json public_jwk, std::string kid);
  crypto::Key key_;
  crypto::Key public_key_;
  nlohmann::json public_jwk_;
  nlohmann::json jwks_;
  std::string kid_;
};

}  // namespace coco::kbs
