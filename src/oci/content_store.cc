#include "oci/content_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "base/bytes.h"
#include "base/file.h"
#include "base/json.h"
#include "crypto/crypto.h"

namespace coco::oci {
namespace {

namespace fs = std::filesystem;

Error IoError(const std::string& what) {
  return MakeError(Code::kIo, what + ": " + std::strerror(errno));
}

crypto::HashAlg AlgOf(const Digest& d) {
  return d.algorithm == "sha512" ? crypto::HashAlg::kSha512 : crypto::HashAlg::kSha256;
}

class FileBlobWriter : public BlobWriter {
 public:
  FileBlobWriter(const ContentStore* store, int fd, std::string tmp, std::optional<Digest> expected,
                 int64_t expected_size)
      : store_(store),
        fd_(fd),
        tmp_(std::move(tmp)),
        expected_(std::move(expected)),
        expected_size_(expected_size),
        hasher_(expected_ ? AlgOf(*expected_) : crypto::HashAlg::kSha256) {}

  ~FileBlobWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }

  Status Write(const uint8_t* data, size_t n) override {
    if (fd_ < 0) return MakeError(Code::kIo, "write to a closed blob writer");
    if (expected_size_ >= 0 && size_ + n > static_cast<uint64_t>(expected_size_)) {
      return MakeError(Code::kDigestMismatch, "blob " + Name() +
                                                  " is larger than its descriptor's " +
                                                  std::to_string(expected_size_) + " bytes");
    }
    hasher_.Update(data, n);
    size_ += n;
    while (n > 0) {
      ssize_t w = ::write(fd_, data, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return IoError("cannot write " + tmp_);
      }
      data += w;
      n -= static_cast<size_t>(w);
    }
    return Status::Ok();
  }

  Status Close() override {
    if (fd_ < 0) return MakeError(Code::kIo, "blob writer closed twice");
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return IoError("cannot close " + tmp_);
    Digest got{expected_ ? expected_->algorithm : "sha256", HexEncode(hasher_.Finish())};
    if (expected_size_ >= 0 && size_ != static_cast<uint64_t>(expected_size_)) {
      return MakeError(Code::kDigestMismatch, "blob " + Name() + " has " + std::to_string(size_) +
                                                  " bytes, its descriptor says " +
                                                  std::to_string(expected_size_));
    }
    if (expected_ && !(got == *expected_)) {
      return MakeError(Code::kDigestMismatch,
                       "blob content hashes to " + got.str() + ", expected " + expected_->str());
    }
    digest_ = got;
    std::string final_path = store_->BlobPath(got);
    std::error_code ec;
    fs::create_directories(fs::path(final_path).parent_path(), ec);
    if (::rename(tmp_.c_str(), final_path.c_str()) != 0) {
      return IoError("cannot move blob into " + final_path);
    }
    committed_ = true;
    return Status::Ok();
  }

  const Digest& digest() const override { return digest_; }
  uint64_t size() const override { return size_; }

 private:
  std::string Name() const { return expected_ ? expected_->str() : tmp_; }

  const ContentStore* store_;
  int fd_;
  std::string tmp_;
  std::optional<Digest> expected_;
  int64_t expected_size_;
  crypto::Hasher hasher_;
  uint64_t size_ = 0;
  bool committed_ = false;
  Digest digest_;
};

Result<std::pair<int, std::string>> MakeTemp(const std::string& dir) {
  std::string tmpl = dir + "/tmp/blob-XXXXXX";
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return IoError("cannot create a temporary file in " + dir + "/tmp");
  ::fchmod(fd, 0644);
  return std::make_pair(fd, tmpl);
}

std::string ImageFile(const std::string& dir, const std::string& name) {
  return dir + "/images/" + HexEncode(crypto::Sha256(name)) + ".json";
}

}  // namespace

Result<std::unique_ptr<ContentStore>> ContentStore::Open(const std::string& dir) {
  // Private to its owner: it holds decrypted layers.
  COCO_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  for (const char* sub : {"/blobs/sha256", "/blobs/sha512", "/tmp", "/images", "/private"}) {
    COCO_RETURN_IF_ERROR(MakeDirs(dir + sub, 0700));
  }
  std::string lock = dir + "/lock";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot open " + lock);
  if (::flock(fd, LOCK_SH) != 0) {
    ::close(fd);
    return IoError("cannot lock " + lock);
  }
  return std::unique_ptr<ContentStore>(new ContentStore(dir, fd));
}

ContentStore::~ContentStore() { ::close(lock_fd_); }

std::string ContentStore::BlobPath(const Digest& d) const {
  return dir_ + "/blobs/" + d.algorithm + "/" + d.hex;
}

