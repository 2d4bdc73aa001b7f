#include "agent/service.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/reboot.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "agent/agent_policy.h"
#include "agent/guest_init.h"
#include "agent/image_service.h"
#include "agent/oci_spec.h"
#include "agent/policy_input.h"
#include "agent/resource_api.h"
#include "agent/sealed_secret.h"
#include "api/agent.pb.h"
#include "attestation/runtime_data.h"
#include "attestation/tpm.h"
#include "attestation/tpm_attester.h"
#include "base/file.h"
#include "base/log.h"
#include "base/subprocess.h"
#include "crypto/crypto.h"
#include "net/tunnel.h"

namespace coco::agent {
namespace {

constexpr char kService[] = "coco.agent.v1.Agent";
constexpr char kVersion[] = "0.1.0";
// Where workloads find the resource API (upstream's api-server-rest port).
constexpr int kResourceApiPort = 8006;

using Clock = std::chrono::steady_clock;

// One output stream of a process: bytes read from its pipe, handed out to ReadStdout/ReadStderr.
struct Stream {
  std::mutex mu;
  std::condition_variable cv;
  std::string buf;
  bool eof = false;
};

struct Process {
  pid_t pid = -1;
  Stream out, err;
  std::mutex mu;
  std::condition_variable cv;
  bool exited = false;
  int status = 0;
  std::vector<std::thread> threads;
};

struct Container {
  std::string id, bundle;
  bool started = false;
  std::shared_ptr<Process> main;
  std::map<std::string, std::shared_ptr<Process>> execs;
};

void Pump(int fd, Stream& s) {
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    std::lock_guard<std::mutex> l(s.mu);
    if (n <= 0) {
      s.eof = true;
      s.cv.notify_all();
      break;
    }
    // Bounded: a process writing more than 16 MiB that nobody reads loses the oldest bytes.
    if (s.buf.size() > (16u << 20)) s.buf.erase(0, s.buf.size() - (8u << 20));
    s.buf.append(buf, static_cast<size_t>(n));
    s.cv.notify_all();
  }
  close(fd);
}

template <class Msg>
Result<Msg> Decode(const std::string& payload) {
  Msg m;
  if (!m.ParseFromString(payload)) {
    return MakeError(Code::kInvalidArgument, "the request is not a valid " + m.GetTypeName());
  }
  return m;
}

bool ValidId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return id[0] != '.';
}

}  // namespace

struct AgentService::Impl {
  AgentOptions opts;
  std::mutex mu;
  bool sandbox_created = false;
  std::unique_ptr<AgentPolicy> policy;
  std::unique_ptr<ImageService> images;
  std::unique_ptr<net::TunnelEndpoint> tunnel;
  std::unique_ptr<PodNetwork> pod_network;  // the containers' shared namespace (in a VM only)
  std::map<std::string, std::shared_ptr<Container>> containers;

  explicit Impl(AgentOptions o) : opts(std::move(o)) {}

  ~Impl() {
    auto join = [](const std::shared_ptr<Process>& p) {
      if (p) {
        for (auto& t : p->threads) t.join();
      }
    };
    for (auto& [id, c] : containers) {
      join(c->main);
      for (auto& [eid, p] : c->execs) join(p);
    }
  }

  // Starts a child whose status WaitChild collects: tracked by the reaper when we are the VM's
  // PID 1 (it collects every child), a plain child otherwise.
  Result<pid_t> SpawnChild(const std::vector<std::string>& argv, const SpawnOptions& so = {}) {
    if (opts.guest) return Reaper::Track([&] { return Spawn(argv, so); });
    return Spawn(argv, so);
  }

  // The wait status of our child `pid` (started by SpawnChild).
  int WaitChild(pid_t pid) const {
    if (opts.guest) return Reaper::Wait(pid);
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
  }

  // Wraps a typed handler: decode, check the policy, run, encode.
  template <class Req, class Resp>
  net::ttrpc::Handler Wrap(const std::string& request_name,
                           std::function<Result<Resp>(const Req&)> fn) {
    return [this, request_name, fn](const std::string& payload,
                                    const net::ttrpc::Metadata&) -> Result<std::string> {
      COCO_ASSIGN_OR_RETURN(Req req, Decode<Req>(payload));
      {
        std::lock_guard<std::mutex> l(mu);
        if (!sandbox_created && request_name != "CreateSandboxRequest") {
          return MakeError(
              Code::kFailedPrecondition,
              request_name + " before CreateSandboxRequest: the sandbox is not set up");
        }
        if (policy) {
          PolicyDecision d = policy->Evaluate(request_name, PolicyInput(req));
          if (!d.allow) {
            log::Warn("request refused by the agent policy",
                      {{"request", request_name}, {"policy", policy->name()}});
            return MakeError(Code::kPermissionDenied, d.reason);
          }
        }
      }
      COCO_ASSIGN_OR_RETURN(Resp resp, fn(req));
      return resp.SerializeAsString();
    };
  }

