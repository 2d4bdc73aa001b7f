// Compact JWS / JWT (RFC 7515/7519) with ES256, ES384 and EdDSA (Ed25519).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "crypto/crypto.h"

namespace coco::jose {

// The JOSE "alg" a key signs with: EC P-256 → ES256, P-384 → ES384, Ed25519 → EdDSA.
// RSA and P-521 are refused.
Result<std::string> SigningAlg(const crypto::Key& key);

// Signs `claims`. The header is {"alg":<SigningAlg>,"typ":"JWT"} plus `extra_header` members
// (e.g. "jwk", "kid").
Result<std::string> SignJwt(const crypto::Key& private_key, const nlohmann::json& claims,
                            const nlohmann::json& extra_header = nlohmann::json::object());

struct DecodedJwt {
  nlohmann::json header;
  nlohmann::json claims;
  std::string signing_input;  // "<b64 header>.<b64 payload>"
  Bytes signature;
};
// Splits and decodes a compact JWS without checking the signature.
Result<DecodedJwt> DecodeJwt(std::string_view token);

// Verifies the signature with `public_key` (the header "alg" must be the key's SigningAlg;
// "none" and mismatches are refused), then "exp" and "nbf" against `now_unix` (if present;
// `require_exp` makes a missing "exp" an error). Returns the claims.
Result<nlohmann::json> VerifyJwt(std::string_view token, const crypto::Key& public_key,
                                 int64_t now_unix, bool require_exp = true);

}  // namespace coco::jose
