#include "signature/lookaside.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "base/file.h"

namespace coco::signature {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxSignatures = 64;

Result<LookasideEntry> ParseEntry(const YAML::Node& node, const std::string& where) {
  LookasideEntry e;
  if (node.IsNull()) return e;
  if (!node.IsMap()) return MakeError(Code::kInvalidArgument, where + " must be a mapping");
  auto str = [&](const char* key) -> Result<std::string> {
    YAML::Node v = node[key];
    if (!v) return std::string();
    if (!v.IsScalar()) {
      return MakeError(Code::kInvalidArgument, where + "." + key + " must be a string");
    }
    return v.as<std::string>();
  };
  COCO_ASSIGN_OR_RETURN(std::string lookaside, str("lookaside"));
  COCO_ASSIGN_OR_RETURN(std::string sigstore, str("sigstore"));
  COCO_ASSIGN_OR_RETURN(std::string staging, str("lookaside-staging"));
  COCO_ASSIGN_OR_RETURN(std::string sigstore_staging, str("sigstore-staging"));
  e.lookaside = !lookaside.empty() ? lookaside : sigstore;
  e.lookaside_staging = !staging.empty() ? staging : sigstore_staging;
  if (YAML::Node v = node["use-sigstore-attachments"]) {
    if (!v.IsScalar()) {
      return MakeError(Code::kInvalidArgument,
                       where + ".use-sigstore-attachments must be a boolean");
    }
    e.use_sigstore_attachments = v.as<bool>();
  }
  return e;
}

// Splits a supported URL into (scheme, rest). file:// must be followed by an absolute path.
Result<std::pair<std::string, std::string>> SplitUrl(const std::string& url) {
  size_t p = url.find("://");
  if (p == std::string::npos)
    return MakeError(Code::kInvalidArgument, "\"" + url + "\" is not a URL");
  std::string scheme = url.substr(0, p);
  std::string rest = url.substr(p + 3);
  if (scheme == "file") {
    if (rest.rfind("localhost/", 0) == 0) rest = rest.substr(9);
    if (rest.empty() || rest[0] != '/') {
      return MakeError(Code::kInvalidArgument,
                       "file URL \"" + url + "\" must be file:///absolute/path");
    }
  } else if (scheme != "http" && scheme != "https") {
    return MakeError(Code::kInvalidArgument,
                     "lookaside URL scheme \"" + scheme + "\" is not supported: " + url);
  }
  return std::make_pair(scheme, rest);
}

Result<std::optional<std::string>> ReadUrl(const std::string& url, const UrlFetcher& fetcher) {
  COCO_ASSIGN_OR_RETURN(auto parts, SplitUrl(url));
  if (parts.first != "file") {
    if (!fetcher) {
      return MakeError(Code::kUnavailable, "no HTTP fetcher configured to read " + url);
    }
    return fetcher(url);
  }
  std::error_code ec;
  if (!fs::exists(parts.second, ec)) return std::optional<std::string>();
  COCO_ASSIGN_OR_RETURN(std::string data, ReadFile(parts.second));
  return std::optional<std::string>(std::move(data));
}

Result<std::string> FilePathOf(const std::string& url) {
  COCO_ASSIGN_OR_RETURN(auto parts, SplitUrl(url));
  if (parts.first != "file") {
    return MakeError(Code::kInvalidArgument,
                     "can only write signatures to file:// URLs, not " + url);
  }
  return parts.second;
}

}  // namespace

std::string LookasideEntry::Base(bool write) const {
  if (write && !lookaside_staging.empty()) return lookaside_staging;
  return lookaside;
}

Status RegistriesConfig::ParseYaml(const std::string& yaml, const std::string& origin,
                                   RegistriesConfig& into) {
  try {
    YAML::Node root = YAML::Load(yaml);
    if (!root || root.IsNull()) return Status::Ok();
    if (!root.IsMap())
      return MakeError(Code::kInvalidArgument, origin + ": must be a YAML mapping");
    if (YAML::Node d = root["default-docker"]) {
      COCO_ASSIGN_OR_RETURN(LookasideEntry e, ParseEntry(d, origin + ": default-docker"));
      if (into.default_docker_ && !(*into.default_docker_ == e)) {
        return MakeError(Code::kInvalidArgument,
                         origin + ": default-docker is already set in " + into.default_origin_);
      }
      if (!into.default_docker_) into.default_origin_ = origin;
      into.default_docker_ = e;
    }
    if (YAML::Node docker = root["docker"]) {
      if (!docker.IsMap() && !docker.IsNull()) {
        return MakeError(Code::kInvalidArgument, origin + ": docker must be a mapping of scopes");
      }
      for (const auto& kv : docker) {
        std::string scope = kv.first.as<std::string>();
        COCO_ASSIGN_OR_RETURN(LookasideEntry e,
                              ParseEntry(kv.second, origin + ": docker." + scope));
        auto it = into.docker_.find(scope);
        if (it != into.docker_.end()) {
          if (it->second == e) continue;
          return MakeError(Code::kInvalidArgument, origin + ": scope \"" + scope +
                                                       "\" is already configured in " +
                                                       into.origins_[scope]);
        }
        into.docker_[scope] = e;
        into.origins_[scope] = origin;
      }
    }
  } catch (const YAML::Exception& e) {
    return MakeError(Code::kInvalidArgument, origin + ": invalid YAML: " + e.what());
  }
  return Status::Ok();
}

