// Streaming gzip inflate: ISA-L (isal_inflate, ISAL_GZIP) vs zlib (inflate), through the same
// coco::oci decompressing Reader, on the same ~128 MiB mixed-data gzip stream (zlib level 6).
// Prints each throughput and the ISA-L/zlib speed ratio. libdeflate is not measured: it has no
// streaming API (whole input and output buffers only), which a constant-memory pipeline cannot use.
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "mixed_content.h"
#include "oci/decompress.h"

namespace {

using coco::oci::Compression;
using coco::oci::GzipBackend;

constexpr size_t kPlainBytes = 128 << 20;

std::string MixedData(size_t n) {
  std::mt19937_64 rng(7);
  std::string s;
  coco::bench::FillMixed(rng, s, n);
  return s;
}

const std::string& Compressed() {
  static const std::string blob = [] {
    std::string in = MixedData(kPlainBytes);
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&z, in.size()), '\0');
    z.next_in = reinterpret_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
  }();
  return blob;
}

void Inflate(benchmark::State& state, GzipBackend backend) {
  const std::string& blob = Compressed();
  std::vector<uint8_t> out(1 << 20);
  for (auto _ : state) {
    coco::MemoryReader src(blob);
    auto r = coco::oci::NewDecompressingReader(src, Compression::kGzip, backend);
    size_t total = 0;
    for (;;) {
      auto n = (*r)->Read(out.data(), out.size());
      if (!n.ok()) {
        state.SkipWithError(n.error().message.c_str());
        return;
      }
      if (*n == 0) break;
      total += *n;
    }
    if (total != kPlainBytes) state.SkipWithError("wrong output size");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPlainBytes));
}

void BM_InflateIsal(benchmark::State& s) { Inflate(s, GzipBackend::kIsal); }
void BM_InflateZlib(benchmark::State& s) { Inflate(s, GzipBackend::kZlib); }
BENCHMARK(BM_InflateIsal)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_InflateZlib)->Unit(benchmark::kMillisecond)->MinTime(2.0);

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) times[r.benchmark_name()] = r.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> times;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  std::printf("input: %zu MiB mixed data, gzip level 6 -> %.1f MiB\n", kPlainBytes >> 20,
              Compressed().size() / 1048576.0);
  RatioReporter rep;
  benchmark::RunSpecifiedBenchmarks(&rep);
  double isal = 0, zlib = 0;
  for (const auto& [name, t] : rep.times) {
    if (name.rfind("BM_InflateIsal", 0) == 0) isal = t;
    if (name.rfind("BM_InflateZlib", 0) == 0) zlib = t;
  }
  if (isal > 0 && zlib > 0) {
    std::printf("ISA-L is %.2fx the speed of zlib (%.0f vs %.0f MiB/s of output); default: %s\n",
                zlib / isal, (kPlainBytes >> 20) / (isal / 1e3), (kPlainBytes >> 20) / (zlib / 1e3),
                zlib > isal ? "ISA-L" : "zlib");
  }
  benchmark::Shutdown();
  return 0;
}
