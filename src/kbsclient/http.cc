#include "kbsclient/http.h"

#include <httplib.h>

namespace coco::kbsclient {
namespace {

class HttplibClient final : public HttpClient {
 public:
  HttplibClient(const std::string& url, const std::string& ca, int timeout)
      : url_(url), client_(url) {
    client_.set_connection_timeout(timeout, 0);
    client_.set_read_timeout(timeout, 0);
    client_.set_write_timeout(timeout, 0);
    client_.set_keep_alive(true);
    client_.set_tcp_nodelay(true);
    if (!ca.empty()) client_.set_ca_cert_path(ca.c_str());
  }

  Result<HttpResult> Send(const std::string& method, const std::string& path,
                          const std::string& body,
                          const std::map<std::string, std::string>& headers) override {
    httplib::Headers h(headers.begin(), headers.end());
    httplib::Result r{nullptr, httplib::Error::Unknown};
    if (method == "GET") {
      r = client_.Get(path, h);
    } else if (method == "POST") {
      r = client_.Post(path, h, body, "application/json");
    } else if (method == "DELETE") {
      r = client_.Delete(path, h, body, "application/json");
    } else {
      return MakeError("InvalidArgument", "unsupported HTTP method " + method);
    }
    if (!r)
      return MakeError("Io", "cannot reach " + url_ + path + ": " + httplib::to_string(r.error()));
    HttpResult out;
    out.status = r->status;
    out.body = r->body;
    for (const auto& [k, v] : r->headers) out.headers.emplace(k, v);
    return out;
  }

 private:
  std::string url_;
  httplib::Client client_;
};

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const std::string& base_url,
                                                       const std::string& ca_cert,
                                                       int timeout_secs) {
  if (base_url.rfind("http://", 0) != 0 && base_url.rfind("https://", 0) != 0)
    return MakeError("InvalidArgument",
                     "broker URL \"" + base_url + "\" must start with http:// or https://");
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto c = std::make_unique<HttplibClient>(url, ca_cert, timeout_secs);
  return std::unique_ptr<HttpClient>(std::move(c));
}

}  // namespace coco::kbsclient
