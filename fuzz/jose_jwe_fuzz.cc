// Flattened JWE decryption (src/jose/jwe.h) with the fixed P-256 and RSA keys of fuzz_keys.h
// (the seeds are encrypted to them, so mutations reach key unwrap and AES-GCM).
// Invariant: JweEncrypt to the EC key followed by JweDecrypt gives back the plaintext (the input).
#include "crypto/crypto.h"
#include "fuzz_keys.h"
#include "fuzz_util.h"
#include "jose/jwe.h"
#include "jose/jwk.h"

namespace jose = coco::jose;
using Json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const coco::crypto::Key ec = *coco::crypto::Key::FromPem(coco::fuzz::kEcP256Pem);
  static const coco::crypto::Key rsa = *coco::crypto::Key::FromPem(coco::fuzz::kRsa2048Pem);
  std::string_view text = coco::fuzz::AsString(data, size);

  Json jwe = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!jwe.is_discarded()) {
    for (const auto* key : {&ec, &rsa}) {
      auto plain = jose::JweDecrypt(jwe, *key);
      if (!plain.ok()) FUZZ_CHECK(!plain.error().message.empty());
    }
  }

  // Round trip of (a prefix of) the input as plaintext; EC only, RSA decryption is slow.
  static const Json ec_jwk = *jose::PublicJwk(ec);
  coco::Bytes plaintext(text.begin(), text.begin() + std::min<size_t>(text.size(), 256));
  auto sealed = jose::JweEncrypt(ec_jwk, plaintext);
  FUZZ_CHECK_OK(sealed);
  auto opened = jose::JweDecrypt(*sealed, ec);
  FUZZ_CHECK_OK(opened);
  FUZZ_CHECK(opened->bytes() == plaintext);
  return 0;
}
