// Image locations as skopeo writes them, and content digests.
//   docker://HOST[:PORT]/REPO[:TAG|@DIGEST]   (docker.io and library/ are implied as docker does)
//   oci:DIR[:TAG]                              (an OCI image layout directory)
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace coco::oci {

// A content digest "ALGORITHM:HEX". Only sha256 (64 hex) and sha512 (128 hex), lowercase.
struct Digest {
  std::string algorithm;  // "sha256" or "sha512"
  std::string hex;

  // Refuses unknown algorithms, wrong lengths and non-lowercase-hex with a message naming `text`.
  static Result<Digest> Parse(std::string_view text);
  // SHA-256 of `data`.
  static Digest Sha256Of(std::string_view data);
  std::string str() const { return algorithm + ":" + hex; }
  bool empty() const { return hex.empty(); }
  bool operator==(const Digest& o) const { return algorithm == o.algorithm && hex == o.hex; }
  bool operator<(const Digest& o) const { return str() < o.str(); }
};

struct ImageLocation {
  enum class Transport { kDocker, kOciLayout };
  Transport transport = Transport::kDocker;

  // docker:
  std::string registry;    // "docker.io", "localhost:5000"
  std::string repository;  // "library/busybox", "team/app"
  std::string tag;         // empty when addressed by digest only
  std::string digest;      // "sha256:..." or empty

  // oci:
  std::string dir;  // layout directory
  // (tag above is the layout's org.opencontainers.image.ref.name; empty = the only image)

  // Parses "docker://..." or "oci:...". Without a tag or digest, a docker location gets "latest".
  // Errors say which part of `text` is wrong and show the accepted forms.
  static Result<ImageLocation> Parse(std::string_view text);

  // "docker://HOST/REPO:TAG", "docker://HOST/REPO@DIGEST" or "oci:DIR[:TAG]".
  std::string ToString() const;
  // docker only: "HOST/REPO:TAG" or "HOST/REPO@DIGEST" (what signatures call the identity).
  std::string DockerReference() const;
  // docker only: the digest if present, else the tag (what the manifest URL takes).
  std::string ManifestReference() const;
  bool is_docker() const { return transport == Transport::kDocker; }
};

}  // namespace coco::oci
