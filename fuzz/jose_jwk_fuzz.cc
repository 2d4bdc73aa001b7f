// JWK parsing (src/jose/jwk.h) of EC, RSA and OKP public keys, and encryption to a parsed key
// (the broker encrypts resources to the JWK a guest sends).
// Invariants: PublicJwk of a parsed key parses back to a key with the same PublicJwk (RSA: when
// OpenSSL's randomised modulus check agrees twice); a JWE to a parsed EC/RSA key is well formed.
#include "fuzz_util.h"
#include "jose/jwe.h"
#include "jose/jwk.h"

namespace jose = coco::jose;
using Json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Json jwk = Json::parse(coco::fuzz::AsString(data, size), nullptr, /*allow_exceptions=*/false);
  if (jwk.is_discarded()) return 0;
  auto key = jose::KeyFromJwk(jwk);
  if (!key.ok()) return 0;
  FUZZ_CHECK(!key->has_private());

  auto out = jose::PublicJwk(*key, "fuzz-alg");
  FUZZ_CHECK_OK(out);
  FUZZ_CHECK((*out)["alg"] == "fuzz-alg");
  out->erase("alg");
  auto again = jose::KeyFromJwk(*out);
  if (!again.ok() && key->type() == coco::crypto::Key::Type::kRsa) {
    // OpenSSL's RSA public check (enhanced Miller-Rabin, random bases) can accept a malformed
    // modulus once and refuse it the next time; never a real two-prime modulus.
    return 0;
  }
  FUZZ_CHECK_OK(again);
  auto out2 = jose::PublicJwk(*again);
  FUZZ_CHECK_OK(out2);
  FUZZ_CHECK(*out2 == *out);

  if (key->type() != coco::crypto::Key::Type::kEd25519) {
    auto jwe = jose::JweEncrypt(*out, coco::ToBytes("secret"));
    if (jwe.ok()) {
      for (const char* m : {"protected", "encrypted_key", "iv", "ciphertext", "tag"}) {
        FUZZ_CHECK(jwe->contains(m) && (*jwe)[m].is_string());
      }
    }
  }
  return 0;
}
