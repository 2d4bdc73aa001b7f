#include "crypto/crypto.h"

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

namespace coco::crypto {
namespace {

// ---- RAII holders for OpenSSL objects -------------------------------------------------------

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
template <class T, void (*F)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, F>>;

void FreeBio(BIO* b) { BIO_free_all(b); }
void FreeByteBuffer(unsigned char* p) { OPENSSL_free(p); }

using PkeyPtr = Owned<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtxPtr = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using CipherCtxPtr = Owned<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using MacPtr = Owned<EVP_MAC, EVP_MAC_free>;
using MacCtxPtr = Owned<EVP_MAC_CTX, EVP_MAC_CTX_free>;
using BioPtr = Owned<BIO, FreeBio>;
using BnPtr = Owned<BIGNUM, BN_free>;
using EcdsaSigPtr = Owned<ECDSA_SIG, ECDSA_SIG_free>;
using ParamBldPtr = Owned<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = Owned<OSSL_PARAM, OSSL_PARAM_free>;
using ByteBufPtr = Owned<unsigned char, FreeByteBuffer>;

// Drains this thread's OpenSSL error queue into a readable suffix (": reason; reason").
std::string DrainSslErrors() {
  std::string out;
  unsigned long code;  // NOLINT(runtime/int): OpenSSL's type
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    out += out.empty() ? ": " : "; ";
    out += buf;
  }
  return out;
}

Error CryptoError(const std::string& what) { return MakeError("Crypto", what + DrainSslErrors()); }

Error InvalidArgument(const std::string& what) {
  ERR_clear_error();
  return MakeError("InvalidArgument", what);
}

const unsigned char* U8(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

const EVP_MD* Md(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha256:
      return EVP_sha256();
    case HashAlg::kSha384:
      return EVP_sha384();
    case HashAlg::kSha512:
      return EVP_sha512();
  }
  return EVP_sha256();
}

// OpenSSL group names of the supported curves.
const char* GroupName(Curve c) {
  switch (c) {
    case Curve::kP256:
      return "prime256v1";
    case Curve::kP384:
      return "secp384r1";
    case Curve::kP521:
      return "secp521r1";
  }
  return "prime256v1";
}

HashAlg CurveHash(Curve c) {
  switch (c) {
    case Curve::kP256:
      return HashAlg::kSha256;
    case Curve::kP384:
      return HashAlg::kSha384;
    case Curve::kP521:
      return HashAlg::kSha512;
  }
  return HashAlg::kSha256;
}

std::string KeyTypeName(Key::Type t) {
  switch (t) {
    case Key::Type::kEc:
      return "EC";
    case Key::Type::kRsa:
      return "RSA";
    case Key::Type::kEd25519:
      return "Ed25519";
  }
  return "unknown";
}

Status RequireKey(const Key& key, Key::Type type, bool need_private, const char* op) {
  if (key.get() == nullptr) return InvalidArgument(std::string(op) + ": the key is empty");
  if (key.type() != type) {
    return InvalidArgument(std::string(op) + " needs an " + KeyTypeName(type) + " key, got " +
                           KeyTypeName(key.type()));
  }
  if (need_private && !key.has_private()) {
    return InvalidArgument(std::string(op) + " needs a private key, got a public-only key");
  }
  return Status::Ok();
}

Result<Bytes> BigNumParam(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &raw) != 1) {
    BN_free(raw);
    return CryptoError(std::string("cannot read key parameter \"") + name + "\"");
  }
  BnPtr bn(raw);
  Bytes out(static_cast<size_t>(BN_num_bytes(bn.get())));
  BN_bn2bin(bn.get(), out.data());
  return out;
}

bool HasBigNumParam(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* raw = nullptr;
  bool ok = EVP_PKEY_get_bn_param(pkey, name, &raw) == 1 && raw != nullptr;
  BN_clear_free(raw);
  ERR_clear_error();
  return ok;
}

