// SEV-SNP report verification: endorsement key chain to AMD's ARK, report signature, TCB and
// identity checks, bindings, and upstream's claims.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>

#include "attestation/runtime_data.h"
#include "attestation/snp.h"
#include "attestation/verified_cache.h"
#include "base/file.h"
#include "crypto/crypto.h"

namespace coco::attestation {
namespace {

// AMD's VCEK/VLEK certificate extensions.
constexpr char kOidBlSpl[] = "1.3.6.1.4.1.3704.1.3.1";
constexpr char kOidTeeSpl[] = "1.3.6.1.4.1.3704.1.3.2";
constexpr char kOidSnpSpl[] = "1.3.6.1.4.1.3704.1.3.3";
constexpr char kOidUcodeSpl[] = "1.3.6.1.4.1.3704.1.3.8";
constexpr char kOidFmcSpl[] = "1.3.6.1.4.1.3704.1.3.9";
constexpr char kOidHwId[] = "1.3.6.1.4.1.3704.1.4";

Error Fail(const std::string& check, const std::string& why) {
  return MakeError(Code::kEvidence, "SNP " + check + ": " + why);
}

std::string Dec(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "%llu", static_cast<unsigned long long>(v));  // NOLINT(runtime/int)
  return buf;
}

struct Typed {
  std::string type;  // VCEK, VLEK, ASK, ARK
  crypto::Certificate cert;
};

// Types a certificate given by hand from its subject name.
std::string TypeFromSubject(const crypto::Certificate& c) {
  auto cn = c.SubjectCommonName();
  if (!cn.ok()) return "OTHER";
  if (*cn == "SEV-VCEK") return "VCEK";
  if (*cn == "SEV-VLEK") return "VLEK";
  if (cn->rfind("ARK-", 0) == 0) return "ARK";
  if (cn->rfind("SEV-", 0) == 0) return "ASK";  // SEV-<Gen> and SEV-VLEK-<Gen> (the ASVK)
  return "OTHER";
}

Result<Bytes> ExtensionBytes(const crypto::Certificate& c, const char* oid, const char* name) {
  COCO_ASSIGN_OR_RETURN(auto v, c.Extension(oid));
  if (!v)
    return Fail("TCB", "the endorsement key certificate has no " + std::string(name) +
                           " extension (" + oid + ")");
  return *v;
}

Status CheckSpl(const crypto::Certificate& vek, const char* oid, const char* name,
                uint8_t reported) {
  COCO_ASSIGN_OR_RETURN(Bytes der, ExtensionBytes(vek, oid, name));
  auto v = crypto::DerUnsignedInteger(der);
  if (!v.ok()) return Fail("TCB", std::string(name) + " extension: " + v.error().message);
  if (*v != reported)
    return Fail("TCB", std::string("reported TCB ") + name + " is " + Dec(reported) +
                           " but the endorsement key was issued for " + Dec(*v));
  return Status::Ok();
}

Status CheckTcbOrder(const SnpTcb& committed, const SnpTcb& current) {
  auto le = [](const char* name, unsigned a, unsigned b) -> Status {
    if (a > b)
      return Fail("TCB", std::string("committed ") + name + " " + Dec(a) +
                             " is above the current " + Dec(b));
    return Status::Ok();
  };
  COCO_RETURN_IF_ERROR(le("bootloader", committed.bootloader, current.bootloader));
  COCO_RETURN_IF_ERROR(le("tee", committed.tee, current.tee));
  COCO_RETURN_IF_ERROR(le("snp", committed.snp, current.snp));
  COCO_RETURN_IF_ERROR(le("microcode", committed.microcode, current.microcode));
  if (committed.fmc && current.fmc) COCO_RETURN_IF_ERROR(le("fmc", *committed.fmc, *current.fmc));
  return Status::Ok();
}

Result<crypto::Certificate> LoadOfflineVcek(const std::string& dir, const SnpReport& r,
                                            SnpGeneration g) {
  Bytes id =
      g == SnpGeneration::kTurin ? Bytes(r.chip_id.begin(), r.chip_id.begin() + 8) : r.chip_id;
  if (std::all_of(r.chip_id.begin(), r.chip_id.end(), [](uint8_t b) { return b == 0; }))
    return Fail("endorsement key",
                "the evidence carries no VCEK and CHIP_ID is masked, so "
                "no VCEK can be looked up");
  char tcb[64];
  snprintf(tcb, sizeof tcb, "bl%02u_tee%02u_snp%02u_ucode%02u", r.reported_tcb.bootloader,
           r.reported_tcb.tee, r.reported_tcb.snp, r.reported_tcb.microcode);
  std::string prefix(tcb);
  if (r.reported_tcb.fmc) {
    snprintf(tcb, sizeof tcb, "_fmc%02u", *r.reported_tcb.fmc);
    prefix += tcb;
  }
  std::string base = dir + "/vcek/" + HexEncode(id) + "/";
  for (const std::string& p : {base + prefix + "_vcek.der", base + "vcek.der"}) {
    struct stat st {};
    if (stat(p.c_str(), &st) != 0) continue;
    COCO_ASSIGN_OR_RETURN(std::string der, ReadFile(p));
    auto cert = crypto::Certificate::FromDer(ToBytes(der));
    if (!cert.ok()) return Fail("endorsement key", p + ": " + cert.error().message);
    return *cert;
  }
  return Fail("endorsement key", "the evidence carries no VCEK and none is in the offline store (" +
                                     base + prefix + "_vcek.der or " + base + "vcek.der)");
}

// Chains that verified (ARK, ASK or ASVK, endorsement key), by the digest of their
// certificates: a chain seen before needs only its validity dates checked again.
VerifiedCache<bool>& VerifiedChains() {
  static VerifiedCache<bool> chains(4096);
  return chains;
}

}  // namespace

