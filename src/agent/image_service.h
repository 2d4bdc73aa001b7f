// The guest's image service: attests to the key broker (once, shared by every fetch), pulls an
// image through the tunnel, checks its signature policy, decrypts its layers with keys the
// broker releases and unpacks it into guest memory. Reports per-phase timings.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "oci/manifest.h"

namespace coco::agent {

struct ImageServiceConfig {
  std::string store_dir;                 // content store (guest tmpfs)
  std::string kbs_url;                   // "" = no broker: only plain images, no policy
  std::optional<std::string> init_data;  // sent with the attestation
  std::string image_policy;              // "" | kbs:///R/T/G | inline containers-policy.json
  std::vector<std::string> insecure_registries;
  std::string registries_dir;                           // registries.d ("" = none)
  std::map<std::string, std::string> registry_schemes;  // HOST:PORT -> http/https (a hint)
};

struct PulledRootfs {
  std::string manifest_digest;
  oci::ImageConfig config;
  std::vector<std::pair<std::string, int64_t>> timings;  // phase, microseconds
  std::vector<std::string> log;
};

class ImageService {
 public:
  static Result<std::unique_ptr<ImageService>> Create(const ImageServiceConfig& config);
  virtual ~ImageService() = default;
  // Pulls `image` (docker://…) and unpacks it into the new directory `rootfs`. Errors say which
  // step failed (attestation, policy, key, digest, unpack) and keep the broker's reason.
  virtual Result<PulledRootfs> PullAndUnpack(const std::string& image,
                                             const std::string& rootfs) = 0;
  // A kbs:/// resource through the attested broker session.
  virtual Result<SecretBytes> GetResource(const std::string& uri) = 0;
};

}  // namespace coco::agent
