// The broker's admin API as a client: one authenticated request per call.
#pragma once

#include <string>

#include "base/result.h"
#include "net/http_client.h"

namespace coco::kbsclient {

struct AdminEndpoint {
  std::string url = "http://127.0.0.1:8080";
  std::string token_file;  // file holding the admin JWT
  std::string ca_cert;     // PEM CA for https
  net::ProxyConfig proxy;  // none by default
};

// Sends `method path` with the admin token; returns the body of a 200 answer, else an error
// whose message is "<METHOD> <path> failed: <Variant>: <detail> (HTTP <status>)".
Result<std::string> AdminRequest(const AdminEndpoint& ep, const std::string& method,
                                 const std::string& path, const std::string& body);

// Stores `data` as resource "repo/type/tag" (or "kbs:///repo/type/tag").
Status SetResource(const AdminEndpoint& ep, const std::string& path, const std::string& data);

}  // namespace coco::kbsclient
