#include "kbsclient/http.h"

#include <strings.h>

namespace coco::kbsclient {
namespace {

class BrokerHttpClient final : public HttpClient {
 public:
  BrokerHttpClient(const std::string& url, const std::string& ca, int timeout, size_t max_body,
                   const net::ProxyConfig& proxy)
      : url_(url), client_(Options(ca, timeout, proxy)), max_body_(max_body) {}

  Result<HttpResult> Send(const std::string& method, const std::string& path,
                          const std::string& body,
                          const std::map<std::string, std::string>& headers) override {
    if (method != "GET" && method != "POST" && method != "DELETE")
      return MakeError(Code::kInvalidArgument, "unsupported HTTP method " + method);
    net::HttpCall call;
    call.method = method;
    call.url = url_ + path;
    bool typed = false;
    for (const auto& [k, v] : headers) {
      call.headers.emplace_back(k, v);
      typed = typed || strcasecmp(k.c_str(), "content-type") == 0;
    }
    if (method != "GET") {
      call.body = body;
      if (!typed) call.headers.emplace_back("Content-Type", "application/json");
    }
    call.max_body = max_body_;
    call.follow_redirects = false;  // the broker's API does not redirect
    auto r = client_.Send(call);
    if (!r.ok()) {
      // Transport failures may be retried (Unavailable); an oversized answer may not.
      if (r.error().code == Code::kTooLarge)
        return MakeError(Code::kTooLarge, r.error().message + "; refused");
      return MakeError(Code::kUnavailable, "cannot reach the broker: " + r.error().message);
    }
    HttpResult out;
    out.status = r->status;
    out.body = std::move(r->body);
    out.headers = std::move(r->headers.fields);
    return out;
  }

 private:
  static net::HttpClientOptions Options(const std::string& ca, int timeout,
                                        const net::ProxyConfig& proxy) {
    net::HttpClientOptions o;
    o.proxy = proxy;
    o.connect_timeout_secs = timeout;
    o.io_timeout_secs = timeout;
    o.total_timeout_secs = timeout;
    if (!ca.empty()) {  // the broker's CA only
      o.ca_files.push_back(ca);
      o.system_trust = false;
    }
    o.user_agent = "coco-kbsclient";
    return o;
  }

  std::string url_;
  net::HttpClient client_;
  size_t max_body_;
};

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const std::string& base_url,
                                                       const std::string& ca_cert, int timeout_secs,
                                                       size_t max_response_bytes,
                                                       const net::ProxyConfig& proxy) {
  if (base_url.rfind("http://", 0) != 0 && base_url.rfind("https://", 0) != 0)
    return MakeError(Code::kInvalidArgument,
                     "broker URL \"" + base_url + "\" must start with http:// or https://");
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (auto parsed = net::ParseHttpUrl(url + "/"); !parsed.ok()) return parsed.error();
  return std::unique_ptr<HttpClient>(
      new BrokerHttpClient(url, ca_cert, timeout_secs, max_response_bytes, proxy));
}

}  // namespace coco::kbsclient
