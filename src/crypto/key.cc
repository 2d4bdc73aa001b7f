// Key: generation, PEM and JWK-parameter import and export.
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

Result<Key> Key::FromPublicDer(const Bytes& spki) {
  const unsigned char* p = spki.data();
  EVP_PKEY* pkey = d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size()));  // NOLINT
  if (!pkey || p != spki.data() + spki.size()) {
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return InvalidArgument("not a DER SubjectPublicKeyInfo");
  }
  return Wrap(pkey);
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
          Code::kInvalidArgument,
          "cannot parse PEM private key (encrypted keys are not supported)" + DrainSslErrors());
    }
  } else {
    pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassword, nullptr);
    if (!pkey) {
      return MakeError(
          Code::kInvalidArgument,
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
    return MakeError(Code::kInvalidArgument,
                     "EC public key (x, y) is not a point on " + CurveName(curve));
  }
  PkeyPtr pkey(raw);
  PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check) return CryptoError("cannot allocate EC key check context");
  // The NIST curves have prime order (cofactor 1): a point on the curve that is not the point at
  // infinity is in the group, so the quick check is complete and skips a scalar multiplication.
  if (EVP_PKEY_public_check_quick(check.get()) != 1) {
    ERR_clear_error();
    return MakeError(Code::kInvalidArgument,
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
    return MakeError(Code::kInvalidArgument, "RSA public key (n, e) is invalid" + DrainSslErrors());
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
    return MakeError(Code::kInvalidArgument,
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

Result<Bytes> Key::PublicDer() const {
  if (!pkey_) return InvalidArgument("PublicDer: the key is empty");
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(pkey_.get(), &der);
  if (n <= 0) return CryptoError("cannot write SubjectPublicKeyInfo public key");
  Bytes out(der, der + n);
  OPENSSL_free(der);
  return out;
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

}  // namespace coco::crypto