// Strips leading zero bytes and refuses values longer than `size` bytes, then left-pads to it.
Result<Bytes> PadCoordinate(const Bytes& v, size_t size, const char* name) {
  size_t start = 0;
  while (start < v.size() && v[start] == 0) ++start;
  size_t len = v.size() - start;
  if (len > size) {
    return InvalidArgument(std::string("EC coordinate ") + name + " has " +
                           std::to_string(v.size()) + " bytes, more than the curve's " +
                           std::to_string(size));
  }
  Bytes out(size - len, 0);
  out.insert(out.end(), v.begin() + static_cast<std::ptrdiff_t>(start), v.end());
  return out;
}

Result<std::string> BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int): OpenSSL's type
  if (len < 0 || (len > 0 && data == nullptr)) return CryptoError("cannot read PEM output");
  return std::string(data, static_cast<size_t>(len));
}

// Password callback that refuses to prompt: encrypted PEM keys are not supported.
int NoPassword(char*, int, int, void*) { return -1; }

// Parses a strict DER ECDSA-Sig-Value; null if `der` is not exactly one.
EcdsaSigPtr ParseDerSignature(const Bytes& der) {
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));  // NOLINT
  if (!sig || p != der.data() + der.size()) return nullptr;
  // Re-encode to refuse BER variants that d2i tolerates.
  unsigned char* re = nullptr;
  int re_len = i2d_ECDSA_SIG(sig.get(), &re);
  ByteBufPtr holder(re);
  if (re_len != static_cast<int>(der.size()) || CRYPTO_memcmp(re, der.data(), der.size()) != 0) {
    return nullptr;
  }
  return sig;
}

// r||s (each `coord` bytes) → DER.
Result<Bytes> RawToDer(const Bytes& r_s, size_t coord) {
  if (r_s.size() != 2 * coord) {
    return InvalidArgument("ECDSA signature has " + std::to_string(r_s.size()) +
                           " bytes, expected " + std::to_string(2 * coord) + " (r||s)");
  }
  BnPtr r(BN_bin2bn(r_s.data(), static_cast<int>(coord), nullptr));
  BnPtr s(BN_bin2bn(r_s.data() + coord, static_cast<int>(coord), nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (!r || !s || !sig) return CryptoError("cannot allocate ECDSA signature");
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) {
    return CryptoError("cannot build ECDSA signature");
  }
  r.release();  // now owned by sig
  s.release();
  unsigned char* der = nullptr;
  int len = i2d_ECDSA_SIG(sig.get(), &der);
  ByteBufPtr holder(der);
  if (len <= 0) return CryptoError("cannot DER-encode ECDSA signature");
  return Bytes(der, der + len);
}

Status VerifyDigestSignature(const Key& key, const EVP_MD* md, std::string_view data,
                             const Bytes& sig, const char* what) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return CryptoError("cannot allocate digest context");
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.get()) != 1) {
    return CryptoError(std::string("cannot initialise ") + what + " verification");
  }
  int rc = EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), U8(data), data.size());
  if (rc != 1) {
    ERR_clear_error();
    return MakeError("Crypto", std::string(what) + " signature does not verify");
  }
  return Status::Ok();
}

Result<Bytes> DigestSign(const Key& key, const EVP_MD* md, std::string_view data,
                         const char* what) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return CryptoError("cannot allocate digest context");
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key.get()) != 1) {
    return CryptoError(std::string("cannot initialise ") + what + " signing");
  }
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, U8(data), data.size()) != 1) {
    return CryptoError(std::string(what) + " signing failed");
  }
  Bytes sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, U8(data), data.size()) != 1) {
    return CryptoError(std::string(what) + " signing failed");
  }
  sig.resize(len);
  return sig;
}

const EVP_CIPHER* GcmCipher(size_t key_size) {
  switch (key_size) {
    case 16:
      return EVP_aes_128_gcm();
    case 24:
      return EVP_aes_192_gcm();
    case 32:
      return EVP_aes_256_gcm();
    default:
      return nullptr;
  }
}

