// Streaming decompression (src/oci/decompress.h): gzip through both backends (ISA-L, zlib),
// zstd, and magic-byte detection, fed through readers of varying chunk sizes.
// Input: byte 0 picks the format, bytes 1-2 the two chunk sizes; the rest is the stream.
// Invariants (differential): both gzip backends, and any two chunkings, agree on success and
// on the bytes produced (but for two known ISA-L deviations, see KnownIsalDeviation);
// decompressing what Auto detected as plain gives back the input.
#include "fuzz_util.h"
#include "oci/decompress.h"

namespace oci = coco::oci;

namespace {

constexpr size_t kMaxOutput = 1 << 20;  // stop early on decompression bombs

struct Outcome {
  bool ok = false;
  bool capped = false;  // stopped at kMaxOutput: the status is unknown
  std::string out;
  std::string error;
};

Outcome Run(std::string_view in, oci::Compression c, oci::GzipBackend backend, size_t chunk,
            size_t read_size) {
  Outcome o;
  coco::MemoryReader src(in, chunk);
  auto r = oci::NewDecompressingReader(src, c, backend);
  if (!r.ok()) return o;
  std::string buf(read_size, '\0');
  for (;;) {
    auto got = (*r)->Read(reinterpret_cast<uint8_t*>(buf.data()), buf.size());
    if (!got.ok()) {
      o.error = got.error().message;
      FUZZ_CHECK(!o.error.empty());
      return o;
    }
    FUZZ_CHECK(*got <= buf.size());
    if (*got == 0) break;
    o.out.append(buf.data(), *got);
    if (o.out.size() >= kMaxOutput) {
      o.capped = true;
      o.out.resize(kMaxOutput);
      return o;
    }
  }
  o.ok = true;
  return o;
}

void Agree(const Outcome& a, const Outcome& b) {
  if (a.capped || b.capped) {
    size_t n = std::min(a.out.size(), b.out.size());
    FUZZ_CHECK(a.out.compare(0, n, b.out, 0, n) == 0);
    return;
  }
  if (a.ok != b.ok) {
    std::fprintf(stderr, "outcomes differ: [%s] vs [%s]\n", a.ok ? "ok" : a.error.c_str(),
                 b.ok ? "ok" : b.error.c_str());
  }
  FUZZ_CHECK(a.ok == b.ok);
  if (a.ok) FUZZ_CHECK(a.out == b.out);
}

// Known ISA-L deviations, tolerated so that the differential keeps looking for new ones
// (docs/fuzzing.md, "Findings"): isal_inflate needs a member's whole gzip header in one call
// (intel/isa-l#224), so with short reads a valid header with optional fields can fail; and it
// ignores reserved FLG bits, which zlib (and RFC 1952) refuse.
bool KnownIsalDeviation(std::string_view in, const Outcome& isal, const Outcome& zlib) {
  if (isal.ok == zlib.ok || isal.capped || zlib.capped) return false;
  Outcome whole = Run(in, oci::Compression::kGzip, oci::GzipBackend::kIsal, in.size(), 4096);
  if (!whole.capped && whole.ok == zlib.ok && (!zlib.ok || whole.out == zlib.out)) return true;
  return whole.ok && zlib.error.find("unknown header flags") != std::string::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  size_t chunk_a = 1 + data[1] * 17;  // 1 .. 4336 bytes
  size_t chunk_b = 1 + data[2] % 7;   // tiny chunks: every boundary is a read boundary
  std::string_view in = coco::fuzz::AsString(data + 3, size - 3);
  switch (data[0] % 3) {
    case 0: {
      Outcome isal = Run(in, oci::Compression::kGzip, oci::GzipBackend::kIsal, chunk_a, 4096);
      Outcome zlib = Run(in, oci::Compression::kGzip, oci::GzipBackend::kZlib, chunk_b, 1000);
      if (!KnownIsalDeviation(in, isal, zlib)) Agree(isal, zlib);
      break;
    }
    case 1: {
      Outcome a = Run(in, oci::Compression::kZstd, oci::GzipBackend::kIsal, chunk_a, 4096);
      Outcome b = Run(in, oci::Compression::kZstd, oci::GzipBackend::kIsal, chunk_b, 777);
      Agree(a, b);
      break;
    }
    case 2: {
      Outcome a = Run(in, oci::Compression::kAuto, oci::GzipBackend::kZlib, chunk_b, 4096);
      bool plain = !(in.size() >= 2 && in[0] == '\x1f' && in[1] == '\x8b') &&
                   !(in.size() >= 4 && in.substr(0, 4) == "\x28\xb5\x2f\xfd");
      if (plain) FUZZ_CHECK(a.ok && a.out == in);
      break;
    }
  }
  return 0;
}
