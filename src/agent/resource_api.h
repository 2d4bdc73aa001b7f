// The pod's network namespace, and the resource API the workload finds in it.
//
// Every container of a pod joins one network namespace that the agent creates (as Kubernetes
// pods share theirs). It has only a loopback interface: the tunnel to the host's broker and
// registries stays in the agent's own namespace, out of the workload's reach. On 127.0.0.1:8006
// of the pod namespace the agent serves upstream's confidential data hub REST API:
//
//   GET /cdh/resource/<repository>/<type>/<tag>
//       the broker resource kbs:///<repository>/<type>/<tag>, released to this pod's identity
//   GET /info
//       {"version":...,"feature":"resource"}
//
// Answers as upstream's api-server-rest does: 200 application/octet-stream with the bytes;
// 500 with the reason when the broker refuses; 404 "URL NOT FOUND"; 405 for other methods.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "base/bytes.h"
#include "base/result.h"

namespace coco::agent {

using ResourceGetter = std::function<Result<SecretBytes>(const std::string& kbs_uri)>;

class PodNetwork {
 public:
  // Creates the namespace, pins it at `ns_path` (a bind mount, so crun can join it by path),
  // brings up its loopback and starts the resource API on 127.0.0.1:`port` inside it. The API's
  // calls to the broker run in the agent's namespace, through the tunnel.
  static Result<std::unique_ptr<PodNetwork>> Create(const std::string& ns_path, int port,
                                                    ResourceGetter get);
  ~PodNetwork();  // stops the API and unpins the namespace

  const std::string& ns_path() const;

  struct Impl;

 private:
  explicit PodNetwork(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coco::agent