const EVP_CIPHER* WrapCipher(size_t key_size) {
  switch (key_size) {
    case 16:
      return EVP_aes_128_wrap();
    case 24:
      return EVP_aes_192_wrap();
    case 32:
      return EVP_aes_256_wrap();
    default:
      return nullptr;
  }
}

constexpr size_t kGcmIvSize = 12;
constexpr size_t kGcmTagSize = 16;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;

Result<Bytes> RsaOaep(const Key& key, const Bytes& input, bool sha1, bool encrypt) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!ctx) return CryptoError("cannot allocate RSA context");
  const char* op = encrypt ? "RSA-OAEP encryption" : "RSA-OAEP decryption";
  int rc = encrypt ? EVP_PKEY_encrypt_init(ctx.get()) : EVP_PKEY_decrypt_init(ctx.get());
  const EVP_MD* md = sha1 ? EVP_sha1() : EVP_sha256();
  if (rc != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1) {
    return CryptoError(std::string("cannot initialise ") + op);
  }
  size_t len = 0;
  rc = encrypt ? EVP_PKEY_encrypt(ctx.get(), nullptr, &len, input.data(), input.size())
               : EVP_PKEY_decrypt(ctx.get(), nullptr, &len, input.data(), input.size());
  if (rc != 1) return CryptoError(std::string(op) + " failed");
  Bytes out(len);
  rc = encrypt ? EVP_PKEY_encrypt(ctx.get(), out.data(), &len, input.data(), input.size())
               : EVP_PKEY_decrypt(ctx.get(), out.data(), &len, input.data(), input.size());
  if (rc != 1) {
    if (!encrypt) {
      ERR_clear_error();  // do not report padding details of a failed decryption
      return MakeError("Crypto", "RSA-OAEP decryption failed: ciphertext or key is wrong");
    }
    return CryptoError(std::string(op) + " failed");
  }
  out.resize(len);
  return out;
}

}  // namespace

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
  return MakeError("InvalidArgument",
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

// ---- Key ------------------------------------------------------------------------------------

Key::Key(std::shared_ptr<EVP_PKEY> pkey, Type type, Curve curve, bool has_private)
    : pkey_(std::move(pkey)), type_(type), curve_(curve), has_private_(has_private) {}

Result<Key> Key::Wrap(EVP_PKEY* owned) {
  PkeyPtr holder(owned);
  if (!owned) return CryptoError("no key");
  Type type;
  Curve curve = Curve::kP256;
  bool has_private = false;
  if (EVP_PKEY_is_a(owned, "EC")) {
    type = Type::kEc;
    char group[80] = {0};
    size_t group_len = 0;
    if (EVP_PKEY_get_utf8_string_param(owned, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                       &group_len) != 1) {
      return CryptoError("EC key has no named curve (explicit curve parameters are refused)");
    }
    std::string g(group, group_len);
    if (g == "prime256v1" || g == "P-256") {
      curve = Curve::kP256;
    } else if (g == "secp384r1" || g == "P-384") {
      curve = Curve::kP384;
    } else if (g == "secp521r1" || g == "P-521") {
      curve = Curve::kP521;
    } else {
      return InvalidArgument("unsupported EC curve \"" + g + "\" (want P-256, P-384 or P-521)");
    }
    has_private = HasBigNumParam(owned, OSSL_PKEY_PARAM_PRIV_KEY);
  } else if (EVP_PKEY_is_a(owned, "RSA")) {
    type = Type::kRsa;
    int bits = EVP_PKEY_get_bits(owned);
    if (bits < kMinRsaBits) {
      return InvalidArgument("RSA key has " + std::to_string(bits) + " bits, fewer than the " +
                             std::to_string(kMinRsaBits) + " required");
    }
    has_private = HasBigNumParam(owned, OSSL_PKEY_PARAM_RSA_D);
  } else if (EVP_PKEY_is_a(owned, "ED25519")) {
    type = Type::kEd25519;
    size_t len = 0;
    has_private = EVP_PKEY_get_raw_private_key(owned, nullptr, &len) == 1 && len == 32;
    ERR_clear_error();
  } else {
    const char* name = EVP_PKEY_get0_type_name(owned);
    return InvalidArgument(std::string("unsupported key type \"") + (name ? name : "?") +
                           "\" (want EC, RSA or Ed25519)");
  }
  std::shared_ptr<EVP_PKEY> shared(holder.release(), EVP_PKEY_free);
  return Key(std::move(shared), type, curve, has_private);
}

Result<Key> Key::GenerateEc(Curve curve) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", GroupName(curve));
  if (!pkey) return CryptoError("EC key generation on " + CurveName(curve) + " failed");
  return Wrap(pkey);
}

