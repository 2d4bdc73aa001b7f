// OCI distribution API v2 client (over a RegistryHttp exchange, net/http_client.h): manifests,
// streamed and verified blobs, pushes.
//
// Authentication: anonymous, Basic, or Bearer tokens from the registry's WWW-Authenticate
// challenge (realm/service/scope), with credentials from a docker-style auth.json. Plain HTTP is
// used only for registries marked insecure (localhost, 127.0.0.1 and [::1] are by default): for
// those HTTPS is tried first without certificate checks, then HTTP. Transient failures (connect
// errors, 5xx, 429, a connection dropped mid-blob) are retried with exponential backoff; an
// interrupted blob resumes with a Range request.
// Thread-safe: one client may serve concurrent layer downloads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/stream.h"
#include "net/http_client.h"
#include "oci/manifest.h"
#include "oci/reference.h"
#include "oci/registry_http.h"

namespace coco::oci {

struct RegistryOptions {
  // docker-style {"auths":{"HOST[:PORT]":{"auth":"base64(user:pass)"}}}; empty = none.
  std::string auth_file;
  // The same JSON as text (e.g. fetched from the key broker); used instead of auth_file if set.
  std::string auth_json;
  // HOST[:PORT] that may be reached over plain HTTP (in addition to the loopback defaults).
  std::vector<std::string> insecure_registries;
  bool loopback_insecure = true;
  // HOST[:PORT] -> "http" or "https" known beforehand, so no probe is made. "http" is followed
  // only for registries that may be reached over plain HTTP (insecure ones).
  std::map<std::string, std::string> schemes;
  // Extra PEM CA bundles trusted for HTTPS registries (in addition to the system's).
  std::vector<std::string> ca_files;
  int max_attempts = 4;           // per request, including the first
  int initial_backoff_ms = 200;   // doubled after each failed attempt
  long connect_timeout_s = 15;    // NOLINT(runtime/int)
  long low_speed_timeout_s = 60;  // NOLINT(runtime/int): abort a transfer below 1 KiB/s this long
  // None by default (the pod's agent); the host tools take them from the environment.
  net::ProxyConfig proxy;
  std::string user_agent = "coco/0.1";
};

struct FetchedManifest {
  std::string bytes;       // exactly as served
  std::string media_type;  // from the JSON or the Content-Type
  Digest digest;           // sha256 of bytes (checked against the reference when it is a digest)
};

// Validated credentials for one registry.
struct Credentials {
  std::string username, password;
};

// Reads a docker-style auth file; error names the file and the bad entry.
Result<std::map<std::string, Credentials>> LoadAuthFile(const std::string& path);
// Parses auth.json text; `path` names it in errors.
Result<std::map<std::string, Credentials>> ParseAuthJson(std::string_view text,
                                                         const std::string& path);

class RegistryClient {
 public:
  // `http`: the exchange to use; null for NewRegistryHttp(options).
  static Result<std::unique_ptr<RegistryClient>> Create(
      RegistryOptions options, std::unique_ptr<RegistryHttp> http = nullptr);
  ~RegistryClient();

  // GET /v2/REPO/manifests/REFERENCE (tag or digest) with every supported Accept type.
  Result<FetchedManifest> GetManifest(const ImageLocation& image, const std::string& reference);
  // Streams a blob into `out` (not closed here). The bytes are counted against `desc.size` and
  // the caller's writer checks the digest (ContentStore writers do).
  Status FetchBlob(const ImageLocation& image, const Descriptor& desc, Writer& out,
                   const ProgressFn& progress = nullptr);
  Result<bool> HasBlob(const ImageLocation& image, const Digest& digest);
  // Uploads a blob (monolithic POST + PUT) unless the registry already has it.
  Status PushBlob(const ImageLocation& image, const Descriptor& desc, Reader& content);
  Status PushManifest(const ImageLocation& image, const std::string& reference,
                      const std::string& media_type, const std::string& bytes);
  // "https" or "http": how `registry` is reached (an insecure registry whose HTTPS fails is
  // reached over HTTP). Probes once per registry.
  std::string Scheme(const std::string& registry);
  // GET of an arbitrary URL (signature lookaside stores): body, or nullopt on 404.
  Result<std::optional<std::string>> FetchUrl(const std::string& url, size_t max_size = 4 << 20);

  struct Impl;

 private:
  explicit RegistryClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coco::oci
