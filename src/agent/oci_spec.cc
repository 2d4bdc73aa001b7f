#include "agent/oci_spec.h"

#include <sstream>

#include "base/file.h"

namespace coco::agent {
namespace {

bool AllDigits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// Looks `name` up in an /etc/passwd- or /etc/group-style file; returns field 3 (the id) and,
// for passwd, field 4 (the primary gid).
bool LookUp(const std::string& file, const std::string& name, long* id, long* gid) {
  auto text = ReadFile(file);
  if (!text.ok()) return false;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream fs(line);
    std::string part;
    while (std::getline(fs, part, ':')) f.push_back(part);
    if (f.size() >= 3 && f[0] == name && AllDigits(f[2])) {
      *id = std::stol(f[2]);
      if (gid != nullptr && f.size() >= 4 && AllDigits(f[3])) *gid = std::stol(f[3]);
      return true;
    }
  }
  return false;
}

const char* const kCapabilities[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

}  // namespace

Result<nlohmann::json> BuildRuntimeSpec(const oci::ImageConfig& image, const ContainerRequest& req,
                                        const std::string& rootfs) {
  std::vector<std::string> args = req.args;
  if (args.empty()) {
    args = image.entrypoint;
    args.insert(args.end(), image.cmd.begin(), image.cmd.end());
  }
  if (args.empty()) {
    return MakeError(Code::kInvalidArgument,
                     "the image has no Entrypoint or Cmd and the request gives no command");
  }
  // Environment: the image's, then the request's (same KEY replaces), PATH defaulted.
  std::vector<std::string> env = image.env;
  for (const std::string& e : req.env) {
    auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0) {
      return MakeError(Code::kInvalidArgument, "environment entry \"" + e + "\" is not KEY=VALUE");
    }
    std::string key = e.substr(0, eq + 1);
    bool replaced = false;
    for (auto& have : env) {
      if (have.rfind(key, 0) == 0) {
        have = e;
        replaced = true;
      }
    }
    if (!replaced) env.push_back(e);
  }
  bool has_path = false;
  for (const auto& e : env) has_path |= e.rfind("PATH=", 0) == 0;
  if (!has_path)
    env.insert(env.begin(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

  std::string user = req.user.empty() ? image.user : req.user;
  long uid = 0, gid = 0;
  if (!user.empty()) {
    std::string u = user, g;
    if (auto c = user.find(':'); c != std::string::npos) {
      u = user.substr(0, c);
      g = user.substr(c + 1);
    }
    if (AllDigits(u)) {
      uid = std::stol(u);
      gid = 0;
    } else if (!LookUp(rootfs + "/etc/passwd", u, &uid, &gid)) {
      return MakeError(Code::kInvalidArgument,
                       "user \"" + u + "\" is not in the image's /etc/passwd");
    }
    if (!g.empty()) {
      if (AllDigits(g)) {
        gid = std::stol(g);
      } else if (!LookUp(rootfs + "/etc/group", g, &gid, nullptr)) {
        return MakeError(Code::kInvalidArgument,
                         "group \"" + g + "\" is not in the image's /etc/group");
      }
    }
  }
  std::string cwd =
      !req.cwd.empty() ? req.cwd : (!image.working_dir.empty() ? image.working_dir : "/");
  if (cwd.front() != '/')
    return MakeError(Code::kInvalidArgument, "working directory must be absolute: " + cwd);

  nlohmann::json caps = nlohmann::json::array();
  for (const char* c : kCapabilities) caps.push_back(c);
  nlohmann::json spec = {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", uid}, {"gid", gid}}},
        {"args", args},
        {"env", env},
        {"cwd", cwd},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
        {"noNewPrivileges", true}}},
      {"root", {{"path", "rootfs"}, {"readonly", false}}},
      {"hostname", req.hostname},
      {"mounts",
       {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
        {{"destination", "/dev"},
         {"type", "tmpfs"},
         {"source", "tmpfs"},
         {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
        {{"destination", "/dev/pts"},
         {"type", "devpts"},
         {"source", "devpts"},
         {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}}},
        {{"destination", "/dev/shm"},
         {"type", "tmpfs"},
         {"source", "shm"},
         {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
        {{"destination", "/dev/mqueue"},
         {"type", "mqueue"},
         {"source", "mqueue"},
         {"options", {"nosuid", "noexec", "nodev"}}},
        {{"destination", "/sys"},
         {"type", "sysfs"},
         {"source", "sysfs"},
         {"options", {"nosuid", "noexec", "nodev", "ro"}}},
        {{"destination", "/tmp"},
         {"type", "tmpfs"},
         {"source", "tmpfs"},
         {"options", {"nosuid", "nodev", "mode=1777"}}}}},
      {"linux",
       {{"namespaces",
         // Never the agent's network namespace: the guest's loopback there carries the
         // tunnel to the host's broker and registries, which the workload must not reach.
         {{{"type", "pid"}},
          {{"type", "ipc"}},
          {{"type", "uts"}},
          {{"type", "mount"}},
          req.network_namespace.empty()
              ? nlohmann::json{{"type", "network"}}
              : nlohmann::json{{"type", "network"}, {"path", req.network_namespace}}}},
        {"maskedPaths",
         {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"}},
        {"readonlyPaths",
         {"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
          "/proc/sysrq-trigger"}}}}};
  return spec;
}

}  // namespace coco::agent
