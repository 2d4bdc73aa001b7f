#include "crypto/x509.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cctype>

#include "base/time.h"
#include "crypto/openssl_util.h"

namespace coco::crypto {

using namespace detail;  // NOLINT(build/namespaces): this library's own plumbing

namespace {

using X509Ptr = Owned<X509, X509_free>;
using Asn1IntPtr = Owned<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1OctetPtr = Owned<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using Asn1ObjPtr = Owned<ASN1_OBJECT, ASN1_OBJECT_free>;

Result<std::string> CommonName(const X509_NAME* name, const char* which) {
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return std::string();
  if (X509_NAME_get_index_by_NID(name, NID_commonName, idx) >= 0)
    return CryptoError(std::string("the certificate's ") + which + " has more than one commonName");
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  if (n < 0) return CryptoError(std::string("the certificate's ") + which + " commonName");
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

std::string NameText(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return "?";
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  auto text = BioContents(bio.get());
  return text.ok() ? *text : "?";
}

std::time_t AsnTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return timegm(&tm);
}

}  // namespace

Result<Certificate> Certificate::FromDer(const Bytes& der) {
  const unsigned char* p = der.data();
  X509* raw = d2i_X509(nullptr, &p, static_cast<long>(der.size()));  // NOLINT(runtime/int)
  if (!raw) return CryptoError("not a DER X.509 certificate");
  std::shared_ptr<X509> x(raw, X509_free);
  if (p != der.data() + der.size())
    return InvalidArgument("DER certificate has " + std::to_string(der.data() + der.size() - p) +
                           " trailing bytes");
  return Certificate(std::move(x), der);
}

Result<std::vector<Certificate>> Certificate::AllFromPem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return CryptoError("BIO_new_mem_buf");
  std::vector<Certificate> out;
  for (;;) {
    X509* raw = PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr);
    if (!raw) break;
    X509Ptr holder(raw);
    unsigned char* buf = nullptr;
    int n = i2d_X509(raw, &buf);
    if (n <= 0) return CryptoError("re-encoding a PEM certificate");
    Bytes der(buf, buf + n);
    OPENSSL_free(buf);
    out.push_back(Certificate(std::shared_ptr<X509>(holder.release(), X509_free), std::move(der)));
  }
  ERR_clear_error();  // the read that ended the loop
  if (out.empty()) return InvalidArgument("no PEM certificate found");
  return out;
}

Result<std::string> Certificate::SubjectCommonName() const {
  return CommonName(X509_get_subject_name(x509_.get()), "subject");
}
Result<std::string> Certificate::IssuerCommonName() const {
  return CommonName(X509_get_issuer_name(x509_.get()), "issuer");
}
std::string Certificate::SubjectText() const {
  return NameText(X509_get_subject_name(x509_.get()));
}
std::string Certificate::IssuerText() const { return NameText(X509_get_issuer_name(x509_.get())); }

Result<Key> Certificate::PublicKey() const {
  EVP_PKEY* pkey = X509_get_pubkey(x509_.get());  // a new reference
  if (!pkey) return CryptoError("the certificate's public key cannot be read");
  return Key::Wrap(pkey);
}

Status Certificate::VerifySignedBy(const Certificate& issuer) const {
  if (X509_NAME_cmp(X509_get_issuer_name(x509_.get()), X509_get_subject_name(issuer.x509_.get())) !=
      0) {
    return CryptoError("certificate \"" + SubjectText() + "\" names issuer \"" + IssuerText() +
                       "\", not \"" + issuer.SubjectText() + "\"");
  }
  EVP_PKEY* key = X509_get0_pubkey(issuer.x509_.get());
  if (!key) return CryptoError("issuer \"" + issuer.SubjectText() + "\" has no usable public key");
  if (X509_verify(x509_.get(), key) != 1) {
    ERR_clear_error();
    return CryptoError("the signature of certificate \"" + SubjectText() +
                       "\" does not verify with the key of \"" + issuer.SubjectText() + "\"");
  }
  return Status::Ok();
}

std::time_t Certificate::NotBefore() const { return AsnTime(X509_get0_notBefore(x509_.get())); }
std::time_t Certificate::NotAfter() const { return AsnTime(X509_get0_notAfter(x509_.get())); }

Status Certificate::CheckValidAt(std::time_t at) const {
  if (at < NotBefore())
    return CryptoError("certificate \"" + SubjectText() + "\" is not valid before " +
                       FormatRfc3339(NotBefore()) + " (checked at " + FormatRfc3339(at) + ")");
  if (at > NotAfter())
    return CryptoError("certificate \"" + SubjectText() + "\" expired at " +
                       FormatRfc3339(NotAfter()) + " (checked at " + FormatRfc3339(at) +
                       "; --at verifies as of another time)");
  return Status::Ok();
}

Result<std::optional<Bytes>> Certificate::Extension(const std::string& oid) const {
  Asn1ObjPtr obj(OBJ_txt2obj(oid.c_str(), 1));
  if (!obj) return InvalidArgument("not a dotted OID: " + oid);
  int idx = X509_get_ext_by_OBJ(x509_.get(), obj.get(), -1);
  if (idx < 0) return std::optional<Bytes>();
  if (X509_get_ext_by_OBJ(x509_.get(), obj.get(), idx) >= 0)
    return CryptoError("certificate \"" + SubjectText() + "\" carries extension " + oid +
                       " more than once");
  const ASN1_OCTET_STRING* v = X509_EXTENSION_get_data(X509_get_ext(x509_.get(), idx));
  const unsigned char* d = ASN1_STRING_get0_data(v);
  return std::optional<Bytes>(Bytes(d, d + ASN1_STRING_length(v)));
}

