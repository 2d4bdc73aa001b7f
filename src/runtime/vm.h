// Launching the pod VM with QEMU: microvm + PVH kernel + a read-only root image on virtio-blk,
// serial console to a log file, virtio-serial ports as unix sockets, KVM where it really works and
// TCG otherwise. A Vm owns its QEMU process: destroying it kills QEMU, so no error path leaves one
// behind.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/subprocess.h"

namespace coco::runtime {

// Which accelerator QEMU gets. Detection: KVM only if /dev/kvm opens and the CPU shows vmx/svm
// (a paravirtual /dev/kvm without them cannot run a stock guest); the answer is cached in
// $XDG_CACHE_HOME/coco/accel (or ~/.cache) and the fallback to TCG is warned about once.
// $COCO_ACCEL=kvm|tcg overrides.
std::string DetectAccelerator();

// The host TSC frequency in kHz (for tsc_early_khz=: under TCG the guest TSC runs at the host's
// rate, and guessing it wrongly hangs the boot now and then). 0 when unknown.
uint64_t HostTscKhz();

struct VmConfig {
  std::string qemu = "qemu-system-x86_64";
  std::string kernel;  // uncompressed vmlinux (PVH)
  std::string rootfs;  // read-only squashfs image, the guest's root (/dev/vda)
  int memory_mib = 256;
  int vcpus = 1;
  int tcg_cache_mib = 64;  // TCG translation cache (ignored under KVM): memory against speed
  std::string accel;       // "" = DetectAccelerator()
  std::string run_dir;     // sockets and the console log go here (must exist, private)
  std::vector<std::string> ports = {"coco.agent", "coco.tunnel"};  // virtio-serial port names
  std::string extra_cmdline;
  // A TPM 2.0 for the guest: swtpm keeps its state here (created when missing; the same
  // directory gives the same endorsement key, so the same attestation key). "" = no TPM.
  std::string tpm_state_dir;
  std::string swtpm = "swtpm";
};

class Vm {
 public:
  // Starts QEMU. The ports are unix sockets run_dir/<name>.sock that QEMU listens on; connect
  // with ConnectPort. Fails with QEMU's own words when it exits at once (bad option, no kernel).
  static Result<std::unique_ptr<Vm>> Launch(const VmConfig& config);
  ~Vm();  // Kill()

  // Connects to a port's socket, waiting up to timeout_ms for QEMU to create it.
  Result<int> ConnectPort(const std::string& name, int timeout_ms);
  // True while QEMU runs; when it has ended, `status` gets its wait status.
  bool Running(int* status = nullptr);
  // Waits up to timeout_ms for QEMU to end by itself; true if it did.
  bool WaitExit(int timeout_ms);
  // SIGKILL to QEMU (and the guest's swtpm) and reap them. Idempotent.
  void Kill();
  pid_t pid() const { return pid_; }
  const std::string& console_log() const { return console_log_; }
  const std::string& accel() const { return accel_; }
  // The last `lines` lines of the console log (for error messages).
  std::string ConsoleTail(int lines) const;
  // Peak resident memory of QEMU in KiB (VmHWM), 0 if unknown.
  uint64_t PeakRssKib() const;
  // Resident memory of QEMU now, in KiB (VmRSS), 0 if unknown.
  uint64_t RssKib() const;

 private:
  Vm() = default;
  Status StartSwtpm(const VmConfig& c, const SpawnOptions& so);
  pid_t pid_ = -1;
  pid_t swtpm_pid_ = -1;  // the guest's TPM, when it has one
  bool reaped_ = false;
  int status_ = 0;
  std::string run_dir_, console_log_, accel_;
};

// The QEMU command line for `config` (exposed for tests and `coco run --dry-run`).
std::vector<std::string> QemuArgs(const VmConfig& config, const std::string& accel);

}  // namespace coco::runtime
