// Layer-like test content shared by the benchmarks: text-like lines, random bytes and runs of
// zeros, so gzip ratios and inflate speeds resemble real image layers (~2:1).
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace coco::bench {

// Replaces `s` with `n` bytes of mixed content drawn from `rng`.
inline void FillMixed(std::mt19937_64& rng, std::string& s, size_t n) {
  static const char* words[] = {"lib",    "usr",  "config", "the",     "value",  "return", "int",
                                "static", "void", "const",  "include", "struct", "#define"};
  s.clear();
  s.reserve(n + 4096);
  while (s.size() < n) {
    switch (rng() % 4) {
      case 0:
      case 1:
        for (int i = 0; i < 12; ++i) (s += words[rng() % 13]) += ' ';
        s += std::to_string(rng() % 100000) + "\n";
        break;
      case 2:
        for (int i = 0; i < 256; i += 8) {
          uint64_t v = rng();
          s.append(reinterpret_cast<char*>(&v), 8);
        }
        break;
      default:
        s.append(64 + rng() % 256, '\0');
    }
  }
  s.resize(n);
}

}  // namespace coco::bench