  // With a TPM: the init-data digest into PCR 8 (what the verifier binds it to) and the kernel
  // command line into PCR 11, once, before anything can attest.
  Status MeasureIntoTpm(const std::optional<std::string>& init_data,
                        v1::CreateSandboxResponse* resp) {
    if (!opts.guest || opts.tpm_device.empty() || access(opts.tpm_device.c_str(), F_OK) != 0)
      return Status::Ok();  // never a host's TPM (tests run the agent on the host)
    attestation::TpmAttesterOptions to;
    to.tcti = "device:" + opts.tpm_device;
    std::vector<attestation::PcrExtend> extends;
    std::vector<std::string> what;
    if (init_data) {
      COCO_ASSIGN_OR_RETURN(auto parsed, attestation::ParseInitData(*init_data));
      extends.push_back({static_cast<uint32_t>(attestation::kTpmInitDataPcr),
                         attestation::FitToField(parsed.digest, 32)});
      what.push_back("init-data digest");
    }
    COCO_ASSIGN_OR_RETURN(std::string cmdline, ReadFile("/proc/cmdline"));
    extends.push_back(
        {attestation::kTpmBootConfigPcr, crypto::Hash(crypto::HashAlg::kSha256, ToBytes(cmdline))});
    what.push_back("kernel command line");
    if (auto s = attestation::ExtendTpmPcrs(to, extends); !s.ok())
      return MakeError(s.error().code, "measuring into the TPM: " + s.error().message);
    for (size_t i = 0; i < extends.size(); ++i) {
      auto* m = resp->add_measurements();
      m->set_pcr(extends[i].pcr);
      m->set_sha256(HexEncode(extends[i].digest));
      m->set_what(what[i]);
    }
    return Status::Ok();
  }

  Result<v1::CreateSandboxResponse> CreateSandbox(const v1::CreateSandboxRequest& r) {
    std::lock_guard<std::mutex> l(mu);
    if (sandbox_created) return MakeError(Code::kAlreadyExists, "the sandbox is already set up");
    v1::CreateSandboxResponse resp;
    resp.set_agent_version(kVersion);
    std::string policy_name = "default", policy_text(DefaultAgentPolicyText());
    std::optional<std::string> init_data;
    if (!r.init_data().empty()) {
      init_data = r.init_data();
      COCO_ASSIGN_OR_RETURN(auto parsed, attestation::ParseInitData(*init_data));
      resp.set_init_data_digest(HexEncode(parsed.digest));
      if (parsed.data.contains("policy.rego") && parsed.data["policy.rego"].is_string()) {
        policy_name = "init-data policy.rego";
        policy_text = parsed.data["policy.rego"].get<std::string>();
      }
    }
    if (policy_name == "default" && r.dev_policy()) {
      policy_name = "allow-all (dev)";
      policy_text = AllowAllAgentPolicyText();
    }
    COCO_ASSIGN_OR_RETURN(policy, CompileAgentPolicy(policy_name, policy_text));
    resp.set_agent_policy(policy_name);
    COCO_RETURN_IF_ERROR(MeasureIntoTpm(init_data, &resp));
    if (r.host_time_unix_ms() > 0 && opts.guest) {
      timeval tv{static_cast<time_t>(r.host_time_unix_ms() / 1000),
                 static_cast<suseconds_t>((r.host_time_unix_ms() % 1000) * 1000)};
      settimeofday(&tv, nullptr);
    }
    if (opts.tunnel_fd >= 0 && r.tunnel_ports_size() > 0) {
      std::vector<net::TunnelPort> ports;
      for (uint32_t p : r.tunnel_ports()) {
        if (p == 0 || p > 65535) return MakeError(Code::kInvalidArgument, "bad tunnel port");
        ports.push_back({static_cast<uint16_t>(p), 0});
      }
      tunnel = std::make_unique<net::TunnelEndpoint>(net::TunnelEndpoint::Role::kGuest,
                                                     opts.tunnel_fd, ports);
      COCO_RETURN_IF_ERROR(tunnel->Start());
    }
    ImageServiceConfig ic;
    ic.store_dir = opts.state_dir + "/images";
    ic.kbs_url = r.kbs_url();
    ic.init_data = init_data;
    ic.image_policy = r.image_policy();
    for (const auto& reg : r.insecure_registries()) ic.insecure_registries.push_back(reg);
    for (const auto& [reg, scheme] : r.registry_schemes()) ic.registry_schemes[reg] = scheme;
    if (!r.registries_d().empty()) {
      ic.registries_dir = opts.state_dir + "/registries.d";
      COCO_RETURN_IF_ERROR(MakeDirs(ic.registries_dir, 0700));
      for (const auto& [name, yaml] : r.registries_d()) {
        if (!ValidId(name)) {
          return MakeError(Code::kInvalidArgument, "registries.d file name \"" + name + "\"");
        }
        COCO_RETURN_IF_ERROR(WriteFileAtomic(ic.registries_dir + "/" + name, yaml, 0600));
      }
    }
    COCO_ASSIGN_OR_RETURN(images, ImageService::Create(ic));
    if (opts.guest) {
      ImageService* is = images.get();
      COCO_ASSIGN_OR_RETURN(
          pod_network,
          PodNetwork::Create(opts.state_dir + "/netns/pod", kResourceApiPort,
                             [is](const std::string& uri) { return is->GetResource(uri); }));
    }
    sandbox_created = true;
    log::Info("sandbox created", {{"id", r.sandbox_id()}, {"agent_policy", policy_name}});
    return resp;
  }

