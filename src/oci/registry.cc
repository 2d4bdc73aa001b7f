#include "oci/registry.h"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "base/bytes.h"
#include "base/file.h"
#include "base/json.h"
#include "base/log.h"

namespace coco::oci {
namespace {

using json = nlohmann::json;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The host to contact: Docker Hub's API lives at registry-1.docker.io.
std::string ApiHost(const std::string& registry) {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

bool IsLoopback(const std::string& host) {
  std::string h =
      host.substr(0, host.rfind(':') == std::string::npos || host.back() == ']' ? host.size()
                                                                                : host.rfind(':'));
  return h == "localhost" || h == "127.0.0.1" || h == "[::1]" || h.rfind("127.", 0) == 0;
}

// Parses `Bearer realm="x",service="y",scope="z"` into its scheme and parameters.
std::pair<std::string, std::map<std::string, std::string>> ParseChallenge(const std::string& h) {
  std::map<std::string, std::string> params;
  size_t sp = h.find(' ');
  std::string scheme = Lower(h.substr(0, sp));
  size_t i = sp == std::string::npos ? h.size() : sp + 1;
  while (i < h.size()) {
    while (i < h.size() && (h[i] == ' ' || h[i] == ',')) ++i;
    size_t eq = h.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = Lower(h.substr(i, eq - i));
    i = eq + 1;
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      while (i < h.size() && h[i] != '"') {
        if (h[i] == '\\' && i + 1 < h.size()) ++i;
        value += h[i++];
      }
      ++i;
    } else {
      size_t end = h.find(',', i);
      value = h.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? h.size() : end;
    }
    params[key] = value;
  }
  return {scheme, params};
}

std::string UrlEscape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace

struct RegistryClient::Impl {
  RegistryOptions opts;
  std::map<std::string, Credentials> creds;
  std::mutex mu;
  std::map<std::string, std::string> scheme;  // host → "https" / "http"
  std::map<std::string, std::string> auth;    // host + " " + scope → Authorization header value
  std::unique_ptr<RegistryHttp> http;

  bool Insecure(const std::string& host) const {
    if (opts.loopback_insecure && IsLoopback(host)) return true;
    return std::find(opts.insecure_registries.begin(), opts.insecure_registries.end(), host) !=
           opts.insecure_registries.end();
  }

  const Credentials* CredsFor(const std::string& registry) const {
    for (const std::string& k : {registry, ApiHost(registry),
                                 std::string(registry == "docker.io" ? "index.docker.io" : "")}) {
      if (k.empty()) continue;
      auto it = creds.find(k);
      if (it != creds.end()) return &it->second;
    }
    return nullptr;
  }

  // Chooses https or http for `host` (http only for insecure registries whose HTTPS fails).
  std::string SchemeFor(const std::string& host) {
    {
      std::lock_guard<std::mutex> l(mu);
      auto it = scheme.find(host);
      if (it != scheme.end()) return it->second;
    }
    if (auto known = opts.schemes.find(host); known != opts.schemes.end()) {
      if (known->second == "https" || (known->second == "http" && Insecure(host))) {
        std::lock_guard<std::mutex> l(mu);
        scheme[host] = known->second;
        return known->second;
      }
    }
    std::string chosen = "https";
    if (Insecure(host)) {
      HttpRequest probe;
      probe.url = "https://" + host + "/v2/";
      auto r = http->Perform(probe, /*verify_tls=*/false);
      if (!r.ok() || r->transport) chosen = "http";
    }
    std::lock_guard<std::mutex> l(mu);
    scheme[host] = chosen;
    return chosen;
  }

