#include "kbs/errors.h"

#include <nlohmann/json.hpp>

#include "base/json.h"

namespace coco::kbs {
namespace {

struct VariantInfo {
  Variant variant;
  const char* name;
  int status;
  Code code;
};

constexpr VariantInfo kVariants[] = {
    {Variant::kAdminAuthAccess, "AdminAuthAccess", 401, Code::kUnauthenticated},
    {Variant::kAttestationError, "AttestationError", 401, Code::kEvidence},
    {Variant::kHttpFailed, "HTTPFailed", 400, Code::kUnavailable},
    {Variant::kInvalidRequestPath, "InvalidRequestPath", 404, Code::kNotFound},
    {Variant::kJweError, "JweError", 401, Code::kCrypto},
    {Variant::kParsePolicyError, "ParsePolicyError", 401, Code::kPolicyInvalid},
    {Variant::kPayloadTooLarge, "PayloadTooLarge", 413, Code::kTooLarge},
    {Variant::kPluginInternalError, "PluginInternalError", 401, Code::kInternal},
    {Variant::kPluginNotFound, "PluginNotFound", 404, Code::kNotFound},
    {Variant::kPolicyDeny, "PolicyDeny", 401, Code::kPolicyDenied},
    {Variant::kPolicyEngineError, "PolicyEngineError", 401, Code::kInternal},
    {Variant::kRvpsError, "RvpsError", 401, Code::kInternal},
    {Variant::kSerdeError, "SerdeError", 401, Code::kInvalidArgument},
    {Variant::kTokenNotFound, "TokenNotFound", 401, Code::kUnauthenticated},
    {Variant::kTokenVerifierError, "TokenVerifierError", 401, Code::kUnauthenticated},
};

const VariantInfo& Info(Variant v) {
  for (const auto& i : kVariants)
    if (i.variant == v) return i;
  return kVariants[0];  // unreachable: every enumerator has a row
}

}  // namespace

const char* VariantName(Variant v) { return Info(v).name; }

std::optional<Variant> VariantFromName(std::string_view name) {
  for (const auto& i : kVariants)
    if (name == i.name) return i.variant;
  return std::nullopt;
}

int StatusFor(Variant v) { return Info(v).status; }

Code CodeFor(Variant v) { return Info(v).code; }

Error WireError(Variant v, std::string message) {
  return Error{Info(v).code, std::move(message), Info(v).name};
}

std::string ErrorBody(Variant v, const std::string& detail) {
  nlohmann::json body = {{"type", std::string(kErrorTypePrefix) + VariantName(v)},
                         {"detail", detail}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

KbsError ParseErrorBody(const std::string& body) {
  KbsError e;
  auto j = ParseJsonOrDiscarded(body);
  if (!j.is_object()) {
    e.detail = body.substr(0, 300);
    return e;
  }
  auto type = j.find("type");
  if (type != j.end() && type->is_string()) {
    std::string t = type->get<std::string>();
    size_t slash = t.rfind('/');
    e.variant = slash == std::string::npos ? t : t.substr(slash + 1);
  }
  auto detail = j.find("detail");
  e.detail =
      detail != j.end() && detail->is_string() ? detail->get<std::string>() : body.substr(0, 300);
  return e;
}

Error ReceivedError(const KbsError& e, int http_status, const std::string& context) {
  auto v = VariantFromName(e.variant);
  Error out;
  out.code = v ? CodeFor(*v) : (http_status >= 500 ? Code::kInternal : Code::kUnknown);
  out.wire = e.variant;
  std::string what = e.variant.empty() ? "broker error" : e.variant;
  if (!e.detail.empty()) what += ": " + e.detail;
  what += " (HTTP " + std::to_string(http_status) + ")";
  out.message = context.empty() ? what : context + ": " + what;
  return out;
}

}  // namespace coco::kbs
