// The HTTP exchange under the registry client: one request, one response, no retries or
// authentication (RegistryClient does those). The engine is net/http_client.h, the one HTTP
// client of coco (host tools and the pod's agent alike); the interface lets tests put their own
// exchange under the client.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/stream.h"

namespace coco::oci {

struct RegistryOptions;

// Called with (bytes received so far, total bytes) while a blob downloads.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;   // "Name: value"
  const std::string* body = nullptr;  // small bodies
  Reader* body_reader = nullptr;      // streamed bodies
  int64_t body_size = -1;
  Writer* sink = nullptr;  // a 2xx body goes here; other bodies are kept in HttpResponse::body
  uint64_t skip = 0;       // bytes of a 200 body to drop (a resumed download the server restarted)
  size_t max_body = 4 << 20;
  const ProgressFn* progress = nullptr;
  uint64_t progress_base = 0, progress_total = 0;
};

struct HttpResponse {
  long status = 0;                             // NOLINT(runtime/int)
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  uint64_t sunk = 0;  // bytes handed to the sink
  // Connection refused, TLS failure, dropped transfer, ...: the caller may retry.
  std::optional<Error> transport;
};

class RegistryHttp {
 public:
  virtual ~RegistryHttp() = default;
  // Follows redirects. An error is returned only when the sink or the body reader failed, or the
  // body exceeded max_body; transport failures come back in HttpResponse::transport.
  virtual Result<HttpResponse> Perform(HttpRequest& req, bool verify_tls) = 0;
};

// Records a response header under its lower-case name.
void SetResponseHeader(HttpResponse& resp, const std::string& name, std::string value);

// Delivers a chunk of a response body to the request's sink (2xx) or to resp.body; false stops
// the transfer (sink failure or body too large, recorded in `resp_error`).
bool DeliverBody(HttpRequest& req, HttpResponse& resp, long status,  // NOLINT(runtime/int)
                 const char* data, size_t len, uint64_t& skipped, std::optional<Error>& resp_error);

// The engine over net/http_client.h (registry_http.cc), with the options' timeouts, trust anchors
// and proxies.
Result<std::unique_ptr<RegistryHttp>> NewRegistryHttp(const RegistryOptions& options);

}  // namespace coco::oci
