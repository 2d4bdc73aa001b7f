// A pod sandbox on the host: the VM, the agent client (ttrpc over virtio-serial) and the tunnel
// that lets the guest reach host loopback services. Destroying a Sandbox ends the VM and
// removes its run directory, whatever state it is in.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/agent.pb.h"
#include "base/result.h"
#include "net/ttrpc.h"
#include "runtime/vm.h"

namespace coco::runtime {

struct SandboxConfig {
  std::string guest_dir;  // holds vmlinux and rootfs.img
  int memory_mib = 256;
  int vcpus = 1;
  int tcg_cache_mib = 64;  // TCG translation cache (ignored under KVM)
  std::string accel;       // "" = detect
  std::string kbs_url;     // as the guest sees it (loopback, carried by the tunnel)
  std::vector<uint16_t> tunnel_ports;
  std::vector<std::string> insecure_registries;
  std::optional<std::string> init_data;  // TOML text
  std::string image_policy;              // "" | kbs:///… | containers-policy.json text
  bool dev_policy = false;               // allow-all agent policy unless init-data sets one
  std::map<std::string, std::string> registries_d;      // file name -> YAML
  std::map<std::string, std::string> registry_schemes;  // HOST:PORT -> http/https (a hint)
  int boot_timeout_ms = 60000;
  int boot_attempts = 2;                 // a boot that prints nothing is retried
  std::string tpm_state_dir;             // a TPM for the guest (swtpm state); "" = none
  std::vector<std::string> kernel_args;  // appended to the guest's kernel command line
};

// Where the guest image is: $COCO_GUEST_DIR, else ../guest beside the running binary
// (build/bin/coco -> build/guest).
std::string DefaultGuestDir();

class Sandbox {
 public:
  // Boots the VM and sets the sandbox up (CreateSandbox). `phase` is told of each step.
  static Result<std::unique_ptr<Sandbox>> Start(
      const SandboxConfig& config, const std::function<void(const std::string&)>& phase = {});
  ~Sandbox();

  Result<agent::v1::CreateContainerResponse> CreateContainer(
      const agent::v1::CreateContainerRequest& req);
  Status StartContainer(const std::string& id);
  Status Exec(const std::string& id, const std::string& exec_id,
              const std::vector<std::string>& args);
  // One chunk of stdout (err=false) or stderr; empty data with eof=true at the end.
  Result<agent::v1::ReadStreamResponse> Read(const std::string& id, const std::string& exec_id,
                                             bool err);
  Result<int> Wait(const std::string& id, const std::string& exec_id);
  Status Signal(const std::string& id, int signal);
  // Asks the agent to end the VM, then makes sure it has ended.
  void Destroy();

  const agent::v1::CreateSandboxResponse& info() const { return info_; }
  Vm& vm() { return *vm_; }
  const std::string& run_dir() const { return run_dir_; }
  // If the VM has ended: a sentence saying how, with the console's last lines.
  std::optional<std::string> VmEnded();

 private:
  Sandbox() = default;
  Result<std::string> Call(const std::string& method, const std::string& payload,
                           int64_t timeout_ms = 0);
  std::string run_dir_;
  std::unique_ptr<Vm> vm_;
  std::unique_ptr<net::ttrpc::Client> agent_;
  int tunnel_fd_ = -1;
  std::unique_ptr<class TunnelHolder> tunnel_;
  agent::v1::CreateSandboxResponse info_;
};

}  // namespace coco::runtime
