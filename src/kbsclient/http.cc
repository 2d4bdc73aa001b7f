#include "kbsclient/http.h"

#include <httplib.h>

#include <chrono>

namespace coco::kbsclient {
namespace {

class HttplibClient final : public HttpClient {
 public:
  HttplibClient(const std::string& url, const std::string& ca, int timeout, size_t max_body)
      : url_(url), client_(url), timeout_(timeout), max_body_(max_body) {
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
    if (method != "GET" && method != "POST" && method != "DELETE")
      return MakeError("InvalidArgument", "unsupported HTTP method " + method);
    httplib::Request req;
    req.method = method;
    req.path = path;
    req.headers = httplib::Headers(headers.begin(), headers.end());
    if (method != "GET") {
      req.body = body;
      if (!req.has_header("Content-Type")) req.set_header("Content-Type", "application/json");
    }
    // The body is taken piece by piece so that its size and the deadline hold while it arrives.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_);
    std::string received;
    enum { kFine, kTooLarge, kTooSlow } stop = kFine;
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      if (received.size() + len > max_body_) {
        stop = kTooLarge;
        return false;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        stop = kTooSlow;
        return false;
      }
      received.append(data, len);
      return true;
    };
    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    bool sent = client_.send(req, res, err);
    if (stop == kTooLarge)
      return MakeError("TooLarge", url_ + path + " answered with more than " +
                                       std::to_string(max_body_) + " bytes; refused");
    if (stop == kTooSlow)
      return MakeError("Io", url_ + path + " did not finish its answer within " +
                                 std::to_string(timeout_) + " s");
    if (!sent)
      return MakeError("Io", "cannot reach " + url_ + path + ": " + httplib::to_string(err));
    HttpResult out;
    out.status = res.status;
    out.body = std::move(received);
    for (const auto& [k, v] : res.headers) out.headers.emplace(k, v);
    return out;
  }

 private:
  std::string url_;
  httplib::Client client_;
  int timeout_;
  size_t max_body_;
};

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const std::string& base_url,
                                                       const std::string& ca_cert,
                                                       int timeout_secs,
                                                       size_t max_response_bytes) {
  if (base_url.rfind("http://", 0) != 0 && base_url.rfind("https://", 0) != 0)
    return MakeError("InvalidArgument",
                     "broker URL \"" + base_url + "\" must start with http:// or https://");
  std::string url = base_url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  auto c = std::make_unique<HttplibClient>(url, ca_cert, timeout_secs, max_response_bytes);
  return std::unique_ptr<HttpClient>(std::move(c));
}

}  // namespace coco::kbsclient