Bytes Certificate::PublicKeyBits() const {
  const ASN1_BIT_STRING* bits = X509_get0_pubkey_bitstr(x509_.get());
  if (!bits) return {};
  const unsigned char* d = ASN1_STRING_get0_data(bits);
  return Bytes(d, d + ASN1_STRING_length(bits));
}

Result<RevocationList> RevocationList::Parse(const Bytes& pem_or_der) {
  static constexpr std::string_view kPem = "-----BEGIN X509 CRL-----";
  std::string_view text(reinterpret_cast<const char*>(pem_or_der.data()), pem_or_der.size());
  X509_CRL* raw = nullptr;
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start != std::string_view::npos && text.substr(start, kPem.size()) == kPem) {
    BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
    if (!bio) return CryptoError("BIO_new_mem_buf");
    raw = PEM_read_bio_X509_CRL(bio.get(), nullptr, NoPassword, nullptr);
    if (raw) {
      if (X509_CRL* second = PEM_read_bio_X509_CRL(bio.get(), nullptr, NoPassword, nullptr)) {
        X509_CRL_free(second);
        X509_CRL_free(raw);
        return InvalidArgument("the PEM text holds more than one CRL");
      }
    }
  } else {
    const unsigned char* p = pem_or_der.data();
    raw = d2i_X509_CRL(nullptr, &p, static_cast<long>(pem_or_der.size()));  // NOLINT
    if (raw && p != pem_or_der.data() + pem_or_der.size()) {
      X509_CRL_free(raw);
      return InvalidArgument("DER CRL has trailing bytes");
    }
  }
  ERR_clear_error();
  if (!raw) return InvalidArgument("not an X.509 CRL (PEM or DER)");
  std::shared_ptr<X509_CRL> crl(raw, X509_CRL_free);
  unsigned char* buf = nullptr;
  int n = i2d_X509_CRL(raw, &buf);
  if (n <= 0) return CryptoError("re-encoding a CRL");
  Bytes der(buf, buf + n);
  OPENSSL_free(buf);
  return RevocationList(std::move(crl), std::move(der));
}

std::string RevocationList::IssuerText() const { return NameText(X509_CRL_get_issuer(crl_.get())); }
std::time_t RevocationList::ThisUpdate() const {
  return AsnTime(X509_CRL_get0_lastUpdate(crl_.get()));
}
std::time_t RevocationList::NextUpdate() const {
  const ASN1_TIME* t = X509_CRL_get0_nextUpdate(crl_.get());
  return t ? AsnTime(t) : 0;
}

std::optional<uint64_t> RevocationList::Number() const {
  Asn1IntPtr n(static_cast<ASN1_INTEGER*>(
      X509_CRL_get_ext_d2i(crl_.get(), NID_crl_number, nullptr, nullptr)));
  uint64_t v = 0;
  if (!n || ASN1_INTEGER_get_uint64(&v, n.get()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  return v;
}

Status RevocationList::VerifySignedBy(const Certificate& issuer) const {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl_.get()), X509_get_subject_name(issuer.x509_.get())) !=
      0) {
    return CryptoError("the CRL of \"" + IssuerText() + "\" is not issued by \"" +
                       issuer.SubjectText() + "\"");
  }
  EVP_PKEY* key = X509_get0_pubkey(issuer.x509_.get());
  if (!key || X509_CRL_verify(crl_.get(), key) != 1) {
    ERR_clear_error();
    return CryptoError("the signature of the CRL of \"" + IssuerText() +
                       "\" does not verify with that issuer's key");
  }
  return Status::Ok();
}

bool RevocationList::Revokes(const Certificate& cert) const {
  X509_REVOKED* entry = nullptr;
  return X509_CRL_get0_by_serial(crl_.get(), &entry, X509_get0_serialNumber(cert.x509_.get())) == 1;
}

Result<uint64_t> DerUnsignedInteger(const Bytes& der) {
  const unsigned char* p = der.data();
  Asn1IntPtr i(d2i_ASN1_INTEGER(nullptr, &p, static_cast<long>(der.size())));  // NOLINT
  if (!i || p != der.data() + der.size()) {
    ERR_clear_error();
    return InvalidArgument("not exactly one DER INTEGER");
  }
  uint64_t v = 0;
  if (ASN1_INTEGER_get_uint64(&v, i.get()) != 1) {
    ERR_clear_error();
    return InvalidArgument("DER INTEGER is negative or wider than 64 bits");
  }
  return v;
}

Result<Bytes> DerOctetString(const Bytes& der) {
  const unsigned char* p = der.data();
  Asn1OctetPtr s(d2i_ASN1_OCTET_STRING(nullptr, &p, static_cast<long>(der.size())));  // NOLINT
  if (!s || p != der.data() + der.size()) {
    ERR_clear_error();
    return InvalidArgument("not exactly one DER OCTET STRING");
  }
  const unsigned char* d = ASN1_STRING_get0_data(s.get());
  return Bytes(d, d + ASN1_STRING_length(s.get()));
}

}  // namespace coco::crypto
