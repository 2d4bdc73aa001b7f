// Byte streams: the pull/decrypt/unpack pipeline moves layers through these in bounded chunks so
// memory stays constant whatever the layer size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace coco {

// A source of bytes. Read() fills up to `n` bytes and returns how many it wrote; 0 means end of
// stream. Errors are final: after one, the reader is not used again. Not thread-safe.
class Reader {
 public:
  virtual ~Reader() = default;
  virtual Result<size_t> Read(uint8_t* buf, size_t n) = 0;
};

// A sink of bytes. Write() consumes all `n` bytes or fails. Close() flushes and reports any
// error held back (e.g. a MAC or digest mismatch found at the end); nothing written is final
// until Close() has returned Ok. Not thread-safe.
class Writer {
 public:
  virtual ~Writer() = default;
  virtual Status Write(const uint8_t* data, size_t n) = 0;
  virtual Status Close() { return Status::Ok(); }
};

// Serves bytes held in memory, which must outlive the reader, in pieces of at most `chunk`
// bytes (small pieces exercise the streaming paths of what reads it).
class MemoryReader final : public Reader {
 public:
  explicit MemoryReader(std::string_view data, size_t chunk = std::numeric_limits<size_t>::max())
      : data_(data), chunk_(chunk == 0 ? 1 : chunk) {}
  Result<size_t> Read(uint8_t* buf, size_t n) override;

 private:
  std::string_view data_;
  size_t chunk_;
  size_t pos_ = 0;
};

// Reads a file; Read() errors name the path.
Result<std::unique_ptr<Reader>> OpenFileReader(const std::string& path);

// Copies `from` into `to` in chunks of `chunk` bytes until end of stream, then Close()s `to`.
// Returns the number of bytes copied.
Result<uint64_t> Copy(Reader& from, Writer& to, size_t chunk = 1 << 20);

}  // namespace coco
