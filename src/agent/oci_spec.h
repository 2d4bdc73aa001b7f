// Turns an image config plus the host's request into an OCI runtime spec (config.json) for crun.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/result.h"
#include "oci/manifest.h"

namespace coco::agent {

struct ContainerRequest {
  std::vector<std::string> args;  // replaces Entrypoint+Cmd when non-empty
  std::vector<std::string> env;   // KEY=VALUE; overrides the image's entries with the same KEY
  std::string cwd;                // the image's WorkingDir, else "/"
  std::string user;               // "uid[:gid]" or "name[:group]"; the image's User when empty
  std::string hostname = "coco";
  // The network namespace to join (the pod's, shared by its containers); "" = a new one.
  std::string network_namespace;
};

// Builds the spec. `rootfs` is the unpacked root (read for /etc/passwd and /etc/group when the
// user is given by name). Fails with a clear error when there is nothing to run or the user is
// unknown.
Result<nlohmann::json> BuildRuntimeSpec(const oci::ImageConfig& image,
                                        const ContainerRequest& request, const std::string& rootfs);

}  // namespace coco::agent