std::optional<SnpGeneration> SnpGenerationOfSigner(const crypto::Certificate& vek) {
  auto cn = vek.IssuerCommonName();
  if (!cn.ok()) return std::nullopt;
  for (SnpGeneration g : {SnpGeneration::kMilan, SnpGeneration::kGenoa, SnpGeneration::kTurin}) {
    std::string n = SnpGenerationName(g);
    if (*cn == "SEV-" + n || *cn == "SEV-VLEK-" + n) return g;
  }
  return std::nullopt;
}

Result<nlohmann::json> VerifySnpEvidence(const SnpEvidence& evidence, const SnpVerifyOptions& opts,
                                         const std::optional<Bytes>& expected_report_data,
                                         const std::optional<Bytes>& expected_init_data) {
  SnpReport r = evidence.report;
  std::time_t at = opts.at ? *opts.at : std::time(nullptr);

  // Certificates: the evidence's table first, then those given by hand.
  std::vector<Typed> certs;
  if (evidence.certs) {
    for (const auto& c : *evidence.certs) {
      if (c.type == "OTHER" || c.type == "CRL") continue;
      auto cert = crypto::Certificate::FromDer(c.der);
      if (!cert.ok()) return Fail("certificate table", c.type + ": " + cert.error().message);
      certs.push_back({c.type, *cert});
    }
  }
  for (const auto& c : opts.extra_certs) certs.push_back({TypeFromSubject(c), c});
  const Typed* vek_entry = nullptr;
  for (const auto& t : certs)
    if (t.type == "VCEK" || t.type == "VLEK") {
      vek_entry = &t;
      break;
    }

  // The generation: the report names its CPU from version 3 on; for version 2 the endorsement
  // key's issuer tells.
  SnpGeneration gen = r.generation;
  if (r.version == 2 && vek_entry) {
    if (auto g = SnpGenerationOfSigner(vek_entry->cert)) {
      if ((*g == SnpGeneration::kTurin) != (gen == SnpGeneration::kTurin)) {
        Bytes raw = r.raw;
        if (raw.empty()) {
          COCO_ASSIGN_OR_RETURN(raw, EncodeSnpReport(r));
        }
        COCO_ASSIGN_OR_RETURN(r, ParseSnpReport(raw, *g));
      }
      gen = *g;
      r.generation = gen;
    }
  }
  COCO_ASSIGN_OR_RETURN(AmdCertificates amd,
                        opts.roots ? opts.roots(gen) : BuiltInAmdCertificates(gen));

  std::optional<crypto::Certificate> vek;
  std::string vek_type;
  if (vek_entry) {
    vek = vek_entry->cert;
    vek_type = vek_entry->type;
  } else if (!opts.vcek_dir.empty()) {
    COCO_ASSIGN_OR_RETURN(vek, LoadOfflineVcek(opts.vcek_dir, r, gen));
    vek_type = "VCEK";
  } else {
    return Fail("endorsement key",
                "the evidence carries no VCEK or VLEK, and no offline VCEK store or certificate "
                "was given (the verifier does not fetch from AMD's KDS)");
  }

  // The chain: built-in ARK -> ASK (VCEK) or ASVK (VLEK) -> endorsement key.
  const crypto::Certificate* ask = vek_type == "VLEK" ? &amd.asvk : &amd.ask;
  for (const auto& t : certs) {
    if (t.type == "ARK") {
      auto s = t.cert.VerifySignedBy(amd.ark);
      if (!s.ok())
        return Fail("certificate chain", "the ARK given is not AMD's ARK-" +
                                             SnpGenerationName(gen) + ": " + s.error().message);
    } else if (t.type == "ASK" && vek_type == "VCEK") {
      ask = &t.cert;
    }
  }
  using Cache = VerifiedCache<bool>;
  Bytes chain_key =
      Cache::Key({Cache::View(amd.ark.der()), Cache::View(ask->der()), Cache::View(vek->der())});
  if (!VerifiedChains().Find(chain_key)) {
    if (auto s = amd.ark.VerifySignedBy(amd.ark); !s.ok())
      return Fail("certificate chain", s.error().message);
    if (auto s = ask->VerifySignedBy(amd.ark); !s.ok())
      return Fail("certificate chain", s.error().message);
    if (auto s = vek->VerifySignedBy(*ask); !s.ok())
      return Fail("certificate chain", s.error().message);
    VerifiedChains().Add(chain_key, true);
  }
  for (const crypto::Certificate* c :
       std::initializer_list<const crypto::Certificate*>{&amd.ark, ask, &*vek}) {
    if (auto s = c->CheckValidAt(at); !s.ok())
      return Fail("certificate validity", s.error().message);
  }
  COCO_ASSIGN_OR_RETURN(std::string vek_cn, vek->SubjectCommonName());
  if (vek_cn != "SEV-" + vek_type)
    return Fail("certificate chain", "the " + vek_type + " certificate's subject is \"" + vek_cn +
                                         "\", expected \"SEV-" + vek_type + "\"");
  uint32_t want_key = vek_type == "VLEK" ? 1 : 0;
  if (r.signing_key() != want_key)
    return Fail("signature", "the report says it is signed by " +
                                 std::string(r.signing_key() == 0   ? "a VCEK"
                                             : r.signing_key() == 1 ? "a VLEK"
                                                                    : "no key") +
                                 " but the endorsement key given is a " + vek_type);

  // The report signature: ECDSA P-384 with SHA-384 over bytes [0, 0x2A0); r and s are
  // little-endian in 72-byte fields.
  if (r.sig_algo != 1)
    return Fail("signature",
                "algorithm " + std::to_string(r.sig_algo) + " is not ECDSA P-384 with SHA-384 (1)");
  Bytes raw = r.raw;
  if (raw.empty()) {
    COCO_ASSIGN_OR_RETURN(raw, EncodeSnpReport(r));
  }
  COCO_ASSIGN_OR_RETURN(crypto::Key key, vek->PublicKey());
  if (key.type() != crypto::Key::Type::kEc || key.curve() != crypto::Curve::kP384)
    return Fail("signature", "the endorsement key is not an ECDSA P-384 key");
  Bytes rs;
  for (const Bytes* part : {&r.signature_r, &r.signature_s}) {
    if (!std::all_of(part->begin() + 48, part->end(), [](uint8_t b) { return b == 0; }))
      return Fail("signature", "a signature component is wider than 48 bytes");
    rs.insert(rs.end(), part->rbegin() + 24, part->rend());  // the low 48 bytes, big-endian
  }
  if (auto s = crypto::EcdsaVerifyRaw(
          key, crypto::HashAlg::kSha384,
          std::string_view(reinterpret_cast<const char*>(raw.data()), kSnpSignedSize), rs);
      !s.ok())
    return Fail("signature", "the report's signature does not verify with the " + vek_type + " (" +
                                 s.error().message + ")");

  // The TCB the endorsement key was issued for must be the one reported.
  COCO_RETURN_IF_ERROR(CheckSpl(*vek, kOidBlSpl, "bootloader", r.reported_tcb.bootloader));
  COCO_RETURN_IF_ERROR(CheckSpl(*vek, kOidTeeSpl, "tee", r.reported_tcb.tee));
  COCO_RETURN_IF_ERROR(CheckSpl(*vek, kOidSnpSpl, "snp", r.reported_tcb.snp));
  COCO_RETURN_IF_ERROR(CheckSpl(*vek, kOidUcodeSpl, "microcode", r.reported_tcb.microcode));
  if (gen == SnpGeneration::kTurin)
    COCO_RETURN_IF_ERROR(CheckSpl(*vek, kOidFmcSpl, "fmc", r.reported_tcb.fmc.value_or(0)));
  COCO_RETURN_IF_ERROR(CheckTcbOrder(r.committed_tcb, r.current_tcb));

  // A VCEK is issued for one chip: its hwID must be the report's CHIP_ID (Turin: the first 8
  // bytes). A masked CHIP_ID (all zero) claims no chip, so there is nothing to tie.
  bool masked = std::all_of(r.chip_id.begin(), r.chip_id.end(), [](uint8_t b) { return b == 0; });
  if (vek_type == "VCEK" && !masked) {
    size_t n = gen == SnpGeneration::kTurin ? 8 : 64;
    COCO_ASSIGN_OR_RETURN(Bytes ext, ExtensionBytes(*vek, kOidHwId, "hwID"));
    Bytes hwid = ext;
    if (ext.size() != n) {  // newer VCEKs wrap it in a DER OCTET STRING
      auto inner = crypto::DerOctetString(ext);
      if (!inner.ok() || inner->size() != n)
        return Fail("chip identity", "the VCEK's hwID extension is neither " + std::to_string(n) +
                                         " raw bytes nor an OCTET STRING of them");
      hwid = *inner;
    }
    if (!std::equal(hwid.begin(), hwid.end(), r.chip_id.begin()))
      return Fail("chip identity", "the report's CHIP_ID is not the chip the VCEK was issued for");
  }

  if (r.vmpl > opts.max_vmpl)
    return Fail("VMPL", "the report was requested at VMPL " + std::to_string(r.vmpl) +
                            "; at most " + std::to_string(opts.max_vmpl) + " is accepted");
  if (expected_report_data &&
      !ConstantTimeEqual(FitToField(*expected_report_data, 64), r.report_data))
    return Fail("report data",
                "REPORT_DATA is not the digest of the runtime data (nonce and "
                "tee-pubkey binding failed)");
  if (expected_init_data && !ConstantTimeEqual(FitToField(*expected_init_data, 32), r.host_data))
    return Fail("init-data", "HOST_DATA is not the digest of the init-data given");
  return SnpClaims(r);
}

