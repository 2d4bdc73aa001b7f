// The image identity the signature policy reasons about: a docker-style reference
// `host[:port]/path[:tag][@algo:hex]`, normalised the way docker does it.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace coco::signature {

// An immutable, normalised docker reference. Copyable value type; thread-compatible.
class ImageReference {
 public:
  // Parses `[host[:port]/]path[:tag][@algo:hex]`. Normalisation: a first component that has no
  // '.' or ':' and is not "localhost" is not a host, and the host becomes "docker.io";
  // "index.docker.io" becomes "docker.io"; a one-component path on docker.io gets "library/".
  // Fails with InvalidArgument naming the offending part (uppercase path, bad tag, bad digest).
  static Result<ImageReference> Parse(const std::string& text);

  const std::string& host() const { return host_; }      // "docker.io", "localhost:5000"
  const std::string& path() const { return path_; }      // "library/busybox"
  const std::string& tag() const { return tag_; }        // "" when absent
  const std::string& digest() const { return digest_; }  // "sha256:<hex>" or ""
  bool has_tag() const { return !tag_.empty(); }
  bool has_digest() const { return !digest_.empty(); }
  bool name_only() const { return tag_.empty() && digest_.empty(); }

  // host/path, e.g. "docker.io/library/busybox".
  std::string Name() const { return host_ + "/" + path_; }
  // Name()[:tag][@digest].
  std::string String() const;

  // Copies with tag/digest replaced ("" removes).
  ImageReference WithTag(const std::string& tag) const;
  ImageReference WithDigest(const std::string& digest) const;
  // The reference docker transports use: a name-only reference gains ":latest".
  ImageReference TagNameOnly() const { return name_only() ? WithTag("latest") : *this; }

  // The scopes containers-policy.json looks up for the docker transport, most specific
  // first: String(), Name(), each parent namespace down to host[:port], then "*.domain"
  // wildcards from the host without its port. ("" and the default are the caller's.)
  std::vector<std::string> PolicyScopes() const;

  bool operator==(const ImageReference&) const = default;

 private:
  std::string host_, path_, tag_, digest_;
};

// Validates a digest string "algo:hex" (sha256 needs 64 lowercase hex, sha512 128).
Status ValidateDigest(const std::string& digest);

// True if `host` is a valid registry host[:port] (DNS labels or IPv6 in brackets, optional port).
bool IsValidHost(const std::string& host);

}  // namespace coco::signature
