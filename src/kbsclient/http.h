// A small blocking HTTP(S) client over cpp-httplib for the broker's JSON API.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "base/result.h"

namespace coco::kbsclient {

struct HttpResult {
  int status = 0;
  std::string body;
  std::multimap<std::string, std::string> headers;  // names as received
};

class HttpClient {
 public:
  // `base_url`: http(s)://host[:port]; `ca_cert`: PEM file for https (system CAs otherwise).
  static Result<std::unique_ptr<HttpClient>> Create(const std::string& base_url,
                                                    const std::string& ca_cert, int timeout_secs);
  virtual ~HttpClient() = default;
  // Sends one request; transport failures (no connection, timeout) are errors of kind "Io".
  virtual Result<HttpResult> Send(const std::string& method, const std::string& path,
                                  const std::string& body,
                                  const std::map<std::string, std::string>& headers) = 0;
};

}  // namespace coco::kbsclient
