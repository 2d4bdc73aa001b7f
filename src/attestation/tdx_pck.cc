// Intel's SGX Root CA (the anchor of every PCK certificate chain), the PCK certificate's SGX
// extensions, and the TDX quote's signature chain.
#include <algorithm>

#include "attestation/tdx.h"
#include "attestation/verified_cache.h"
#include "crypto/crypto.h"

namespace coco::attestation {
namespace {

// "Intel SGX Root CA", as Intel's Provisioning Certification Service publishes it
// (SHA-256 of the DER: 44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3).
constexpr char kIntelSgxRootCa[] = R"(-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
)";

Error Fail(const std::string& check, const std::string& why) {
  return MakeError(Code::kEvidence, "TDX " + check + ": " + why);
}

// ---- A minimal DER reader for the SGX extensions -------------------------------------------

struct Tlv {
  uint8_t tag = 0;
  Bytes content;
};

Result<std::vector<Tlv>> DerItems(const Bytes& b) {
  std::vector<Tlv> out;
  size_t i = 0;
  while (i < b.size()) {
    if (b.size() - i < 2) return Fail("PCK extensions", "truncated DER");
    Tlv t;
    t.tag = b[i++];
    size_t len = b[i++];
    if (len & 0x80) {
      size_t n = len & 0x7F;
      if (n == 0 || n > 3 || b.size() - i < n) return Fail("PCK extensions", "bad DER length");
      len = 0;
      for (size_t k = 0; k < n; ++k) len = len << 8 | b[i++];
    }
    if (len > b.size() - i) return Fail("PCK extensions", "DER item runs past its container");
    t.content.assign(b.begin() + static_cast<long>(i), b.begin() + static_cast<long>(i + len));
    i += len;
    out.push_back(std::move(t));
  }
  return out;
}

std::string OidText(const Bytes& c) {
  if (c.empty()) return "";
  std::string s = std::to_string(c[0] / 40) + "." + std::to_string(c[0] % 40);
  uint64_t v = 0;
  for (size_t i = 1; i < c.size(); ++i) {
    v = v << 7 | (c[i] & 0x7F);
    if (!(c[i] & 0x80)) {
      s += "." + std::to_string(v);
      v = 0;
    }
  }
  return s;
}

uint64_t UnsignedOf(const Bytes& c) {
  uint64_t v = 0;
  for (uint8_t x : c) v = v << 8 | x;
  return v;
}

constexpr char kSgxExt[] = "1.2.840.113741.1.13.1";

}  // namespace

Result<crypto::Certificate> IntelSgxRootCa() {
  static const Result<std::vector<crypto::Certificate>> root =
      crypto::Certificate::AllFromPem(kIntelSgxRootCa);
  if (!root.ok()) return root.error();
  return (*root)[0];
}

