// coco-agent's services behind the ttrpc API (agent.proto): sandbox setup (init-data, agent
// policy, tunnel), the image service (attest, pull, verify, decrypt, unpack), the container
// manager (OCI spec + crun) and the stdio/exit relay. Every request passes the agent policy.
#pragma once

#include <memory>
#include <string>

#include "net/ttrpc.h"

namespace coco::agent {

struct AgentOptions {
  std::string state_dir = "/run/coco";  // bundles, content store
  std::string crun = "crun";
  int tunnel_fd = -1;  // the "coco.tunnel" port; -1 = no tunnel (tests)
  bool guest = true;   // running as the VM's PID 1 (reboot on DestroySandbox)
  // The TPM the guest measures into and attests with, when this device exists ("" = none).
  std::string tpm_device = "/dev/tpmrm0";
};

class AgentService {
 public:
  explicit AgentService(AgentOptions options);
  ~AgentService();
  // Registers every method of coco.agent.v1.Agent on `server`.
  void RegisterOn(net::ttrpc::Server& server);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace coco::agent
