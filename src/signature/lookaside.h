// Lookaside signature stores configured by registries.d (containers/image
// docs/containers-registries.d.5.md): where simple-signing blobs live for an image, and reading
// and writing them. Layout: <base>/<repository path without host>@<algo>=<hex>/signature-<N>,
// N = 1, 2, … until the first missing one.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "signature/image_ref.h"

namespace coco::signature {

// Fetches an http(s) URL: the body, nullopt for 404, or an error for anything else.
using UrlFetcher = std::function<Result<std::optional<std::string>>(const std::string& url)>;

// One registries.d entry (`default-docker` or `docker.<scope>`).
struct LookasideEntry {
  std::string lookaside;          // also read from the legacy key "sigstore"
  std::string lookaside_staging;  // also read from "sigstore-staging"
  bool use_sigstore_attachments = false;

  // The base URL for reading (lookaside) or writing (staging first, then lookaside); "" if none.
  std::string Base(bool write) const;
  bool operator==(const LookasideEntry&) const = default;
};

// Merged configuration of all YAML files in one or more registries.d directories.
// Immutable after loading; thread-safe.
class RegistriesConfig {
 public:
  // Loads every "*.yaml" file of `dir` (sorted by name). A missing directory yields an empty
  // config. Fails on unparsable YAML, or on a `default-docker` or scope configured differently
  // in two files, naming both (identical repeats are accepted).
  static Result<RegistriesConfig> LoadDir(const std::string& dir);
  // Parses one YAML document; `origin` names it in errors. Merges into `into` with the same
  // duplicate rules as LoadDir.
  static Status ParseYaml(const std::string& yaml, const std::string& origin,
                          RegistriesConfig& into);

  // The base URL for `image`: the full reference, then the repository and each parent namespace
  // (as in ImageReference::PolicyScopes) under `docker`, then `default-docker`. For writing the
  // staging URL is preferred. "" when nothing is configured.
  std::string BaseUrlFor(const ImageReference& image, bool write) const;

  const std::optional<LookasideEntry>& default_docker() const { return default_docker_; }
  const std::map<std::string, LookasideEntry>& docker() const { return docker_; }

 private:
  std::optional<LookasideEntry> default_docker_;
  std::string default_origin_;
  std::map<std::string, LookasideEntry> docker_;
  std::map<std::string, std::string> origins_;
};

// "<base>/<image.path()>@<algo>=<hex>/signature-<index>" (index counts from 1). Fails for an
// invalid digest.
Result<std::string> SignatureUrl(const std::string& base, const ImageReference& image,
                                 const std::string& manifest_digest, int index);

// Reads signature-1, signature-2, … until the first missing one. file:// URLs are read
// directly; http:// and https:// go through `fetcher` (required for them, else an error). Other
// schemes are refused. At most 64 signatures are read.
Result<std::vector<std::string>> ReadLookasideSignatures(const std::string& base,
                                                         const ImageReference& image,
                                                         const std::string& manifest_digest,
                                                         const UrlFetcher& fetcher = {});

// Writes `signatures` as signature-1..N under a file:// base (atomically per file, directories
// created) and removes a stale signature-(N+1), … left from an earlier, longer list.
Status WriteLookasideSignatures(const std::string& base, const ImageReference& image,
                                const std::string& manifest_digest,
                                const std::vector<std::string>& signatures);

// Appends one signature after the existing ones under a file:// base; returns the URL written.
Result<std::string> AppendLookasideSignature(const std::string& base, const ImageReference& image,
                                             const std::string& manifest_digest,
                                             const std::string& signature);

}  // namespace coco::signature