  std::shared_ptr<Container> Find(const std::string& id) {
    std::lock_guard<std::mutex> l(mu);
    auto it = containers.find(id);
    return it == containers.end() ? nullptr : it->second;
  }

  Result<v1::CreateContainerResponse> CreateContainer(const v1::CreateContainerRequest& r) {
    if (!ValidId(r.container_id())) {
      return MakeError(Code::kInvalidArgument,
                       "container id \"" + r.container_id() + "\" must be 1-64 of [A-Za-z0-9_.-]");
    }
    auto c = std::make_shared<Container>();
    c->id = r.container_id();
    c->bundle = opts.state_dir + "/containers/" + c->id;
    {
      std::lock_guard<std::mutex> l(mu);
      if (containers.count(c->id)) {
        return MakeError(Code::kAlreadyExists, "container " + c->id + " exists");
      }
      containers[c->id] = c;  // reserved; removed again on failure
    }
    auto fail = [&](Error e) {
      std::lock_guard<std::mutex> l(mu);
      containers.erase(c->id);
      std::error_code ec;
      std::filesystem::remove_all(c->bundle, ec);
      return e;
    };
    v1::CreateContainerResponse resp;
    std::error_code ec;
    std::filesystem::create_directories(c->bundle, ec);
    auto pulled = images->PullAndUnpack(r.image(), c->bundle + "/rootfs");
    if (!pulled.ok()) return fail(pulled.error());
    resp.set_manifest_digest(pulled->manifest_digest);
    for (const auto& [phase, us] : pulled->timings) {
      auto* t = resp.add_timings();
      t->set_phase(phase);
      t->set_micros(us);
    }
    for (const auto& line : pulled->log) resp.add_log(line);
    auto t0 = Clock::now();
    ContainerRequest cr;
    cr.args.assign(r.args().begin(), r.args().end());
    cr.env.assign(r.env().begin(), r.env().end());
    cr.cwd = r.cwd();
    cr.user = r.user();
    if (pod_network) cr.network_namespace = pod_network->ns_path();
    auto spec = BuildRuntimeSpec(pulled->config, cr, c->bundle + "/rootfs");
    if (!spec.ok()) return fail(spec.error());
    // Sealed secrets in the environment (the image's or the request's) are unsealed here, in
    // the guest: the host only ever saw the sealed form.
    for (auto& e : (*spec)["process"]["env"]) {
      std::string kv = e.get<std::string>();
      auto eq = kv.find('=');
      if (eq == std::string::npos || !IsSealedSecret(std::string_view(kv).substr(eq + 1))) continue;
      auto plain =
          UnsealSecret(std::string_view(kv).substr(eq + 1),
                       [this](const std::string& uri) { return images->GetResource(uri); });
      if (!plain.ok()) {
        return fail(Annotate(plain.error(), "environment variable " + kv.substr(0, eq)));
      }
      e = kv.substr(0, eq + 1) + ToString(plain->bytes());
      resp.add_log("unsealed the secret in " + kv.substr(0, eq));
    }
    Status w = WriteFileAtomic(c->bundle + "/config.json", spec->dump(2), 0600);
    if (!w.ok()) return fail(w.error());
    auto* t = resp.add_timings();
    t->set_phase("bundle");
    t->set_micros(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count());
    return resp;
  }

