// The broker's errors in Trustee's wire form, in one table shared by the broker and its clients:
// {"type":"https://github.com/confidential-containers/kbs/errors/<Variant>","detail":"..."}.
// Status 404 for InvalidRequestPath and PluginNotFound, 413 for PayloadTooLarge, else 401
// (the transport's own refusals choose theirs: 400, 431, 503).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace coco::kbs {

// Trustee's variant names (its `AsRefStr` spelling), plus PayloadTooLarge for a body over the
// limit.
enum class Variant {
  kAdminAuthAccess,
  kAttestationError,
  kHttpFailed,
  kInvalidRequestPath,
  kJweError,
  kParsePolicyError,
  kPayloadTooLarge,
  kPluginInternalError,
  kPluginNotFound,
  kPolicyDeny,
  kPolicyEngineError,
  kRvpsError,
  kSerdeError,
  kTokenNotFound,
  kTokenVerifierError,
};

const char* VariantName(Variant v);
std::optional<Variant> VariantFromName(std::string_view name);
int StatusFor(Variant v);
// The code an error of this variant has on our side (a client turns a received variant into
// it; the broker into the variant when the error has no wire name of its own).
Code CodeFor(Variant v);

// An error that the broker answers under `v`.
Error WireError(Variant v, std::string message);

inline constexpr const char* kErrorTypePrefix =
    "https://github.com/confidential-containers/kbs/errors/";

struct KbsError {
  std::string variant;  // AttestationError, TokenNotFound, PolicyDeny, ... (as received)
  std::string detail;   // why; never contains secret material
};

std::string ErrorBody(Variant v, const std::string& detail);
// Reads an error body; a body that is not the wire form keeps up to 300 bytes as the detail.
KbsError ParseErrorBody(const std::string& body);
// A received broker error as ours: the variant's code (Unknown for an unknown variant), its
// name as the wire name, and "<Variant>: <detail> (HTTP <status>)" after `context`.
Error ReceivedError(const KbsError& e, int http_status, const std::string& context);

}  // namespace coco::kbs
