#include "runtime/vm.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

namespace coco::runtime {
namespace {

std::vector<std::string> Expected(const std::string& accel, const std::string& cmdline) {
  return {"qemu-system-x86_64",
          "-M",
          "microvm,acpi=on,pit=off,pic=off,rtc=on",
          "-accel",
          accel == "tcg" ? "tcg,tb-size=32" : "kvm",
          "-cpu",
          accel == "kvm" ? "host" : "max",
          "-m",
          "300",
          "-smp",
          "2",
          "-nodefaults",
          "-no-user-config",
          "-nographic",
          "-no-reboot",
          "-kernel",
          "/g/vmlinux",
          "-append",
          cmdline,
          "-chardev",
          "file,id=console,path=/r,,x/console.log",
          "-serial",
          "chardev:console",
          "-global",
          "virtio-mmio.force-legacy=false",
          "-drive",
          "file=/g,,1/rootfs.img,if=none,id=root,format=raw,readonly=on",
          "-device",
          "virtio-blk-device,drive=root",
          "-device",
          "virtio-rng-device",
          "-device",
          "virtio-serial-device,max_ports=8",
          "-chardev",
          "socket,id=port0,path=/r,,x/coco.agent.sock,server=on,wait=off",
          "-device",
          "virtserialport,chardev=port0,name=coco.agent",
          "-chardev",
          "socket,id=port1,path=/r,,x/coco.tunnel.sock,server=on,wait=off",
          "-device",
          "virtserialport,chardev=port1,name=coco.tunnel"};
}

VmConfig Config() {
  VmConfig c;
  c.kernel = "/g/vmlinux";
  c.rootfs = "/g,1/rootfs.img";  // QEMU's option syntax: a comma in a value is doubled
  c.run_dir = "/r,x";
  c.memory_mib = 300;
  c.vcpus = 2;
  c.tcg_cache_mib = 32;
  return c;
}

constexpr char kCmdline[] =
    "console=ttyS0 panic=-1 reboot=t quiet loglevel=4 root=/dev/vda ro rootfstype=squashfs "
    "init=/init";

TEST(QemuArgs, TheWholeCommandLineUnderKvm) {
  EXPECT_EQ(QemuArgs(Config(), "kvm"), Expected("kvm", kCmdline));
}

TEST(QemuArgs, UnderTcgTheTranslationCacheAndTheHostTscFrequency) {
  // Under TCG the guest is told the host's TSC frequency when the host knows it (calibrating
  // it under emulation takes long and comes out wrong); under KVM never.
  uint64_t khz = HostTscKhz();
  std::string cmdline = kCmdline;
  if (khz > 0) cmdline += " tsc_early_khz=" + std::to_string(khz);
  EXPECT_EQ(QemuArgs(Config(), "tcg"), Expected("tcg", cmdline));
  VmConfig d;  // the defaults
  d.kernel = "/k";
  d.rootfs = "/r";
  d.run_dir = "/d";
  auto a = QemuArgs(d, "tcg");
  EXPECT_EQ(std::find(a.begin(), a.end(), "-accel")[1], "tcg,tb-size=64");
  EXPECT_EQ(std::find(a.begin(), a.end(), "-m")[1], "256");
  EXPECT_EQ(std::find(a.begin(), a.end(), "-smp")[1], "1");
}

TEST(QemuArgs, ATpmAndAnExtraCommandLine) {
  VmConfig c = Config();
  c.tpm_state_dir = "/state";
  c.extra_cmdline = "coco.debug=1";
  auto a = QemuArgs(c, "kvm");
  auto want =
      Expected("kvm", std::string(kCmdline) + " tpm_tis.force=1 tpm_tis.interrupts=0 coco.debug=1");
  auto at = std::find(want.begin(), want.end(), "virtio-serial-device,max_ports=8") + 1;
  want.insert(at, {"-chardev", "socket,id=chrtpm,path=/r,,x/swtpm.sock", "-tpmdev",
                   "emulator,id=tpm0,chardev=chrtpm", "-device", "tpm-tis,tpmdev=tpm0"});
  EXPECT_EQ(a, want);
}

// Sets COCO_ACCEL for the test's duration and restores what was there.
class ScopedAccel {
 public:
  explicit ScopedAccel(const char* value) {
    const char* old = getenv("COCO_ACCEL");
    if (old != nullptr) old_ = old;
    setenv("COCO_ACCEL", value, 1);
  }
  ~ScopedAccel() {
    if (old_)
      setenv("COCO_ACCEL", old_->c_str(), 1);
    else
      unsetenv("COCO_ACCEL");
  }

 private:
  std::optional<std::string> old_;
};

TEST(Accelerator, EnvironmentOverrides) {
  {
    ScopedAccel a("tcg");
    EXPECT_EQ(DetectAccelerator(), "tcg");
  }
  {
    ScopedAccel a("kvm");
    EXPECT_EQ(DetectAccelerator(), "kvm");
  }
}

TEST(VmLaunch, MissingKernelIsAClearError) {
  VmConfig c;
  c.kernel = "/nonexistent/vmlinux";
  c.rootfs = "/nonexistent/rootfs.img";
  c.run_dir = "/tmp";
  auto vm = Vm::Launch(c);
  ASSERT_FALSE(vm.ok());
  EXPECT_NE(vm.error().message.find("scripts/setup.sh"), std::string::npos);
}

}  // namespace
}  // namespace coco::runtime
