// The broker's admin API as a client: one authenticated request per call.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "crypto/crypto.h"
#include "net/http_client.h"

namespace coco::kbsclient {

struct AdminEndpoint {
  std::string url = "http://127.0.0.1:8080";
  std::string token_file;  // file holding the admin JWT
  std::string ca_cert;     // PEM CA for https
  net::ProxyConfig proxy;  // none by default
};

// Sends `method path` with the admin token; returns the body of a 200 answer, else an error
// whose message is "<METHOD> <path>: <Variant>: <detail> (HTTP <status>)", with the variant's
// code and the variant as its wire name.
Result<std::string> AdminRequest(const AdminEndpoint& ep, const std::string& method,
                                 const std::string& path, const std::string& body);

// Creates an admin token signed by `private_key` (EdDSA or ES256, as the broker accepts):
// {"iss":"coco-kbs","sub":"admin","aud":["KBS"],"role":role,"iat":now,"exp":now+lifetime}.
// The broker refuses one that is valid for longer than kbs::kMaxAdminTokenSecs from now.
Result<std::string> MakeAdminToken(const crypto::Key& private_key, const std::string& role,
                                   int64_t now_unix, int64_t lifetime_secs);

// Stores `data` as resource "repo/type/tag" (or "kbs:///repo/type/tag").
Status SetResource(const AdminEndpoint& ep, const std::string& path, const std::string& data);

}  // namespace coco::kbsclient