Result<Key> Key::GenerateRsa(int bits) {
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return InvalidArgument("RSA key size " + std::to_string(bits) + " is out of range [" +
                           std::to_string(kMinRsaBits) + ", " + std::to_string(kMaxRsaBits) + "]");
  }
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  if (!pkey) return CryptoError("RSA-" + std::to_string(bits) + " key generation failed");
  return Wrap(pkey);
}

Result<Key> Key::GenerateEd25519() {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!pkey) return CryptoError("Ed25519 key generation failed");
  return Wrap(pkey);
}

Result<Key> Key::FromPem(std::string_view pem) {
  if (pem.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return InvalidArgument("PEM input is too large");
  }
  bool is_private = pem.find("PRIVATE KEY-----") != std::string_view::npos;
  bool is_public = pem.find("PUBLIC KEY-----") != std::string_view::npos;
  if (!is_private && !is_public) {
    return InvalidArgument("PEM input has no \"PRIVATE KEY\" or \"PUBLIC KEY\" block");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return CryptoError("cannot allocate BIO");
  EVP_PKEY* pkey = nullptr;
  if (is_private) {
    pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr);
    if (!pkey) {
      return MakeError(
          "InvalidArgument",
          "cannot parse PEM private key (encrypted keys are not supported)" + DrainSslErrors());
    }
  } else {
    pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassword, nullptr);
    if (!pkey) {
      return MakeError(
          "InvalidArgument",
          "cannot parse PEM public key (want SubjectPublicKeyInfo)" + DrainSslErrors());
    }
  }
  return Wrap(pkey);
}

Result<Key> Key::FromEcPublic(Curve curve, const Bytes& x, const Bytes& y) {
  size_t size = CurveCoordinateSize(curve);
  COCO_ASSIGN_OR_RETURN(Bytes px, PadCoordinate(x, size, "x"));
  COCO_ASSIGN_OR_RETURN(Bytes py, PadCoordinate(y, size, "y"));
  Bytes point;
  point.reserve(1 + 2 * size);
  point.push_back(0x04);
  point.insert(point.end(), px.begin(), px.end());
  point.insert(point.end(), py.begin(), py.end());

  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, GroupName(curve), 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return CryptoError("cannot build EC public key parameters");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return CryptoError("cannot build EC public key parameters");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return CryptoError("cannot initialise EC key import");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    EVP_PKEY_free(raw);
    ERR_clear_error();
    return MakeError("InvalidArgument",
                     "EC public key (x, y) is not a point on " + CurveName(curve));
  }
  PkeyPtr pkey(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check) return CryptoError("cannot allocate EC key check context");
  // The NIST curves have prime order (cofactor 1): a point on the curve that is not the point at
  // infinity is in the group, so the quick check is complete and skips a scalar multiplication.
  if (EVP_PKEY_public_check_quick(check.get()) != 1) {
    ERR_clear_error();
    return MakeError("InvalidArgument",
                     "EC public key (x, y) is not a valid point on " + CurveName(curve));
  }
  return Wrap(pkey.release());
}

