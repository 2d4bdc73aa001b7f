// Pieces shared by the flattened (jwe.h) and general (jwe_general.h) JWE serializations.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/crypto.h"

namespace coco::jose::detail {

// Content-key size for an "enc" value (A128GCM/A192GCM/A256GCM).
Result<size_t> GcmKeySize(const std::string& enc);

// Encrypts the content key to `recipient` with key-management algorithm `alg` (ECDH-ES+AxxxKW,
// RSA-OAEP, RSA-OAEP-256). For ECDH-ES the ephemeral key is added to `header` as "epk".
Result<Bytes> WrapCek(const crypto::Key& recipient, const std::string& alg, const SecretBytes& cek,
                      nlohmann::json& header);

// Recovers the content key with `private_key` per the JOSE header's "alg" (and "epk"/"apu"/"apv").
Result<SecretBytes> UnwrapCek(const nlohmann::json& header, const crypto::Key& private_key,
                              const Bytes& encrypted_key);

// The protected header merged with the object's "unprotected" and "header" members; a member
// appearing twice is an error.
Result<nlohmann::json> JoseHeaderOf(const nlohmann::json& jwe, const std::string& protected_b64);

Result<std::string> StringMemberOf(const nlohmann::json& obj, const char* name, const char* where);
Result<Bytes> Base64UrlMemberOf(const nlohmann::json& obj, const char* name, const char* where);

}  // namespace coco::jose::detail
