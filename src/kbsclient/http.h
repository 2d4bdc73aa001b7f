// A small blocking HTTP(S) client for the broker's JSON API (over net/http_client.h).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/result.h"
#include "net/http_client.h"

namespace coco::kbsclient {

struct HttpResult {
  int status = 0;
  std::string body;
  std::multimap<std::string, std::string> headers;  // lower-case names
};

// The broker (or, inside a pod, the host end of the tunnel) is not trusted to answer sensibly:
// a response body over this many bytes is refused while it arrives.
inline constexpr size_t kMaxResponseBytes = 8 * 1024 * 1024;

class HttpClient {
 public:
  // `base_url`: http(s)://host[:port]; `ca_cert`: PEM file for https (system CAs otherwise).
  // `timeout_secs` bounds each connect, each read and the whole body of every exchange (a server
  // that trickles its answer is cut off when the deadline passes). `proxy`: none by default.
  static Result<std::unique_ptr<HttpClient>> Create(const std::string& base_url,
                                                    const std::string& ca_cert, int timeout_secs,
                                                    size_t max_response_bytes = kMaxResponseBytes,
                                                    const net::ProxyConfig& proxy = {});
  virtual ~HttpClient() = default;
  // Sends one request; transport failures (no connection, timeout) are errors with code
  // Unavailable; a body over the limit or past the deadline is an error with code TooLarge /
  // Unavailable.
  virtual Result<HttpResult> Send(const std::string& method, const std::string& path,
                                  const std::string& body,
                                  const std::map<std::string, std::string>& headers) = 0;
};

}  // namespace coco::kbsclient
