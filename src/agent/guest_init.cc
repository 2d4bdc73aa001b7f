#include "agent/guest_init.h"

#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "base/file.h"
#include "base/log.h"

namespace coco::agent {
namespace {

Error Errno(const std::string& what) {
  return MakeError(Code::kIo, what + ": " + std::strerror(errno));
}

Status MountIfNeeded(const char* source, const char* target, const char* type, unsigned long flags,
                     const char* data) {
  mkdir(target, 0755);
  if (mount(source, target, type, flags, data) != 0 && errno != EBUSY) {
    return Errno(std::string("mount ") + type + " on " + target);
  }
  return Status::Ok();
}

struct ReaperState {
  std::mutex mu;
  std::condition_variable cv;
  std::map<pid_t, std::optional<int>> tracked;  // our children -> wait status once exited
};
ReaperState& State() {
  static ReaperState s;
  return s;
}

}  // namespace

Status BringUpLoopback() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Errno("socket");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  Status st = Status::Ok();
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
    st = Errno("read the flags of lo");
  } else {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) st = Errno("bring up lo");
  }
  close(s);
  return st;
}

Status SetUpGuest(const std::string& hostname) {
  COCO_RETURN_IF_ERROR(
      MountIfNeeded("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  COCO_RETURN_IF_ERROR(
      MountIfNeeded("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  COCO_RETURN_IF_ERROR(MountIfNeeded("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"));
  COCO_RETURN_IF_ERROR(MountIfNeeded("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                                     "newinstance,ptmxmode=0666,mode=0620"));
  COCO_RETURN_IF_ERROR(
      MountIfNeeded("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  COCO_RETURN_IF_ERROR(
      MountIfNeeded("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  COCO_RETURN_IF_ERROR(MountIfNeeded("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"));
  COCO_RETURN_IF_ERROR(MountIfNeeded("tmp", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"));
  COCO_RETURN_IF_ERROR(MountIfNeeded("cgroup2", "/sys/fs/cgroup", "cgroup2",
                                     MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  symlink("/proc/self/fd", "/dev/fd");
  symlink("/proc/self/fd/0", "/dev/stdin");
  symlink("/proc/self/fd/1", "/dev/stdout");
  symlink("/proc/self/fd/2", "/dev/stderr");
  // Controllers for the containers' cgroups (those the kernel has; errors are not fatal).
  for (const char* c : {"+cpu", "+memory", "+pids", "+cpuset"}) {
    int fd = open("/sys/fs/cgroup/cgroup.subtree_control", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)!write(fd, c, strlen(c));
      close(fd);
    }
  }
  // Loopback: the tunnel listens on 127.0.0.1.
  if (Status st = BringUpLoopback(); !st.ok()) log::Warn(st.error().message);
  if (!hostname.empty()) sethostname(hostname.data(), hostname.size());
  return Status::Ok();
}

Result<std::string> SealedProgramCopy(const std::string& path) {
  int in = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Errno("open " + path);
  struct stat st {};
  if (fstat(in, &st) != 0) {
    close(in);
    return Errno("stat " + path);
  }
  // Close-on-exec is fine: execve resolves /proc/self/fd/N (an ELF file) before it closes
  // such descriptors, and nothing else the agent starts gets it.
  int fd = memfd_create("crun", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) {
    close(in);
    return Errno("memfd_create");
  }
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(fd, in, &off, static_cast<size_t>(st.st_size - off));
    if (n <= 0) {
      close(in);
      close(fd);
      return Errno("copy " + path);
    }
  }
  close(in);
  if (fchmod(fd, 0555) != 0 ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    close(fd);
    return Errno("seal the copy of " + path);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

Result<std::string> FindVirtioPort(const std::string& name, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    if (DIR* d = opendir("/sys/class/virtio-ports")) {
      while (dirent* e = readdir(d)) {
        std::string port = e->d_name;
        if (port.rfind("vport", 0) != 0) continue;
        auto n = ReadFile("/sys/class/virtio-ports/" + port + "/name");
        if (!n.ok()) continue;
        std::string got = *n;
        while (!got.empty() && (got.back() == '\n' || got.back() == '\0')) got.pop_back();
        if (got == name) {
          closedir(d);
          return "/dev/" + port;
        }
      }
      closedir(d);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return MakeError(Code::kNotFound,
                       "no virtio-serial port named " + name + " (is the VM started with it?)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Reaper::Start() {
  std::thread([] {
    for (;;) {
      int st;
      pid_t pid = waitpid(-1, &st, 0);
      if (pid < 0) {
        if (errno == ECHILD) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        continue;
      }
      auto& s = State();
      std::lock_guard<std::mutex> l(s.mu);
      auto it = s.tracked.find(pid);
      if (it == s.tracked.end()) continue;  // an orphan: nobody will ask
      it->second = st;
      s.cv.notify_all();
    }
  }).detach();
}

Result<pid_t> Reaper::Track(const std::function<Result<pid_t>()>& spawn) {
  auto& s = State();
  // Held across the fork: the reaper cannot record the child's exit before it is tracked.
  std::lock_guard<std::mutex> l(s.mu);
  Result<pid_t> pid = spawn();
  if (pid.ok()) s.tracked[*pid] = std::nullopt;
  return pid;
}

int Reaper::Wait(pid_t pid) {
  auto& s = State();
  std::unique_lock<std::mutex> l(s.mu);
  auto it = s.tracked.find(pid);
  if (it == s.tracked.end()) return 0;  // not ours: nothing will ever come
  s.cv.wait(l, [&] { return it->second.has_value(); });
  int st = *it->second;
  s.tracked.erase(it);
  return st;
}

size_t Reaper::Tracked() {
  auto& s = State();
  std::lock_guard<std::mutex> l(s.mu);
  return s.tracked.size();
}

}  // namespace coco::agent