bool ContentStore::Has(const Digest& d) const {
  struct stat st;
  return ::stat(BlobPath(d).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Status ContentStore::MarkPrivate(const Digest& d) {
  std::string marker = dir_ + "/private/" + d.algorithm + "-" + d.hex;
  int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create " + marker);
  ::close(fd);
  return Status::Ok();
}

bool ContentStore::IsPrivate(const Digest& d) const {
  struct stat st;
  return ::stat((dir_ + "/private/" + d.algorithm + "-" + d.hex).c_str(), &st) == 0;
}

void ContentStore::ClearPrivate(const Digest& d) {
  ::unlink((dir_ + "/private/" + d.algorithm + "-" + d.hex).c_str());
}

Result<std::unique_ptr<BlobWriter>> ContentStore::NewWriter(const Digest& expected,
                                                            int64_t expected_size) {
  COCO_ASSIGN_OR_RETURN(auto tmp, MakeTemp(dir_));
  return std::unique_ptr<BlobWriter>(
      std::make_unique<FileBlobWriter>(this, tmp.first, tmp.second, expected, expected_size));
}

Result<std::unique_ptr<BlobWriter>> ContentStore::NewWriter() {
  COCO_ASSIGN_OR_RETURN(auto tmp, MakeTemp(dir_));
  return std::unique_ptr<BlobWriter>(
      std::make_unique<FileBlobWriter>(this, tmp.first, tmp.second, std::nullopt, -1));
}

Result<std::string> ContentStore::ReadBlob(const Digest& d, size_t max_size) const {
  std::error_code ec;
  auto size = fs::file_size(BlobPath(d), ec);
  if (ec) return MakeError(Code::kNotFound, "blob " + d.str() + " is not in the store " + dir_);
  if (size > max_size) {
    return MakeError(Code::kTooLarge, "blob " + d.str() + " has " + std::to_string(size) +
                                          " bytes, more than the " + std::to_string(max_size) +
                                          " allowed here");
  }
  COCO_ASSIGN_OR_RETURN(std::string data, ReadFile(BlobPath(d)));
  crypto::Hasher h(AlgOf(d));
  h.Update(data);
  if (HexEncode(h.Finish()) != d.hex) {
    return MakeError(Code::kDigestMismatch, "stored blob " + d.str() +
                                                " is corrupt (content hash "
                                                "differs); run `coco image prune` and pull again");
  }
  return data;
}

Result<std::unique_ptr<Reader>> ContentStore::OpenBlob(const Digest& d) const {
  if (!Has(d))
    return MakeError(Code::kNotFound, "blob " + d.str() + " is not in the store " + dir_);
  return OpenFileReader(BlobPath(d));
}

Result<Digest> ContentStore::PutBlob(std::string_view data) {
  Digest d = Digest::Sha256Of(data);
  if (Has(d)) return d;
  COCO_ASSIGN_OR_RETURN(auto w, NewWriter(d, static_cast<int64_t>(data.size())));
  COCO_RETURN_IF_ERROR(w->Write(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  COCO_RETURN_IF_ERROR(w->Close());
  return d;
}

Status ContentStore::RecordImage(const ImageRecord& image) {
  nlohmann::json j;
  j["name"] = image.name;
  j["manifest"] = image.manifest.str();
  j["blobs"] = nlohmann::json::array();
  for (const auto& b : image.blobs) j["blobs"].push_back(b.str());
  return WriteFileAtomic(ImageFile(dir_, image.name), j.dump(2) + "\n");
}

Status ContentStore::RemoveImage(const std::string& name) {
  if (::unlink(ImageFile(dir_, name).c_str()) != 0 && errno != ENOENT) {
    return IoError("cannot remove the record of " + name);
  }
  return Status::Ok();
}

Result<std::vector<ImageRecord>> ContentStore::ListImages() const {
  std::vector<ImageRecord> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_ + "/images", ec)) {
    if (e.path().extension() != ".json") continue;
    COCO_ASSIGN_OR_RETURN(std::string text, ReadFile(e.path().string()));
    auto j = ParseJsonOrDiscarded(text);
    if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string() ||
        !j.contains("manifest") || !j["manifest"].is_string() || !j.contains("blobs") ||
        !j["blobs"].is_array()) {
      return MakeError(Code::kDataLoss, "image record " + e.path().string() + " is malformed");
    }
    ImageRecord r;
    r.name = j["name"].get<std::string>();
    COCO_ASSIGN_OR_RETURN(r.manifest, Digest::Parse(j["manifest"].get<std::string>()));
    for (const auto& b : j["blobs"]) {
      if (!b.is_string())
        return MakeError(Code::kDataLoss, "image record " + r.name + " is malformed");
      COCO_ASSIGN_OR_RETURN(Digest d, Digest::Parse(b.get<std::string>()));
      r.blobs.push_back(d);
    }
    out.push_back(std::move(r));
  }
  if (ec) return MakeError(Code::kIo, "cannot list " + dir_ + "/images: " + ec.message());
  return out;
}

Result<PruneReport> ContentStore::Prune() {
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return MakeError(Code::kUnavailable, "the store " + dir_ +
                                             " is in use by another process; try again "
                                             "when it is done");
  }
  struct Relock {
    int fd;
    ~Relock() { ::flock(fd, LOCK_SH); }
  } relock{lock_fd_};
  COCO_ASSIGN_OR_RETURN(auto images, ListImages());
  std::set<std::string> keep;
  for (const auto& img : images) {
    keep.insert(img.manifest.str());
    for (const auto& b : img.blobs) keep.insert(b.str());
  }
  PruneReport report;
  std::error_code ec;
  for (const char* alg : {"sha256", "sha512"}) {
    for (const auto& e : fs::directory_iterator(dir_ + "/blobs/" + alg, ec)) {
      std::string digest = std::string(alg) + ":" + e.path().filename().string();
      if (keep.count(digest)) {
        ++report.blobs_kept;
        continue;
      }
      std::error_code sec;
      auto size = e.file_size(sec);
      if (fs::remove(e.path(), sec)) {
        fs::remove(dir_ + "/private/" + alg + "-" + e.path().filename().string(), sec);
        ++report.blobs_removed;
        report.bytes_removed += sec ? 0 : size;
      }
    }
  }
  for (const auto& e : fs::directory_iterator(dir_ + "/tmp", ec)) {
    std::error_code sec;
    if (fs::remove(e.path(), sec)) ++report.temp_files_removed;
  }
  return report;
}

}  // namespace coco::oci