Result<PckInfo> ParsePckExtensions(const crypto::Certificate& pck) {
  COCO_ASSIGN_OR_RETURN(auto ext, pck.Extension(kSgxExt));
  if (!ext) return Fail("PCK extensions", "the PCK certificate has no SGX extensions");
  COCO_ASSIGN_OR_RETURN(auto outer, DerItems(*ext));
  if (outer.size() != 1 || outer[0].tag != 0x30)
    return Fail("PCK extensions", "the SGX extensions are not one SEQUENCE");
  COCO_ASSIGN_OR_RETURN(auto items, DerItems(outer[0].content));
  PckInfo info;
  std::string prefix = std::string(kSgxExt) + ".";
  for (const auto& item : items) {
    if (item.tag != 0x30) return Fail("PCK extensions", "an entry is not a SEQUENCE");
    COCO_ASSIGN_OR_RETURN(auto kv, DerItems(item.content));
    if (kv.size() != 2 || kv[0].tag != 0x06)
      return Fail("PCK extensions", "an entry is not {OID, value}");
    std::string oid = OidText(kv[0].content);
    if (oid.rfind(prefix, 0) != 0) continue;
    std::string id = oid.substr(prefix.size());
    const Tlv& v = kv[1];
    if (id == "1" && v.tag == 0x04) {
      info.ppid = v.content;
    } else if (id == "2" && v.tag == 0x30) {
      COCO_ASSIGN_OR_RETURN(auto comps, DerItems(v.content));
      info.tcb_components.assign(16, 0);
      for (const auto& comp : comps) {
        COCO_ASSIGN_OR_RETURN(auto ckv, DerItems(comp.content));
        if (ckv.size() != 2) return Fail("PCK extensions", "a TCB entry is not {OID, value}");
        std::string cid = OidText(ckv[0].content);
        std::string tcb_prefix = prefix + "2.";
        if (cid.rfind(tcb_prefix, 0) != 0) continue;
        int n = std::stoi(cid.substr(tcb_prefix.size()));
        if (n >= 1 && n <= 16 && ckv[1].tag == 0x02) {
          info.tcb_components[n - 1] = static_cast<uint8_t>(UnsignedOf(ckv[1].content));
        } else if (n == 17 && ckv[1].tag == 0x02) {
          info.pcesvn = static_cast<uint16_t>(UnsignedOf(ckv[1].content));
        } else if (n == 18 && ckv[1].tag == 0x04) {
          info.cpusvn = ckv[1].content;
        }
      }
    } else if (id == "3" && v.tag == 0x04) {
      info.pceid = v.content;
    } else if (id == "4" && v.tag == 0x04) {
      info.fmspc = v.content;
    } else if (id == "5" && v.tag == 0x0A) {
      info.sgx_type = static_cast<int>(UnsignedOf(v.content));
    } else if (id == "6" && v.tag == 0x04) {
      info.platform_instance_id = v.content;
    } else if (id == "7" && v.tag == 0x30) {
      COCO_ASSIGN_OR_RETURN(auto flags, DerItems(v.content));
      for (const auto& f : flags) {
        COCO_ASSIGN_OR_RETURN(auto fkv, DerItems(f.content));
        if (fkv.size() != 2 || fkv[1].tag != 0x01 || fkv[1].content.size() != 1) continue;
        bool on = fkv[1].content[0] != 0;
        std::string fid = OidText(fkv[0].content);
        if (fid == prefix + "7.1") info.dynamic_platform = on;
        if (fid == prefix + "7.2") info.cached_keys = on;
        if (fid == prefix + "7.3") info.smt_enabled = on;
      }
    }
  }
  if (info.fmspc.size() != 6 || info.pceid.size() != 2 || info.cpusvn.size() != 16 ||
      info.tcb_components.size() != 16)
    return Fail("PCK extensions", "FMSPC, PCE-ID, CPUSVN or the TCB components are missing");
  if (info.platform_instance_id && info.platform_instance_id->size() != 16)
    return Fail("PCK extensions", "the platform instance ID is not 16 bytes");
  return info;
}

// PCK chains already checked (signatures and extensions; validity is checked on every use),
// keyed by the root and the chain's PEM text as the quote carries it.
VerifiedCache<PckInfo>& VerifiedPckChains() {
  static VerifiedCache<PckInfo> chains(4096);
  return chains;
}

// The PCK chain's signatures up to `root` and the PCK certificate's extensions.
Result<PckInfo> CheckPckChain(const std::string& pem, const crypto::Certificate& root) {
  auto chain = crypto::Certificate::AllFromPem(pem);
  if (!chain.ok()) return Fail("PCK certificate chain", chain.error().message);
  if (chain->size() != 3)
    return Fail("PCK certificate chain", "has " + std::to_string(chain->size()) +
                                             " certificates, expected PCK, CA and root");
  const crypto::Certificate& pck = (*chain)[0];
  const crypto::Certificate& ca = (*chain)[1];
  if (!((*chain)[2] == root))
    return Fail("PCK certificate chain", "its root is not Intel's SGX Root CA");
  COCO_ASSIGN_OR_RETURN(std::string ca_cn, ca.SubjectCommonName());
  if (ca_cn != "Intel SGX PCK Platform CA" && ca_cn != "Intel SGX PCK Processor CA")
    return Fail("PCK certificate chain",
                "the intermediate is \"" + ca_cn + "\", not a PCK Platform or Processor CA");
  using Link = std::pair<const crypto::Certificate*, const crypto::Certificate*>;
  for (const Link& link : {Link{&pck, &ca}, Link{&ca, &root}, Link{&root, &root}}) {
    const auto& [child, parent] = link;
    if (auto s = child->VerifySignedBy(*parent); !s.ok())
      return Fail("PCK certificate chain", s.error().message);
  }
  COCO_ASSIGN_OR_RETURN(PckInfo info, ParsePckExtensions(pck));
  info.platform_ca = ca_cn == "Intel SGX PCK Platform CA";
  info.pck_cert = pck;
  info.ca_cert = ca;
  // Only a Platform CA issues PCKs that name a platform instance and its configuration.
  bool has_instance = info.platform_instance_id.has_value() || info.smt_enabled.has_value();
  if (info.platform_ca != has_instance)
    return Fail("PCK extensions",
                info.platform_ca ? "a Platform CA PCK without platform instance or configuration"
                                 : "a Processor CA PCK with platform instance or configuration");
  return info;
}

