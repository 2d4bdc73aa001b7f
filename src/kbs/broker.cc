#include "kbs/broker.h"

#include <chrono>
#include <ctime>

#include "attestation/runtime_data.h"
#include "base/json.h"
#include "base/log.h"
#include "base/time.h"
#include "crypto/crypto.h"
#include "jose/jwe.h"

namespace coco::kbs {
namespace {

constexpr const char* kResourcePolicyKey = "resource-policy";

Response Fail(Variant variant, const std::string& detail) {
  Response r;
  r.status = StatusFor(variant);
  r.body = ErrorBody(variant, detail);
  return r;
}

bool IsStorage(const Error& e) { return e.code == Code::kStorage || e.code == Code::kStorageFull; }

// A storage failure is the broker's, not the client's: 500, or 507 when the disk or the
// database bound is full, with the reason, under the upstream variant. (A 401 would make
// upstream's clients attest again, and hide the cause.)
Response StorageFail(Variant variant, const std::string& what, const Error& e) {
  Response r = Fail(variant, what + e.message);
  r.status = e.code == Code::kStorageFull ? 507 : 500;
  log::Error("storage failure", {{"what", what}, {"reason", e.message}});
  return r;
}

// Upstream's variant for an error, keeping the 5xx of a storage failure.
Response FailWith(Variant variant, const Error& e) {
  return IsStorage(e) ? StorageFail(variant, "", e) : Fail(variant, e.message);
}

Response Ok(std::string body = "", std::string content_type = "application/json") {
  Response r;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

std::string Header(const Request& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

std::string Cookie(const Request& r, const std::string& name) {
  std::string all = Header(r, "cookie");
  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find(';', pos);
    if (end == std::string::npos) end = all.size();
    std::string part = all.substr(pos, end - pos);
    size_t b = part.find_first_not_of(' ');
    if (b != std::string::npos) part = part.substr(b);
    if (part.rfind(name + "=", 0) == 0) return part.substr(name.size() + 1);
    pos = end + 1;
  }
  return "";
}

// Parses a JSON body within the wire limits (size, nesting), mapping failures to SerdeError.
// Nothing deeper than kMaxBodyDepth is ever built, copied or dumped.
constexpr int kMaxBodyDepth = 64;
Result<nlohmann::json> ParseBody(const std::string& body, const char* what) {
  auto j = ParseJsonObject(body, what, JsonLimits{body.size(), kMaxBodyDepth});
  if (!j.ok()) return WireError(Variant::kSerdeError, j.error().message);
  return j;
}

// The content types an admin resource upload may carry: the body is the resource's bytes.
// multipart/form-data and form encodings would otherwise be stored as their envelope (or, by a
// tool that strips it, as nothing) and are refused.
bool RawUploadType(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  for (auto& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return t.empty() || t == "application/octet-stream" || t == "application/json" ||
         t == "text/plain";
}

Result<std::string> StringField(const nlohmann::json& j, const char* field, const char* what) {
  auto it = j.find(field);
  if (it == j.end())
    return WireError(Variant::kSerdeError, std::string(what) + " has no field \"" + field + "\"");
  if (!it->is_string())
    return WireError(Variant::kSerdeError,
                     std::string(what) + " field \"" + field + "\" is not a string");
  return it->get<std::string>();
}

// An error under its own wire name if it has one, under the variant its code stands for where
// that is unambiguous (a policy that denies or does not parse), else under `fallback`.
Response FromError(const Error& e, Variant fallback) {
  if (auto v = VariantFromName(e.wire)) return Fail(*v, e.message);
  if (e.code == Code::kPolicyInvalid) return Fail(Variant::kParsePolicyError, e.message);
  if (e.code == Code::kPolicyDenied) return Fail(Variant::kPolicyDeny, e.message);
  return Fail(fallback, e.message);
}

}  // namespace

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  size_t pos = 0;
  if (!path.empty() && path[0] == '/') pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    out.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

bool ValidResourceSegment(const std::string& s) {
  if (s.empty()) return false;
  auto base = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  };
  if (!base(s[0])) return false;
  for (char c : s)
    if (!base(c) && c != '.') return false;
  return true;
}

Broker::Broker(BrokerOptions options, Storage* storage, AdminAuth admin, Clock clock)
    : options_(std::move(options)),
      storage_(storage),
      admin_(std::move(admin)),
      clock_(std::move(clock)),
      reference_values_(storage),
      sealer_(Bytes(32, 0)),
      nonces_(options_.max_sessions) {}

Result<std::unique_ptr<Broker>> Broker::Create(
    BrokerOptions options, Storage* storage, AdminAuth admin,
    std::vector<std::unique_ptr<attestation::Verifier>> verifiers, Clock clock) {
  if (!clock) {
    clock = [] {
      return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
    };
  }
  std::unique_ptr<Broker> b(new Broker(std::move(options), storage, std::move(admin), clock));
  for (auto& v : verifiers) {
    std::string tee = v->tee();
    if (tee == "sample" && !b->options_.dev) continue;
    b->verifiers_[tee] = std::move(v);
  }
  COCO_ASSIGN_OR_RETURN(b->tokens_, TokenIssuer::LoadOrCreate(storage));
  COCO_ASSIGN_OR_RETURN(b->sealer_, SessionSealer::LoadOrCreate(storage));
  COCO_RETURN_IF_ERROR(b->LoadPolicies());
  return b;
}

Status Broker::LoadPolicies() {
  COCO_ASSIGN_OR_RETURN(auto rp_text, storage_->Get(kNsPolicy, kResourcePolicyKey));
  COCO_ASSIGN_OR_RETURN(
      auto rp,
      CompileResourcePolicy(rp_text ? *rp_text : std::string(AffirmingResourcePolicyText())));
  COCO_ASSIGN_OR_RETURN(auto ap_text, storage_->Get(kNsAttestationPolicy, "default_cpu"));
  COCO_ASSIGN_OR_RETURN(
      auto ap,
      CompileAttestationPolicy("default_cpu",
                               ap_text ? *ap_text : std::string(DefaultAttestationPolicyText())));
  std::lock_guard<std::mutex> lock(policy_mu_);
  resource_policy_ = std::move(rp);
  attestation_policy_ = std::move(ap);
  return Status::Ok();
}

std::shared_ptr<const ResourcePolicy> Broker::resource_policy() {
  std::lock_guard<std::mutex> lock(policy_mu_);
  return resource_policy_;
}
std::shared_ptr<const AttestationPolicy> Broker::attestation_policy() {
  std::lock_guard<std::mutex> lock(policy_mu_);
  return attestation_policy_;
}

Response Broker::Handle(const Request& r) {
  // Handlers check every field they read; this is the last line of defence so that no JSON
  // exception escapes into the transport.
  try {
    return HandleRoute(r);
  } catch (const nlohmann::json::exception& e) {
    return Fail(Variant::kSerdeError, std::string("unexpected JSON shape: ") + e.what());
  }
}

Response Broker::HandleRoute(const Request& r) {
  auto start = std::chrono::steady_clock::now();
  std::string route = "other";
  Response resp;
  auto seg = SplitPath(r.path);
  if (r.path == "/healthz") {
    route = "healthz";
    resp = Ok("ok\n", "text/plain");
  } else if (r.path == "/metrics") {
    route = "metrics";
    metrics_.SetSessions(nonces_.size());
    resp = Ok(metrics_.Render(), "text/plain; version=0.0.4");
  } else if (r.path == "/.well-known/jwks.json" && r.method == "GET") {
    route = "jwks";
    resp = Ok(tokens_->Jwks().dump());
  } else if (seg.size() < 3 || seg[0] != "kbs" || seg[1] != "v0") {
    resp = Fail(Variant::kInvalidRequestPath,
                "unknown path " + r.path + " (the API lives under /kbs/v0/)");
  } else if (seg[2] == "auth" && seg.size() == 3 && r.method == "POST") {
    route = "auth";
    resp = Auth(r);
  } else if (seg[2] == "attest" && seg.size() == 3 && r.method == "POST") {
    route = "attest";
    resp = Attest(r);
  } else if (seg[2] == "resource") {
    route = "resource";
    std::vector<std::string> parts(seg.begin() + 3, seg.end());
    if (parts.size() != 3) {
      resp = Fail(Variant::kInvalidRequestPath,
                  "resource path must be /kbs/v0/resource/<repo>/<type>/<tag> (three segments)");
    } else if (!ValidResourceSegment(parts[0]) || !ValidResourceSegment(parts[1]) ||
               !ValidResourceSegment(parts[2])) {
      resp = Fail(Variant::kInvalidRequestPath,
                  "resource path segments may hold only letters, digits, '_', '-' and '.', and "
                  "must not start with '.'");
    } else if (r.method == "GET") {
      resp = GetResource(r, parts[0] + "/" + parts[1] + "/" + parts[2]);
    } else {
      route = "admin";
      resp = Admin(r, seg);
    }
  } else if (seg[2] == "resource-policy" || seg[2] == "attestation-policy" ||
             seg[2] == "reference-value") {
    route = "admin";
    resp = Admin(r, seg);
  } else {
    resp = Fail(Variant::kPluginNotFound, "no handler for " + r.method + " /kbs/v0/" + seg[2]);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics_.ObserveRequest(route, resp.status, secs);
  return resp;
}

Response Broker::Auth(const Request& r) {
  auto req = ParseBody(r.body, "auth request");
  if (!req.ok()) return FromError(req.error(), Variant::kSerdeError);
  auto version = StringField(*req, "version", "auth request");
  if (!version.ok()) return FromError(version.error(), Variant::kSerdeError);
  auto tee = StringField(*req, "tee", "auth request");
  if (!tee.ok()) return FromError(tee.error(), Variant::kSerdeError);
  if (*version != kProtocolVersion)
    return Fail(Variant::kAttestationError, "protocol version mismatch: the client speaks " +
                                                *version + ", this broker speaks " +
                                                kProtocolVersion);
  if (*tee == "sample" && !options_.dev) {
    metrics_.Attestation(*tee, "refused");
    return Fail(Variant::kAttestationError,
                "TEE \"sample\" proves nothing and is refused; start coco-kbs with --dev to "
                "accept it for development");
  }
  if (!verifiers_.count(*tee)) {
    std::string known;
    for (const auto& [k, v] : verifiers_) known += (known.empty() ? "" : ", ") + k;
    return Fail(Variant::kAttestationError, "unknown or unsupported TEE \"" + *tee +
                                                "\" (this broker verifies: " + known + ")");
  }
  // Nothing is stored: the cookie carries the session (see session.h).
  SessionState s{*tee, Base64Encode(crypto::RandomBytes(32)), *version,
                 clock_() + options_.session_timeout_secs};
  nlohmann::json challenge = {{"nonce", s.nonce}, {"extra-params", ""}};
  Response resp = Ok(challenge.dump());
  resp.headers.emplace_back("Set-Cookie", std::string(kSessionCookie) + "=" + sealer_.Seal(s) +
                                              "; Expires=" + FormatHttpDate(s.expires));
  return resp;
}

Response Broker::Attest(const Request& r) {
  int64_t now = clock_();
  std::string id = Cookie(r, kSessionCookie);
  if (id.empty())
    return Fail(Variant::kAttestationError, "no kbs-session-id cookie: call /kbs/v0/auth first");
  auto body = ParseBody(r.body, "attestation");
  if (!body.ok()) return FromError(body.error(), Variant::kSerdeError);
  auto rd = body->find("runtime-data");
  if (rd == body->end() || !rd->is_object())
    return Fail(Variant::kSerdeError, "attestation has no object field \"runtime-data\"");
  auto nonce = StringField(*rd, "nonce", "runtime-data");
  if (!nonce.ok()) return FromError(nonce.error(), Variant::kSerdeError);
  auto pubkey = rd->find("tee-pubkey");
  if (pubkey == rd->end() || !pubkey->is_object())
    return Fail(Variant::kSerdeError, "runtime-data has no object field \"tee-pubkey\"");
  auto te = body->find("tee-evidence");
  if (te == body->end() || !te->is_object())
    return Fail(Variant::kSerdeError, "attestation has no object field \"tee-evidence\"");
  auto primary = te->find("primary_evidence");
  if (primary == te->end())
    return Fail(Variant::kSerdeError, "tee-evidence has no field \"primary_evidence\"");
  std::string additional;
  if (auto ad = te->find("additional_evidence"); ad != te->end() && !ad->is_null()) {
    if (!ad->is_string())
      return Fail(Variant::kSerdeError,
                  "tee-evidence field \"additional_evidence\" is not a string");
    additional = ad->get<std::string>();
  }

  auto session = sealer_.Open(id, now);
  if (!session.ok()) return Fail(Variant::kAttestationError, session.error().message);
  if (!ConstantTimeEqual(*nonce, session->nonce)) {
    metrics_.Attestation(session->tee, "failure");
    return Fail(Variant::kAttestationError,
                "runtime-data nonce does not match this session's challenge");
  }
  switch (nonces_.TryClaim(session->nonce, session->expires, now)) {
    case NonceRecord::Claim::kClaimed:
      break;
    case NonceRecord::Claim::kAlreadyUsed:
      metrics_.Attestation(session->tee, "failure");
      return Fail(Variant::kAttestationError,
                  "this session's nonce was already used; call /kbs/v0/auth for a new challenge");
    case NonceRecord::Claim::kFull: {
      Response busy = Fail(Variant::kAttestationError,
                           "too many attestations in progress; retry in a second (max_sessions)");
      busy.status = 503;
      busy.headers.emplace_back("Retry-After", "1");
      return busy;
    }
  }
  bool attested = false;
  struct ReleaseUnlessAttested {
    NonceRecord& record;
    const std::string& nonce;
    const bool& attested;
    ~ReleaseUnlessAttested() {
      if (!attested) record.Release(nonce);
    }
  } release{nonces_, session->nonce, attested};
  auto fail = [&](const std::string& detail) {
    metrics_.Attestation(session->tee, "failure");
    log::Info("attestation refused", {{"tee", session->tee}, {"reason", detail}});
    return Fail(Variant::kAttestationError, detail);
  };

  // The built-in verifiers bind init-data where the TEE measures it.
  std::optional<attestation::InitData> init_data;
  if (auto id_it = body->find("init-data"); id_it != body->end() && !id_it->is_null()) {
    if (!id_it->is_object()) return fail("init-data is not an object {format, body}");
    auto format = StringField(*id_it, "format", "init-data");
    if (!format.ok()) return fail(format.error().message);
    if (*format != "toml")
      return fail("init-data format \"" + *format + "\" is not supported (only \"toml\")");
    auto text = StringField(*id_it, "body", "init-data");
    if (!text.ok()) return fail(text.error().message);
    auto parsed = attestation::ParseInitData(*text);
    if (!parsed.ok()) return fail(parsed.error().message);
    init_data = std::move(parsed).value();
  }

  nlohmann::json runtime = attestation::PrimaryRuntimeData(*pubkey, *nonce, additional);
  auto digest = attestation::RuntimeDataDigest(runtime);
  if (!digest.ok()) return fail("runtime-data cannot be canonicalised: " + digest.error().message);
  auto vit = verifiers_.find(session->tee);
  if (vit == verifiers_.end()) return fail("no verifier for TEE " + session->tee);
  attestation::VerifierInput vin{*primary, *digest, std::nullopt};
  if (init_data) vin.expected_init_data = init_data->digest;
  auto tee_claims = vit->second->Verify(vin);
  if (!tee_claims.ok()) return fail("evidence verification: " + tee_claims.error().message);

  auto policy = attestation_policy();
  auto appraisal = policy->Appraise(session->tee, *tee_claims, [&](const std::string& name) {
    return reference_values_.Query(name, now);
  });
  if (!appraisal.ok()) return fail("attestation policy: " + appraisal.error().message);

  nlohmann::json tee_obj = *tee_claims;
  nlohmann::json annotated = nlohmann::json::object();
  if (tee_obj.contains("report_data")) {
    annotated["report_data"] = tee_obj["report_data"];
    tee_obj.erase("report_data");
  }
  if (tee_obj.contains("init_data")) tee_obj.erase("init_data");
  annotated[session->tee] = tee_obj;
  nlohmann::json rdc = {{"nonce", *nonce}, {"tee-pubkey", *pubkey}};
  if (!additional.empty()) rdc["additional-evidence"] = additional;
  annotated["runtime_data_claims"] = rdc;
  if (init_data) {
    annotated["init_data"] = HexEncode(init_data->digest);
    annotated["init_data_claims"] = init_data->data;
  }
  nlohmann::json submod = {
      {"ear.status", appraisal->status},
      {"ear.trustworthiness-vector", appraisal->trust_vector},
      {"ear.appraisal-policy-id", "default"},
      {"ear.veraison.annotated-evidence", annotated},
  };
  auto issued =
      tokens_->Issue(submod, session->tee, options_.dev, now, options_.token_lifetime_secs);
  if (!issued.ok()) return fail("cannot sign the attestation token: " + issued.error().message);
  std::string response = nlohmann::json{{"token", issued->token}}.dump();
  nonces_.SetAttested(session->nonce,
                      {std::move(issued->token),
                       std::make_shared<const nlohmann::json>(std::move(issued->claims))});
  attested = true;
  metrics_.Attestation(session->tee, "success");
  log::Debug("attested", {{"tee", session->tee}, {"status", appraisal->status}});
  return Ok(std::move(response));
}

Result<std::shared_ptr<const nlohmann::json>> Broker::ClaimsForResource(const Request& r) {
  int64_t now = clock_();
  std::string id = Cookie(r, kSessionCookie);
  if (!id.empty()) {
    auto state = sealer_.Open(id, now);
    auto s = state.ok() ? nonces_.Get(state->nonce, now) : std::nullopt;
    if (s && s->claims) {
      if (s->claims->value("exp", int64_t{0}) <= now)
        return WireError(Variant::kTokenVerifierError,
                         "the session's attestation token has expired");
      COCO_RETURN_IF_ERROR(CheckTokenScope(*s->claims));
      return s->claims;
    }
  }
  std::string auth = Header(r, "authorization");
  if (auth.rfind("Bearer ", 0) == 0) {
    auto claims = tokens_->Verify(auth.substr(7), now);
    if (!claims.ok())
      return WireError(Variant::kTokenVerifierError,
                       "attestation token: " + claims.error().message);
    COCO_RETURN_IF_ERROR(CheckTokenScope(*claims));
    return std::make_shared<const nlohmann::json>(std::move(claims).value());
  }
  if (!id.empty())
    return WireError(Variant::kTokenNotFound,
                     "session unknown, expired or not attested, and no Bearer token given");
  return WireError(Variant::kTokenNotFound,
                   "no attestation token: send the kbs-session-id cookie or Authorization: Bearer");
}

// A token is honoured only if this broker, as it runs now, would issue it: the same mode (a
// --dev token is worthless once the broker runs without --dev, and the reverse) and a TEE it
// still verifies.
Status Broker::CheckTokenScope(const nlohmann::json& claims) const {
  auto scope = TokenIssuer::ReadScope(claims);
  if (!scope.ok())
    return WireError(Variant::kTokenVerifierError, "attestation token: " + scope.error().message);
  if (scope->dev != options_.dev)
    return WireError(Variant::kTokenVerifierError,
                     std::string("attestation token was issued by a broker in ") +
                         (scope->dev ? "--dev" : "production") + " mode and this one runs in " +
                         (options_.dev ? "--dev" : "production") + " mode: attest again");
  if (!verifiers_.count(scope->tee))
    return WireError(Variant::kTokenVerifierError, "attestation token is for TEE \"" + scope->tee +
                                                       "\", which this broker does not accept");
  return Status::Ok();
}

nlohmann::json Broker::TeePubkey(const nlohmann::json& claims) const {
  std::vector<std::string> paths = options_.extra_teekey_paths;
  for (const char* p :
       {"/tdx/attester_runtime_data/tee-pubkey", "/tdx/attester_user_data/tee-pubkey",
        "/customized_claims/runtime_data/tee-pubkey",
        "/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey",
        "/tee-pubkey"})
    paths.emplace_back(p);
  for (const auto& p : paths) {
    try {
      nlohmann::json::json_pointer ptr(p);
      if (claims.contains(ptr)) return claims.at(ptr);
    } catch (const nlohmann::json::exception&) {
    }
  }
  return nullptr;
}

Response Broker::GetResource(const Request& r, const std::string& path) {
  auto claims = ClaimsForResource(r);
  if (!claims.ok()) {
    metrics_.Release("denied");
    return FromError(claims.error(), Variant::kTokenVerifierError);
  }
  const nlohmann::json& token_claims = **claims;
  Decision d = resource_policy()->Evaluate(token_claims, path);
  if (!d.allow) {
    metrics_.Release("denied");
    return Fail(Variant::kPolicyDeny, "resource policy denied " + path + ": " + d.reason);
  }
  auto value = storage_->Get(kNsResource, path);
  if (!value.ok()) {
    metrics_.Release("error");
    return StorageFail(Variant::kPluginInternalError, "resource storage: ", value.error());
  }
  if (!value->has_value()) {
    metrics_.Release("error");
    return Fail(Variant::kPluginInternalError, "resource " + path + " not found");
  }
  nlohmann::json key = TeePubkey(token_claims);
  if (key.is_null()) {
    metrics_.Release("error");
    return Fail(Variant::kJweError, "the attestation token carries no tee-pubkey to encrypt to");
  }
  auto jwe = jose::JweEncrypt(key, ToBytes(**value));
  if (!jwe.ok()) {
    metrics_.Release("error");
    return Fail(Variant::kJweError, "cannot encrypt to the TEE key: " + jwe.error().message);
  }
  metrics_.Release("released");
  return Ok(jwe->dump());
}

Response Broker::Admin(const Request& r, const std::vector<std::string>& seg) {
  Status auth = admin_.Authorize(Header(r, "authorization"), r.path, clock_());
  if (!auth.ok()) {
    log::Warn("admin request refused", {{"path", r.path}, {"reason", auth.error().message}});
    return Fail(Variant::kAdminAuthAccess, auth.error().message);
  }
  const std::string& what = seg[2];
  if (what == "resource") {
    std::string path = seg[3] + "/" + seg[4] + "/" + seg[5];
    if (r.method == "POST" || r.method == "PUT") {
      std::string type = Header(r, "content-type");
      if (!RawUploadType(type)) {
        Response refused = Fail(Variant::kSerdeError,
                                "a resource upload is the resource's raw bytes (Content-Type "
                                "application/octet-stream), not \"" +
                                    type + "\"; with curl: --data-binary @FILE, not -F");
        refused.status = 415;
        return refused;
      }
      Status s = storage_->Put(kNsResource, path, r.body);
      if (!s.ok())
        return StorageFail(Variant::kPluginInternalError, "resource " + path + ": ", s.error());
      log::Info("resource stored", {{"path", path}, {"bytes", std::to_string(r.body.size())}});
      return Ok();
    }
    if (r.method == "DELETE") {
      auto deleted = storage_->Delete(kNsResource, path);
      if (!deleted.ok())
        return StorageFail(Variant::kPluginInternalError, "resource " + path + ": ",
                           deleted.error());
      if (!*deleted) return Fail(Variant::kPluginInternalError, "resource " + path + " not found");
      log::Info("resource deleted", {{"path", path}});
      return Ok();
    }
  } else if (what == "resource-policy" && seg.size() == 3) {
    if (r.method == "POST") return SetResourcePolicy(r);
    if (r.method == "GET") {
      auto text = storage_->Get(kNsPolicy, kResourcePolicyKey);
      if (!text.ok())
        return StorageFail(Variant::kPolicyEngineError, "resource policy: ", text.error());
      std::string t = text->has_value() ? **text : std::string(AffirmingResourcePolicyText());
      return Ok(nlohmann::json{{"policy", Base64UrlEncode(t)}}.dump());
    }
  } else if (what == "attestation-policy" && seg.size() == 3) {
    if (r.method == "POST") return SetAttestationPolicy(r);
  } else if (what == "reference-value") {
    if (r.method == "POST" && seg.size() == 3) return SetReferenceValue(r);
    if (r.method == "GET" && seg.size() == 4) {
      auto rec = reference_values_.GetRecord(seg[3]);
      if (!rec.ok()) return FailWith(Variant::kRvpsError, rec.error());
      if (!rec->has_value())
        return Fail(Variant::kRvpsError, "reference value " + seg[3] + " not found");
      return Ok((**rec).value("value", nlohmann::json()).dump());
    }
  }
  return Fail(Variant::kInvalidRequestPath, "no admin endpoint " + r.method + " " + r.path);
}

// Reads {"policy": "<base64url, no padding>", ...} as both policy endpoints take it.
Result<std::pair<nlohmann::json, std::string>> Broker::ParsePolicyRequest(const Request& r,
                                                                          const char* what) {
  COCO_ASSIGN_OR_RETURN(nlohmann::json body, ParseBody(r.body, what));
  COCO_ASSIGN_OR_RETURN(std::string b64, StringField(body, "policy", what));
  auto text = Base64UrlDecode(b64);
  if (!text.ok())
    return MakeError(Code::kPolicyInvalid,
                     "policy must be base64url without padding: " + text.error().message);
  return std::make_pair(std::move(body), ToString(*text));
}

Response Broker::SetResourcePolicy(const Request& r) {
  auto req = ParsePolicyRequest(r, "resource policy request");
  if (!req.ok()) return FromError(req.error(), Variant::kSerdeError);
  const std::string& text = req->second;
  auto policy = CompileResourcePolicy(text);
  if (!policy.ok()) return FromError(policy.error(), Variant::kParsePolicyError);
  Status s = storage_->Put(kNsPolicy, kResourcePolicyKey, text);
  if (!s.ok()) return FailWith(Variant::kPolicyEngineError, s.error());
  std::string name = (*policy)->name();
  {
    std::lock_guard<std::mutex> lock(policy_mu_);
    resource_policy_ = std::move(policy).value();
  }
  log::Info("resource policy set", {{"policy", name}});
  return Ok();
}

Response Broker::SetAttestationPolicy(const Request& r) {
  auto req = ParsePolicyRequest(r, "attestation policy request");
  if (!req.ok()) return FromError(req.error(), Variant::kSerdeError);
  const std::string& text = req->second;
  std::string id = "default_cpu";
  if (req->first.contains("policy_id")) {
    auto given = StringField(req->first, "policy_id", "attestation policy request");
    if (!given.ok()) return FromError(given.error(), Variant::kSerdeError);
    id = *given;
  }
  auto policy = CompileAttestationPolicy(id, text);
  if (!policy.ok()) return FromError(policy.error(), Variant::kParsePolicyError);
  Status s = storage_->Put(kNsAttestationPolicy, id, text);
  if (!s.ok()) return FailWith(Variant::kPolicyEngineError, s.error());
  {
    std::lock_guard<std::mutex> lock(policy_mu_);
    attestation_policy_ = std::move(policy).value();
  }
  log::Info("attestation policy set", {{"policy_id", id}});
  return Ok();
}

Response Broker::SetReferenceValue(const Request& r) {
  auto body = ParseBody(r.body, "reference value message");
  if (!body.ok()) return FromError(body.error(), Variant::kSerdeError);
  auto names = reference_values_.Register(*body, clock_());
  if (!names.ok()) return FailWith(Variant::kRvpsError, names.error());
  std::string list;
  for (const auto& n : *names) list += (list.empty() ? "" : ",") + n;
  log::Info("reference values registered", {{"names", list}});
  return Ok();
}

}  // namespace coco::kbs
