#include "attestation/tpm_attester.h"

#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <cstring>

#include "attestation/runtime_data.h"
#include "attestation/tpm.h"
#include "crypto/crypto.h"

namespace coco::attestation {
namespace {

Error TssError(const std::string& what, TSS2_RC rc) {
  return MakeError(Code::kIo, "TPM: " + what + ": " + Tss2_RC_Decode(rc));
}

// An ESAPI context on a TCTI; both freed on destruction.
class Esys {
 public:
  static Result<std::unique_ptr<Esys>> Open(const std::string& conf) {
    std::unique_ptr<Esys> e(new Esys());
    TSS2_RC rc = Tss2_TctiLdr_Initialize(conf.c_str(), &e->tcti_);
    if (rc != TSS2_RC_SUCCESS) return TssError("cannot open TCTI \"" + conf + "\"", rc);
    rc = Esys_Initialize(&e->ctx_, e->tcti_, nullptr);
    if (rc != TSS2_RC_SUCCESS) return TssError("Esys_Initialize", rc);
    return e;
  }
  ~Esys() {
    if (ctx_) Esys_Finalize(&ctx_);
    if (tcti_) Tss2_TctiLdr_Finalize(&tcti_);
  }
  ESYS_CONTEXT* get() { return ctx_; }

 private:
  Esys() = default;
  ESYS_CONTEXT* ctx_ = nullptr;
  TSS2_TCTI_CONTEXT* tcti_ = nullptr;
};

template <class T>
struct EsysFree {
  void operator()(T* p) const { Esys_Free(p); }
};
template <class T>
using EsysPtr = std::unique_ptr<T, EsysFree<T>>;

TPML_PCR_SELECTION Sha256Pcrs(uint32_t first, uint32_t count) {
  TPML_PCR_SELECTION s{};
  s.count = 1;
  s.pcrSelections[0].hash = TPM2_ALG_SHA256;
  s.pcrSelections[0].sizeofSelect = 3;
  for (uint32_t i = first; i < first + count; ++i)
    s.pcrSelections[0].pcrSelect[i / 8] |= static_cast<uint8_t>(1 << (i % 8));
  return s;
}

// The attestation key: a restricted RSA-2048 signing key (RSASSA, SHA-256) created as a primary
// key of the endorsement hierarchy, so the same TPM always derives the same key.
Result<std::pair<ESYS_TR, Bytes>> CreateAk(ESYS_CONTEXT* ctx) {
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_PUBLIC tmpl{};
  tmpl.publicArea.type = TPM2_ALG_RSA;
  tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
  tmpl.publicArea.objectAttributes = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT |
                                     TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH;
  auto& rsa = tmpl.publicArea.parameters.rsaDetail;
  rsa.symmetric.algorithm = TPM2_ALG_NULL;
  rsa.scheme.scheme = TPM2_ALG_RSASSA;
  rsa.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
  rsa.keyBits = 2048;
  rsa.exponent = 0;
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcrs{};
  ESYS_TR handle = ESYS_TR_NONE;
  TPM2B_PUBLIC* pub = nullptr;
  TSS2_RC rc = Esys_CreatePrimary(ctx, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  ESYS_TR_NONE, &sensitive, &tmpl, &outside, &creation_pcrs,
                                  &handle, &pub, nullptr, nullptr, nullptr);
  if (rc != TSS2_RC_SUCCESS) return TssError("creating the attestation key", rc);
  EsysPtr<TPM2B_PUBLIC> pub_owner(pub);
  const auto& n = pub->publicArea.unique.rsa;
  uint32_t e = pub->publicArea.parameters.rsaDetail.exponent;
  if (e == 0) e = 65537;
  Bytes exp = {static_cast<uint8_t>(e >> 16), static_cast<uint8_t>(e >> 8),
               static_cast<uint8_t>(e)};
  auto key = crypto::Key::FromRsaPublic(Bytes(n.buffer, n.buffer + n.size), exp);
  if (!key.ok()) {
    Esys_FlushContext(ctx, handle);
    return key.error();
  }
  auto der = key->PublicDer();
  if (!der.ok()) {
    Esys_FlushContext(ctx, handle);
    return der.error();
  }
  return std::make_pair(handle, *der);
}

class TpmAttester final : public Attester {
 public:
  explicit TpmAttester(TpmAttesterOptions o) : o_(std::move(o)) {}
  std::string tee() const override { return "tpm"; }

