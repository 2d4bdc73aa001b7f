#include "runtime/vm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/file.h"
#include "base/log.h"
#include "base/subprocess.h"

namespace coco::runtime {
namespace {

std::string CacheDir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/coco";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/coco";
  return "/tmp/coco-cache";
}

bool CpuHasVirtualization() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line);
      std::string w;
      while (words >> w) {
        if (w == "vmx" || w == "svm") return true;
      }
      return false;
    }
  }
  return false;
}

// A value inside a QEMU option list: a comma is written twice.
std::string OptValue(const std::string& v) {
  std::string out;
  for (char ch : v) {
    out += ch;
    if (ch == ',') out += ',';
  }
  return out;
}

}  // namespace

std::string DetectAccelerator() {
  if (const char* a = std::getenv("COCO_ACCEL");
      a && (std::string(a) == "kvm" || std::string(a) == "tcg")) {
    return a;
  }
  std::string cache = CacheDir() + "/accel";
  if (auto cached = ReadFile(cache); cached.ok()) {
    std::string v = cached->substr(0, cached->find_first_of(" \n"));
    if (v == "kvm" || v == "tcg") return v;
  }
  std::string accel = "tcg", why;
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    why = "/dev/kvm cannot be opened";
  } else {
    close(fd);
    if (CpuHasVirtualization()) {
      accel = "kvm";
    } else {
      why = "/dev/kvm exists but the CPU shows no vmx/svm (a paravirtual KVM cannot run the guest)";
    }
  }
  if (accel == "tcg") {
    log::Warn("KVM is not usable here; pod VMs run under TCG emulation (slower)",
              {{"reason", why}, {"override", "COCO_ACCEL=kvm|tcg"}});
  }
  (void)MakeDirs(CacheDir(), 0700);
  (void)WriteFileAtomic(cache, accel + " " + why + "\n", 0600);
  return accel;
}

uint64_t HostTscKhz() {
  // The kernel's calibrated figure is what the guest must be told; /proc/cpuinfo's "cpu MHz"
  // matches it on constant-TSC machines.
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) == 0) {
      auto colon = line.find(':');
      if (colon == std::string::npos) return 0;
      double mhz = std::atof(line.c_str() + colon + 1);
      return static_cast<uint64_t>(mhz * 1000.0 + 0.5);
    }
  }
  return 0;
}

namespace {
// A log's text for an error message ("" when it cannot be read).
std::string FileOrEmpty(const std::string& path) {
  auto text = ReadFile(path);
  return text.ok() ? *text : "";
}
}  // namespace

std::vector<std::string> QemuArgs(const VmConfig& c, const std::string& accel) {
  std::string cmdline =
      "console=ttyS0 panic=-1 reboot=t quiet loglevel=4 root=/dev/vda ro rootfstype=squashfs "
      "init=/init";
  if (accel == "tcg") {
    if (uint64_t khz = HostTscKhz(); khz > 0) cmdline += " tsc_early_khz=" + std::to_string(khz);
  }
  // microvm has no TPM2 ACPI table: the TIS driver is told where the device is, and polls.
  if (!c.tpm_state_dir.empty()) cmdline += " tpm_tis.force=1 tpm_tis.interrupts=0";
  if (!c.extra_cmdline.empty()) cmdline += " " + c.extra_cmdline;
  std::vector<std::string> a = {
      c.qemu,
      "-M",
      "microvm,acpi=on,pit=off,pic=off,rtc=on",
      "-accel",
      accel == "tcg" ? "tcg,tb-size=" + std::to_string(c.tcg_cache_mib) : accel,
      "-cpu",
      accel == "kvm" ? "host" : "max",
      "-m",
      std::to_string(c.memory_mib),
      "-smp",
      std::to_string(c.vcpus),
      "-nodefaults",
      "-no-user-config",
      "-nographic",
      "-no-reboot",
      "-kernel",
      c.kernel,
      "-append",
      cmdline,
      "-chardev",
      "file,id=console,path=" + OptValue(c.run_dir + "/console.log"),
      "-serial",
      "chardev:console",
      "-global",
      "virtio-mmio.force-legacy=false",
      // The root image: read-only, so pods share it (and the host's page cache of it).
      "-drive",
      "file=" + OptValue(c.rootfs) + ",if=none,id=root,format=raw,readonly=on",
      "-device",
      "virtio-blk-device,drive=root",
      "-device",
      "virtio-rng-device",
      "-device",
      "virtio-serial-device,max_ports=8",
  };
  if (!c.tpm_state_dir.empty()) {
    a.insert(a.end(),
             {"-chardev", "socket,id=chrtpm,path=" + OptValue(c.run_dir + "/swtpm.sock"), "-tpmdev",
              "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"});
  }
  int i = 0;
  for (const std::string& port : c.ports) {
    std::string id = "port" + std::to_string(i++);
    a.insert(a.end(), {"-chardev",
                       "socket,id=" + id + ",path=" + OptValue(c.run_dir + "/" + port + ".sock") +
                           ",server=on,wait=off",
                       "-device", "virtserialport,chardev=" + id + ",name=" + port});
  }
  return a;
}

