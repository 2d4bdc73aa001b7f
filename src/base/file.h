// File helpers: whole-file reads and atomic writes (temp file + fsync + rename).
#pragma once

#include <string>

#include "base/bytes.h"
#include "base/result.h"

namespace coco {

Result<std::string> ReadFile(const std::string& path);
// Writes to PATH.tmp.<pid>, fsyncs, renames over PATH: readers see the old or the new file,
// never a half-written one. `mode` applies to the new file (e.g. 0600 for keys).
Status WriteFileAtomic(const std::string& path, std::string_view contents, unsigned mode = 0644);
// Creates DIR and its parents if missing.
Status MakeDirs(const std::string& dir, unsigned mode = 0755);

}  // namespace coco