nlohmann::json SnpClaims(const SnpReport& r) {
  return {
      {"policy_abi_major", r.policy_abi_major()},
      {"policy_abi_minor", r.policy_abi_minor()},
      {"policy_smt_allowed", r.policy_smt_allowed()},
      {"policy_migrate_ma", r.policy_migrate_ma()},
      {"policy_debug_allowed", r.policy_debug_allowed()},
      {"policy_single_socket", r.policy_single_socket()},
      {"reported_tcb_bootloader", r.reported_tcb.bootloader},
      {"reported_tcb_tee", r.reported_tcb.tee},
      {"reported_tcb_snp", r.reported_tcb.snp},
      {"reported_tcb_microcode", r.reported_tcb.microcode},
      {"platform_tsme_enabled", r.platform_tsme_enabled()},
      {"platform_smt_enabled", r.platform_smt_enabled()},
      {"measurement", HexEncode(r.measurement)},
      {"report_data", HexEncode(r.report_data)},
      {"init_data", HexEncode(r.host_data)},
      {"chip_id", HexEncode(r.chip_id)},
  };
}

namespace {

class SnpVerifier final : public Verifier {
 public:
  explicit SnpVerifier(SnpVerifyOptions opts) : opts_(std::move(opts)) {}
  std::string tee() const override { return "snp"; }
  Result<nlohmann::json> Verify(const VerifierInput& input) const override {
    COCO_ASSIGN_OR_RETURN(SnpEvidence e, SnpEvidenceFromJson(input.evidence));
    return VerifySnpEvidence(e, opts_, input.expected_report_data, input.expected_init_data);
  }

 private:
  SnpVerifyOptions opts_;
};

}  // namespace

std::unique_ptr<Verifier> NewSnpVerifier(SnpVerifyOptions opts) {
  return std::make_unique<SnpVerifier>(std::move(opts));
}

}  // namespace coco::attestation
