#include "crypto/openssl_util.h"

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

namespace coco::crypto::detail {

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

Error CryptoError(const std::string& what) {
  return MakeError(Code::kCrypto, what + DrainSslErrors());
}

Error InvalidArgument(const std::string& what) {
  ERR_clear_error();
  return MakeError(Code::kInvalidArgument, what);
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
    return MakeError(Code::kCrypto, std::string(what) + " signature does not verify");
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
      return MakeError(Code::kCrypto, "RSA-OAEP decryption failed: ciphertext or key is wrong");
    }
    return CryptoError(std::string(op) + " failed");
  }
  out.resize(len);
  return out;
}

}  // namespace coco::crypto::detail
