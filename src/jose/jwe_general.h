// JWE (RFC 7516) with several recipients, as ocicrypt wraps image-layer keys: content A256GCM,
// one encrypted content key per recipient. Written like go-jose's full serialization: with one
// recipient the flattened form (every header member protected), with more the general form
// ("recipients", protected header {"enc"}, per-recipient {"alg"[,"epk"]} headers). Both forms,
// with or without shared "unprotected" headers, are read.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/crypto.h"

namespace coco::jose {

struct JweRecipient {
  crypto::Key key;  // public key
  // Key management: "RSA-OAEP-256", "RSA-OAEP" (SHA-1), "ECDH-ES+A128KW"/"A192KW"/"A256KW".
  // Empty: RSA-OAEP-256 for RSA keys, ECDH-ES+A256KW for EC keys.
  std::string alg;
};

Result<nlohmann::json> JweEncryptToRecipients(const std::vector<JweRecipient>& recipients,
                                              const Bytes& plaintext);

// Decrypts with the first (recipient, key) pair that unwraps the content key. The error lists
// each recipient's "alg" (and "kid" if any) and why no key opened it.
Result<SecretBytes> JweDecryptWithAny(const nlohmann::json& jwe,
                                      const std::vector<crypto::Key>& private_keys);

}  // namespace coco::jose
