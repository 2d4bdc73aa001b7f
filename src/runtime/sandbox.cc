#include "runtime/sandbox.h"

#include <limits.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include "base/file.h"
#include "base/log.h"
#include "base/subprocess.h"
#include "net/tunnel.h"

namespace coco::runtime {

class TunnelHolder {
 public:
  TunnelHolder(int fd, std::vector<net::TunnelPort> ports)
      : ep(net::TunnelEndpoint::Role::kHost, fd, std::move(ports)) {}
  net::TunnelEndpoint ep;
};

namespace {

constexpr char kService[] = "coco.agent.v1.Agent";

std::string MakeRunDir() {
  std::string base = "/tmp";
  if (const char* x = std::getenv("XDG_RUNTIME_DIR"); x && *x && access(x, W_OK) == 0) base = x;
  std::string tmpl = base + "/coco-pod-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return "";
  return tmpl;
}

}  // namespace

std::string DefaultGuestDir() {
  if (const char* g = std::getenv("COCO_GUEST_DIR"); g && *g) return g;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    auto dir = std::filesystem::path(self).parent_path().parent_path() / "guest";
    return dir.string();
  }
  return "build/guest";
}

Result<std::unique_ptr<Sandbox>> Sandbox::Start(
    const SandboxConfig& c, const std::function<void(const std::string&)>& phase) {
  auto say = [&](const std::string& s) {
    if (phase) phase(s);
  };
  std::unique_ptr<Sandbox> sb(new Sandbox());
  sb->run_dir_ = MakeRunDir();
  if (sb->run_dir_.empty()) return MakeError(Code::kIo, "cannot create the pod's run directory");

  agent::v1::CreateSandboxRequest req;
  req.set_sandbox_id(std::filesystem::path(sb->run_dir_).filename().string());
  if (c.init_data) req.set_init_data(*c.init_data);
  req.set_kbs_url(c.kbs_url);
  for (uint16_t p : c.tunnel_ports) req.add_tunnel_ports(p);
  for (const auto& r : c.insecure_registries) req.add_insecure_registries(r);
  req.set_image_policy(c.image_policy);
  req.set_dev_policy(c.dev_policy);
  for (const auto& [name, yaml] : c.registries_d) (*req.mutable_registries_d())[name] = yaml;
  for (const auto& [reg, scheme] : c.registry_schemes)
    (*req.mutable_registry_schemes())[reg] = scheme;

  VmConfig vc;
  vc.kernel = c.guest_dir + "/vmlinux";
  vc.rootfs = c.guest_dir + "/rootfs.img";
  vc.memory_mib = c.memory_mib;
  vc.vcpus = c.vcpus;
  vc.tcg_cache_mib = c.tcg_cache_mib;
  vc.accel = c.accel;
  vc.run_dir = sb->run_dir_;
  vc.tpm_state_dir = c.tpm_state_dir;
  for (const auto& arg : c.kernel_args)
    vc.extra_cmdline += (vc.extra_cmdline.empty() ? "" : " ") + arg;
  for (int attempt = 1; attempt <= c.boot_attempts; ++attempt) {
    sb->agent_.reset();
    sb->tunnel_.reset();
    if (sb->tunnel_fd_ >= 0) close(sb->tunnel_fd_);
    sb->tunnel_fd_ = -1;
    sb->vm_.reset();
    COCO_ASSIGN_OR_RETURN(sb->vm_, Vm::Launch(vc));
    say("VM started (" + sb->vm_->accel() + ", " + std::to_string(c.memory_mib) + " MiB, pid " +
        std::to_string(sb->vm_->pid()) + ")");
    COCO_ASSIGN_OR_RETURN(int afd, sb->vm_->ConnectPort("coco.agent", 5000));
    COCO_ASSIGN_OR_RETURN(sb->tunnel_fd_, sb->vm_->ConnectPort("coco.tunnel", 5000));
    std::vector<net::TunnelPort> ports;
    for (uint16_t p : c.tunnel_ports) ports.push_back({p, 0});
    sb->tunnel_ = std::make_unique<TunnelHolder>(sb->tunnel_fd_, ports);
    COCO_RETURN_IF_ERROR(sb->tunnel_->ep.Start());
    sb->agent_ =
        std::make_unique<net::ttrpc::Client>(std::make_unique<net::ttrpc::FrameStream>(afd, true));
    req.set_host_time_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
    auto r = sb->Call("CreateSandbox", req.SerializeAsString(), c.boot_timeout_ms);
    if (r.ok()) {
      if (!sb->info_.ParseFromString(*r)) {
        return MakeError(Code::kProtocol, "the agent's CreateSandbox answer is not valid");
      }
      say("agent ready (policy: " + sb->info_.agent_policy() + ")");
      for (const auto& m : sb->info_.measurements())
        say("measured into TPM PCR " + std::to_string(m.pcr()) + ": sha256 " + m.sha256() + " (" +
            m.what() + ")");
      return sb;
    }
    if (auto ended = sb->VmEnded()) return MakeError(Code::kUnavailable, *ended);
    bool silent = sb->vm_->ConsoleTail(5).empty();
    if (r.error().code == Code::kDeadlineExceeded && silent && attempt < c.boot_attempts) {
      log::Warn("the pod VM printed nothing within the boot timeout; retrying the boot");
      continue;
    }
    if (r.error().code == Code::kDeadlineExceeded) {
      return MakeError(Code::kUnavailable, "the pod VM did not come up within " +
                                               std::to_string(c.boot_timeout_ms / 1000) +
                                               " s; console:\n" + sb->vm_->ConsoleTail(15));
    }
    return Annotate(r.error(), "sandbox setup");
  }
  return MakeError(Code::kUnavailable, "the pod VM did not boot");
}