Result<Key> Key::FromRsaPublic(const Bytes& n, const Bytes& e) {
  if (n.empty()) return InvalidArgument("RSA modulus n is empty");
  if (e.empty()) return InvalidArgument("RSA exponent e is empty");
  BnPtr bn_n(BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
  BnPtr bn_e(BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
  if (!bn_n || !bn_e) return CryptoError("cannot allocate RSA parameters");
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1) {
    return CryptoError("cannot build RSA public key parameters");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) return CryptoError("cannot build RSA public key parameters");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    return CryptoError("cannot initialise RSA key import");
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    EVP_PKEY_free(raw);
    return MakeError("InvalidArgument", "RSA public key (n, e) is invalid" + DrainSslErrors());
  }
  PkeyPtr pkey(raw);
  int bits = EVP_PKEY_get_bits(pkey.get());
  if (bits < kMinRsaBits || bits > kMaxRsaBits) {
    return InvalidArgument("RSA modulus n has " + std::to_string(bits) +
                           " bits, outside the accepted range [" + std::to_string(kMinRsaBits) +
                           ", " + std::to_string(kMaxRsaBits) + "]");
  }
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check) return CryptoError("cannot allocate RSA key check context");
  if (EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return MakeError("InvalidArgument",
                     "RSA public key (n, e) fails validation (n must be odd and composite, e odd "
                     "and greater than 65536)");
  }
  return Wrap(pkey.release());
}

Result<Key> Key::FromEd25519Public(const Bytes& raw32) {
  if (raw32.size() != 32) {
    return InvalidArgument("Ed25519 public key has " + std::to_string(raw32.size()) +
                           " bytes, expected 32");
  }
  EVP_PKEY* pkey =
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw32.data(), raw32.size());
  if (!pkey) return CryptoError("cannot import Ed25519 public key");
  return Wrap(pkey);
}

Result<std::string> Key::PrivatePem() const {
  if (!pkey_) return InvalidArgument("PrivatePem: the key is empty");
  if (!has_private_) return InvalidArgument("PrivatePem: the key has no private part");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return CryptoError("cannot allocate BIO");
  if (PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
      1) {
    return CryptoError("cannot write PKCS#8 private key");
  }
  return BioContents(bio.get());
}

Result<std::string> Key::PublicPem() const {
  if (!pkey_) return InvalidArgument("PublicPem: the key is empty");
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return CryptoError("cannot allocate BIO");
  if (PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) {
    return CryptoError("cannot write SubjectPublicKeyInfo public key");
  }
  return BioContents(bio.get());
}

Key Key::PublicOnly() const {
  if (!pkey_ || !has_private_) return *this;
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey_.get(), &der);
  ByteBufPtr holder(der);
  EVP_PKEY* pub = nullptr;
  if (len > 0) {
    const unsigned char* p = der;
    pub = d2i_PUBKEY(nullptr, &p, len);
  }
  if (!pub) {
    // Only an allocation failure gets here. Never hand out the private key as "public only":
    // return an empty key, which every operation refuses.
    ERR_clear_error();
    return Key(nullptr, type_, curve_, false);
  }
  return Key(std::shared_ptr<EVP_PKEY>(pub, EVP_PKEY_free), type_, curve_, false);
}

Result<Key::EcPoint> Key::EcPublicPoint() const {
  COCO_RETURN_IF_ERROR(RequireKey(*this, Type::kEc, false, "EcPublicPoint"));
  size_t size = CurveCoordinateSize(curve_);
  EcPoint out;
  COCO_ASSIGN_OR_RETURN(Bytes x, BigNumParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X));
  COCO_ASSIGN_OR_RETURN(Bytes y, BigNumParam(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y));
  COCO_ASSIGN_OR_RETURN(out.x, PadCoordinate(x, size, "x"));
  COCO_ASSIGN_OR_RETURN(out.y, PadCoordinate(y, size, "y"));
  return out;
}

Result<Key::RsaPublic> Key::RsaPublicParams() const {
  COCO_RETURN_IF_ERROR(RequireKey(*this, Type::kRsa, false, "RsaPublicParams"));
  RsaPublic out;
  COCO_ASSIGN_OR_RETURN(out.n, BigNumParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_N));
  COCO_ASSIGN_OR_RETURN(out.e, BigNumParam(pkey_.get(), OSSL_PKEY_PARAM_RSA_E));
  return out;
}

