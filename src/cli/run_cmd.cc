// coco run: boot a pod VM, run one container from an image in it, relay its output and exit
// code, and remove everything it created.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <regex>
#include <thread>

#include "base/file.h"
#include "cli/commands.h"
#include "oci/reference.h"
#include "oci/registry.h"
#include "runtime/sandbox.h"

namespace coco::cli {
namespace {

struct RunArgs {
  std::string kbs;
  std::vector<std::string> insecure;
  std::string init_data;
  std::string policy;
  std::string registries_d;
  int memory = 256;
  int vcpus = 1;
  int tcg_cache = 64;
  std::string tpm_state;  // --tpm-state: a TPM for the pod
  std::vector<std::string> kernel_args;
  bool timings = false;
  bool dev = false;
  bool quiet = false;
  std::string guest_dir;
  int boot_timeout = 60;
  std::vector<std::string> env;
  std::string exec;
  std::string user, cwd;
  std::string image;
  std::vector<std::string> command;
};

// Host and port of an http(s)://HOST:PORT URL or a HOST:PORT registry; port 0 if none given.
bool SplitHostPort(std::string s, std::string* host, uint16_t* port, uint16_t default_port) {
  if (auto p = s.find("://"); p != std::string::npos) s = s.substr(p + 3);
  if (auto p = s.find('/'); p != std::string::npos) s = s.substr(0, p);
  auto colon = s.rfind(':');
  *host = colon == std::string::npos ? s : s.substr(0, colon);
  *port = default_port;
  if (colon != std::string::npos) {
    int v = std::atoi(s.c_str() + colon + 1);
    if (v <= 0 || v > 65535) return false;
    *port = static_cast<uint16_t>(v);
  }
  return true;
}

bool IsLoopbackHost(const std::string& h) {
  return h == "127.0.0.1" || h == "localhost" || h == "[::1]";
}

double Ms(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

int Run(const RunArgs& a) {
  using Clock = std::chrono::steady_clock;
  auto t_start = Clock::now();
  auto say = [&](const std::string& s) {
    if (!a.quiet) std::cerr << "coco run: " << s << "\n";
  };
  runtime::SandboxConfig sc;
  sc.guest_dir = a.guest_dir.empty() ? runtime::DefaultGuestDir() : a.guest_dir;
  sc.memory_mib = a.memory;
  sc.vcpus = a.vcpus;
  sc.tcg_cache_mib = a.tcg_cache;
  sc.dev_policy = a.dev;
  sc.insecure_registries = a.insecure;
  sc.boot_timeout_ms = a.boot_timeout * 1000;
  sc.tpm_state_dir = a.tpm_state;
  sc.kernel_args = a.kernel_args;
  // The guest reaches the broker and the registry only through the tunnel to host loopback.
  auto loc = oci::ImageLocation::Parse(
      a.image.find("://") == std::string::npos ? "docker://" + a.image : a.image);
  if (!loc.ok()) {
    Fail(loc.error().message);
    return 125;
  }
  std::string host;
  uint16_t port;
  std::vector<uint16_t> ports;
  if (!SplitHostPort(loc->registry, &host, &port, 443) || !IsLoopbackHost(host)) {
    Fail(
        "the pod reaches registries only on this host's loopback (127.0.0.1:PORT) through its "
        "tunnel; " +
        loc->registry + " is not one");
    return 125;
  }
  ports.push_back(port);
  // Whether the registry speaks HTTPS or plain HTTP is found here, at native speed: the pod
  // would otherwise spend a TLS handshake attempt under emulation finding out.
  {
    oci::RegistryOptions ro;
    ro.insecure_registries = a.insecure;
    ro.max_attempts = 1;
    ro.connect_timeout_s = 5;
    if (auto reg = oci::RegistryClient::Create(ro); reg.ok()) {
      sc.registry_schemes[loc->registry] = (*reg)->Scheme(loc->registry);
    }
  }
  if (!a.kbs.empty()) {
    if (!SplitHostPort(a.kbs, &host, &port, a.kbs.rfind("https", 0) == 0 ? 443 : 80) ||
        !IsLoopbackHost(host)) {
      Fail(
          "--kbs must be a loopback URL (http://127.0.0.1:PORT): the pod reaches it through "
          "its tunnel");
      return 125;
    }
    if (std::find(ports.begin(), ports.end(), port) == ports.end()) ports.push_back(port);
    sc.kbs_url = a.kbs;
  }
  for (const auto& r : a.insecure) {
    if (SplitHostPort(r, &host, &port, 80) && IsLoopbackHost(host) &&
        std::find(ports.begin(), ports.end(), port) == ports.end()) {
      ports.push_back(port);
    }
  }
  if (!a.registries_d.empty()) {
    // The lookaside stores they name must be loopback HTTP servers: their ports join the tunnel.
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(a.registries_d, ec)) {
      std::string name = e.path().filename().string();
      if (name.size() < 6 || name.substr(name.size() - 5) != ".yaml") continue;
      auto text = ReadFile(e.path().string());
      if (!text.ok()) {
        Fail("--registries.d: " + text.error().message);
        return 125;
      }
      sc.registries_d[name] = *text;
      static const std::regex kUrl(R"((https?)://(127\.0\.0\.1|localhost):(\d+))");
      for (std::sregex_iterator it(text->begin(), text->end(), kUrl), end; it != end; ++it) {
        int p = std::stoi((*it)[3]);
        if (p > 0 && p < 65536 &&
            std::find(ports.begin(), ports.end(), static_cast<uint16_t>(p)) == ports.end()) {
          ports.push_back(static_cast<uint16_t>(p));
        }
      }
    }
    if (ec) {
      Fail("--registries.d " + a.registries_d + ": " + ec.message());
      return 125;
    }
  }
  sc.tunnel_ports = ports;
  if (!a.init_data.empty()) {
    auto text = ReadFile(a.init_data);
    if (!text.ok()) {
      Fail("--init-data: " + text.error().message);
      return 125;
    }
    sc.init_data = *text;
  }
  if (!a.policy.empty()) {
    if (a.policy.rfind("kbs:", 0) == 0) {
      if (a.kbs.empty()) {
        Fail("--policy " + a.policy + " needs --kbs");
        return 125;
      }
      sc.image_policy = a.policy;
    } else {
      auto text = ReadFile(a.policy);
      if (!text.ok()) {
        Fail("--policy: " + text.error().message);
        return 125;
      }
      sc.image_policy = *text;
    }
  }

  auto t_boot = Clock::now();
  auto sb = runtime::Sandbox::Start(sc, say);
  if (!sb.ok()) {
    Fail("the pod did not start: " + sb.error().message);
    return 125;
  }
  auto boot_ms = Ms(Clock::now() - t_boot);
  auto& sandbox = **sb;
  agent::v1::CreateContainerRequest cr;
  cr.set_container_id("main");
  cr.set_image(loc->ToString());
  for (const auto& c : a.command) cr.add_args(c);
  for (const auto& e : a.env) cr.add_env(e);
  cr.set_user(a.user);
  cr.set_cwd(a.cwd);
  say("pulling " + cr.image() + " inside the pod" +
      (a.kbs.empty() ? "" : " (attesting to " + a.kbs + " for keys and policy)"));
  auto t_create = Clock::now();
  auto created = sandbox.CreateContainer(cr);
  if (!created.ok()) {
    Fail(created.error().Describe());  // with its code, as the guest named it
    sandbox.Destroy();
    return 125;
  }
  auto create_ms = Ms(Clock::now() - t_create);
  for (const auto& line : created->log()) say(line);
  auto t_run = Clock::now();
  if (auto st = sandbox.StartContainer("main"); !st.ok()) {
    Fail("container start: " + st.error().message);
    sandbox.Destroy();
    return 125;
  }
  std::atomic<bool> first_output{false};
  double first_output_ms = 0;
  auto relay = [&](bool err) {
    for (;;) {
      auto chunk = sandbox.Read("main", "", err);
      if (!chunk.ok()) return;
      if (!chunk->data().empty()) {
        if (!first_output.exchange(true)) first_output_ms = Ms(Clock::now() - t_start);
        FILE* f = err ? stderr : stdout;
        fwrite(chunk->data().data(), 1, chunk->data().size(), f);
        fflush(f);
      }
      if (chunk->eof()) return;
    }
  };
  std::thread out_thread(relay, false), err_thread(relay, true);
  if (!a.exec.empty()) {
    // One more process in the running container, as a probe or a debugging shell would be.
    // The agent policy decides; the default for confidential pods refuses it.
    auto st = sandbox.Exec("main", "exec-1", {"/bin/sh", "-c", a.exec});
    if (!st.ok()) {
      std::cerr << "coco run: exec refused: " << st.error().message << "\n";
    } else {
      for (bool err : {false, true}) {
        for (;;) {
          auto chunk = sandbox.Read("main", "exec-1", err);
          if (!chunk.ok()) break;
          fwrite(chunk->data().data(), 1, chunk->data().size(), err ? stderr : stdout);
          if (chunk->eof()) break;
        }
      }
      auto es = sandbox.Wait("main", "exec-1");
      std::cerr << "coco run: exec exited with "
                << (es.ok() ? std::to_string(*es) : es.error().message) << "\n";
    }
  }
  auto status = sandbox.Wait("main", "");
  out_thread.join();
  err_thread.join();
  auto run_ms = Ms(Clock::now() - t_run);
  int code;
  if (!status.ok()) {
    Fail(status.error().message);
    code = 125;
  } else {
    code = *status;
  }
  uint64_t qemu_rss_kib = sandbox.vm().PeakRssKib();
  uint64_t qemu_rss_now_kib = sandbox.vm().RssKib();
  auto t_stop = Clock::now();
  sandbox.Destroy();
  auto stop_ms = Ms(Clock::now() - t_stop);
  if (a.timings) {
    std::fprintf(stderr, "timings (ms):\n  %-24s %8.1f\n", "vm boot + agent ready", boot_ms);
    for (const auto& t : created->timings()) {
      std::fprintf(stderr, "  %-24s %8.1f\n", t.phase().c_str(), t.micros() / 1000.0);
    }
    std::fprintf(stderr, "  %-24s %8.1f\n", "create container (all)", create_ms);
    std::fprintf(stderr, "  %-24s %8.1f\n", "run to exit", run_ms);
    if (first_output) std::fprintf(stderr, "  %-24s %8.1f\n", "first output line", first_output_ms);
    std::fprintf(stderr, "  %-24s %8.1f\n", "shutdown", stop_ms);
    std::fprintf(stderr, "  %-24s %8.1f\n", "total", Ms(Clock::now() - t_start));
    std::fprintf(stderr, "  %-24s %8llu KiB\n", "qemu peak RSS",
                 static_cast<unsigned long long>(qemu_rss_kib));
    std::fprintf(stderr, "  %-24s %8llu KiB\n", "qemu RSS at exit",
                 static_cast<unsigned long long>(qemu_rss_now_kib));
  }
  return code;
}

}  // namespace

void AddRunCommand(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* run = app.add_subcommand(
      "run",
      "run a container in a confidential pod VM: the VM attests to the key broker, pulls,\n"
      "verifies and decrypts the image inside, and runs it; its output and exit code are ours\n"
      "  coco run docker://127.0.0.1:5000/app:v1\n"
      "  coco run --kbs http://127.0.0.1:8080 docker://127.0.0.1:5000/app:enc\n"
      "  coco run --kbs http://127.0.0.1:8080 --policy kbs:///default/security-policy/test \\\n"
      "           --timings docker://127.0.0.1:5000/app:signed /bin/sh -c 'echo hi'");
  run->add_option("IMAGE", a->image, "image (docker://HOST:PORT/REPO[:TAG|@DIGEST])")->required();
  run->add_option("CMD", a->command, "command and arguments (default: the image's)");
  run->add_option("--kbs", a->kbs, "key broker URL (loopback), for keys, policies and secrets");
  run->add_option("--insecure-registry", a->insecure,
                  "HOST:PORT reached over plain HTTP (loopback registries always are)")
      ->expected(1)
      ->allow_extra_args(false);
  run->add_option("--init-data", a->init_data,
                  "init-data TOML (aa.toml, cdh.toml, policy.rego), measured into the evidence");
  run->add_option("--policy", a->policy,
                  "image signature policy: containers-policy.json FILE or kbs:///R/T/G");
  run->add_option("--registries.d", a->registries_d,
                  "registries.d directory (*.yaml) naming signature lookaside stores; they must "
                  "be http://127.0.0.1:PORT servers, reached through the pod's tunnel");
  run->add_option("--memory", a->memory, "guest memory, MiB")->capture_default_str();
  run->add_option("--vcpus", a->vcpus, "guest vCPUs")->capture_default_str();
  run->add_option("--tcg-cache", a->tcg_cache,
                  "under TCG emulation: the translation cache, MiB (a large part of the host "
                  "memory per pod; 32 saves about 28 MiB per pod and costs about 7 % in speed)")
      ->check(CLI::Range(8, 1024))
      ->capture_default_str();
  run->add_option("--env,-e", a->env,
                  "KEY=VALUE for the container (repeatable); a VALUE of the form sealed.<jws> "
                  "is a sealed secret, unsealed inside the pod")
      ->expected(1)
      ->allow_extra_args(false);
  run->add_option("--user,-u", a->user, "uid[:gid] or name[:group] in the image");
  run->add_option("--workdir,-w", a->cwd, "working directory in the container");
  run->add_option("--exec", a->exec,
                  "also run this shell command in the container once it started (needs an agent "
                  "policy that allows ExecProcessRequest: --dev or init-data)");
  run->add_option("--tpm-state", a->tpm_state,
                  "give the pod a TPM 2.0 (swtpm) keeping its state in DIR (created when missing; "
                  "the same DIR keeps the same attestation key). The pod then attests with TPM "
                  "quotes, after measuring init-data into PCR 8 and its kernel command line into "
                  "PCR 11");
  run->add_option("--kernel-arg", a->kernel_args,
                  "append ARG to the guest's kernel command line (repeatable; measured into PCR "
                  "11 when the pod has a TPM)")
      ->expected(1)
      ->allow_extra_args(false);
  run->add_flag("--timings", a->timings, "print the time of each phase on stderr");
  run->add_flag("--dev", a->dev,
                "allow-all agent policy (exec into the container), unless init-data sets one");
  run->add_flag("--quiet,-q", a->quiet, "no progress lines");
  run->add_option("--guest-dir", a->guest_dir,
                  "where vmlinux and rootfs.img are (default: build/guest beside the binary, "
                  "or $COCO_GUEST_DIR)");
  run->add_option("--boot-timeout", a->boot_timeout, "seconds for the VM to come up")
      ->capture_default_str();
  run->positionals_at_end();
  run->callback([a] { SetExitCode(Run(*a)); });
}

}  // namespace coco::cli
