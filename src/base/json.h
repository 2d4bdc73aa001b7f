// The one way to read JSON that arrives from a network, a host or a file we do not trust.
// Size and nesting are checked on the raw text, before any value is built, so a hostile document
// can neither exhaust memory nor drive a recursive copy, dump or destructor off the stack.
// Every value this returns has depth <= max_depth, which keeps nlohmann's recursive operations
// (copy, dump, ==, JCS) bounded downstream. Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>
#include <cstdint>

#include "base/result.h"

namespace coco {

struct JsonLimits {
  size_t max_bytes = 4 * 1024 * 1024;
  int max_depth = 64;  // arrays and objects; a scalar at the top is depth 0
};

// Nesting depth of a JSON text (arrays and objects, strings skipped), scanning no further than
// the first point where it exceeds `stop_above`. Malformed text is scanned as well as it can be;
// the parser reports the syntax error.
int JsonTextDepth(std::string_view text, int stop_above);

// Parses `text`; `what` names the document in errors ("attestation request"). Errors are of
// kind "InvalidArgument": too large, too deep, or not JSON (with the parser's position).
Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what,
                                 const JsonLimits& limits = {});

// As ParseJson, and the top level must be an object.
Result<nlohmann::json> ParseJsonObject(std::string_view text, std::string_view what,
                                       const JsonLimits& limits = {});

// The lenient form, for call sites that only test the result's type (error bodies, optional
// fields): the parsed value, or a value of type `discarded` if the text is over the limits or not
// JSON, exactly as nlohmann::json::parse(text, nullptr, false) answers, but bounded.
nlohmann::json ParseJsonOrDiscarded(std::string_view text, const JsonLimits& limits = {});
nlohmann::json ParseJsonOrDiscarded(const std::vector<uint8_t>& bytes,
                                    const JsonLimits& limits = {});

}  // namespace coco