Result<Bytes> Key::Ed25519PublicRaw() const {
  COCO_RETURN_IF_ERROR(RequireKey(*this, Type::kEd25519, false, "Ed25519PublicRaw"));
  Bytes out(32);
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(pkey_.get(), out.data(), &len) != 1 || len != 32) {
    return CryptoError("cannot read Ed25519 public key");
  }
  return out;
}

// ---- Signatures -----------------------------------------------------------------------------

Result<Bytes> EcdsaSign(const Key& key, std::string_view data) {
  COCO_RETURN_IF_ERROR(RequireKey(key, Key::Type::kEc, true, "EcdsaSign"));
  COCO_ASSIGN_OR_RETURN(Bytes der, DigestSign(key, Md(CurveHash(key.curve())), data, "ECDSA"));
  EcdsaSigPtr sig = ParseDerSignature(der);
  if (!sig) return CryptoError("OpenSSL produced an unparsable ECDSA signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  int coord = static_cast<int>(CurveCoordinateSize(key.curve()));
  Bytes out(2 * static_cast<size_t>(coord));
  if (BN_bn2binpad(r, out.data(), coord) != coord ||
      BN_bn2binpad(s, out.data() + coord, coord) != coord) {
    return CryptoError("cannot encode ECDSA signature as r||s");
  }
  return out;
}

Status EcdsaVerify(const Key& key, std::string_view data, const Bytes& signature) {
  COCO_RETURN_IF_ERROR(RequireKey(key, Key::Type::kEc, false, "EcdsaVerify"));
  COCO_ASSIGN_OR_RETURN(Bytes der, RawToDer(signature, CurveCoordinateSize(key.curve())));
  return VerifyDigestSignature(key, Md(CurveHash(key.curve())), data, der, "ECDSA");
}

Status EcdsaVerifyRaw(const Key& key, HashAlg hash, std::string_view data, const Bytes& r_s) {
  COCO_RETURN_IF_ERROR(RequireKey(key, Key::Type::kEc, false, "EcdsaVerifyRaw"));
  size_t coord = CurveCoordinateSize(key.curve());
  Bytes der;
  if (!r_s.empty() && r_s[0] == 0x30 && ParseDerSignature(r_s)) {
    der = r_s;
  } else if (r_s.size() == 2 * coord) {
    COCO_ASSIGN_OR_RETURN(der, RawToDer(r_s, coord));
  } else {
    return InvalidArgument("ECDSA signature (" + std::to_string(r_s.size()) +
                           " bytes) is neither DER nor r||s of " + std::to_string(2 * coord) +
                           " bytes");
  }
  return VerifyDigestSignature(key, Md(hash), data, der, "ECDSA");
}

Result<Bytes> Ed25519Sign(const Key& key, std::string_view data) {
  COCO_RETURN_IF_ERROR(RequireKey(key, Key::Type::kEd25519, true, "Ed25519Sign"));
  return DigestSign(key, nullptr, data, "Ed25519");
}

Status Ed25519Verify(const Key& key, std::string_view data, const Bytes& signature) {
  COCO_RETURN_IF_ERROR(RequireKey(key, Key::Type::kEd25519, false, "Ed25519Verify"));
  if (signature.size() != 64) {
    return InvalidArgument("Ed25519 signature has " + std::to_string(signature.size()) +
                           " bytes, expected 64");
  }
  return VerifyDigestSignature(key, nullptr, data, signature, "Ed25519");
}

// ---- Key agreement and encryption -----------------------------------------------------------

Result<SecretBytes> EcdhDerive(const Key& private_key, const Key& peer_public) {
  COCO_RETURN_IF_ERROR(RequireKey(private_key, Key::Type::kEc, true, "EcdhDerive"));
  COCO_RETURN_IF_ERROR(RequireKey(peer_public, Key::Type::kEc, false, "EcdhDerive (peer)"));
  if (private_key.curve() != peer_public.curve()) {
    return InvalidArgument("ECDH peer key is on " + CurveName(peer_public.curve()) +
                           " but the private key is on " + CurveName(private_key.curve()));
  }
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, private_key.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) {
    return CryptoError("cannot initialise ECDH");
  }
  // Validate the peer point (on the curve, not infinity; complete for prime-order curves), then
  // derive without OpenSSL's full check, which repeats that work with an extra multiplication.
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, peer_public.get(), nullptr));
  if (!check || EVP_PKEY_public_check_quick(check.get()) != 1) {
    return MakeError("InvalidArgument", "ECDH peer public key is invalid" + DrainSslErrors());
  }
  if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer_public.get(), 0) != 1) {
    return MakeError("InvalidArgument", "ECDH peer public key is invalid" + DrainSslErrors());
  }
  size_t len = 0;
  if (EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) return CryptoError("ECDH failed");
  SecretBytes z(Bytes(len, 0));
  if (EVP_PKEY_derive(ctx.get(), z.mutable_bytes().data(), &len) != 1) {
    return CryptoError("ECDH failed");
  }
  z.mutable_bytes().resize(len);
  return z;
}

