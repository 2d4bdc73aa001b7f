#include "kbs/errors.h"

#include <nlohmann/json.hpp>

namespace coco::kbs {

int StatusFor(const std::string& variant) {
  if (variant == "InvalidRequestPath" || variant == "PluginNotFound") return 404;
  if (variant == "PayloadTooLarge") return 413;
  return 401;
}

std::string ErrorBody(const KbsError& e) {
  nlohmann::json body = {{"type", std::string(kErrorTypePrefix) + e.variant}, {"detail", e.detail}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace coco::kbs
