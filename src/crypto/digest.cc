// Hashes, HMAC, randomness and curve names.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

#include "crypto/crypto.h"
#include "crypto/openssl_util.h"

namespace coco::crypto {

using namespace detail;  // NOLINT(build/namespaces): this library's own plumbing

// ---- Hashes and randomness ------------------------------------------------------------------

Bytes Hash(HashAlg alg, std::string_view data) {
  Bytes out(static_cast<size_t>(EVP_MD_get_size(Md(alg))));
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, Md(alg), nullptr) != 1) {
    // Only a failed allocation gets here; there is no digest to return.
    std::fprintf(stderr, "coco::crypto::Hash: EVP_Digest failed%s\n", DrainSslErrors().c_str());
    std::abort();
  }
  out.resize(len);
  return out;
}

struct Hasher::State {
  MdCtxPtr ctx;
};

Hasher::Hasher(HashAlg alg) : state_(std::make_unique<State>()) {
  state_->ctx.reset(EVP_MD_CTX_new());
  if (!state_->ctx || EVP_DigestInit_ex(state_->ctx.get(), Md(alg), nullptr) != 1) {
    // Only a failed allocation gets here.
    std::fprintf(stderr, "coco::crypto::Hasher: init failed%s\n", DrainSslErrors().c_str());
    std::abort();
  }
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::Update(const void* data, size_t n) {
  if (n > 0) EVP_DigestUpdate(state_->ctx.get(), data, n);
}

Bytes Hasher::Finish() {
  Bytes out(static_cast<size_t>(EVP_MD_CTX_get_size(state_->ctx.get())));
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx.get(), out.data(), &len);
  out.resize(len);
  return out;
}

Result<Bytes> HmacSha256(const Bytes& key, std::string_view data) {
  MacPtr mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  if (!mac) return CryptoError("HMAC is not available");
  MacCtxPtr ctx(EVP_MAC_CTX_new(mac.get()));
  if (!ctx) return CryptoError("cannot allocate HMAC context");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  // OpenSSL refuses a NULL key pointer even for length 0.
  static const unsigned char kEmpty[1] = {0};
  const unsigned char* k = key.empty() ? kEmpty : key.data();
  if (EVP_MAC_init(ctx.get(), k, key.size(), params) != 1) {
    return CryptoError("cannot initialise HMAC-SHA256");
  }
  if (EVP_MAC_update(ctx.get(), U8(data), data.size()) != 1) {
    return CryptoError("HMAC-SHA256 update failed");
  }
  Bytes out(EVP_MAX_MD_SIZE);
  size_t len = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1) {
    return CryptoError("HMAC-SHA256 final failed");
  }
  out.resize(len);
  return out;
}

Bytes RandomBytes(size_t n) {
  Bytes out(n);
  size_t done = 0;
  while (done < n) {
    size_t chunk = std::min<size_t>(n - done, static_cast<size_t>(std::numeric_limits<int>::max()));
    if (RAND_bytes(out.data() + done, static_cast<int>(chunk)) != 1) {
      // Returning predictable bytes would be worse than stopping.
      std::fprintf(stderr, "coco::crypto::RandomBytes: RAND_bytes failed%s\n",
                   DrainSslErrors().c_str());
      std::abort();
    }
    done += chunk;
  }
  return out;
}

// ---- Curves ---------------------------------------------------------------------------------

std::string CurveName(Curve c) {
  switch (c) {
    case Curve::kP256:
      return "P-256";
    case Curve::kP384:
      return "P-384";
    case Curve::kP521:
      return "P-521";
  }
  return "P-256";
}

Result<Curve> CurveFromName(std::string_view name) {
  if (name == "P-256") return Curve::kP256;
  if (name == "P-384") return Curve::kP384;
  if (name == "P-521") return Curve::kP521;
  return MakeError(Code::kInvalidArgument,
                   "unsupported curve \"" + std::string(name) + "\" (want P-256, P-384 or P-521)");
}

size_t CurveCoordinateSize(Curve c) {
  switch (c) {
    case Curve::kP256:
      return 32;
    case Curve::kP384:
      return 48;
    case Curve::kP521:
      return 66;
  }
  return 32;
}

}  // namespace coco::crypto
