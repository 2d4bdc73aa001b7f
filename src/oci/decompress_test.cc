#include "oci/decompress.h"

#include <gtest/gtest.h>

#include <random>

#include "oci/unpack_test_util.h"

namespace coco::oci {
namespace {

using testing::Gzip;
using testing::ReadAll;
using testing::Zstd;

// Mixed data: runs of text and random bytes, a few MiB.
std::string MixedData(size_t n) {
  std::mt19937_64 rng(42);
  std::string s;
  while (s.size() < n) {
    if (rng() % 2) {
      s += "the quick brown fox " + std::to_string(rng() % 1000) + "\n";
    } else {
      for (int i = 0; i < 64; ++i) s.push_back(static_cast<char>(rng()));
    }
  }
  s.resize(n);
  return s;
}

Result<std::string> Decode(const std::string& blob, Compression c, GzipBackend b, size_t chunk) {
  MemoryReader src(blob, chunk);
  COCO_ASSIGN_OR_RETURN(auto r, NewDecompressingReader(src, c, b));
  std::string out;
  std::vector<uint8_t> buf(9999);
  for (;;) {
    COCO_ASSIGN_OR_RETURN(size_t n, r->Read(buf.data(), buf.size()));
    if (n == 0) break;
    out.append(reinterpret_cast<char*>(buf.data()), n);
  }
  return out;
}

TEST(MediaType, Mapping) {
  EXPECT_EQ(*CompressionForMediaType("application/vnd.oci.image.layer.v1.tar+gzip"),
            Compression::kGzip);
  EXPECT_EQ(*CompressionForMediaType("application/vnd.oci.image.layer.v1.tar+zstd"),
            Compression::kZstd);
  EXPECT_EQ(*CompressionForMediaType("application/vnd.oci.image.layer.v1.tar"), Compression::kAuto);
  EXPECT_EQ(
      *CompressionForMediaType("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"),
      Compression::kGzip);
  EXPECT_EQ(
      *CompressionForMediaType("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"),
      Compression::kZstd);
  EXPECT_EQ(*CompressionForMediaType("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::kAuto);
  auto enc = CompressionForMediaType("application/vnd.oci.image.layer.v1.tar+gzip+encrypted");
  ASSERT_FALSE(enc.ok());
  EXPECT_NE(enc.error().message.find("encrypted"), std::string::npos);
  EXPECT_FALSE(CompressionForMediaType("application/json").ok());
  EXPECT_FALSE(CompressionForMediaType("application/vnd.oci.image.layer.v1.tar+bzip2").ok());
}

class GzipTest : public ::testing::TestWithParam<GzipBackend> {};

TEST_P(GzipTest, RoundTripMultiMemberSmallChunks) {
  std::string a = MixedData(3 << 20), b = MixedData(100000) + "tail";
  std::string blob = Gzip(a) + Gzip(b, 1) + Gzip("");
  for (size_t chunk : {size_t{1} << 20, size_t{4093}, size_t{1}}) {
    if (chunk == 1) blob = Gzip(b);  // byte-at-a-time on a smaller input
    auto out = Decode(blob, Compression::kGzip, GetParam(), chunk);
    ASSERT_TRUE(out.ok()) << out.error().message;
    EXPECT_EQ(*out, chunk == 1 ? b : a + b) << "chunk " << chunk;
  }
}

TEST_P(GzipTest, TrailingZerosAcceptedGarbageRefused) {
  std::string data = MixedData(50000);
  auto ok = Decode(Gzip(data) + std::string(512, '\0'), Compression::kGzip, GetParam(), 1000);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(*ok, data);
  auto bad = Decode(Gzip(data) + "garbage", Compression::kGzip, GetParam(), 1000);
  EXPECT_FALSE(bad.ok());
}

TEST_P(GzipTest, TruncatedAndCorruptRefused) {
  std::string blob = Gzip(MixedData(1 << 20));
  for (size_t cut : {blob.size() - 1, blob.size() - 8, blob.size() / 2, size_t{5}}) {
    auto out = Decode(blob.substr(0, cut), Compression::kGzip, GetParam(), 4096);
    ASSERT_FALSE(out.ok()) << "cut at " << cut;
    EXPECT_NE(out.error().message.find("gzip"), std::string::npos) << out.error().message;
  }
  std::string flipped = blob;
  flipped[flipped.size() - 6] ^= 0x55;  // CRC32 in the trailer
  EXPECT_FALSE(Decode(flipped, Compression::kGzip, GetParam(), 4096).ok());
  EXPECT_FALSE(Decode("", Compression::kGzip, GetParam(), 4096).ok());
  EXPECT_FALSE(Decode("not gzip at all", Compression::kGzip, GetParam(), 4096).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, GzipTest,
                         ::testing::Values(GzipBackend::kIsal, GzipBackend::kZlib));

TEST(Zstd, RoundTripMultiFrameAndTruncation) {
  std::string a = MixedData(2 << 20), b = MixedData(1000);
  auto out = Decode(Zstd(a) + Zstd(b, 19), Compression::kZstd, GzipBackend::kIsal, 5000);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(*out, a + b);
  std::string blob = Zstd(a);
  auto cut = Decode(blob.substr(0, blob.size() - 3), Compression::kZstd, GzipBackend::kIsal, 5000);
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.error().message.find("zstd"), std::string::npos);
  EXPECT_FALSE(Decode("", Compression::kZstd, GzipBackend::kIsal, 10).ok());
}

TEST(Auto, DetectsByMagic) {
  std::string data = MixedData(300000);
  for (const std::string& blob : {Gzip(data), Zstd(data), data}) {
    auto out = Decode(blob, Compression::kAuto, GzipBackend::kIsal, 3);
    ASSERT_TRUE(out.ok()) << out.error().message;
    EXPECT_EQ(*out, data);
  }
  auto empty = Decode("", Compression::kAuto, GzipBackend::kIsal, 3);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, "");
}

}  // namespace
}  // namespace coco::oci
