#include "attestation/tdx_collateral.h"

#include <algorithm>
#include <cstdio>

#include "attestation/verified_cache.h"
#include "base/json.h"
#include "base/time.h"
#include "crypto/crypto.h"

namespace coco::attestation {

namespace {

Error Fail(const std::string& check, const std::string& why) {
  return MakeError(Code::kEvidence, "TDX " + check + ": " + why);
}

// ---- Reading the JSON documents --------------------------------------------------------------

// Field readers that name the document and field in their errors.
struct Doc {
  std::string name;  // "TCB info", "QE identity"

  Result<const nlohmann::json*> Member(const nlohmann::json& j, const char* key) const {
    if (!j.is_object() || !j.contains(key))
      return Fail(name, "has no \"" + std::string(key) + "\"");
    return &j[key];
  }
  Result<std::string> String(const nlohmann::json& j, const char* key) const {
    COCO_ASSIGN_OR_RETURN(const nlohmann::json* v, Member(j, key));
    if (!v->is_string()) return Fail(name, "\"" + std::string(key) + "\" is not a string");
    return v->get<std::string>();
  }
  Result<uint64_t> Number(const nlohmann::json& j, const char* key, uint64_t max) const {
    COCO_ASSIGN_OR_RETURN(const nlohmann::json* v, Member(j, key));
    if (!v->is_number_unsigned() || v->get<uint64_t>() > max)
      return Fail(name,
                  "\"" + std::string(key) + "\" is not a number from 0 to " + std::to_string(max));
    return v->get<uint64_t>();
  }
  Result<Bytes> Hex(const nlohmann::json& j, const char* key, size_t size) const {
    COCO_ASSIGN_OR_RETURN(std::string text, String(j, key));
    auto b = HexDecode(text);
    if (!b.ok() || b->size() != size)
      return Fail(name,
                  "\"" + std::string(key) + "\" is not " + std::to_string(size) + " bytes of hex");
    return *b;
  }
  Result<std::time_t> Time(const nlohmann::json& j, const char* key) const {
    COCO_ASSIGN_OR_RETURN(std::string text, String(j, key));
    auto t = ParseRfc3339(text);
    if (!t.ok()) return Fail(name, "\"" + std::string(key) + "\": " + t.error().message);
    return *t;
  }

  // The fields both documents open with: id, version, issueDate, nextUpdate and
  // tcbEvaluationDataNumber.
  Status Header(const nlohmann::json& j, const std::string& want_id, uint64_t want_version,
                std::time_t* issue, std::time_t* next_update, uint32_t* eval_num) const {
    COCO_ASSIGN_OR_RETURN(std::string id, String(j, "id"));
    if (id != want_id) return Fail(name, "is for \"" + id + "\", not " + want_id);
    COCO_ASSIGN_OR_RETURN(uint64_t version, Number(j, "version", 100));
    if (version != want_version)
      return Fail(name, "version " + std::to_string(version) + ", expected " +
                            std::to_string(want_version));
    COCO_ASSIGN_OR_RETURN(*issue, Time(j, "issueDate"));
    COCO_ASSIGN_OR_RETURN(*next_update, Time(j, "nextUpdate"));
    COCO_ASSIGN_OR_RETURN(uint64_t eval, Number(j, "tcbEvaluationDataNumber", 0xFFFFFFFF));
    *eval_num = static_cast<uint32_t>(eval);
    return Status::Ok();
  }

  // {"tcb": {...}, "tcbDate", "tcbStatus", "advisoryIDs"?}; the "tcb" part is read by the caller.
  Result<TdxTcbLevel> Level(const nlohmann::json& j) const {
    TdxTcbLevel l;
    COCO_ASSIGN_OR_RETURN(l.date, Time(j, "tcbDate"));
    COCO_ASSIGN_OR_RETURN(l.status, String(j, "tcbStatus"));
    static const char* kKnown[] = {"UpToDate",
                                   "SWHardeningNeeded",
                                   "ConfigurationNeeded",
                                   "ConfigurationAndSWHardeningNeeded",
                                   "OutOfDate",
                                   "OutOfDateConfigurationNeeded",
                                   "Revoked"};
    if (std::find(std::begin(kKnown), std::end(kKnown), l.status) == std::end(kKnown))
      return Fail(name, "unknown tcbStatus \"" + l.status + "\"");
    if (j.contains("advisoryIDs")) {
      const auto& a = j["advisoryIDs"];
      if (!a.is_array()) return Fail(name, "\"advisoryIDs\" is not a list");
      for (const auto& id : a) {
        if (!id.is_string()) return Fail(name, "an advisory ID is not a string");
        l.advisory_ids.push_back(id.get<std::string>());
      }
    }
    return l;
  }