Result<PckInfo> VerifyTdxQuoteSignatures(const TdxQuote& q, const TdxSignatureOptions& o) {
  std::time_t at = o.at ? *o.at : std::time(nullptr);
  std::optional<crypto::Certificate> anchor = o.root;
  if (!anchor) {
    COCO_ASSIGN_OR_RETURN(crypto::Certificate intel, IntelSgxRootCa());
    anchor = intel;
  }
  const crypto::Certificate& root = *anchor;
  using Cache = VerifiedCache<PckInfo>;
  Bytes chain_key = Cache::Key({Cache::View(root.der()), q.pck_chain_pem});
  std::optional<PckInfo> cached = VerifiedPckChains().Find(chain_key);
  if (!cached) {
    COCO_ASSIGN_OR_RETURN(PckInfo checked, CheckPckChain(q.pck_chain_pem, root));
    VerifiedPckChains().Add(chain_key, checked);
    cached = std::move(checked);
  }
  PckInfo info = std::move(*cached);
  const crypto::Certificate& pck = *info.pck_cert;
  const crypto::Certificate& ca = *info.ca_cert;
  for (const crypto::Certificate* c : {&pck, &ca, &root}) {
    if (auto s = c->CheckValidAt(at); !s.ok())
      return Fail("certificate validity", s.error().message);
  }

  // The QE report, signed by the PCK key.
  COCO_ASSIGN_OR_RETURN(crypto::Key pck_key, pck.PublicKey());
  if (pck_key.type() != crypto::Key::Type::kEc || pck_key.curve() != crypto::Curve::kP256)
    return Fail("QE report", "the PCK key is not ECDSA P-256");
  std::string_view qe(reinterpret_cast<const char*>(q.qe_report.data()), q.qe_report.size());
  if (!crypto::EcdsaVerifyRaw(pck_key, crypto::HashAlg::kSha256, qe, q.qe_report_signature).ok())
    return Fail("QE report", "its signature does not verify with the PCK certificate's key");
  // The QE vouches for the attestation key: REPORTDATA = SHA-256(key || QE auth data) || zeros.
  Bytes bound = q.attestation_key;
  bound.insert(bound.end(), q.qe_auth_data.begin(), q.qe_auth_data.end());
  Bytes want = crypto::Hash(crypto::HashAlg::kSha256, bound);
  want.resize(64, 0);
  Bytes report_data(q.qe_report.begin() + 320, q.qe_report.end());
  if (!ConstantTimeEqual(want, report_data))
    return Fail("QE report", "its report data does not bind the attestation key");

  // The quote, signed by the attestation key.
  auto key = crypto::Key::FromEcPublic(
      crypto::Curve::kP256, Bytes(q.attestation_key.begin(), q.attestation_key.begin() + 32),
      Bytes(q.attestation_key.begin() + 32, q.attestation_key.end()));
  if (!key.ok()) return Fail("signature", "the attestation key: " + key.error().message);
  std::string_view signed_part(reinterpret_cast<const char*>(q.signed_part.data()),
                               q.signed_part.size());
  if (!crypto::EcdsaVerifyRaw(*key, crypto::HashAlg::kSha256, signed_part, q.signature).ok())
    return Fail("signature", "the quote's signature does not verify with its attestation key");
  return info;
}

}  // namespace coco::attestation
