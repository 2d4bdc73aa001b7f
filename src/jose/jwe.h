// JWE (RFC 7516) in the flattened JSON serialization, as the KBS protocol uses it for resources.
// Content encryption A256GCM; key management ECDH-ES+A256KW (P-256/P-384/P-521) or RSA-OAEP-256.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/crypto.h"

namespace coco::jose {

// Encrypts `plaintext` to the recipient public JWK `tee_pubkey`. The key-management algorithm is
// the JWK's "alg" ("ECDH-ES+A256KW" or "RSA-OAEP-256"; when absent: ECDH-ES+A256KW for EC,
// RSA-OAEP-256 for RSA). "RSA1_5" and "RSA-OAEP" are refused.
// Output: {"protected","encrypted_key","iv","ciphertext","tag"} (base64url, no padding). The
// protected header is compact JSON in the byte order upstream's Rust client re-serializes:
// "alg", then "enc", then the other members sorted by key (nested objects sorted too), e.g.
// {"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":"P-256","kty":"EC","x":"..","y":".."}}.
// The GCM AAD is the ASCII of the "protected" string.
Result<nlohmann::json> JweEncrypt(const nlohmann::json& tee_pubkey, const Bytes& plaintext);

// Decrypts a flattened JWE with the recipient private key. The AAD is the raw "protected" string
// from the input (plus "." + "aad" if an "aad" member is present). Supports ECDH-ES+A256KW,
// ECDH-ES+A128KW/A192KW, RSA-OAEP-256 and RSA-OAEP, content A256GCM/A128GCM.
Result<SecretBytes> JweDecrypt(const nlohmann::json& jwe, const crypto::Key& private_key);

// Concat KDF of NIST SP 800-56A as JOSE uses it (RFC 7518 §4.6.2), with SHA-256: the first
// `key_bits` bits of SHA256(counter || z || OtherInfo) for counter = 1, 2, ..., where OtherInfo =
// len32(alg_id) || alg_id || len32(apu) || apu || len32(apv) || apv || be32(key_bits).
// `alg_id` is the "alg" value for ECDH-ES+AxxxKW (the "enc" value for direct ECDH-ES).
SecretBytes ConcatKdf(const Bytes& z, std::string_view alg_id, const Bytes& apu, const Bytes& apv,
                      size_t key_bits);

}  // namespace coco::jose
