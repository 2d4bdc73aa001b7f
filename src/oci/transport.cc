#include "oci/transport.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/json.h"
#include "crypto/crypto.h"
#include "oci/digest_check.h"

namespace coco::oci {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr char kRefName[] = "org.opencontainers.image.ref.name";
constexpr size_t kMaxManifest = 4 << 20;

class RegistrySource : public ImageSource {
 public:
  RegistrySource(ImageLocation loc, RegistryClient* client)
      : loc_(std::move(loc)), client_(client) {}
  Result<FetchedManifest> GetManifest() override {
    return client_->GetManifest(loc_, loc_.ManifestReference());
  }
  Result<FetchedManifest> GetManifestByDigest(const Digest& d) override {
    return client_->GetManifest(loc_, d.str());
  }
  Status FetchBlob(const Descriptor& desc, Writer& out, const ProgressFn& progress) override {
    return client_->FetchBlob(loc_, desc, out, progress);
  }

 private:
  ImageLocation loc_;
  RegistryClient* client_;
};

class RegistryDestination : public ImageDestination {
 public:
  RegistryDestination(ImageLocation loc, RegistryClient* client)
      : loc_(std::move(loc)), client_(client) {}
  Result<bool> HasBlob(const Digest& d) override { return client_->HasBlob(loc_, d); }
  Status PutBlob(const Descriptor& desc, Reader& content) override {
    return client_->PushBlob(loc_, desc, content);
  }
  Status PutManifest(const std::string& media_type, const std::string& bytes) override {
    return client_->PushManifest(loc_, loc_.ManifestReference(), media_type, bytes);
  }

 private:
  ImageLocation loc_;
  RegistryClient* client_;
};

std::string BlobFile(const std::string& dir, const Digest& d) {
  return dir + "/blobs/" + d.algorithm + "/" + d.hex;
}

Result<json> ReadIndexJson(const std::string& dir) {
  COCO_ASSIGN_OR_RETURN(std::string text, ReadFile(dir + "/index.json"));
  json j = ParseJsonOrDiscarded(text);
  if (j.is_discarded() || !j.is_object() || !j.contains("manifests") ||
      !j["manifests"].is_array()) {
    return MakeError(Code::kInvalidArgument, dir + "/index.json is not an OCI image index");
  }
  return j;
}

class LayoutSource : public ImageSource {
 public:
  explicit LayoutSource(ImageLocation loc) : loc_(std::move(loc)) {}

  Result<FetchedManifest> GetManifest() override {
    COCO_ASSIGN_OR_RETURN(json index, ReadIndexJson(loc_.dir));
    const json* found = nullptr;
    std::string names;
    for (const auto& m : index["manifests"]) {
      std::string name;
      if (m.contains("annotations") && m["annotations"].is_object() &&
          m["annotations"].contains(kRefName) && m["annotations"][kRefName].is_string()) {
        name = m["annotations"][kRefName].get<std::string>();
      }
      names += (names.empty() ? "" : ", ") + (name.empty() ? "(untagged)" : name);
      if (loc_.tag.empty() ? index["manifests"].size() == 1 : name == loc_.tag) found = &m;
    }
    if (found == nullptr) {
      return MakeError(Code::kNotFound,
                       loc_.tag.empty() ? "oci:" + loc_.dir + " holds " +
                                              std::to_string(index["manifests"].size()) +
                                              " images; name one with oci:DIR:TAG (" + names + ")"
                                        : "oci:" + loc_.dir + " has no image tagged \"" + loc_.tag +
                                              "\" (it has: " + names + ")");
    }
    COCO_ASSIGN_OR_RETURN(Descriptor d, Descriptor::FromJson(*found));
    COCO_ASSIGN_OR_RETURN(FetchedManifest m, GetManifestByDigest(d.digest));
    if (IsIndexMediaType(d.media_type) || IsManifestMediaType(d.media_type)) {
      m.media_type = d.media_type;
    }
    return m;
  }

  Result<FetchedManifest> GetManifestByDigest(const Digest& d) override {
    std::error_code ec;
    auto size = fs::file_size(BlobFile(loc_.dir, d), ec);
    if (ec) return MakeError(Code::kNotFound, "oci:" + loc_.dir + " has no blob " + d.str());
    if (size > kMaxManifest)
      return MakeError(Code::kTooLarge, "manifest " + d.str() + " is too large");
    FetchedManifest m;
    COCO_ASSIGN_OR_RETURN(m.bytes, ReadFile(BlobFile(loc_.dir, d)));
    m.digest = Digest::Sha256Of(m.bytes);
    if (!(m.digest == d)) {
      return MakeError(Code::kDigestMismatch,
                       "oci:" + loc_.dir + " blob " + d.str() + " is corrupt");
    }
    COCO_ASSIGN_OR_RETURN(m.media_type, DetectMediaType(m.bytes, ""));
    return m;
  }

  Status FetchBlob(const Descriptor& desc, Writer& out, const ProgressFn& progress) override {
    COCO_ASSIGN_OR_RETURN(auto reader, OpenFileReader(BlobFile(loc_.dir, desc.digest)));
    std::vector<uint8_t> buf(1 << 20);
    uint64_t done = 0;
    for (;;) {
      COCO_ASSIGN_OR_RETURN(size_t n, reader->Read(buf.data(), buf.size()));
      if (n == 0) break;
      COCO_RETURN_IF_ERROR(out.Write(buf.data(), n));
      done += n;
      if (progress) progress(done, static_cast<uint64_t>(desc.size));
    }
    return Status::Ok();
  }

