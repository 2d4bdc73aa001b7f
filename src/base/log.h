// Process-wide logging to stderr: plain lines by default, one JSON object per line if enabled.
// Thread-safe.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace coco::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetJson(bool json);
// Lines below `level` are not written (default: info).
void SetLevel(Level level);
// "debug", "info", "warn" or "error"; nullopt for anything else.
std::optional<Level> ParseLevel(std::string_view name);

using Field = std::pair<std::string_view, std::string>;

// A value as the text format writes it: unchanged when it holds no space, quote, '=', backslash or
// control character; otherwise in double quotes with \n \r \t \" \\ and \xNN escapes, so that
// one call always writes exactly one line.
std::string EscapeTextValue(std::string_view value);

// Writes one line: time, level, message and the extra key=value fields.
void Write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void Info(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, m, f);
}
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, m, f);
}
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, m, f);
}
inline void Debug(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kDebug, m, f);
}

}  // namespace coco::log
