// AES-GCM and AES key wrap.
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
    return MakeError(Code::kCrypto,
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
    return MakeError(Code::kCrypto,
                     "AES key unwrap failed: integrity check failed (wrong KEK or "
                     "corrupted wrapped key)");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), out.mutable_bytes().data() + len, &final_len) != 1) {
    ERR_clear_error();
    return MakeError(Code::kCrypto,
                     "AES key unwrap failed: integrity check failed (wrong KEK or "
                     "corrupted wrapped key)");
  }
  size_t total = static_cast<size_t>(len + final_len);
  OPENSSL_cleanse(out.mutable_bytes().data() + total, out.size() - total);
  out.mutable_bytes().resize(total);
  return out;
}

}  // namespace coco::crypto

namespace coco::crypto {

Result<Bytes> AesCtr(const Bytes& key, const Bytes& iv, const Bytes& data) {
  if (key.size() != 32) {
    return detail::InvalidArgument("AES-256-CTR key has " + std::to_string(key.size()) +
                                   " bytes, expected 32");
  }
  if (iv.size() != 16) {
    return detail::InvalidArgument("AES-256-CTR IV has " + std::to_string(iv.size()) +
                                   " bytes, expected 16");
  }
  if (data.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return detail::InvalidArgument("AES-256-CTR input is too large");
  }
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  Bytes out(data.size());
  int len = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ctr(), nullptr, key.data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data(), &len, data.data(), static_cast<int>(data.size())) !=
          1) {
    return MakeError(Code::kCrypto, "AES-256-CTR failed");
  }
  return out;
}

}  // namespace coco::crypto
