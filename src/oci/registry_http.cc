// The registry client's engine over net/http_client.h.
#include "oci/registry_http.h"

#include <strings.h>

#include "net/http_client.h"
#include "oci/registry.h"

namespace coco::oci {
namespace {

class NetRegistryHttp final : public RegistryHttp {
 public:
  explicit NetRegistryHttp(const RegistryOptions& o) : client_(Options(o)) {}

  Result<HttpResponse> Perform(HttpRequest& req, bool verify_tls) override {
    HttpResponse resp;
    net::HttpCall call;
    call.method = req.method;
    call.url = req.url;
    call.verify_tls = verify_tls;
    for (const std::string& h : req.headers) {
      auto colon = h.find(':');
      if (colon == std::string::npos) continue;
      std::string value = h.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      call.headers.emplace_back(h.substr(0, colon), std::move(value));
    }
    if (req.method == "POST" || req.method == "PUT" || req.method == "PATCH") {
      if (req.body_reader != nullptr) {
        call.body_reader = req.body_reader;
        call.body_size = req.body_size;
      } else if (req.body != nullptr) {
        call.body = *req.body;
      }
    }
    uint64_t skipped = 0;
    std::optional<Error> error;
    call.on_head = [&](int status, const net::HttpHeaders& headers) {
      resp.status = status;
      for (const auto& [k, v] : headers.fields) SetResponseHeader(resp, k, v);
      return true;
    };
    call.on_body = [&](const char* data, size_t len) {
      return DeliverBody(req, resp, resp.status, data, len, skipped, error);
    };
    auto r = client_.Send(call);
    if (error) return *error;  // the sink failed or the body is too large
    if (!r.ok()) {
      if (r.error().code != Code::kUnavailable) return r.error();
      resp.transport = r.error();
    }
    return resp;
  }

 private:
  static net::HttpClientOptions Options(const RegistryOptions& o) {
    net::HttpClientOptions n;
    n.connect_timeout_secs = static_cast<int>(o.connect_timeout_s);
    n.io_timeout_secs = static_cast<int>(o.low_speed_timeout_s);
    n.low_speed_bytes_per_sec = 1024;
    n.proxy = o.proxy;
    n.ca_files = o.ca_files;
    n.user_agent = o.user_agent;
    return n;
  }

  net::HttpClient client_;
};

}  // namespace

Result<std::unique_ptr<RegistryHttp>> NewRegistryHttp(const RegistryOptions& options) {
  return std::unique_ptr<RegistryHttp>(new NetRegistryHttp(options));
}

}  // namespace coco::oci