  // Answers a 401 challenge: returns the Authorization header value to retry with.
  Result<std::string> Authenticate(const std::string& registry, const std::string& challenge,
                                   const std::string& scope) {
    auto [scheme_name, params] = ParseChallenge(challenge);
    const Credentials* c = CredsFor(registry);
    std::string basic =
        c ? "Basic " + Base64Encode(ToBytes(c->username + ":" + c->password)) : std::string();
    if (scheme_name == "basic") {
      if (!c) {
        return MakeError(Code::kUnauthenticated,
                         "registry " + registry +
                             " wants a username and password; add them to the "
                             "auth file (--authfile)");
      }
      return basic;
    }
    if (scheme_name != "bearer" || params["realm"].empty()) {
      return MakeError(Code::kUnauthenticated,
                       "registry " + registry +
                           " sent an authentication challenge coco does not "
                           "understand: " +
                           challenge);
    }
    std::string url = params["realm"];
    std::string sep = url.find('?') == std::string::npos ? "?" : "&";
    if (!params["service"].empty()) {
      url += sep + "service=" + UrlEscape(params["service"]);
      sep = "&";
    }
    std::string want_scope = params.count("scope") ? params["scope"] : scope;
    if (!want_scope.empty()) url += sep + "scope=" + UrlEscape(want_scope);
    HttpRequest req;
    req.url = url;
    if (c) req.headers.push_back("Authorization: " + basic);
    COCO_ASSIGN_OR_RETURN(HttpResponse r, http->Perform(req, /*verify_tls=*/!Insecure(registry)));
    if (r.transport) return *r.transport;
    if (r.status != 200) {
      return MakeError(Code::kUnauthenticated,
                       "token request to " + params["realm"] + " for " + want_scope +
                           " failed with HTTP " + std::to_string(r.status) +
                           (c ? "" : " (no credentials for " + registry + " in the auth file)"));
    }
    json j = ParseJsonOrDiscarded(r.body);
    std::string token;
    if (j.is_object()) {
      for (const char* k : {"token", "access_token"}) {
        if (j.contains(k) && j[k].is_string() && !j[k].get<std::string>().empty()) {
          token = j[k].get<std::string>();
          break;
        }
      }
    }
    if (token.empty()) {
      return MakeError(Code::kUnauthenticated,
                       "the token service " + params["realm"] + " answered without a token");
    }
    return "Bearer " + token;
  }

  // Sends a registry API request with authentication and retries. `path` starts with "/v2/".
  Result<HttpResponse> Call(const ImageLocation& image, const std::string& action, HttpRequest req,
                            const std::string& path) {
    std::string host = ApiHost(image.registry);
    std::string scope = "repository:" + image.repository + ":" + action;
    std::string key = host + " " + scope;
    int backoff = opts.initial_backoff_ms;
    bool auth_tried = false;
    Error last = MakeError(Code::kUnavailable, "no attempt made");
    const size_t base_headers = req.headers.size();
    const uint64_t base_progress = req.progress_base;
    uint64_t delivered = 0;  // bytes already in the sink from earlier attempts
    for (int attempt = 1; attempt <= opts.max_attempts; ++attempt) {
      req.url = SchemeFor(host) + "://" + host + path;
      req.headers.resize(base_headers);
      {
        std::lock_guard<std::mutex> l(mu);
        auto it = auth.find(key);
        if (it != auth.end()) req.headers.push_back("Authorization: " + it->second);
      }
      if (delivered > 0) {
        req.headers.push_back("Range: bytes=" + std::to_string(delivered) + "-");
        req.skip = delivered;
        req.progress_base = base_progress + delivered;
      }
      auto r = http->Perform(req, /*verify_tls=*/!Insecure(host));
      if (!r.ok()) return r.error();  // the sink refused the bytes or the body was too large
      delivered += r->sunk;
      if (!r->transport && r->status == 401 && !auth_tried &&
          r->headers.count("www-authenticate")) {
        auth_tried = true;
        COCO_ASSIGN_OR_RETURN(std::string header,
                              Authenticate(image.registry, r->headers["www-authenticate"], scope));
        std::lock_guard<std::mutex> l(mu);
        auth[key] = header;
        --attempt;  // answering a challenge is not a failed attempt
        continue;
      }
      bool transient =
          r->transport.has_value() || r->status >= 500 || r->status == 429 || r->status == 408;
      if (!transient) return std::move(r).value();
      last = r->transport
                 ? *r->transport
                 : MakeError(Code::kUnavailable, req.method + " " + req.url + " answered HTTP " +
                                                     std::to_string(r->status));
      if (req.body_reader != nullptr) break;  // a consumed upload stream cannot be replayed
      if (attempt < opts.max_attempts) {
        log::Warn(last.message + "; retrying in " + std::to_string(backoff) + " ms");
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
        backoff *= 2;
      }
    }
    last.message += " (gave up after " + std::to_string(opts.max_attempts) + " attempts)";
    return last;
  }
};

namespace {

// A readable error from a registry's JSON error body {"errors":[{"code","message"}]}.
std::string RegistryErrorText(const HttpResponse& r) {
  json j = ParseJsonOrDiscarded(r.body);
  std::string out = "HTTP " + std::to_string(r.status);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array()) {
    for (const auto& e : j["errors"]) {
      if (!e.is_object()) continue;
      out += ": " + e.value("code", std::string()) + " " + e.value("message", std::string());
    }
  }
  return out;
}

Error StatusError(const HttpResponse& r, const std::string& what) {
  Code code = r.status == 404   ? Code::kNotFound
              : r.status == 401 ? Code::kUnauthenticated
              : r.status == 403 ? Code::kPermissionDenied
              : r.status == 429 ? Code::kResourceExhausted
              : r.status >= 500 ? Code::kUnavailable
                                : Code::kUnknown;
  return MakeError(code, what + ": " + RegistryErrorText(r));
}

}  // namespace

void SetResponseHeader(HttpResponse& resp, const std::string& name, std::string value) {
  resp.headers[Lower(name)] = std::move(value);
}

bool DeliverBody(HttpRequest& req, HttpResponse& resp, long status,  // NOLINT(runtime/int)
                 const char* data, size_t len, uint64_t& skipped, std::optional<Error>& error) {
  if (req.sink != nullptr && status >= 200 && status < 300) {
    const char* p = data;
    size_t left = len;
    if (status == 200 && skipped < req.skip) {
      size_t drop = std::min<uint64_t>(left, req.skip - skipped);
      skipped += drop;
      p += drop;
      left -= drop;
    }
    if (left > 0) {
      Status s = req.sink->Write(reinterpret_cast<const uint8_t*>(p), left);
      if (!s.ok()) {
        error = s.error();
        return false;
      }
      resp.sunk += left;
      if (req.progress && *req.progress) {
        (*req.progress)(req.progress_base + resp.sunk, req.progress_total);
      }
    }
    return true;
  }
  if (resp.body.size() + len > req.max_body) {
    error = MakeError(Code::kTooLarge, req.url + " answered with more than " +
                                           std::to_string(req.max_body) + " bytes");
    return false;
  }
  resp.body.append(data, len);
  return true;
}

Result<std::map<std::string, Credentials>> LoadAuthFile(const std::string& path) {
  COCO_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseAuthJson(text, path);
}

Result<std::map<std::string, Credentials>> ParseAuthJson(std::string_view text,
                                                         const std::string& path) {
  json j = ParseJsonOrDiscarded(text);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(Code::kInvalidArgument, "auth file " + path + " is not a JSON object");
  }
  std::map<std::string, Credentials> out;
  auto auths = j.find("auths");
  if (auths == j.end()) return out;
  if (!auths->is_object()) {
    return MakeError(Code::kInvalidArgument, "auth file " + path + ": \"auths\" must be an object");
  }
  for (auto it = auths->begin(); it != auths->end(); ++it) {
    std::string host = it.key();
    // "https://index.docker.io/v1/" → "index.docker.io"
    if (auto p = host.find("://"); p != std::string::npos) host = host.substr(p + 3);
    host = host.substr(0, host.find('/'));
    if (!it.value().is_object() || !it.value().contains("auth") ||
        !it.value()["auth"].is_string()) {
      return MakeError(Code::kInvalidArgument,
                       "auth file " + path + ": entry \"" + it.key() + "\" has no \"auth\" string");
    }
    auto decoded = Base64Decode(it.value()["auth"].get<std::string>());
    std::string pair = decoded.ok() ? ToString(*decoded) : std::string();
    auto colon = pair.find(':');
    if (!decoded.ok() || colon == std::string::npos) {
      return MakeError(Code::kInvalidArgument, "auth file " + path + ": entry \"" + it.key() +
                                                   "\" is not base64 of user:password");
    }
    out[host] = Credentials{pair.substr(0, colon), pair.substr(colon + 1)};
  }
  return out;
}