  Result<std::shared_ptr<Process>> Launch(const std::vector<std::string>& argv) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) return MakeError(Code::kIo, "pipe failed");
    if (pipe2(err, O_CLOEXEC) != 0) {
      close(out[0]);
      close(out[1]);
      return MakeError(Code::kIo, "pipe failed");
    }
    SpawnOptions so;
    so.stdout_fd = out[1];
    so.stderr_fd = err[1];
    auto pid = SpawnChild(argv, so);
    close(out[1]);
    close(err[1]);
    if (!pid.ok()) {
      close(out[0]);
      close(err[0]);
      return pid.error();
    }
    auto p = std::make_shared<Process>();
    p->pid = *pid;
    p->threads.emplace_back([p, fd = out[0]] { Pump(fd, p->out); });
    p->threads.emplace_back([p, fd = err[0]] { Pump(fd, p->err); });
    p->threads.emplace_back([this, p] {
      int st = WaitChild(p->pid);
      std::lock_guard<std::mutex> l(p->mu);
      p->exited = true;
      p->status = ExitCodeOf(st);
      p->cv.notify_all();
    });
    return p;
  }

  Result<v1::StartContainerResponse> StartContainer(const v1::StartContainerRequest& r) {
    auto c = Find(r.container_id());
    if (!c) return MakeError(Code::kNotFound, "no container " + r.container_id());
    {
      std::lock_guard<std::mutex> l(mu);
      if (c->started) return MakeError(Code::kFailedPrecondition, "container already started");
      c->started = true;
    }
    COCO_ASSIGN_OR_RETURN(auto p, Launch({opts.crun, "run", "--bundle", c->bundle, c->id}));
    {
      std::lock_guard<std::mutex> l(mu);
      c->main = p;
    }
    // Answer once crun has created the container (its state file exists), so that a following
    // exec or signal finds it; or once it has already ended.
    std::string state = "/run/crun/" + c->id + "/status";
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (access(state.c_str(), F_OK) != 0 && Clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> pl(p->mu);
        if (p->exited) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    v1::StartContainerResponse resp;
    resp.set_pid(static_cast<uint32_t>(p->pid));
    return resp;
  }

  Result<v1::Empty> ExecProcess(const v1::ExecProcessRequest& r) {
    auto c = Find(r.container_id());
    if (!c || !c->main)
      return MakeError(Code::kNotFound, "no running container " + r.container_id());
    if (!ValidId(r.exec_id())) return MakeError(Code::kInvalidArgument, "bad exec id");
    if (r.args().empty()) return MakeError(Code::kInvalidArgument, "exec needs a command");
    std::vector<std::string> argv = {opts.crun, "exec", c->id};
    argv.insert(argv.end(), r.args().begin(), r.args().end());
    COCO_ASSIGN_OR_RETURN(auto p, Launch(argv));
    std::lock_guard<std::mutex> l(mu);
    c->execs[r.exec_id()] = p;
    return v1::Empty();
  }

  Result<std::shared_ptr<Process>> ProcessOf(const std::string& cid, const std::string& eid) {
    auto c = Find(cid);
    if (!c) return MakeError(Code::kNotFound, "no container " + cid);
    std::lock_guard<std::mutex> l(mu);
    if (eid.empty()) {
      if (!c->main)
        return MakeError(Code::kFailedPrecondition, "container " + cid + " is not started");
      return c->main;
    }
    auto it = c->execs.find(eid);
    if (it == c->execs.end()) return MakeError(Code::kNotFound, "no exec " + eid + " in " + cid);
    return it->second;
  }

  Result<v1::ReadStreamResponse> Read(const v1::ReadStreamRequest& r, bool err) {
    COCO_ASSIGN_OR_RETURN(auto p, ProcessOf(r.container_id(), r.exec_id()));
    Stream& s = err ? p->err : p->out;
    size_t max = r.max_bytes() == 0 ? 65536 : std::min<size_t>(r.max_bytes(), 1u << 20);
    std::unique_lock<std::mutex> l(s.mu);
    s.cv.wait(l, [&] { return !s.buf.empty() || s.eof; });
    v1::ReadStreamResponse resp;
    size_t n = std::min(max, s.buf.size());
    resp.set_data(s.buf.substr(0, n));
    s.buf.erase(0, n);
    resp.set_eof(s.eof && s.buf.empty());
    return resp;
  }

  Result<v1::WaitProcessResponse> Wait(const v1::WaitProcessRequest& r) {
    COCO_ASSIGN_OR_RETURN(auto p, ProcessOf(r.container_id(), r.exec_id()));
    std::unique_lock<std::mutex> l(p->mu);
    p->cv.wait(l, [&] { return p->exited; });
    v1::WaitProcessResponse resp;
    resp.set_status(p->status);
    return resp;
  }

  Result<v1::Empty> Signal(const v1::SignalProcessRequest& r) {
    COCO_ASSIGN_OR_RETURN(auto p, ProcessOf(r.container_id(), r.exec_id()));
    if (r.signal() == 0 || r.signal() > 64) return MakeError(Code::kInvalidArgument, "bad signal");
    if (r.exec_id().empty()) {
      auto pid = SpawnChild({opts.crun, "kill", r.container_id(), std::to_string(r.signal())});
      if (!pid.ok()) return pid.error();
      int st = WaitChild(*pid);
      if (ExitCodeOf(st) != 0) {
        return MakeError(Code::kFailedPrecondition,
                         "crun kill " + r.container_id() + " " + DescribeWaitStatus(st));
      }
    } else {
      kill(p->pid, static_cast<int>(r.signal()));
    }
    return v1::Empty();
  }

  Result<v1::Empty> Remove(const v1::RemoveContainerRequest& r) {
    auto c = Find(r.container_id());
    if (!c) return MakeError(Code::kNotFound, "no container " + r.container_id());
    auto pid = SpawnChild({opts.crun, "delete", "--force", c->id});
    if (pid.ok()) WaitChild(*pid);
    std::error_code ec;
    std::filesystem::remove_all(c->bundle, ec);
    std::lock_guard<std::mutex> l(mu);
    containers.erase(c->id);
    return v1::Empty();
  }

  Result<v1::Empty> Destroy(const v1::DestroySandboxRequest&) {
    log::Info("destroying the sandbox");
    if (opts.guest) {
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the answer go out
        sync();
        reboot(RB_AUTOBOOT);  // QEMU runs with -no-reboot: the VM ends
      }).detach();
    }
    return v1::Empty();
  }
};

