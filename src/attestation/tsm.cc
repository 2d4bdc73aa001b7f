#include "attestation/tsm.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace coco::attestation {
namespace {

Error Errno(const std::string& what) {
  int e = errno;
  return MakeError(e == ENOENT ? Code::kNotFound : Code::kIo, what + ": " + std::strerror(e));
}

class ConfigfsTsm final : public TsmFs {
 public:
  explicit ConfigfsTsm(std::string root) : root_(std::move(root)) {}
  Status MakeEntry(const std::string& entry) override {
    if (mkdir(Path(entry).c_str(), 0700) != 0) return Errno("configfs-tsm: mkdir " + Path(entry));
    return Status::Ok();
  }
  Status RemoveEntry(const std::string& entry) override {
    if (rmdir(Path(entry).c_str()) != 0) return Errno("configfs-tsm: rmdir " + Path(entry));
    return Status::Ok();
  }
  Status Write(const std::string& entry, const std::string& attr, const Bytes& data) override {
    std::string p = Path(entry) + "/" + attr;
    int fd = open(p.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Errno("configfs-tsm: open " + p);
    ssize_t n = write(fd, data.data(), data.size());  // configfs takes an attribute in one write
    int saved = errno;
    close(fd);
    errno = saved;
    if (n != static_cast<ssize_t>(data.size())) return Errno("configfs-tsm: write " + p);
    return Status::Ok();
  }
  Result<Bytes> Read(const std::string& entry, const std::string& attr) override {
    std::string p = Path(entry) + "/" + attr;
    int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("configfs-tsm: open " + p);
    Bytes out;
    uint8_t buf[16384];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return Errno("configfs-tsm: read " + p);
      }
      if (n == 0) break;
      out.insert(out.end(), buf, buf + n);
    }
    close(fd);
    return out;
  }

 private:
  std::string Path(const std::string& entry) const { return root_ + "/" + entry; }
  std::string root_;
};

std::string Trim(const Bytes& b) {
  std::string s(b.begin(), b.end());
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

std::unique_ptr<TsmFs> NewConfigfsTsm(std::string root) {
  return std::make_unique<ConfigfsTsm>(std::move(root));
}

bool ConfigfsTsmAvailable(const std::string& root) {
  struct stat st {};
  return stat(root.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<TsmReport> GetTsmReport(TsmFs& fs, const Bytes& inblob, uint32_t privlevel) {
  if (inblob.size() > 64)
    return MakeError(
        Code::kInvalidArgument,
        "configfs-tsm: report data is " + std::to_string(inblob.size()) + " bytes, at most 64");
  Bytes data = inblob;
  data.resize(64, 0);
  static std::atomic<unsigned> counter{0};
  std::string entry = "coco-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  COCO_RETURN_IF_ERROR(fs.MakeEntry(entry));
  auto attempt = [&]() -> Result<std::optional<TsmReport>> {
    if (privlevel != 0) {
      std::string level = std::to_string(privlevel);
      COCO_RETURN_IF_ERROR(fs.Write(entry, "privlevel", Bytes(level.begin(), level.end())));
    }
    COCO_RETURN_IF_ERROR(fs.Write(entry, "inblob", data));
    COCO_ASSIGN_OR_RETURN(Bytes gen1, fs.Read(entry, "generation"));
    TsmReport r;
    COCO_ASSIGN_OR_RETURN(Bytes provider, fs.Read(entry, "provider"));
    r.provider = Trim(provider);
    COCO_ASSIGN_OR_RETURN(r.outblob, fs.Read(entry, "outblob"));
    auto aux = fs.Read(entry, "auxblob");
    if (aux.ok()) {
      r.auxblob = *aux;
    } else if (aux.error().code != Code::kNotFound) {
      return aux.error();
    }
    COCO_ASSIGN_OR_RETURN(Bytes gen2, fs.Read(entry, "generation"));
    if (Trim(gen1) != Trim(gen2)) return std::optional<TsmReport>();  // raced: try again
    return std::optional<TsmReport>(std::move(r));
  };
  Result<std::optional<TsmReport>> got = attempt();
  if (got.ok() && !got->has_value()) got = attempt();
  Status removed = fs.RemoveEntry(entry);
  if (!got.ok()) return got.error();
  if (!got->has_value())
    return MakeError(Code::kUnavailable,
                     "configfs-tsm: another writer changed the report entry twice");
  COCO_RETURN_IF_ERROR(removed);
  if ((*got)->outblob.empty())
    return MakeError(Code::kIo, "configfs-tsm: the provider gave no report");
  return std::move(**got);
}

}  // namespace coco::attestation