RegistryClient::RegistryClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RegistryClient::~RegistryClient() = default;

Result<std::unique_ptr<RegistryClient>> RegistryClient::Create(RegistryOptions options,
                                                               std::unique_ptr<RegistryHttp> http) {
  if (http == nullptr) {
    COCO_ASSIGN_OR_RETURN(http, NewRegistryHttp(options));
  }
  auto impl = std::make_unique<Impl>();
  if (!options.auth_json.empty()) {
    COCO_ASSIGN_OR_RETURN(impl->creds, ParseAuthJson(options.auth_json, "auth.json"));
  } else if (!options.auth_file.empty()) {
    COCO_ASSIGN_OR_RETURN(impl->creds, LoadAuthFile(options.auth_file));
  }
  for (const auto& ca : options.ca_files) {
    COCO_RETURN_IF_ERROR(ReadFile(ca));  // fail early, naming the file
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  impl->opts = std::move(options);
  impl->http = std::move(http);
  return std::unique_ptr<RegistryClient>(new RegistryClient(std::move(impl)));
}

Result<FetchedManifest> RegistryClient::GetManifest(const ImageLocation& image,
                                                    const std::string& reference) {
  HttpRequest req;
  req.headers.push_back("Accept: " + ManifestAcceptHeader());
  COCO_ASSIGN_OR_RETURN(HttpResponse r,
                        impl_->Call(image, "pull", std::move(req),
                                    "/v2/" + image.repository + "/manifests/" + reference));
  std::string what = "manifest " + image.registry + "/" + image.repository + ":" + reference;
  if (r.status != 200) return StatusError(r, "cannot get " + what);
  FetchedManifest m;
  m.bytes = std::move(r.body);
  m.digest = Digest::Sha256Of(m.bytes);
  if (reference.find(':') != std::string::npos) {
    COCO_ASSIGN_OR_RETURN(Digest want, Digest::Parse(reference));
    if (want.algorithm != "sha256") {
      return MakeError(Code::kInvalidArgument, "only sha256 manifest digests are supported");
    }
    if (!(want == m.digest)) {
      return MakeError(Code::kDigestMismatch,
                       "the registry served " + what + " with digest " + m.digest.str());
    }
  }
  COCO_ASSIGN_OR_RETURN(m.media_type, DetectMediaType(m.bytes, r.headers["content-type"]));
  return m;
}

Status RegistryClient::FetchBlob(const ImageLocation& image, const Descriptor& desc, Writer& out,
                                 const ProgressFn& progress) {
  HttpRequest req;
  req.sink = &out;
  req.progress = &progress;
  req.progress_total = static_cast<uint64_t>(desc.size);
  COCO_ASSIGN_OR_RETURN(HttpResponse r,
                        impl_->Call(image, "pull", std::move(req),
                                    "/v2/" + image.repository + "/blobs/" + desc.digest.str()));
  if (r.status != 200 && r.status != 206) {
    return StatusError(r, "cannot get blob " + desc.digest.str() + " of " + image.repository);
  }
  return Status::Ok();
}

Result<bool> RegistryClient::HasBlob(const ImageLocation& image, const Digest& digest) {
  HttpRequest req;
  req.method = "HEAD";
  COCO_ASSIGN_OR_RETURN(HttpResponse r,
                        impl_->Call(image, "pull", std::move(req),
                                    "/v2/" + image.repository + "/blobs/" + digest.str()));
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  return StatusError(r, "cannot check blob " + digest.str());
}

Status RegistryClient::PushBlob(const ImageLocation& image, const Descriptor& desc,
                                Reader& content) {
  COCO_ASSIGN_OR_RETURN(bool have, HasBlob(image, desc.digest));
  if (have) return Status::Ok();
  HttpRequest start;
  start.method = "POST";
  std::string empty;
  start.body = &empty;
  COCO_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(image, "pull,push", std::move(start),
                                                    "/v2/" + image.repository + "/blobs/uploads/"));
  if (r.status != 202 || !r.headers.count("location")) {
    return StatusError(r, "cannot start the upload of blob " + desc.digest.str());
  }
  std::string location = r.headers["location"];
  // The location may be absolute or a path; keep only the path and query for Call().
  if (auto p = location.find("://"); p != std::string::npos) {
    location = location.substr(location.find('/', p + 3));
  }
  location += (location.find('?') == std::string::npos ? "?" : "&") + std::string("digest=") +
              UrlEscape(desc.digest.str());
  HttpRequest put;
  put.method = "PUT";
  put.body_reader = &content;
  put.body_size = desc.size;
  put.headers.push_back("Content-Type: application/octet-stream");
  COCO_ASSIGN_OR_RETURN(HttpResponse done,
                        impl_->Call(image, "pull,push", std::move(put), location));
  if (done.status != 201) return StatusError(done, "upload of blob " + desc.digest.str());
  return Status::Ok();
}

