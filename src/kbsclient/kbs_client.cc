#include "kbsclient/kbs_client.h"

#include <chrono>
#include <thread>

#include "attestation/runtime_data.h"
#include "base/json.h"
#include "jose/jwe.h"
#include "jose/jwk.h"
#include "jose/jwt.h"
#include "kbs/errors.h"
#include "kbsclient/http.h"

namespace coco::kbsclient {
namespace {

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

BrokerError ParseBrokerError(const HttpResult& r) {
  kbs::KbsError k = kbs::ParseErrorBody(r.body);
  return BrokerError{r.status, std::move(k.variant), std::move(k.detail)};
}

Error ToError(const BrokerError& b, const std::string& context) {
  return kbs::ReceivedError({b.variant, b.detail}, b.status, context);
}

bool ValidSegment(const std::string& s) {
  if (s.empty() || s[0] == '.') return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<std::string> ParseResourcePath(const std::string& uri) {
  std::string rest = uri;
  if (rest.rfind("kbs://", 0) == 0) {
    rest = rest.substr(6);
    size_t slash = rest.find('/');  // skip the (usually empty) authority
    if (slash == std::string::npos)
      return MakeError(Code::kInvalidArgument, "\"" + uri + "\" is not kbs:///<repo>/<type>/<tag>");
    rest = rest.substr(slash + 1);
  }
  std::vector<std::string> seg;
  size_t pos = 0;
  while (true) {
    size_t end = rest.find('/', pos);
    seg.push_back(rest.substr(pos, end == std::string::npos ? std::string::npos : end - pos));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  if (seg.size() != 3)
    return MakeError(
        Code::kInvalidArgument,
        "resource \"" + uri + "\" must have three segments: kbs:///<repo>/<type>/<tag>");
  for (const auto& s : seg)
    if (!ValidSegment(s))
      return MakeError(Code::kInvalidArgument,
                       "resource \"" + uri + "\" has an invalid segment \"" + s +
                           "\" (letters, digits, _ - . ; not starting with .)");
  return seg[0] + "/" + seg[1] + "/" + seg[2];
}

struct KbsClient::Impl {
  KbsClientOptions options;
  std::unique_ptr<attestation::Attester> attester;
  std::optional<crypto::Key> key;
  nlohmann::json jwk;
  std::unique_ptr<HttpClient> http;
  std::string cookie;  // "kbs-session-id=..."
  std::string token;
  int64_t token_exp = 0;

  // Sends with transport retries and exponential backoff (100 ms, 200 ms, ...).
  Result<HttpResult> Send(const std::string& method, const std::string& path,
                          const std::string& body, bool with_cookie) {
    std::map<std::string, std::string> headers = {{"Content-Type", "application/json"}};
    if (with_cookie && !cookie.empty()) headers["Cookie"] = cookie;
    Error last = MakeError(Code::kUnavailable, "no attempt made");
    for (int attempt = 0; attempt < std::max(1, options.max_attempts); ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
      auto r = http->Send(method, path, body, headers);
      if (r.ok()) return r;
      if (r.error().code != Code::kUnavailable)
        return r.error();  // an oversized answer is not retried
      last = r.error();
    }
    return last;
  }

  Result<std::string> Attest() {
    if (!token.empty() && token_exp > NowUnix() + 10) return token;
    cookie.clear();
    token.clear();
    nlohmann::json request = {{"version", "0.4.0"}, {"tee", attester->tee()}, {"extra-params", ""}};
    COCO_ASSIGN_OR_RETURN(HttpResult auth, Send("POST", "/kbs/v0/auth", request.dump(), false));
    if (auth.status != 200) return ToError(ParseBrokerError(auth), "the broker refused /auth");
    for (const auto& [k, v] : auth.headers) {
      if (strcasecmp(k.c_str(), "Set-Cookie") != 0) continue;
      size_t semi = v.find(';');
      std::string pair = v.substr(0, semi);
      if (pair.rfind("kbs-session-id=", 0) == 0) cookie = pair;
    }
    if (cookie.empty()) return MakeError(Code::kProtocol, "broker sent no kbs-session-id cookie");
    auto challenge = ParseJsonOrDiscarded(auth.body);
    if (!challenge.is_object() || !challenge.contains("nonce") || !challenge["nonce"].is_string())
      return MakeError(Code::kProtocol, "broker challenge has no string \"nonce\"");
    std::string nonce = challenge["nonce"];
    nlohmann::json runtime = attestation::PrimaryRuntimeData(jwk, nonce, "");
    COCO_ASSIGN_OR_RETURN(Bytes digest, attestation::RuntimeDataDigest(runtime));
    COCO_ASSIGN_OR_RETURN(nlohmann::json evidence, attester->GetEvidence(digest));
    nlohmann::json attestation = {
        {"runtime-data", {{"nonce", nonce}, {"tee-pubkey", jwk}}},
        {"tee-evidence", {{"primary_evidence", evidence}, {"additional_evidence", ""}}},
    };
    if (options.init_data_toml)
      attestation["init-data"] = {{"format", "toml"}, {"body", *options.init_data_toml}};
    COCO_ASSIGN_OR_RETURN(HttpResult att, Send("POST", "/kbs/v0/attest", attestation.dump(), true));
    if (att.status != 200) return ToError(ParseBrokerError(att), "the broker refused the evidence");
    auto body = ParseJsonOrDiscarded(att.body);
    if (!body.is_object() || !body.contains("token") || !body["token"].is_string())
      return MakeError(Code::kProtocol, "broker attest response has no string \"token\"");
    std::string t = body["token"];
    COCO_ASSIGN_OR_RETURN(jose::DecodedJwt decoded, jose::DecodeJwt(t));
    token = t;
    token_exp = decoded.claims.value("exp", int64_t{0});
    return token;
  }

  Result<SecretBytes> GetResource(const std::string& uri) {
    COCO_ASSIGN_OR_RETURN(std::string path, ParseResourcePath(uri));
    for (int round = 0; round < 2; ++round) {
      COCO_RETURN_IF_ERROR(Attest());
      COCO_ASSIGN_OR_RETURN(HttpResult r, Send("GET", "/kbs/v0/resource/" + path, "", true));
      if (r.status == 200) {
        auto jwe = ParseJsonOrDiscarded(r.body);
        if (!jwe.is_object())
          return MakeError(Code::kProtocol, "resource response is not a JWE object");
        return jose::JweDecrypt(jwe, *key);
      }
      BrokerError e = ParseBrokerError(r);
      // A lost session or an expired token is healed by attesting again, once.
      bool retry =
          r.status == 401 && (e.variant == "TokenNotFound" || e.variant == "TokenVerifierError");
      if (!retry || round == 1) return ToError(e, "resource " + path);
      token.clear();
      token_exp = 0;
    }
    return MakeError(Code::kProtocol, "unreachable");
  }
};

KbsClient::KbsClient(std::unique_ptr<Impl> impl, nlohmann::json jwk)
    : impl_(std::move(impl)), tee_jwk_(std::move(jwk)) {}
KbsClient::~KbsClient() = default;

Result<std::unique_ptr<KbsClient>> KbsClient::Create(
    KbsClientOptions options, std::unique_ptr<attestation::Attester> attester,
    std::optional<crypto::Key> tee_key) {
  auto impl = std::make_unique<Impl>();
  if (!tee_key) {
    COCO_ASSIGN_OR_RETURN(crypto::Key k, crypto::Key::GenerateEc(crypto::Curve::kP256));
    tee_key = k;
  }
  impl->key = *tee_key;
  std::string alg =
      impl->key->type() == crypto::Key::Type::kRsa ? "RSA-OAEP-256" : "ECDH-ES+A256KW";
  COCO_ASSIGN_OR_RETURN(impl->jwk, jose::PublicJwk(*impl->key, alg));
  COCO_ASSIGN_OR_RETURN(impl->http,
                        HttpClient::Create(options.url, options.ca_cert, options.timeout_secs,
                                           kMaxResponseBytes, options.proxy));
  impl->options = std::move(options);
  impl->attester = std::move(attester);
  nlohmann::json jwk = impl->jwk;
  return std::unique_ptr<KbsClient>(new KbsClient(std::move(impl), std::move(jwk)));
}

// The broker is not trusted to send well-shaped JSON: a JSON type error becomes an error result.
Result<std::string> KbsClient::Attest() {
  try {
    return impl_->Attest();
  } catch (const nlohmann::json::exception& e) {
    return MakeError(Code::kProtocol, std::string("unexpected JSON from the broker: ") + e.what());
  }
}
Result<SecretBytes> KbsClient::GetResource(const std::string& path) {
  try {
    return impl_->GetResource(path);
  } catch (const nlohmann::json::exception& e) {
    return MakeError(Code::kProtocol, std::string("unexpected JSON from the broker: ") + e.what());
  }
}

}  // namespace coco::kbsclient
