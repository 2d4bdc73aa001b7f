// JSON Web Keys (RFC 7517/7518) for EC (P-256/384/521), RSA and OKP Ed25519 public keys.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "crypto/crypto.h"

namespace coco::jose {

// Parses a public JWK. Private members ("d", ...) are ignored. Errors name the bad member.
Result<crypto::Key> KeyFromJwk(const nlohmann::json& jwk);

// Public JWK of `key`: EC {"crv","kty","x","y"}, RSA {"e","kty","n"}, OKP {"crv","kty","x"}.
// If `alg` is non-empty it is added as "alg".
Result<nlohmann::json> PublicJwk(const crypto::Key& key, const std::string& alg = "");

}  // namespace coco::jose
