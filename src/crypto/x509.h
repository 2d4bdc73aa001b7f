// X.509 certificates: parsing, names, extensions, validity and one-link signature checks.
// Chain policy (which roots, which links) belongs to the caller: evidence formats pin their
// own vendor roots and chain shapes, so this is deliberately not a general path builder.
// Certificates are immutable; copies share the parsed object and are thread-safe to read.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/crypto.h"

typedef struct x509_st X509;
typedef struct X509_crl_st X509_CRL;

namespace coco::crypto {

class Certificate {
 public:
  // Exactly one DER certificate; trailing bytes are refused.
  static Result<Certificate> FromDer(const Bytes& der);
  // Every certificate of a PEM bundle, in order; an empty bundle is an error.
  static Result<std::vector<Certificate>> AllFromPem(std::string_view pem);

  const Bytes& der() const { return der_; }
  // The subject's / issuer's commonName ("" when absent; an error when there are several).
  Result<std::string> SubjectCommonName() const;
  Result<std::string> IssuerCommonName() const;
  // One-line forms for messages ("CN=SEV-VCEK, O=...").
  std::string SubjectText() const;
  std::string IssuerText() const;

  Result<Key> PublicKey() const;

  // Checks this certificate's signature with `issuer`'s public key (RSA PKCS#1, RSA-PSS, ECDSA)
  // and that its issuer name is `issuer`'s subject name.
  Status VerifySignedBy(const Certificate& issuer) const;
  // notBefore <= at <= notAfter.
  Status CheckValidAt(std::time_t at) const;
  std::time_t NotBefore() const;
  std::time_t NotAfter() const;

  // The contents of the extension's extnValue OCTET STRING, by dotted OID; nullopt when the
  // certificate does not carry it; an error when it carries it more than once.
  Result<std::optional<Bytes>> Extension(const std::string& oid) const;
  // The DER subjectPublicKey BIT STRING contents (for EC keys: 04 || x || y).
  Bytes PublicKeyBits() const;

  bool operator==(const Certificate& o) const { return der_ == o.der_; }

 private:
  friend class RevocationList;
  Certificate(std::shared_ptr<X509> x509, Bytes der)
      : x509_(std::move(x509)), der_(std::move(der)) {}
  std::shared_ptr<X509> x509_;
  Bytes der_;
};

// An X.509 certificate revocation list.
class RevocationList {
 public:
  // One CRL, PEM ("-----BEGIN X509 CRL-----") or DER; anything else is refused.
  static Result<RevocationList> Parse(const Bytes& pem_or_der);

  const Bytes& der() const { return der_; }
  std::string IssuerText() const;
  std::time_t ThisUpdate() const;
  std::time_t NextUpdate() const;  // 0 when the CRL has none
  // The cRLNumber extension; nullopt when absent.
  std::optional<uint64_t> Number() const;
  // Checks the CRL's signature with `issuer`'s key and that it names `issuer`'s subject.
  Status VerifySignedBy(const Certificate& issuer) const;
  // Whether `cert`'s serial number is listed. Only meaningful for a CRL verified against the
  // certificate's issuer.
  bool Revokes(const Certificate& cert) const;

 private:
  RevocationList(std::shared_ptr<X509_CRL> crl, Bytes der)
      : crl_(std::move(crl)), der_(std::move(der)) {}
  std::shared_ptr<X509_CRL> crl_;
  Bytes der_;
};

// DER helpers for extension values.
// A DER INTEGER that fits in 64 bits, unsigned.
Result<uint64_t> DerUnsignedInteger(const Bytes& der);
// The contents of a DER OCTET STRING.
Result<Bytes> DerOctetString(const Bytes& der);

}  // namespace coco::crypto