Result<Bytes> RsaOaepEncrypt(const Key& public_key, const Bytes& plaintext, bool sha1) {
  COCO_RETURN_IF_ERROR(RequireKey(public_key, Key::Type::kRsa, false, "RsaOaepEncrypt"));
  return RsaOaep(public_key, plaintext, sha1, true);
}

Result<SecretBytes> RsaOaepDecrypt(const Key& private_key, const Bytes& ciphertext, bool sha1) {
  COCO_RETURN_IF_ERROR(RequireKey(private_key, Key::Type::kRsa, true, "RsaOaepDecrypt"));
  COCO_ASSIGN_OR_RETURN(Bytes plain, RsaOaep(private_key, ciphertext, sha1, false));
  return SecretBytes(std::move(plain));
}

Result<GcmSealed> AesGcmEncrypt(const Bytes& key, const Bytes& iv, std::string_view aad,
                                const Bytes& plaintext) {
  const EVP_CIPHER* cipher = GcmCipher(key.size());
  if (!cipher) {
    return InvalidArgument("AES-GCM key has " + std::to_string(key.size()) +
                           " bytes, expected 16, 24 or 32");
  }
  if (iv.size() != kGcmIvSize) {
    return InvalidArgument("AES-GCM IV has " + std::to_string(iv.size()) + " bytes, expected 12");
  }
  if (plaintext.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      aad.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return InvalidArgument("AES-GCM input is too large");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, key.data(), iv.data()) != 1) {
    return CryptoError("cannot initialise AES-GCM encryption");
  }
  int len = 0;
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, U8(aad), static_cast<int>(aad.size())) != 1) {
    return CryptoError("AES-GCM AAD processing failed");
  }
  GcmSealed out;
  out.ciphertext.resize(plaintext.size());
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx.get(), out.ciphertext.data(), &len, plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1) {
    return CryptoError("AES-GCM encryption failed");
  }
  int final_len = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out.ciphertext.data() + plaintext.size(), &final_len) != 1) {
    return CryptoError("AES-GCM encryption failed");
  }
  out.tag.resize(kGcmTagSize);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kGcmTagSize),
                          out.tag.data()) != 1) {
    return CryptoError("cannot read AES-GCM tag");
  }
  return out;
}

