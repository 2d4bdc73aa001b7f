// Streaming decompression of OCI/Docker layer blobs: Reader adapters that inflate gzip (ISA-L or
// zlib) and zstd in bounded buffers, so memory stays constant whatever the layer size.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "base/result.h"
#include "base/stream.h"

namespace coco::oci {

enum class Compression {
  kNone,  // plain tar
  kGzip,  // RFC 1952, one or more members
  kZstd,  // RFC 8878, one or more frames
  kAuto,  // decided from the first bytes: gzip or zstd magic, otherwise plain
};

// The compression a layer media type declares:
//   application/vnd.oci.image.layer.v1.tar[+gzip|+zstd] and the .nondistributable. variants,
//   application/vnd.docker.image.rootfs.diff.tar.gzip (and the foreign variant).
// Plain tar and Docker types map to kAuto (Docker tooling labels some uncompressed layers
// .tar.gzip; containerd detects by magic too; the diff_id check makes detection harmless).
// Fails (InvalidArgument) on encrypted types (decrypt first) and on anything else.
Result<Compression> CompressionForMediaType(std::string_view media_type);

// The gzip inflater. kIsal is the default: measured faster (bench/inflate_bench.cc).
// libdeflate has no streaming API (whole buffers only), so it cannot serve a constant-memory
// stream and is not offered.
enum class GzipBackend { kIsal, kZlib };

// Wraps `source` (not owned; must outlive the result) in a Reader yielding the decompressed
// bytes. Buffers are bounded (1 MiB input; zstd windows up to 128 MiB are refused beyond that).
// Errors name the format and what was wrong: corrupt data, bad checksum, unexpected end of
// stream (truncation), trailing garbage after the last gzip member. Not thread-safe.
Result<std::unique_ptr<Reader>> NewDecompressingReader(Reader& source, Compression compression,
                                                       GzipBackend gzip = GzipBackend::kIsal);

}  // namespace coco::oci