 private:
  ImageLocation loc_;
};

// Writes a temporary file and, on Close(), moves it to its final name; unlinked unless closed.
// (Behind a DigestCheck, which closes it only when the content matched.)
class CommittingFileWriter : public Writer {
 public:
  CommittingFileWriter(int fd, std::string tmp, std::string final_path)
      : fd_(fd), tmp_(std::move(tmp)), final_(std::move(final_path)) {}
  ~CommittingFileWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!done_) ::unlink(tmp_.c_str());
  }
  Status Write(const uint8_t* p, size_t n) override {
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return MakeError(Code::kIo, "cannot write " + tmp_ + ": " + std::strerror(errno));
      p += w;
      n -= static_cast<size_t>(w);
    }
    return Status::Ok();
  }
  Status Close() override {
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return MakeError(Code::kIo, "cannot close " + tmp_ + ": " + std::strerror(errno));
    if (::rename(tmp_.c_str(), final_.c_str()) != 0) {
      return MakeError(Code::kIo, "cannot rename into " + final_ + ": " + std::strerror(errno));
    }
    done_ = true;
    return Status::Ok();
  }

 private:
  int fd_;
  std::string tmp_, final_;
  bool done_ = false;
};

class LayoutDestination : public ImageDestination {
 public:
  explicit LayoutDestination(ImageLocation loc) : loc_(std::move(loc)) {}

  Result<bool> HasBlob(const Digest& d) override {
    return ::access(BlobFile(loc_.dir, d).c_str(), F_OK) == 0;
  }

  Status PutBlob(const Descriptor& desc, Reader& content) override {
    COCO_ASSIGN_OR_RETURN(bool have, HasBlob(desc.digest));
    if (have) return Status::Ok();
    std::string dir = loc_.dir + "/blobs/" + desc.digest.algorithm;
    COCO_RETURN_IF_ERROR(MakeDirs(dir));
    std::string tmp = dir + "/.tmp-XXXXXX";
    int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0)
      return MakeError(Code::kIo, "cannot create a file in " + dir + ": " + std::strerror(errno));
    ::fchmod(fd, 0644);
    CommittingFileWriter file(fd, tmp, BlobFile(loc_.dir, desc.digest));
    DigestCheck w(&file, desc.digest, -1, "content for " + desc.digest.str());
    COCO_ASSIGN_OR_RETURN(uint64_t n, Copy(content, w));
    (void)n;
    return Status::Ok();
  }

  Status PutManifest(const std::string& media_type, const std::string& bytes) override {
    Digest d = Digest::Sha256Of(bytes);
    std::string dir = loc_.dir + "/blobs/sha256";
    COCO_RETURN_IF_ERROR(MakeDirs(dir));
    COCO_RETURN_IF_ERROR(WriteFileAtomic(BlobFile(loc_.dir, d), bytes));
    json index;
    if (::access((loc_.dir + "/index.json").c_str(), F_OK) == 0) {
      COCO_ASSIGN_OR_RETURN(index, ReadIndexJson(loc_.dir));
    } else {
      index = {{"schemaVersion", 2}, {"manifests", json::array()}};
    }
    json kept = json::array();
    for (const auto& m : index["manifests"]) {
      bool same_name = m.contains("annotations") && m["annotations"].is_object() &&
                       m["annotations"].value(kRefName, std::string()) == loc_.tag;
      if (!(same_name && !loc_.tag.empty())) kept.push_back(m);
    }
    json entry = {{"mediaType", media_type}, {"digest", d.str()}, {"size", bytes.size()}};
    if (!loc_.tag.empty()) entry["annotations"] = {{kRefName, loc_.tag}};
    kept.push_back(entry);
    index["manifests"] = kept;
    COCO_RETURN_IF_ERROR(
        WriteFileAtomic(loc_.dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
    return WriteFileAtomic(loc_.dir + "/index.json", index.dump());
  }

 private:
  ImageLocation loc_;
};

}  // namespace

Result<std::unique_ptr<ImageSource>> OpenImageSource(const ImageLocation& loc,
                                                     RegistryClient* registry) {
  if (loc.is_docker()) {
    if (registry == nullptr) return MakeError(Code::kInvalidArgument, "no registry client");
    return std::unique_ptr<ImageSource>(std::make_unique<RegistrySource>(loc, registry));
  }
  if (::access((loc.dir + "/index.json").c_str(), R_OK) != 0) {
    return MakeError(Code::kNotFound,
                     "oci:" + loc.dir + " is not an OCI image layout (no index.json)");
  }
  return std::unique_ptr<ImageSource>(std::make_unique<LayoutSource>(loc));
}

Result<std::unique_ptr<ImageDestination>> OpenImageDestination(const ImageLocation& loc,
                                                               RegistryClient* registry) {
  if (loc.is_docker()) {
    if (registry == nullptr) return MakeError(Code::kInvalidArgument, "no registry client");
    return std::unique_ptr<ImageDestination>(std::make_unique<RegistryDestination>(loc, registry));
  }
  COCO_RETURN_IF_ERROR(MakeDirs(loc.dir));
  return std::unique_ptr<ImageDestination>(std::make_unique<LayoutDestination>(loc));
}

Result<FetchedManifest> ResolveManifest(ImageSource& source, const std::string& os,
                                        const std::string& architecture) {
  COCO_ASSIGN_OR_RETURN(FetchedManifest top, source.GetManifest());
  if (!IsIndexMediaType(top.media_type)) return top;
  COCO_ASSIGN_OR_RETURN(Index index, Index::Parse(top.bytes, top.media_type));
  COCO_ASSIGN_OR_RETURN(Descriptor d, index.Select(os, architecture));
  COCO_ASSIGN_OR_RETURN(FetchedManifest m, source.GetManifestByDigest(d.digest));
  if (IsIndexMediaType(m.media_type)) {
    return MakeError(Code::kInvalidArgument, "nested image indexes are not supported");
  }
  return m;
}

}  // namespace coco::oci