Sandbox::~Sandbox() {
  agent_.reset();
  tunnel_.reset();
  if (tunnel_fd_ >= 0) close(tunnel_fd_);
  if (vm_) vm_->Kill();
  vm_.reset();
  if (!run_dir_.empty() && std::getenv("COCO_KEEP_RUN_DIR") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(run_dir_, ec);
  }
}

Result<std::string> Sandbox::Call(const std::string& method, const std::string& payload,
                                  int64_t timeout_ms) {
  auto r = agent_->Call(kService, method, payload, timeout_ms);
  if (!r.ok() && r.error().code == Code::kUnavailable) {
    if (auto ended = VmEnded()) return MakeError(Code::kUnavailable, *ended);
  }
  return r;
}

std::optional<std::string> Sandbox::VmEnded() {
  // The channel may fail a moment before QEMU is gone: give it that moment.
  if (!vm_ || !vm_->WaitExit(200)) return std::nullopt;
  int st = 0;
  vm_->Running(&st);
  std::string tail = vm_->ConsoleTail(10);
  return "the pod VM ended unexpectedly (QEMU " + DescribeWaitStatus(st) + ")" +
         (tail.empty() ? std::string() : "; its console ended with:\n" + tail);
}

Result<agent::v1::CreateContainerResponse> Sandbox::CreateContainer(
    const agent::v1::CreateContainerRequest& req) {
  COCO_ASSIGN_OR_RETURN(std::string out, Call("CreateContainer", req.SerializeAsString()));
  agent::v1::CreateContainerResponse resp;
  if (!resp.ParseFromString(out))
    return MakeError(Code::kProtocol, "invalid CreateContainer answer");
  return resp;
}

Status Sandbox::StartContainer(const std::string& id) {
  agent::v1::StartContainerRequest req;
  req.set_container_id(id);
  COCO_RETURN_IF_ERROR(Call("StartContainer", req.SerializeAsString()));
  return Status::Ok();
}

Status Sandbox::Exec(const std::string& id, const std::string& exec_id,
                     const std::vector<std::string>& args) {
  agent::v1::ExecProcessRequest req;
  req.set_container_id(id);
  req.set_exec_id(exec_id);
  for (const auto& a : args) req.add_args(a);
  COCO_RETURN_IF_ERROR(Call("ExecProcess", req.SerializeAsString()));
  return Status::Ok();
}

Result<agent::v1::ReadStreamResponse> Sandbox::Read(const std::string& id,
                                                    const std::string& exec_id, bool err) {
  agent::v1::ReadStreamRequest req;
  req.set_container_id(id);
  req.set_exec_id(exec_id);
  req.set_max_bytes(65536);
  COCO_ASSIGN_OR_RETURN(std::string out,
                        Call(err ? "ReadStderr" : "ReadStdout", req.SerializeAsString()));
  agent::v1::ReadStreamResponse resp;
  if (!resp.ParseFromString(out)) return MakeError(Code::kProtocol, "invalid ReadStream answer");
  return resp;
}

Result<int> Sandbox::Wait(const std::string& id, const std::string& exec_id) {
  agent::v1::WaitProcessRequest req;
  req.set_container_id(id);
  req.set_exec_id(exec_id);
  COCO_ASSIGN_OR_RETURN(std::string out, Call("WaitProcess", req.SerializeAsString()));
  agent::v1::WaitProcessResponse resp;
  if (!resp.ParseFromString(out)) return MakeError(Code::kProtocol, "invalid WaitProcess answer");
  return resp.status();
}

Status Sandbox::Signal(const std::string& id, int signal) {
  agent::v1::SignalProcessRequest req;
  req.set_container_id(id);
  req.set_signal(static_cast<uint32_t>(signal));
  COCO_RETURN_IF_ERROR(Call("SignalProcess", req.SerializeAsString(), 5000));
  return Status::Ok();
}

void Sandbox::Destroy() {
  if (!vm_) return;
  if (vm_->Running() && agent_) {
    agent::v1::DestroySandboxRequest req;
    (void)agent_->Call(kService, "DestroySandbox", req.SerializeAsString(), 3000);
    vm_->WaitExit(3000);
  }
  vm_->Kill();
}

}  // namespace coco::runtime
