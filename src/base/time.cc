#include "base/time.h"

#include <cctype>
#include <ctime>

namespace coco {
namespace {

std::string Format(int64_t unix_secs, const char* format) {
  std::time_t t = static_cast<std::time_t>(unix_secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

bool Digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::string FormatRfc3339(int64_t unix_secs) { return Format(unix_secs, "%Y-%m-%dT%H:%M:%SZ"); }

std::string FormatHttpDate(int64_t unix_secs) {
  return Format(unix_secs, "%a, %d %b %Y %H:%M:%S GMT");
}

Result<int64_t> ParseRfc3339(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr)
    return MakeError(Code::kInvalidArgument,
                     "\"" + s + "\" is not an RFC 3339 time (2026-01-31T12:00:00Z)");
  if (*end == '.') {
    ++end;
    while (Digit(*end)) ++end;
  }
  int64_t t = static_cast<int64_t>(timegm(&tm));
  std::string zone(end);
  if (zone == "Z" || zone == "z") return t;
  if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' && Digit(zone[1]) &&
      Digit(zone[2]) && Digit(zone[4]) && Digit(zone[5])) {
    int off = ((zone[1] - '0') * 10 + (zone[2] - '0')) * 3600 +
              ((zone[4] - '0') * 10 + (zone[5] - '0')) * 60;
    return zone[0] == '+' ? t - off : t + off;
  }
  return MakeError(Code::kInvalidArgument,
                   "\"" + s + "\" has no time zone (end it with Z or +HH:MM)");
}

}  // namespace coco
