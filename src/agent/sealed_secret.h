// Sealed secrets in CoCo's format: "sealed." + a compact JWS (ES256) whose payload describes the
// secret. The guest unseals them: the signature is checked with the key named by the header's
// `kid` (a kbs:/// resource holding a P-256 JWK), then a "vault" secret is fetched from the key
// broker by name. "envelope" secrets need a cloud KMS provider, which coco does not have: they
// are refused with an error that says so.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"

namespace coco::agent {

// Fetches a kbs:///repo/type/tag resource (through the attested broker session).
using ResourceGetter = std::function<Result<SecretBytes>(const std::string& uri)>;

constexpr std::string_view kSealedPrefix = "sealed.";

bool IsSealedSecret(std::string_view value);

// Returns the secret's plaintext. Errors name what was wrong: the form, the header, the key,
// the signature, the payload, or the broker's refusal.
Result<SecretBytes> UnsealSecret(std::string_view sealed, const ResourceGetter& get);

}  // namespace coco::agent
