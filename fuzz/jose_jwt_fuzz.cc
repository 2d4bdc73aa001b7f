// Compact JWS/JWT (src/jose/jwt.h): DecodeJwt and VerifyJwt against the fixed P-256 key of
// fuzz_keys.h (the seeds are signed with it), plus base64url.
// Invariants: the signing input is the token up to its last '.'; claims decoded from a token we
// re-sign with the key are the claims we signed; base64url decoding is stable under re-encoding.
#include "base/bytes.h"
#include "crypto/crypto.h"
#include "fuzz_keys.h"
#include "fuzz_util.h"
#include "jose/jwt.h"

namespace jose = coco::jose;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const coco::crypto::Key key = *coco::crypto::Key::FromPem(coco::fuzz::kEcP256Pem);
  std::string_view token = coco::fuzz::AsString(data, size);

  if (auto raw = coco::Base64UrlDecode(token); raw.ok()) {
    auto again = coco::Base64UrlDecode(coco::Base64UrlEncode(*raw));
    FUZZ_CHECK(again.ok() && *again == *raw);
  }

  auto verified = jose::VerifyJwt(token, key, /*now_unix=*/1'700'000'000, /*require_exp=*/false);
  auto jwt = jose::DecodeJwt(token);
  if (verified.ok()) FUZZ_CHECK(jwt.ok() && *verified == jwt->claims);
  if (!jwt.ok()) return 0;
  FUZZ_CHECK(token.substr(0, token.rfind('.')) == jwt->signing_input);
  FUZZ_CHECK(jwt->header.is_object() && jwt->claims.is_object());

  auto signed_again = jose::SignJwt(key, jwt->claims);
  if (!signed_again.ok()) return 0;
  auto decoded = jose::DecodeJwt(*signed_again);
  FUZZ_CHECK(decoded.ok() && decoded->claims == jwt->claims && decoded->header["alg"] == "ES256");
  return 0;
}
