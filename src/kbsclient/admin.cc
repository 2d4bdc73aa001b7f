#include "kbsclient/admin.h"

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/json.h"
#include "jose/jwt.h"
#include "kbs/errors.h"
#include "kbsclient/http.h"
#include "kbsclient/kbs_client.h"

namespace coco::kbsclient {
namespace {

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

Result<std::string> AdminRequest(const AdminEndpoint& ep, const std::string& method,
                                 const std::string& path, const std::string& body) {
  if (ep.token_file.empty()) {
    return MakeError(Code::kInvalidArgument,
                     "an admin token file is required (coco-kbs init writes DATA_DIR/admin-token)");
  }
  auto token = ReadFile(ep.token_file);
  if (!token.ok()) return Annotate(token.error(), "admin token");
  COCO_ASSIGN_OR_RETURN(auto http,
                        HttpClient::Create(ep.url, ep.ca_cert, 30, kMaxResponseBytes, ep.proxy));
  COCO_ASSIGN_OR_RETURN(
      HttpResult r, http->Send(method, path, body, {{"Authorization", "Bearer " + Trim(*token)}}));
  if (r.status == 200) return r.body;
  return kbs::ReceivedError(kbs::ParseErrorBody(r.body), r.status, method + " " + path);
}

Result<std::string> MakeAdminToken(const crypto::Key& private_key, const std::string& role,
                                   int64_t now, int64_t lifetime_secs) {
  nlohmann::json claims = {{"iss", "coco-kbs"}, {"sub", "admin"}, {"aud", {"KBS"}},
                           {"role", role},      {"iat", now},     {"exp", now + lifetime_secs}};
  return jose::SignJwt(private_key, claims);
}

Status SetResource(const AdminEndpoint& ep, const std::string& path, const std::string& data) {
  COCO_ASSIGN_OR_RETURN(std::string p, ParseResourcePath(path));
  if (ep.url.rfind("http://", 0) == 0) {
    std::string host = ep.url.substr(7);
    host = host.substr(0, host.find('/'));
    bool loopback = host.rfind("127.", 0) == 0 || host.rfind("localhost", 0) == 0 ||
                    host.rfind("[::1]", 0) == 0;
    if (!loopback) {
      return MakeError(Code::kInvalidArgument, "refusing to send resource " + p +
                                                   " and the admin token over plain HTTP to " +
                                                   host + "; use an https:// broker URL");
    }
  }
  COCO_RETURN_IF_ERROR(AdminRequest(ep, "POST", "/kbs/v0/resource/" + p, data));
  return Status::Ok();
}

}  // namespace coco::kbsclient