Status RegistryClient::PushManifest(const ImageLocation& image, const std::string& reference,
                                    const std::string& media_type, const std::string& bytes) {
  HttpRequest req;
  req.method = "PUT";
  req.body = &bytes;
  req.headers.push_back("Content-Type: " + media_type);
  COCO_ASSIGN_OR_RETURN(HttpResponse r,
                        impl_->Call(image, "pull,push", std::move(req),
                                    "/v2/" + image.repository + "/manifests/" + reference));
  if (r.status != 201 && r.status != 200) {
    return StatusError(r, "cannot push manifest " + image.repository + ":" + reference);
  }
  return Status::Ok();
}

std::string RegistryClient::Scheme(const std::string& registry) {
  return impl_->SchemeFor(ApiHost(registry));
}

Result<std::optional<std::string>> RegistryClient::FetchUrl(const std::string& url,
                                                            size_t max_size) {
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return MakeError(Code::kInvalidArgument, "not an http(s) URL: " + url);
  }
  HttpRequest req;
  req.url = url;
  req.max_body = max_size;
  COCO_ASSIGN_OR_RETURN(HttpResponse r, impl_->http->Perform(req, /*verify_tls=*/true));
  if (r.transport) return *r.transport;
  if (r.status == 404) return std::optional<std::string>();
  if (r.status != 200) return StatusError(r, "GET " + url);
  return std::optional<std::string>(std::move(r.body));
}

}  // namespace coco::oci
