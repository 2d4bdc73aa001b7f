// Broker errors in upstream's wire form:
// {"type":"https://github.com/confidential-containers/kbs/errors/<Variant>","detail":"..."}.
// Status 404 for InvalidRequestPath and PluginNotFound, 413 for PayloadTooLarge, else 401.
#pragma once

#include <string>

namespace coco::kbs {

struct KbsError {
  std::string variant;  // AttestationError, TokenNotFound, PolicyDeny, ...
  std::string detail;   // why; never contains secret material
};

inline constexpr const char* kErrorTypePrefix =
    "https://github.com/confidential-containers/kbs/errors/";

int StatusFor(const std::string& variant);
std::string ErrorBody(const KbsError& error);

}  // namespace coco::kbs