Result<std::unique_ptr<Vm>> Vm::Launch(const VmConfig& c) {
  for (const auto& [what, path] :
       {std::pair<const char*, std::string>{"kernel", c.kernel}, {"root image", c.rootfs}}) {
    if (access(path.c_str(), R_OK) != 0) {
      return MakeError(Code::kNotFound, std::string("the guest ") + what + " " + path +
                                            " is missing: build it with scripts/setup.sh");
    }
  }
  std::unique_ptr<Vm> vm(new Vm());
  vm->run_dir_ = c.run_dir;
  vm->console_log_ = c.run_dir + "/console.log";
  vm->accel_ = c.accel.empty() ? DetectAccelerator() : c.accel;
  std::string qemu_log = c.run_dir + "/qemu.log";
  int log_fd = open(qemu_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0)
    return MakeError(Code::kIo, "cannot create " + qemu_log + ": " + std::strerror(errno));
  SpawnOptions so;
  so.stdout_fd = log_fd;
  so.stderr_fd = log_fd;
  so.new_process_group = true;
  so.die_with_parent = true;  // no orphan QEMU if we are killed
  if (!c.tpm_state_dir.empty()) {
    auto s = vm->StartSwtpm(c, so);
    if (!s.ok()) {
      close(log_fd);
      return s.error();
    }
  }
  auto pid = Spawn(QemuArgs(c, vm->accel_), so);
  close(log_fd);
  if (!pid.ok()) return pid.error();
  vm->pid_ = *pid;
  // QEMU that fails on its arguments exits within a moment: report its words.
  for (int i = 0; i < 20; ++i) {
    int st;
    if (!vm->Running(&st)) {
      std::string words = FileOrEmpty(qemu_log);
      return MakeError(Code::kUnavailable, "QEMU " + DescribeWaitStatus(st) + ": " + words);
    }
    if (access((c.run_dir + "/" + c.ports.front() + ".sock").c_str(), F_OK) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return vm;
}

Vm::~Vm() { Kill(); }

bool Vm::Running(int* status) {
  if (reaped_) {
    if (status) *status = status_;
    return false;
  }
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    status_ = st;
    if (status) *status = st;
    return false;
  }
  return true;
}

bool Vm::WaitExit(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

Status Vm::StartSwtpm(const VmConfig& c, const SpawnOptions& so) {
  if (mkdir(c.tpm_state_dir.c_str(), 0700) != 0 && errno != EEXIST)
    return MakeError(Code::kIo, "cannot create the TPM state directory " + c.tpm_state_dir + ": " +
                                    std::strerror(errno));
  std::string sock = c.run_dir + "/swtpm.sock";
  // --terminate: swtpm ends when QEMU closes the control channel.
  auto pid = Spawn({c.swtpm, "socket", "--tpm2", "--tpmstate", "dir=" + OptValue(c.tpm_state_dir),
                    "--ctrl", "type=unixio,path=" + OptValue(sock), "--terminate", "--log",
                    "file=" + OptValue(c.run_dir + "/swtpm.log")},
                   so);
  if (!pid.ok())
    return MakeError(pid.error().code, "the guest's TPM (swtpm): " + pid.error().message +
                                           " (install swtpm, or run without a TPM)");
  swtpm_pid_ = *pid;
  // QEMU fails at once if the socket is not there yet.
  for (int i = 0; i < 400; ++i) {
    if (access(sock.c_str(), F_OK) == 0) return Status::Ok();
    int st;
    if (waitpid(swtpm_pid_, &st, WNOHANG) == swtpm_pid_) {
      swtpm_pid_ = -1;
      std::string words = FileOrEmpty(c.run_dir + "/swtpm.log");
      return MakeError(Code::kUnavailable, "swtpm " + DescribeWaitStatus(st) + ": " + words);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return MakeError(Code::kUnavailable, "swtpm did not create " + sock + " within 2 s");
}

void Vm::Kill() {
  if (swtpm_pid_ > 0) {
    kill(swtpm_pid_, SIGKILL);
    waitpid(swtpm_pid_, nullptr, 0);
    swtpm_pid_ = -1;
  }
  if (pid_ <= 0 || reaped_) return;
  kill(pid_, SIGKILL);
  int st;
  if (waitpid(pid_, &st, 0) == pid_) {
    reaped_ = true;
    status_ = st;
  }
}

Result<int> Vm::ConnectPort(const std::string& name, int timeout_ms) {
  std::string path = run_dir_ + "/" + name + ".sock";
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) {
    return MakeError(Code::kInvalidArgument, "socket path too long: " + path);
  }
  std::strcpy(a.sun_path, path.c_str());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return s;
    int e = errno;
    close(s);
    int st;
    if (!Running(&st)) {
      return MakeError(Code::kUnavailable,
                       "QEMU " + DescribeWaitStatus(st) + " before port " + name + " was ready");
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return MakeError(Code::kUnavailable, "cannot connect to " + path + ": " + std::strerror(e));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::string Vm::ConsoleTail(int lines) const {
  auto text = ReadFile(console_log_);
  if (!text.ok()) return "";
  std::string s = *text;
  size_t pos = s.size();
  for (int i = 0; i <= lines && pos != std::string::npos && pos > 0; ++i) {
    pos = s.rfind('\n', pos - 1);
  }
  return pos == std::string::npos ? s : s.substr(pos + 1);
}

namespace {
uint64_t StatusField(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0) return std::strtoull(line.c_str() + n, nullptr, 10);
  }
  return 0;
}
}  // namespace

uint64_t Vm::PeakRssKib() const { return StatusField(pid_, "VmHWM:"); }
uint64_t Vm::RssKib() const { return StatusField(pid_, "VmRSS:"); }

}  // namespace coco::runtime