  Result<nlohmann::json> GetEvidence(const Bytes& report_data) const override {
    if (report_data.size() > 64)
      return MakeError(Code::kInvalidArgument, "TPM report data is at most 64 bytes");
    COCO_ASSIGN_OR_RETURN(auto esys, Esys::Open(o_.tcti));
    ESYS_CONTEXT* ctx = esys->get();
    COCO_ASSIGN_OR_RETURN(auto ak, CreateAk(ctx));
    struct Flush {
      ESYS_CONTEXT* ctx;
      ESYS_TR h;
      ~Flush() { Esys_FlushContext(ctx, h); }
    } flush{ctx, ak.first};

    TPM2B_DATA nonce{};
    nonce.size = static_cast<uint16_t>(report_data.size());
    std::memcpy(nonce.buffer, report_data.data(), report_data.size());
    TPMT_SIG_SCHEME scheme{};
    scheme.scheme = TPM2_ALG_NULL;  // the key's own: RSASSA with SHA-256
    TPML_PCR_SELECTION all = Sha256Pcrs(0, 24);
    TPM2B_ATTEST* quoted = nullptr;
    TPMT_SIGNATURE* sig = nullptr;
    TSS2_RC rc = Esys_Quote(ctx, ak.first, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &nonce,
                            &scheme, &all, &quoted, &sig);
    if (rc != TSS2_RC_SUCCESS) return TssError("Esys_Quote", rc);
    EsysPtr<TPM2B_ATTEST> quoted_owner(quoted);
    EsysPtr<TPMT_SIGNATURE> sig_owner(sig);

    TpmEvidence e;
    e.ak_public = ak.second;
    e.message.assign(quoted->attestationData, quoted->attestationData + quoted->size);
    uint8_t buf[sizeof(TPMT_SIGNATURE)];
    size_t off = 0;
    rc = Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof buf, &off);
    if (rc != TSS2_RC_SUCCESS) return TssError("marshalling the signature", rc);
    e.signature.assign(buf, buf + off);

    // The PCR values, 8 at a time (what one TPM2_PCR_Read returns at most). The quote covers
    // the same values unless a PCR was extended in between; the verifier would then refuse.
    for (uint32_t first = 0; first < 24; first += 8) {
      TPML_PCR_SELECTION sel = Sha256Pcrs(first, 8);
      TPML_PCR_SELECTION* out_sel = nullptr;
      TPML_DIGEST* values = nullptr;
      uint32_t counter = 0;
      rc = Esys_PCR_Read(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &counter, &out_sel,
                         &values);
      if (rc != TSS2_RC_SUCCESS) return TssError("Esys_PCR_Read", rc);
      EsysPtr<TPML_PCR_SELECTION> sel_owner(out_sel);
      EsysPtr<TPML_DIGEST> values_owner(values);
      if (values->count != 8)
        return MakeError(Code::kIo, "TPM: the SHA-256 PCR bank is incomplete");
      for (uint32_t i = 0; i < values->count; ++i)
        e.pcrs.emplace_back(values->digests[i].buffer,
                            values->digests[i].buffer + values->digests[i].size);
    }
    return TpmEvidenceToJson(e);
  }

 private:
  TpmAttesterOptions o_;
};

}  // namespace

std::unique_ptr<Attester> NewTpmAttester(TpmAttesterOptions o) {
  return std::make_unique<TpmAttester>(std::move(o));
}

Status ExtendTpmPcrs(const TpmAttesterOptions& o, const std::vector<PcrExtend>& extends) {
  for (const auto& e : extends)
    if (e.pcr > 23)
      return MakeError(Code::kInvalidArgument, "PCR " + std::to_string(e.pcr) + " is not 0-23");
  COCO_ASSIGN_OR_RETURN(auto esys, Esys::Open(o.tcti));
  for (const auto& e : extends) {
    TPML_DIGEST_VALUES v{};
    v.count = 1;
    v.digests[0].hashAlg = TPM2_ALG_SHA256;
    Bytes d = FitToField(e.digest, 32);
    std::memcpy(v.digests[0].digest.sha256, d.data(), d.size());
    TSS2_RC rc = Esys_PCR_Extend(esys->get(), ESYS_TR_PCR0 + e.pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                 ESYS_TR_NONE, &v);
    if (rc != TSS2_RC_SUCCESS) return TssError("extending PCR " + std::to_string(e.pcr), rc);
  }
  return Status::Ok();
}

}  // namespace coco::attestation
