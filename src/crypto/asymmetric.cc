// Signatures (ECDSA, Ed25519), ECDH and RSA-OAEP.
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

Status RsaVerify(const Key& key, HashAlg hash, std::string_view data, const Bytes& signature,
                 bool pss) {
  COCO_RETURN_IF_ERROR(RequireKey(key, Key::Type::kRsa, false, "RsaVerify"));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return CryptoError("cannot allocate digest context");
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, Md(hash), nullptr, key.get()) != 1)
    return CryptoError("cannot initialise RSA verification");
  if (pss && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
              EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1 ||
              EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, Md(hash)) != 1))
    return CryptoError("cannot set up RSA-PSS verification");
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), U8(data), data.size()) != 1) {
    ERR_clear_error();
    return MakeError(Code::kCrypto, std::string(pss ? "RSA-PSS" : "RSASSA-PKCS1-v1_5") +
                                        " signature does not verify");
  }
  return Status::Ok();
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
    return MakeError(Code::kInvalidArgument, "ECDH peer public key is invalid" + DrainSslErrors());
  }
  if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer_public.get(), 0) != 1) {
    return MakeError(Code::kInvalidArgument, "ECDH peer public key is invalid" + DrainSslErrors());
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

}  // namespace coco::crypto
