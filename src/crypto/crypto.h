// Thin RAII wrappers over OpenSSL 3: hashes, randomness, asymmetric keys, signatures, ECDH,
// RSA-OAEP, AES-GCM and AES key wrap. All functions are thread-safe; keys are immutable after
// construction and may be shared between threads.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/result.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace coco::crypto {

enum class HashAlg { kSha256, kSha384, kSha512 };

Bytes Hash(HashAlg alg, std::string_view data);
inline Bytes Hash(HashAlg alg, const Bytes& data) {
  return Hash(alg, std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
}
inline Bytes Sha256(std::string_view d) { return Hash(HashAlg::kSha256, d); }
inline Bytes Sha384(std::string_view d) { return Hash(HashAlg::kSha384, d); }
Result<Bytes> HmacSha256(const Bytes& key, std::string_view data);

// Incremental hash for streams. Not thread-safe; movable, not copyable.
class Hasher {
 public:
  explicit Hasher(HashAlg alg);
  ~Hasher();
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  void Update(const void* data, size_t n);
  void Update(std::string_view d) { Update(d.data(), d.size()); }
  // The digest of everything updated so far; the hasher must not be updated afterwards.
  Bytes Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Cryptographically secure random bytes (OpenSSL DRBG).
Bytes RandomBytes(size_t n);

enum class Curve { kP256, kP384, kP521 };
// JOSE names: "P-256", "P-384", "P-521".
std::string CurveName(Curve c);
Result<Curve> CurveFromName(std::string_view name);
// Coordinate size in bytes: 32, 48, 66.
size_t CurveCoordinateSize(Curve c);

// An asymmetric key (EC, RSA or Ed25519), private or public-only. Copies share the key.
class Key {
 public:
  enum class Type { kEc, kRsa, kEd25519 };

  static Result<Key> GenerateEc(Curve curve);
  static Result<Key> GenerateRsa(int bits);
  static Result<Key> GenerateEd25519();
  // PEM: PKCS#8 / traditional private key, or SubjectPublicKeyInfo public key.
  static Result<Key> FromPem(std::string_view pem);
  // A public key from DER SubjectPublicKeyInfo.
  static Result<Key> FromPublicDer(const Bytes& spki);
  // Public keys from raw JOSE parameters (big-endian unsigned integers; x/y padded or not).
  static Result<Key> FromEcPublic(Curve curve, const Bytes& x, const Bytes& y);
  static Result<Key> FromRsaPublic(const Bytes& n, const Bytes& e);
  static Result<Key> FromEd25519Public(const Bytes& raw32);

  Type type() const { return type_; }
  bool has_private() const { return has_private_; }
  Curve curve() const { return curve_; }  // meaningful for kEc only

  Result<std::string> PrivatePem() const;  // PKCS#8
  Result<std::string> PublicPem() const;   // SubjectPublicKeyInfo
  Result<Bytes> PublicDer() const;         // SubjectPublicKeyInfo, DER
  Key PublicOnly() const;

  struct EcPoint {
    Bytes x, y;  // each exactly CurveCoordinateSize(curve) bytes
  };
  Result<EcPoint> EcPublicPoint() const;
  struct RsaPublic {
    Bytes n, e;  // minimal big-endian
  };
  Result<RsaPublic> RsaPublicParams() const;
  Result<Bytes> Ed25519PublicRaw() const;

  EVP_PKEY* get() const { return pkey_.get(); }

 private:
  friend class Certificate;  // wraps a certificate's public key
  Key(std::shared_ptr<EVP_PKEY> pkey, Type type, Curve curve, bool has_private);
  static Result<Key> Wrap(EVP_PKEY* owned);
  std::shared_ptr<EVP_PKEY> pkey_;
  Type type_ = Type::kEc;
  Curve curve_ = Curve::kP256;
  bool has_private_ = false;
};

// ECDSA in the JOSE form: signature = r || s, each padded to the coordinate size.
// The digest follows the curve: P-256 SHA-256, P-384 SHA-384, P-521 SHA-512.
Result<Bytes> EcdsaSign(const Key& key, std::string_view data);
Status EcdsaVerify(const Key& key, std::string_view data, const Bytes& signature);
// ECDSA with an explicit digest and a DER or raw r||s signature; used by verifiers of
// evidence formats that fix their own hash.
Status EcdsaVerifyRaw(const Key& key, HashAlg hash, std::string_view data, const Bytes& r_s);

// RSA signatures with an explicit digest: PKCS#1 v1.5 (RSASSA), or PSS with MGF1 of the same
// digest and any salt length (as TPMs choose it). Used by verifiers of evidence formats.
Status RsaVerify(const Key& key, HashAlg hash, std::string_view data, const Bytes& signature,
                 bool pss);
Result<Bytes> Ed25519Sign(const Key& key, std::string_view data);
Status Ed25519Verify(const Key& key, std::string_view data, const Bytes& signature);

// ECDH shared secret Z (the x coordinate), both keys on the same curve.
Result<SecretBytes> EcdhDerive(const Key& private_key, const Key& peer_public);

// RSA-OAEP with the same hash for OAEP and MGF1 (kSha256 → "RSA-OAEP-256"; SHA-1 → "RSA-OAEP"
// via `sha1 = true`).
Result<Bytes> RsaOaepEncrypt(const Key& public_key, const Bytes& plaintext, bool sha1 = false);
Result<SecretBytes> RsaOaepDecrypt(const Key& private_key, const Bytes& ciphertext,
                                   bool sha1 = false);

struct GcmSealed {
  Bytes ciphertext;
  Bytes tag;  // 16 bytes
};
// AES-GCM with a 128/192/256-bit key and a 12-byte IV.
Result<GcmSealed> AesGcmEncrypt(const Bytes& key, const Bytes& iv, std::string_view aad,
                                const Bytes& plaintext);
// Fails (without returning any plaintext) when the tag does not verify.
Result<SecretBytes> AesGcmDecrypt(const Bytes& key, const Bytes& iv, std::string_view aad,
                                  const Bytes& ciphertext, const Bytes& tag);

// AES-256-CTR (16-byte IV = initial big-endian counter); the same call encrypts and decrypts.
Result<Bytes> AesCtr(const Bytes& key, const Bytes& iv, const Bytes& data);

// RFC 3394 AES key wrap (A128KW/A192KW/A256KW by KEK size).
Result<Bytes> AesKeyWrap(const Bytes& kek, const Bytes& key);
Result<SecretBytes> AesKeyUnwrap(const Bytes& kek, const Bytes& wrapped);

}  // namespace coco::crypto
