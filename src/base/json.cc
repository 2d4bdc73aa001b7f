#include "base/json.h"

namespace coco {

int JsonTextDepth(std::string_view text, int stop_above) {
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > stop_above) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what,
                                 const JsonLimits& limits) {
  if (text.size() > limits.max_bytes)
    return MakeError(Code::kInvalidArgument,
                     std::string(what) + " is " + std::to_string(text.size()) +
                         " bytes, over the limit of " + std::to_string(limits.max_bytes));
  if (JsonTextDepth(text, limits.max_depth) > limits.max_depth)
    return MakeError(Code::kInvalidArgument, std::string(what) + " nests deeper than " +
                                                 std::to_string(limits.max_depth) + " levels");
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    std::string reason = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." → from "parse error".
    if (size_t p = reason.find("] "); p != std::string::npos) reason = reason.substr(p + 2);
    return MakeError(Code::kInvalidArgument, std::string(what) + " is not valid JSON: " + reason);
  }
}

Result<nlohmann::json> ParseJsonObject(std::string_view text, std::string_view what,
                                       const JsonLimits& limits) {
  COCO_ASSIGN_OR_RETURN(nlohmann::json j, ParseJson(text, what, limits));
  if (!j.is_object())
    return MakeError(Code::kInvalidArgument, std::string(what) + " is not a JSON object");
  return j;
}

nlohmann::json ParseJsonOrDiscarded(std::string_view text, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes || JsonTextDepth(text, limits.max_depth) > limits.max_depth)
    return nlohmann::json(nlohmann::json::value_t::discarded);
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

nlohmann::json ParseJsonOrDiscarded(const std::vector<uint8_t>& bytes, const JsonLimits& limits) {
  return ParseJsonOrDiscarded(
      std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), limits);
}

}  // namespace coco
