// Time as text: RFC 3339 ("2026-01-31T12:00:00Z", what JSON documents, certificates' error
// messages and the broker's reference values carry) and the HTTP date of cookies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace coco {

// "YYYY-MM-DDTHH:MM:SSZ" (UTC).
std::string FormatRfc3339(int64_t unix_secs);
// RFC 3339 with "Z" or a "+HH:MM"/"-HH:MM" offset; fractional seconds are accepted and dropped.
Result<int64_t> ParseRfc3339(std::string_view text);
// "Tue, 01 Dec 2026 12:00:00 GMT" (RFC 9110 IMF-fixdate), for Expires attributes.
std::string FormatHttpDate(int64_t unix_secs);

}  // namespace coco
