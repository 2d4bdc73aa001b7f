#include "runtime/vm.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>

namespace coco::runtime {
namespace {

bool Has(const std::vector<std::string>& a, const std::string& s) {
  return std::find(a.begin(), a.end(), s) != a.end();
}

TEST(QemuArgs, MicrovmPvhSerialPortsAndTscUnderTcg) {
  VmConfig c;
  c.kernel = "/g/vmlinux";
  c.rootfs = "/g/rootfs.img";
  c.run_dir = "/r";
  c.memory_mib = 300;
  auto a = QemuArgs(c, "tcg");
  EXPECT_TRUE(Has(a, "microvm,acpi=on,pit=off,pic=off,rtc=on"));
  EXPECT_TRUE(Has(a, "tcg,tb-size=64"));  // the default
  c.tcg_cache_mib = 32;
  EXPECT_TRUE(Has(QemuArgs(c, "tcg"), "tcg,tb-size=32"));
  c.tcg_cache_mib = 64;
  EXPECT_TRUE(Has(a, "300"));
  EXPECT_TRUE(Has(a, "/g/vmlinux"));
  EXPECT_TRUE(Has(a, "-no-reboot"));
  EXPECT_TRUE(Has(a, "file=/g/rootfs.img,if=none,id=root,format=raw,readonly=on"));
  EXPECT_TRUE(Has(a, "virtio-blk-device,drive=root"));
  c.rootfs = "/g,1/rootfs.img";  // QEMU's option syntax: a comma in a value is doubled
  EXPECT_TRUE(
      Has(QemuArgs(c, "tcg"), "file=/g,,1/rootfs.img,if=none,id=root,format=raw,readonly=on"));
  EXPECT_TRUE(Has(a, "socket,id=port0,path=/r/coco.agent.sock,server=on,wait=off"));
  EXPECT_TRUE(Has(a, "virtserialport,chardev=port1,name=coco.tunnel"));
  auto append = std::find(a.begin(), a.end(), "-append");
  ASSERT_NE(append, a.end());
  if (HostTscKhz() > 0) {
    EXPECT_NE((append + 1)->find("tsc_early_khz="), std::string::npos) << *(append + 1);
  }
  auto k = QemuArgs(c, "kvm");
  EXPECT_TRUE(Has(k, "host"));
  auto kappend = std::find(k.begin(), k.end(), "-append");
  EXPECT_EQ((kappend + 1)->find("tsc_early_khz="), std::string::npos);
}

TEST(Accelerator, EnvironmentOverrides) {
  setenv("COCO_ACCEL", "tcg", 1);
  EXPECT_EQ(DetectAccelerator(), "tcg");
  setenv("COCO_ACCEL", "kvm", 1);
  EXPECT_EQ(DetectAccelerator(), "kvm");
  unsetenv("COCO_ACCEL");
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
