#include "base/toml_bounds.h"

#include <string>

namespace coco {

Status CheckTomlBounds(std::string_view text, std::string_view what, const TomlLimits& limits) {
  if (text.size() > limits.max_bytes)
    return MakeError(Code::kInvalidArgument,
                     std::string(what) + " is " + std::to_string(text.size()) +
                         " bytes, over the limit of " + std::to_string(limits.max_bytes));
  int line = 1;
  int depth = 0;
  int dots = 0;  // '.' outside strings since the last '=', ',', bracket or newline
  auto fail = [&](const std::string& why) {
    return MakeError(Code::kInvalidArgument,
                     std::string(what) + " line " + std::to_string(line) + ": " + why);
  };
  size_t i = 0;
  const size_t n = text.size();
  auto starts = [&](std::string_view s) { return text.substr(i, s.size()) == s; };
  while (i < n) {
    char c = text[i];
    if (starts("\"\"\"") || starts("'''")) {  // multi-line strings
      std::string_view close = text.substr(i, 3);
      bool basic = c == '"';
      i += 3;
      while (i < n && !starts(close)) {
        if (text[i] == '\n') ++line;
        if (basic && text[i] == '\\') ++i;
        ++i;
      }
      i += 3;
      // Up to two quotes may directly follow and still belong to the string's content.
      while (i < n && text[i] == close[0]) ++i;
      continue;
    }
    switch (c) {
      case '"':
      case '\'':
        for (++i; i < n && text[i] != c && text[i] != '\n'; ++i)
          if (c == '"' && text[i] == '\\') ++i;
        break;
      case '#':
        while (i < n && text[i] != '\n') ++i;
        continue;
      case '\n':
        ++line;
        dots = 0;
        break;
      case '.':
        if (++dots >= limits.max_key_parts)
          return fail("a dotted key has more than " + std::to_string(limits.max_key_parts) +
                      " parts");
        break;
      case '[':
      case '{':
        dots = 0;
        if (++depth > limits.max_depth)
          return fail("arrays or inline tables nest deeper than " +
                      std::to_string(limits.max_depth) + " levels");
        break;
      case ']':
      case '}':
        dots = 0;
        if (depth > 0) --depth;
        break;
      case '=':
      case ',':
        dots = 0;
        break;
      default:
        break;
    }
    ++i;
  }
  return Status::Ok();
}

}  // namespace coco
