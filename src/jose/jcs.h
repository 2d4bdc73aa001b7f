// RFC 8785 JSON Canonicalization Scheme: sorted keys (by UTF-16 code units), no whitespace,
// ECMAScript number formatting, minimal string escaping.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace coco::jose {

// Fails for NaN/Infinity (not representable in JSON) and invalid UTF-8 in strings.
Result<std::string> Canonicalize(const nlohmann::json& value);

// ECMAScript Number::toString of a double (the JCS number form), e.g. 1e+21, 5e-7, 0.000001.
std::string FormatEcmaScriptNumber(double value);

}  // namespace coco::jose
