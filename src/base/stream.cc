#include "base/stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace coco {
namespace {

class FileReader : public Reader {
 public:
  FileReader(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~FileReader() override { ::close(fd_); }
  Result<size_t> Read(uint8_t* buf, size_t n) override {
    for (;;) {
      ssize_t got = ::read(fd_, buf, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno == EINTR) continue;
      return MakeError(Code::kIo, "cannot read " + path_ + ": " + std::strerror(errno));
    }
  }

 private:
  int fd_;
  std::string path_;
};

}  // namespace

Result<size_t> MemoryReader::Read(uint8_t* buf, size_t n) {
  size_t k = std::min({n, chunk_, data_.size() - pos_});
  if (k == 0) return size_t{0};  // (an empty view may have no data pointer at all)
  std::memcpy(buf, data_.data() + pos_, k);
  pos_ += k;
  return k;
}

Result<std::unique_ptr<Reader>> OpenFileReader(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return MakeError(Code::kIo, "cannot open " + path + ": " + std::strerror(errno));
  return std::unique_ptr<Reader>(std::make_unique<FileReader>(fd, path));
}

Result<uint64_t> Copy(Reader& from, Writer& to, size_t chunk) {
  std::vector<uint8_t> buf(chunk);
  uint64_t total = 0;
  for (;;) {
    COCO_ASSIGN_OR_RETURN(size_t n, from.Read(buf.data(), buf.size()));
    if (n == 0) break;
    COCO_RETURN_IF_ERROR(to.Write(buf.data(), n));
    total += n;
  }
  COCO_RETURN_IF_ERROR(to.Close());
  return total;
}

}  // namespace coco