Result<SecretBytes> AesGcmDecrypt(const Bytes& key, const Bytes& iv, std::string_view aad,
                                  const Bytes& ciphertext, const Bytes& tag) {
  const EVP_CIPHER* cipher = GcmCipher(key.size());
  if (!cipher) {
    return InvalidArgument("AES-GCM key has " + std::to_string(key.size()) +
                           " bytes, expected 16, 24 or 32");
  }
  if (iv.size() != kGcmIvSize) {
    return InvalidArgument("AES-GCM IV has " + std::to_string(iv.size()) + " bytes, expected 12");
  }
  if (tag.size() != kGcmTagSize) {
    return InvalidArgument("AES-GCM tag has " + std::to_string(tag.size()) + " bytes, expected 16");
  }
  if (ciphertext.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
      aad.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return InvalidArgument("AES-GCM input is too large");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, key.data(), iv.data()) != 1) {
    return CryptoError("cannot initialise AES-GCM decryption");
  }
  int len = 0;
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, U8(aad), static_cast<int>(aad.size())) != 1) {
    return CryptoError("AES-GCM AAD processing failed");
  }
  SecretBytes plain(Bytes(ciphertext.size(), 0));
  if (!ciphertext.empty() &&
      EVP_DecryptUpdate(ctx.get(), plain.mutable_bytes().data(), &len, ciphertext.data(),
                        static_cast<int>(ciphertext.size())) != 1) {
    return CryptoError("AES-GCM decryption failed");
  }
  Bytes tag_copy = tag;  // the ctrl call takes a non-const pointer
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kGcmTagSize),
                          tag_copy.data()) != 1) {
    return CryptoError("cannot set AES-GCM tag");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), plain.mutable_bytes().data() + ciphertext.size(),
                          &final_len) != 1) {
    ERR_clear_error();
    return MakeError("Crypto",
                     "AES-GCM authentication failed: ciphertext, tag, IV, AAD or key is wrong");
  }
  return plain;
}

Result<Bytes> AesKeyWrap(const Bytes& kek, const Bytes& key) {
  const EVP_CIPHER* cipher = WrapCipher(kek.size());
  if (!cipher) {
    return InvalidArgument("AES key wrap KEK has " + std::to_string(kek.size()) +
                           " bytes, expected 16, 24 or 32");
  }
  if (key.size() < 16 || key.size() % 8 != 0 || key.size() > 4096) {
    return InvalidArgument("AES key wrap input has " + std::to_string(key.size()) +
                           " bytes, expected a multiple of 8 from 16 to 4096");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return CryptoError("cannot allocate cipher context");
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, kek.data(), nullptr) != 1) {
    return CryptoError("cannot initialise AES key wrap");
  }
  Bytes out(key.size() + 8);
  int len = 0;
  if (EVP_EncryptUpdate(ctx.get(), out.data(), &len, key.data(), static_cast<int>(key.size())) !=
      1) {
    return CryptoError("AES key wrap failed");
  }
  int final_len = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &final_len) != 1) {
    return CryptoError("AES key wrap failed");
  }
  out.resize(static_cast<size_t>(len + final_len));
  return out;
}

Result<SecretBytes> AesKeyUnwrap(const Bytes& kek, const Bytes& wrapped) {
  const EVP_CIPHER* cipher = WrapCipher(kek.size());
  if (!cipher) {
    return InvalidArgument("AES key unwrap KEK has " + std::to_string(kek.size()) +
                           " bytes, expected 16, 24 or 32");
  }
  if (wrapped.size() < 24 || wrapped.size() % 8 != 0 || wrapped.size() > 4104) {
    return InvalidArgument("wrapped key has " + std::to_string(wrapped.size()) +
                           " bytes, expected a multiple of 8 from 24 to 4104");
  }
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return CryptoError("cannot allocate cipher context");
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, kek.data(), nullptr) != 1) {
    return CryptoError("cannot initialise AES key unwrap");
  }
  SecretBytes out(Bytes(wrapped.size(), 0));
  int len = 0;
  if (EVP_DecryptUpdate(ctx.get(), out.mutable_bytes().data(), &len, wrapped.data(),
                        static_cast<int>(wrapped.size())) != 1) {
    ERR_clear_error();
    return MakeError("Crypto",
                     "AES key unwrap failed: integrity check failed (wrong KEK or "
                     "corrupted wrapped key)");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), out.mutable_bytes().data() + len, &final_len) != 1) {
    ERR_clear_error();
    return MakeError("Crypto",
                     "AES key unwrap failed: integrity check failed (wrong KEK or "
                     "corrupted wrapped key)");
  }
  size_t total = static_cast<size_t>(len + final_len);
  OPENSSL_cleanse(out.mutable_bytes().data() + total, out.size() - total);
  out.mutable_bytes().resize(total);
  return out;
}

}  // namespace coco::crypto
