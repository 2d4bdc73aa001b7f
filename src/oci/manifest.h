// OCI and Docker schema-2 manifests, image indexes and image configs: parsing with validation,
// platform selection, and serialization that keeps unknown fields.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/reference.h"

namespace coco::oci {

namespace media {
inline constexpr char kOciManifest[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char kOciIndex[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char kOciConfig[] = "application/vnd.oci.image.config.v1+json";
inline constexpr char kOciLayerTar[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char kOciLayerGzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char kOciLayerZstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr char kDockerManifest[] = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char kDockerList[] = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char kDockerConfig[] = "application/vnd.docker.container.image.v1+json";
inline constexpr char kDockerLayerGzip[] = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}  // namespace media

// The Accept header value for manifest GETs: every manifest and index type we parse.
std::string ManifestAcceptHeader();
bool IsIndexMediaType(const std::string& media_type);
bool IsManifestMediaType(const std::string& media_type);

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;
};

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  nlohmann::json extra = nlohmann::json::object();  // other members, kept as they were

  static Result<Descriptor> FromJson(const nlohmann::json& j);
  nlohmann::json ToJson() const;
};

// An image manifest (OCI or Docker schema 2).
struct Manifest {
  std::string media_type;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
  nlohmann::json extra = nlohmann::json::object();

  // `bytes` is the manifest as fetched; `content_type` is the registry's Content-Type or empty.
  // Refuses schema 1, missing members, bad digests and negative sizes with a clear error.
  static Result<Manifest> Parse(std::string_view bytes, std::string_view content_type = "");
  // Compact JSON. (Digests of re-serialized manifests differ from the fetched bytes: keep the
  // fetched bytes when they must stay valid.)
  std::string Serialize() const;
};

struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
  nlohmann::json extra = nlohmann::json::object();

  static Result<Index> Parse(std::string_view bytes, std::string_view content_type = "");
  std::string Serialize() const;
  // The manifest for `os`/`architecture` (variant ignored when empty); error lists what exists.
  Result<Descriptor> Select(const std::string& os = "linux",
                            const std::string& architecture = "amd64",
                            const std::string& variant = "") const;
};

// The parts of an image config that the pull and the container need.
struct ImageConfig {
  std::vector<Digest> diff_ids;
  std::vector<std::string> env, entrypoint, cmd;
  std::string working_dir, user;
  std::string os, architecture;

  static Result<ImageConfig> Parse(std::string_view bytes);
};

// "manifest" or "index" from the JSON when the content type is missing or generic.
Result<std::string> DetectMediaType(std::string_view bytes, std::string_view content_type);

}  // namespace coco::oci
