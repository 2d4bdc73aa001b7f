// coco-agent: PID 1 of the pod VM. Serves the agent API (ttrpc) on the virtio-serial port
// "coco.agent" and carries the tunnel on "coco.tunnel".
//
//   coco-agent                       as the VM's /init (the normal case)
//   coco-agent --listen UNIX_SOCKET  outside a VM, for tests: serve one connection at a time
#include <fcntl.h>
#include <signal.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>

#include "agent/guest_init.h"
#include "agent/service.h"
#include "base/file.h"
#include "base/log.h"
#include "net/ttrpc.h"

using namespace coco;

namespace {

[[noreturn]] void Halt(const std::string& why) {
  log::Error("coco-agent cannot go on; powering off", {{"reason", why}});
  sync();
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}

int ServeUnixSocket(const std::string& path, agent::AgentOptions opts) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) {
    log::Error("socket path too long");
    return 2;
  }
  std::strcpy(a.sun_path, path.c_str());
  unlink(path.c_str());
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s, 4) != 0) {
    log::Error("cannot listen", {{"path", path}, {"error", std::strerror(errno)}});
    return 1;
  }
  agent::AgentService service(std::move(opts));
  net::ttrpc::Server server;
  service.RegisterOn(server);
  for (;;) {
    int c = accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    net::ttrpc::FrameStream stream(c, true);
    (void)server.Serve(stream);
  }
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 3 && std::string(argv[1]) == "--listen") {
    agent::AgentOptions o;
    o.guest = false;
    o.state_dir = std::string(argv[2]) + ".state";
    return ServeUnixSocket(argv[2], o);
  }
  if (argc > 1) {
    std::fprintf(stderr,
                 "coco-agent runs as /init of a coco pod VM (started by `coco run`).\n"
                 "For tests outside a VM: coco-agent --listen UNIX_SOCKET\n");
    return 2;
  }
  if (getpid() != 1) {
    std::fprintf(stderr, "coco-agent: not PID 1; use --listen UNIX_SOCKET outside a VM\n");
    return 2;
  }
  auto uptime = [] {
    timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", ts.tv_sec + ts.tv_nsec / 1e9);
    return std::string(buf);
  };
  std::string at_init = "?";
  std::string at_start = uptime();
  if (auto st = agent::SetUpGuest("coco"); !st.ok()) Halt(st.error().message);
  at_init = uptime();
  // The kernel's console is our stderr; keep the log to the essentials.
  agent::Reaper::Start();
  auto port = agent::FindVirtioPort("coco.agent", 5000);
  if (!port.ok()) Halt(port.error().message);
  int fd = open(port->c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) Halt("cannot open " + *port + ": " + std::strerror(errno));
  agent::AgentOptions opts;
  opts.state_dir = "/run/coco";
  if (auto crun = agent::SealedProgramCopy("/usr/bin/crun"); crun.ok()) {
    opts.crun = *crun;
  } else {
    log::Warn("crun runs from its file (slower start)", {{"reason", crun.error().message}});
  }
  auto tport = agent::FindVirtioPort("coco.tunnel", 100);
  if (tport.ok()) {
    opts.tunnel_fd = open(tport->c_str(), O_RDWR | O_CLOEXEC);
  }
  log::Info("coco-agent ready", {{"port", *port},
                                 {"uptime_at_start", at_start},
                                 {"uptime_at_setup", at_init},
                                 {"uptime", uptime()}});
  agent::AgentService service(opts);
  net::ttrpc::Server server;
  service.RegisterOn(server);
  net::ttrpc::FrameStream stream(fd, false);
  for (;;) {
    // A virtio-serial port reads EOF while the host side is disconnected: serve again once it
    // reconnects.
    Error e = server.Serve(stream);
    if (e.code != Code::kEof) log::Warn("agent channel error", {{"error", e.message}});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}