  Result<std::vector<uint8_t>> Components(const nlohmann::json& tcb, const char* key) const {
    COCO_ASSIGN_OR_RETURN(const nlohmann::json* list, Member(tcb, key));
    if (!list->is_array() || list->size() != 16)
      return Fail(name, "\"" + std::string(key) + "\" is not a list of 16 components");
    std::vector<uint8_t> out;
    for (const auto& c : *list) {
      COCO_ASSIGN_OR_RETURN(uint64_t svn, Number(c, "svn", 255));
      out.push_back(static_cast<uint8_t>(svn));
    }
    return out;
  }

  Result<std::vector<TdxTcbLevel>> IsvLevels(const nlohmann::json& j) const {
    COCO_ASSIGN_OR_RETURN(const nlohmann::json* list, Member(j, "tcbLevels"));
    if (!list->is_array() || list->empty()) return Fail(name, "\"tcbLevels\" is empty");
    std::vector<TdxTcbLevel> out;
    for (const auto& lj : *list) {
      COCO_ASSIGN_OR_RETURN(TdxTcbLevel l, Level(lj));
      COCO_ASSIGN_OR_RETURN(const nlohmann::json* tcb, Member(lj, "tcb"));
      COCO_ASSIGN_OR_RETURN(uint64_t isvsvn, Number(*tcb, "isvsvn", 0xFFFF));
      l.isvsvn = static_cast<uint16_t>(isvsvn);
      out.push_back(std::move(l));
    }
    return out;
  }

