// OpenSSL plumbing shared by the crypto library's sources. Not part of the public API.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <string>
#include <string_view>

#include "crypto/crypto.h"

namespace coco::crypto::detail {

// ---- RAII holders for OpenSSL objects -------------------------------------------------------

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
template <class T, void (*F)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, F>>;

inline void FreeBio(BIO* b) { BIO_free_all(b); }
inline void FreeByteBuffer(unsigned char* p) { OPENSSL_free(p); }

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

constexpr size_t kGcmIvSize = 12;
constexpr size_t kGcmTagSize = 16;
constexpr int kMinRsaBits = 2048;
constexpr int kMaxRsaBits = 16384;

std::string DrainSslErrors();

Error CryptoError(const std::string& what);

Error InvalidArgument(const std::string& what);

const unsigned char* U8(std::string_view s);

const EVP_MD* Md(HashAlg alg);

// OpenSSL group names of the supported curves.
const char* GroupName(Curve c);

HashAlg CurveHash(Curve c);

std::string KeyTypeName(Key::Type t);

Status RequireKey(const Key& key, Key::Type type, bool need_private, const char* op);

Result<Bytes> BigNumParam(const EVP_PKEY* pkey, const char* name);

bool HasBigNumParam(const EVP_PKEY* pkey, const char* name);

// Strips leading zero bytes and refuses values longer than `size` bytes, then left-pads to it.
Result<Bytes> PadCoordinate(const Bytes& v, size_t size, const char* name);

Result<std::string> BioContents(BIO* bio);

// Password callback that refuses to prompt: encrypted PEM keys are not supported.
int NoPassword(char*, int, int, void*);

// Parses a strict DER ECDSA-Sig-Value; null if `der` is not exactly one.
EcdsaSigPtr ParseDerSignature(const Bytes& der);

// r||s (each `coord` bytes) → DER.
Result<Bytes> RawToDer(const Bytes& r_s, size_t coord);

Status VerifyDigestSignature(const Key& key, const EVP_MD* md, std::string_view data,
                             const Bytes& sig, const char* what);

Result<Bytes> DigestSign(const Key& key, const EVP_MD* md, std::string_view data, const char* what);

const EVP_CIPHER* GcmCipher(size_t key_size);

const EVP_CIPHER* WrapCipher(size_t key_size);

Result<Bytes> RsaOaep(const Key& key, const Bytes& input, bool sha1, bool encrypt);

}  // namespace coco::crypto::detail