Result<RegistriesConfig> RegistriesConfig::LoadDir(const std::string& dir) {
  RegistriesConfig cfg;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return cfg;
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".yaml" && it->is_regular_file(ec)) {
      files.push_back(it->path().string());
    }
  }
  if (ec) return MakeError(Code::kIo, "cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    COCO_ASSIGN_OR_RETURN(std::string text, ReadFile(f));
    COCO_RETURN_IF_ERROR(ParseYaml(text, f, cfg));
  }
  return cfg;
}

std::string RegistriesConfig::BaseUrlFor(const ImageReference& image, bool write) const {
  for (const std::string& scope : image.PolicyScopes()) {
    auto it = docker_.find(scope);
    if (it != docker_.end()) {
      std::string url = it->second.Base(write);
      if (!url.empty()) return url;
    }
  }
  if (default_docker_) return default_docker_->Base(write);
  return "";
}

Result<std::string> SignatureUrl(const std::string& base, const ImageReference& image,
                                 const std::string& manifest_digest, int index) {
  COCO_RETURN_IF_ERROR(ValidateDigest(manifest_digest));
  std::string b = base;
  while (!b.empty() && b.back() == '/') b.pop_back();
  size_t colon = manifest_digest.find(':');
  return b + "/" + image.path() + "@" + manifest_digest.substr(0, colon) + "=" +
         manifest_digest.substr(colon + 1) + "/signature-" + std::to_string(index);
}

Result<std::vector<std::string>> ReadLookasideSignatures(const std::string& base,
                                                         const ImageReference& image,
                                                         const std::string& manifest_digest,
                                                         const UrlFetcher& fetcher) {
  std::vector<std::string> out;
  for (int i = 1; i <= kMaxSignatures; ++i) {
    COCO_ASSIGN_OR_RETURN(std::string url, SignatureUrl(base, image, manifest_digest, i));
    COCO_ASSIGN_OR_RETURN(std::optional<std::string> body, ReadUrl(url, fetcher));
    if (!body) break;
    out.push_back(std::move(*body));
  }
  return out;
}

Status WriteLookasideSignatures(const std::string& base, const ImageReference& image,
                                const std::string& manifest_digest,
                                const std::vector<std::string>& signatures) {
  for (size_t i = 0; i < signatures.size(); ++i) {
    COCO_ASSIGN_OR_RETURN(std::string url,
                          SignatureUrl(base, image, manifest_digest, static_cast<int>(i) + 1));
    COCO_ASSIGN_OR_RETURN(std::string path, FilePathOf(url));
    COCO_RETURN_IF_ERROR(MakeDirs(fs::path(path).parent_path().string()));
    COCO_RETURN_IF_ERROR(WriteFileAtomic(path, signatures[i]));
  }
  for (int i = static_cast<int>(signatures.size()) + 1; i <= kMaxSignatures; ++i) {
    COCO_ASSIGN_OR_RETURN(std::string url, SignatureUrl(base, image, manifest_digest, i));
    COCO_ASSIGN_OR_RETURN(std::string path, FilePathOf(url));
    std::error_code ec;
    if (!fs::remove(path, ec)) break;
  }
  return Status::Ok();
}

Result<std::string> AppendLookasideSignature(const std::string& base, const ImageReference& image,
                                             const std::string& manifest_digest,
                                             const std::string& signature) {
  COCO_RETURN_IF_ERROR(FilePathOf(base));
  COCO_ASSIGN_OR_RETURN(std::vector<std::string> existing,
                        ReadLookasideSignatures(base, image, manifest_digest));
  if (existing.size() >= kMaxSignatures) {
    return MakeError(Code::kInvalidArgument, "too many signatures already stored");
  }
  int index = static_cast<int>(existing.size()) + 1;
  COCO_ASSIGN_OR_RETURN(std::string url, SignatureUrl(base, image, manifest_digest, index));
  COCO_ASSIGN_OR_RETURN(std::string path, FilePathOf(url));
  COCO_RETURN_IF_ERROR(MakeDirs(fs::path(path).parent_path().string()));
  COCO_RETURN_IF_ERROR(WriteFileAtomic(path, signature));
  return url;
}

}  // namespace coco::signature
