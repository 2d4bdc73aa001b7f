// Helpers shared by the fuzz targets (see docs/fuzzing.md).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "base/stream.h"

// Every target defines this; libFuzzer or fuzz/replay_main.cc calls it.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace coco::fuzz {

// An invariant the target checks: a failure aborts, which libFuzzer and the replayer report.
#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

// A Result/Status that must be ok; a failure prints its error message and aborts.
#define FUZZ_CHECK_OK(expr)                                                                    \
  do {                                                                                         \
    const auto& fuzz_r_ = (expr);                                                              \
    if (!fuzz_r_.ok()) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK_OK failed: %s: %s\n", __FILE__, __LINE__, #expr, \
                   fuzz_r_.error().message.c_str());                                           \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

inline std::string_view AsString(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace coco::fuzz