  Result<TdxModuleIdentity> Module(const nlohmann::json& j, bool with_levels) const {
    TdxModuleIdentity m;
    if (with_levels) {
      COCO_ASSIGN_OR_RETURN(m.id, String(j, "id"));
      COCO_ASSIGN_OR_RETURN(m.levels, IsvLevels(j));
    }
    COCO_ASSIGN_OR_RETURN(m.mrsigner, Hex(j, "mrsigner", 48));
    COCO_ASSIGN_OR_RETURN(m.attributes, Hex(j, "attributes", 8));
    COCO_ASSIGN_OR_RETURN(m.attributes_mask, Hex(j, "attributesMask", 8));
    return m;
  }
};

// Splits {"<key>": {...}, "signature": "<hex>"} into the signed text, its parse and the signature.
struct Signed {
  std::string_view body;
  nlohmann::json value;
  Bytes signature;
};
Result<Signed> ReadSigned(const std::string& text, const char* key, const std::string& name) {
  Signed s;
  auto body = RawJsonMember(text, key);
  if (!body.ok()) return Fail(name, body.error().message);
  s.body = *body;
  nlohmann::json whole = ParseJsonOrDiscarded(text);
  if (whole.is_discarded() || !whole.is_object()) return Fail(name, "is not a JSON object");
  // The content is read from the signed text itself, never from a second copy elsewhere.
  s.value = ParseJsonOrDiscarded(s.body);
  if (s.value.is_discarded() || !s.value.is_object())
    return Fail(name, "\"" + std::string(key) + "\" is not a JSON object");
  if (!whole.contains("signature") || !whole["signature"].is_string())
    return Fail(name, "has no \"signature\"");
  auto sig = HexDecode(whole["signature"].get<std::string>());
  if (!sig.ok() || sig->size() != 64) return Fail(name, "\"signature\" is not 64 bytes of hex");
  s.signature = *sig;
  return s;
}

Status CheckSignature(const Signed& s, const crypto::Key& key, const std::string& name) {
  if (!crypto::EcdsaVerifyRaw(key, crypto::HashAlg::kSha256, s.body, s.signature).ok())
    return Fail(name, "its signature does not verify with the TCB signing certificate's key");
  return Status::Ok();
}

Status ReadTcbInfo(const Signed& s, TdxCollateral* c) {
  Doc d{"TCB info"};
  const nlohmann::json& t = s.value;
  COCO_RETURN_IF_ERROR(d.Header(t, "TDX", 3, &c->tcb_issue, &c->tcb_next_update, &c->tcb_eval_num));
  COCO_ASSIGN_OR_RETURN(c->fmspc, d.Hex(t, "fmspc", 6));
  COCO_ASSIGN_OR_RETURN(c->pce_id, d.Hex(t, "pceId", 2));
  if (t.contains("tdxModule")) {
    COCO_ASSIGN_OR_RETURN(TdxModuleIdentity m, d.Module(t["tdxModule"], false));
    c->tdx_module = std::move(m);
  }
  if (t.contains("tdxModuleIdentities")) {
    if (!t["tdxModuleIdentities"].is_array())
      return Fail("TCB info", "\"tdxModuleIdentities\" is not a list");
    for (const auto& mj : t["tdxModuleIdentities"]) {
      COCO_ASSIGN_OR_RETURN(TdxModuleIdentity m, d.Module(mj, true));
      c->module_identities.push_back(std::move(m));
    }
  }
  COCO_ASSIGN_OR_RETURN(const nlohmann::json* levels, d.Member(t, "tcbLevels"));
  if (!levels->is_array() || levels->empty()) return Fail("TCB info", "\"tcbLevels\" is empty");
  for (const auto& lj : *levels) {
    COCO_ASSIGN_OR_RETURN(TdxTcbLevel l, d.Level(lj));
    COCO_ASSIGN_OR_RETURN(const nlohmann::json* tcb, d.Member(lj, "tcb"));
    COCO_ASSIGN_OR_RETURN(l.sgx_svns, d.Components(*tcb, "sgxtcbcomponents"));
    COCO_ASSIGN_OR_RETURN(l.tdx_svns, d.Components(*tcb, "tdxtcbcomponents"));
    COCO_ASSIGN_OR_RETURN(uint64_t pcesvn, d.Number(*tcb, "pcesvn", 0xFFFF));
    l.pcesvn = static_cast<uint16_t>(pcesvn);
    c->tcb_levels.push_back(std::move(l));
  }
  return Status::Ok();
}

Status ReadQeIdentity(const Signed& s, TdxCollateral* c) {
  Doc d{"QE identity"};
  const nlohmann::json& e = s.value;
  COCO_RETURN_IF_ERROR(d.Header(e, "TD_QE", 2, &c->qe_issue, &c->qe_next_update, &c->qe_eval_num));
  COCO_ASSIGN_OR_RETURN(c->qe_miscselect, d.Hex(e, "miscselect", 4));
  COCO_ASSIGN_OR_RETURN(c->qe_miscselect_mask, d.Hex(e, "miscselectMask", 4));
  COCO_ASSIGN_OR_RETURN(c->qe_attributes, d.Hex(e, "attributes", 16));
  COCO_ASSIGN_OR_RETURN(c->qe_attributes_mask, d.Hex(e, "attributesMask", 16));
  COCO_ASSIGN_OR_RETURN(c->qe_mrsigner, d.Hex(e, "mrsigner", 32));
  COCO_ASSIGN_OR_RETURN(uint64_t prodid, d.Number(e, "isvprodid", 0xFFFF));
  c->qe_isvprodid = static_cast<uint16_t>(prodid);
  COCO_ASSIGN_OR_RETURN(c->qe_levels, d.IsvLevels(e));
  return Status::Ok();
}

// ---- Grading ---------------------------------------------------------------------------------

bool Masked(const Bytes& value, const Bytes& mask, const Bytes& want) {
  if (value.size() != mask.size() || mask.size() != want.size()) return false;
  for (size_t i = 0; i < value.size(); ++i)
    if ((value[i] & mask[i]) != want[i]) return false;
  return true;
}

const TdxTcbLevel* IsvLevel(const std::vector<TdxTcbLevel>& levels, uint16_t isvsvn) {
  for (const auto& l : levels)
    if (l.isvsvn <= isvsvn) return &l;
  return nullptr;
}

// Folds a module's or the QE's status into the platform's, as Intel's library does.
std::string Converge(const std::string& platform, const std::string& other) {
  if (platform == "Revoked" || other == "Revoked") return "Revoked";
  if (other != "OutOfDate") return platform;
  if (platform == "UpToDate" || platform == "SWHardeningNeeded") return "OutOfDate";
  if (platform == "ConfigurationNeeded" || platform == "ConfigurationAndSWHardeningNeeded")
    return "OutOfDateConfigurationNeeded";
  return platform;
}

// PCK CRLs whose signature by a CA was already checked, keyed by both.
VerifiedCache<bool>& VerifiedCrls() {
  static VerifiedCache<bool> crls(256);
  return crls;
}

}  // namespace

Result<std::string_view> RawJsonMember(std::string_view json, std::string_view key) {
  size_t i = 0;
  auto ws = [&] {
    while (i < json.size() &&
           (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r'))
      ++i;
  };
  auto fail = [](const std::string& why) -> Error {
    return MakeError(Code::kInvalidArgument, "malformed JSON: " + why);
  };
  // A string starting at json[i] == '"'; leaves i after the closing quote.
  auto skip_string = [&]() -> bool {
    for (++i; i < json.size(); ++i) {
      if (json[i] == '\\') {
        ++i;
      } else if (json[i] == '"') {
        ++i;
        return true;
      }
    }
    return false;
  };
  // Any value; leaves i after it.
  auto skip_value = [&]() -> bool {
    if (i >= json.size()) return false;
    if (json[i] == '"') return skip_string();
    if (json[i] == '{' || json[i] == '[') {
      int depth = 0;
      while (i < json.size()) {
        char ch = json[i];
        if (ch == '"') {
          if (!skip_string()) return false;
          continue;
        }
        if (ch == '{' || ch == '[') ++depth;
        if (ch == '}' || ch == ']') --depth;
        ++i;
        if (depth == 0) return true;
      }
      return false;
    }
    while (i < json.size() && json[i] != ',' && json[i] != '}' && json[i] != ']' &&
           json[i] != ' ' && json[i] != '\n' && json[i] != '\r' && json[i] != '\t')
      ++i;
    return true;
  };
  ws();
  if (i >= json.size() || json[i] != '{') return fail("not an object");
  ++i;
  std::optional<std::string_view> found;
  for (;;) {
    ws();
    if (i >= json.size() || json[i] != '"') return fail("expected a member name");
    size_t name_start = i + 1;
    if (!skip_string()) return fail("unterminated string");
    std::string_view name = json.substr(name_start, i - 1 - name_start);
    ws();
    if (i >= json.size() || json[i] != ':') return fail("expected ':'");
    ++i;
    ws();
    size_t value_start = i;
    if (!skip_value()) return fail("unterminated value");
    if (name == key) {
      if (found) return fail("member \"" + std::string(key) + "\" appears twice");
      found = json.substr(value_start, i - value_start);
    }
    ws();
    if (i < json.size() && json[i] == ',') {
      ++i;
      continue;
    }
    if (i < json.size() && json[i] == '}') break;
    return fail("expected ',' or '}'");
  }
  if (found) return *found;
  return MakeError(Code::kNotFound, "no member \"" + std::string(key) + "\"");
}

Result<TdxCollateral> LoadTdxCollateral(const TdxCollateralFiles& files,
                                        const TdxCollateralOptions& opts) {
  std::time_t at = opts.at ? *opts.at : std::time(nullptr);
  TdxCollateral c;
  if (opts.root) {
    c.root = *opts.root;
  } else {
    COCO_ASSIGN_OR_RETURN(crypto::Certificate root, IntelSgxRootCa());
    c.root = root;
  }
  // The signer: "Intel SGX TCB Signing", issued by the root (a chain of exactly two).
  auto chain = crypto::Certificate::AllFromPem(files.tcb_signing_chain);
  if (!chain.ok()) return Fail("TCB signing chain", chain.error().message);
  if (chain->size() > 2)
    return Fail("TCB signing chain", "has " + std::to_string(chain->size()) +
                                         " certificates, expected the signer and the root");
  if (chain->size() == 2 && !((*chain)[1] == *c.root))
    return Fail("TCB signing chain", "its root is not Intel's SGX Root CA");
  c.root_key_id = HexEncode(crypto::Hash(crypto::HashAlg::kSha384, c.root->PublicKeyBits()));
  c.tcb_signer = (*chain)[0];
  COCO_ASSIGN_OR_RETURN(std::string cn, c.tcb_signer->SubjectCommonName());
  if (cn != "Intel SGX TCB Signing")
    return Fail("TCB signing chain", "the signer is \"" + cn + "\", not Intel SGX TCB Signing");
  if (auto s = c.tcb_signer->VerifySignedBy(*c.root); !s.ok())
    return Fail("TCB signing chain", s.error().message);
  for (const crypto::Certificate* cert : {&*c.tcb_signer, &*c.root}) {
    if (auto s = cert->CheckValidAt(at); !s.ok())
      return Fail("TCB signing chain", s.error().message);
  }
  // The root CA CRL: signed by the root, and not revoking the signer.
  auto root_crl = crypto::RevocationList::Parse(files.root_ca_crl);
  if (!root_crl.ok()) return Fail("root CA CRL", root_crl.error().message);
  if (auto s = root_crl->VerifySignedBy(*c.root); !s.ok())
    return Fail("root CA CRL", s.error().message);
  if (root_crl->Revokes(*c.tcb_signer))
    return Fail("root CA CRL", "revokes the TCB signing certificate");
  c.root_ca_crl = *root_crl;
  auto pck_crl = crypto::RevocationList::Parse(files.pck_crl);
  if (!pck_crl.ok()) return Fail("PCK CRL", pck_crl.error().message);
  c.pck_crl = *pck_crl;

  COCO_ASSIGN_OR_RETURN(crypto::Key key, c.tcb_signer->PublicKey());
  COCO_ASSIGN_OR_RETURN(Signed tcb, ReadSigned(files.tcb_info, "tcbInfo", "TCB info"));
  COCO_RETURN_IF_ERROR(CheckSignature(tcb, key, "TCB info"));
  COCO_RETURN_IF_ERROR(ReadTcbInfo(tcb, &c));
  COCO_ASSIGN_OR_RETURN(Signed qe, ReadSigned(files.qe_identity, "enclaveIdentity", "QE identity"));
  COCO_RETURN_IF_ERROR(CheckSignature(qe, key, "QE identity"));
  COCO_RETURN_IF_ERROR(ReadQeIdentity(qe, &c));

  c.earliest_issue =
      std::min({c.tcb_issue, c.qe_issue, c.pck_crl->ThisUpdate(), c.root_ca_crl->ThisUpdate(),
                c.tcb_signer->NotBefore(), c.root->NotBefore()});
  c.latest_issue =
      std::max({c.tcb_issue, c.qe_issue, c.pck_crl->ThisUpdate(), c.root_ca_crl->ThisUpdate(),
                c.tcb_signer->NotBefore(), c.root->NotBefore()});
  c.earliest_expiry =
      std::min({c.tcb_next_update, c.qe_next_update, c.tcb_signer->NotAfter(), c.root->NotAfter()});
  for (const crypto::RevocationList* crl : {&*c.pck_crl, &*c.root_ca_crl})
    if (crl->NextUpdate() != 0) c.earliest_expiry = std::min(c.earliest_expiry, crl->NextUpdate());
  c.pck_crl_num = c.pck_crl->Number().value_or(0);
  c.root_ca_crl_num = c.root_ca_crl->Number().value_or(0);
  return c;
}

Status ParseTdxCollateralJsonUnverified(const std::string& tcb_info, const std::string& qe_identity,
                                        TdxCollateral* c) {
  if (!tcb_info.empty()) {
    COCO_ASSIGN_OR_RETURN(Signed tcb, ReadSigned(tcb_info, "tcbInfo", "TCB info"));
    COCO_RETURN_IF_ERROR(ReadTcbInfo(tcb, c));
  }
  if (!qe_identity.empty()) {
    COCO_ASSIGN_OR_RETURN(Signed qe, ReadSigned(qe_identity, "enclaveIdentity", "QE identity"));
    COCO_RETURN_IF_ERROR(ReadQeIdentity(qe, c));
  }
  return Status::Ok();
}

Result<nlohmann::json> GradeTdxQuote(const TdxQuote& q, const PckInfo& pck, const TdxCollateral& c,
                                     std::time_t at) {
  // The collateral must be for this platform.
  if (pck.fmspc != c.fmspc)
    return Fail("collateral", "the TCB info is for FMSPC " + HexEncode(c.fmspc) +
                                  ", the PCK certificate's is " + HexEncode(pck.fmspc));
  if (pck.pceid != c.pce_id)
    return Fail("collateral", "the TCB info is for PCE-ID " + HexEncode(c.pce_id) +
                                  ", the PCK certificate's is " + HexEncode(pck.pceid));
  if (auto s = c.tcb_signer->CheckValidAt(at); !s.ok())
    return Fail("TCB signing chain", s.error().message);

  // Revocation: the PCK CRL comes from the quote's CA; the root CRL covers that CA.
  if (!pck.pck_cert || !pck.ca_cert)
    return Fail("PCK certificate chain", "grading needs the quote's verified PCK chain");
  const crypto::Certificate& pck_cert = *pck.pck_cert;
  const crypto::Certificate& ca = *pck.ca_cert;
  using Cache = VerifiedCache<bool>;
  Bytes crl_key = Cache::Key({Cache::View(ca.der()), Cache::View(c.pck_crl->der())});
  if (!VerifiedCrls().Find(crl_key)) {
    if (auto s = c.pck_crl->VerifySignedBy(ca); !s.ok()) return Fail("PCK CRL", s.error().message);
    VerifiedCrls().Add(crl_key, true);
  }
  if (c.pck_crl->Revokes(pck_cert)) return Fail("PCK CRL", "the PCK certificate is revoked");
  if (c.root_ca_crl->Revokes(ca)) return Fail("root CA CRL", "the PCK CA certificate is revoked");

  // 1. The platform's TCB level.
  const Bytes& tee_svn = q.body.tcb_svn;
  bool module_identities = tee_svn[1] > 0;
  const TdxTcbLevel* platform = nullptr;
  for (const auto& l : c.tcb_levels) {
    bool ok = l.pcesvn <= pck.pcesvn;
    for (size_t i = 0; ok && i < 16; ++i) ok = l.sgx_svns[i] <= pck.tcb_components[i];
    for (size_t i = module_identities ? 2 : 0; ok && i < 16; ++i) ok = l.tdx_svns[i] <= tee_svn[i];
    if (ok) {
      platform = &l;
      break;
    }
  }
  if (!platform)
    return Fail("TCB level", "no TCB level of the TCB info matches the platform (PCK TCB " +
                                 HexEncode(pck.tcb_components) + ", PCESVN " +
                                 std::to_string(pck.pcesvn) + ", TEE_TCB_SVN " +
                                 HexEncode(tee_svn) + ")");
  std::string status = platform->status;
  std::time_t tcb_date = platform->date;
  std::vector<std::string> advisories = platform->advisory_ids;
  auto fold = [&](const TdxTcbLevel& l) {
    status = Converge(status, l.status);
    tcb_date = std::min(tcb_date, l.date);
    for (const auto& a : l.advisory_ids)
      if (std::find(advisories.begin(), advisories.end(), a) == advisories.end())
        advisories.push_back(a);
  };

  // 2. The TDX module.
  if (module_identities) {
    char id[16];
    std::snprintf(id, sizeof id, "TDX_%02X", tee_svn[1]);
    const TdxModuleIdentity* m = nullptr;
    for (const auto& mi : c.module_identities)
      if (mi.id == id) m = &mi;
    if (!m) return Fail("TDX module", "the TCB info has no identity " + std::string(id));
    if (!ConstantTimeEqual(m->mrsigner, q.body.mrsigner_seam))
      return Fail("TDX module", "MRSIGNERSEAM does not match " + m->id + "'s mrsigner");
    if (!Masked(q.body.seam_attributes, m->attributes_mask, m->attributes))
      return Fail("TDX module", "SEAMATTRIBUTES do not match " + m->id + "'s attributes");
    const TdxTcbLevel* l = IsvLevel(m->levels, tee_svn[0]);
    if (!l)
      return Fail("TDX module",
                  "no TCB level of " + m->id + " matches its SVN " + std::to_string(tee_svn[0]));
    fold(*l);
  } else if (c.tdx_module) {
    if (!ConstantTimeEqual(c.tdx_module->mrsigner, q.body.mrsigner_seam))
      return Fail("TDX module", "MRSIGNERSEAM does not match the TCB info's tdxModule");
    if (!Masked(q.body.seam_attributes, c.tdx_module->attributes_mask, c.tdx_module->attributes))
      return Fail("TDX module", "SEAMATTRIBUTES do not match the TCB info's tdxModule");
  }

  // 3. The quoting enclave.
  const Bytes& r = q.qe_report;
  Bytes miscselect(r.begin() + 16, r.begin() + 20), attributes(r.begin() + 48, r.begin() + 64),
      mrsigner(r.begin() + 128, r.begin() + 160);
  uint16_t isvprodid = static_cast<uint16_t>(r[256] | r[257] << 8);
  uint16_t isvsvn = static_cast<uint16_t>(r[258] | r[259] << 8);
  if (!Masked(miscselect, c.qe_miscselect_mask, c.qe_miscselect))
    return Fail("QE identity", "the QE report's MISCSELECT does not match");
  if (!Masked(attributes, c.qe_attributes_mask, c.qe_attributes))
    return Fail("QE identity", "the QE report's attributes do not match");
  if (!ConstantTimeEqual(mrsigner, c.qe_mrsigner))
    return Fail("QE identity", "the QE report's MRSIGNER is not Intel's TD quoting enclave's");
  if (isvprodid != c.qe_isvprodid)
    return Fail("QE identity", "the QE report's ISVPRODID " + std::to_string(isvprodid) +
                                   " is not " + std::to_string(c.qe_isvprodid));
  const TdxTcbLevel* qe = IsvLevel(c.qe_levels, isvsvn);
  if (!qe)
    return Fail("QE identity", "no TCB level matches the QE's ISVSVN " + std::to_string(isvsvn));
  fold(*qe);

  if (status == "Revoked") return Fail("TCB status", "the platform's TCB level is Revoked");

  // Supplemental claims, as Intel's library reports them.
  std::time_t earliest_issue = c.earliest_issue, latest_issue = c.latest_issue,
              earliest_expiry = c.earliest_expiry;
  for (const crypto::Certificate* cert : {&pck_cert, &ca}) {
    earliest_issue = std::min(earliest_issue, cert->NotBefore());
    latest_issue = std::max(latest_issue, cert->NotBefore());
    earliest_expiry = std::min(earliest_expiry, cert->NotAfter());
  }
  static const char* kSgxTypes[] = {"Standard", "Scalable", "Scalable with Integrity"};
  nlohmann::json j;
  j["tcb_status"] = status;
  j["tcb_date"] = FormatRfc3339(tcb_date);
  j["advisory_ids"] = advisories;
  j["collateral_expiration_status"] = earliest_expiry < at ? "1" : "0";
  j["earliest_issue_date"] = FormatRfc3339(earliest_issue);
  j["latest_issue_date"] = FormatRfc3339(latest_issue);
  j["earliest_expiration_date"] = FormatRfc3339(earliest_expiry);
  j["tcb_eval_num"] = std::min(c.tcb_eval_num, c.qe_eval_num);
  j["pck_crl_num"] = c.pck_crl_num;
  j["root_ca_crl_num"] = c.root_ca_crl_num;
  j["root_key_id"] = c.root_key_id;
  j["platform_provider_id"] = HexEncode(pck.ppid);
  if (pck.sgx_type >= 0 && pck.sgx_type <= 2) j["sgx_type"] = kSgxTypes[pck.sgx_type];
  if (pck.sgx_type == 1 || pck.sgx_type == 2) {
    if (pck.dynamic_platform) j["is_dynamic_platform"] = *pck.dynamic_platform;
    if (pck.cached_keys) j["is_cached_keys"] = *pck.cached_keys;
    if (pck.smt_enabled) j["is_smt_enabled"] = *pck.smt_enabled;
  }
  return j;
}

}  // namespace coco::attestation