AgentService::AgentService(AgentOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
AgentService::~AgentService() = default;

void AgentService::RegisterOn(net::ttrpc::Server& server) {
  Impl* i = impl_.get();
  server.Register(kService, "CreateSandbox",
                  i->Wrap<v1::CreateSandboxRequest, v1::CreateSandboxResponse>(
                      "CreateSandboxRequest", [i](auto& r) { return i->CreateSandbox(r); }));
  server.Register(kService, "CreateContainer",
                  i->Wrap<v1::CreateContainerRequest, v1::CreateContainerResponse>(
                      "CreateContainerRequest", [i](auto& r) { return i->CreateContainer(r); }));
  server.Register(kService, "StartContainer",
                  i->Wrap<v1::StartContainerRequest, v1::StartContainerResponse>(
                      "StartContainerRequest", [i](auto& r) { return i->StartContainer(r); }));
  server.Register(kService, "ExecProcess",
                  i->Wrap<v1::ExecProcessRequest, v1::Empty>(
                      "ExecProcessRequest", [i](auto& r) { return i->ExecProcess(r); }));
  server.Register(kService, "ReadStdout",
                  i->Wrap<v1::ReadStreamRequest, v1::ReadStreamResponse>(
                      "ReadStdoutRequest", [i](auto& r) { return i->Read(r, false); }));
  server.Register(kService, "ReadStderr",
                  i->Wrap<v1::ReadStreamRequest, v1::ReadStreamResponse>(
                      "ReadStderrRequest", [i](auto& r) { return i->Read(r, true); }));
  server.Register(kService, "WaitProcess",
                  i->Wrap<v1::WaitProcessRequest, v1::WaitProcessResponse>(
                      "WaitProcessRequest", [i](auto& r) { return i->Wait(r); }));
  server.Register(kService, "SignalProcess",
                  i->Wrap<v1::SignalProcessRequest, v1::Empty>(
                      "SignalProcessRequest", [i](auto& r) { return i->Signal(r); }));
  server.Register(kService, "RemoveContainer",
                  i->Wrap<v1::RemoveContainerRequest, v1::Empty>(
                      "RemoveContainerRequest", [i](auto& r) { return i->Remove(r); }));
  server.Register(kService, "DestroySandbox",
                  i->Wrap<v1::DestroySandboxRequest, v1::Empty>(
                      "DestroySandboxRequest", [i](auto& r) { return i->Destroy(r); }));
}

}  // namespace coco::agent
