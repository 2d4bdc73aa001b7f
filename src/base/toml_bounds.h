// Bounds for TOML that arrives from a network or a host we do not trust (init-data), checked on
// the raw text before a TOML parser sees it: toml++ recurses once per dotted-key part and per
// nested array or inline table, so a 40 KB key of 20,000 parts would overflow the stack.
// Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <string_view>

#include "base/result.h"

namespace coco {

struct TomlLimits {
  size_t max_bytes = 1024 * 1024;
  int max_key_parts = 32;  // a.b.c is 3 parts; a table header counts as a key
  int max_depth = 32;      // nested arrays and inline tables (and [[header]] brackets)
};

// Refuses text over the limits (kind "InvalidArgument", naming the line). Strings (all four
// kinds) and comments are skipped; malformed text that passes is left to the parser.
Status CheckTomlBounds(std::string_view text, std::string_view what, const TomlLimits& limits = {});

}  // namespace coco
