#include "agent/oci_spec.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/file.h"

namespace coco::agent {
namespace {

oci::ImageConfig Image() {
  oci::ImageConfig c;
  c.entrypoint = {"/bin/app"};
  c.cmd = {"--serve"};
  c.env = {"PATH=/bin", "MODE=image"};
  c.working_dir = "/srv";
  return c;
}

TEST(RuntimeSpec, ImageDefaultsAndRequestOverrides) {
  auto s = BuildRuntimeSpec(Image(), {}, "/nonexistent");
  ASSERT_TRUE(s.ok()) << s.error().message;
  const auto& p = (*s)["process"];
  EXPECT_EQ(p["args"], nlohmann::json({"/bin/app", "--serve"}));
  EXPECT_EQ(p["cwd"], "/srv");
  EXPECT_EQ(p["user"]["uid"], 0);
  EXPECT_EQ(p["noNewPrivileges"], true);
  EXPECT_EQ((*s)["root"]["path"], "rootfs");
  bool has_net_ns = false;
  for (const auto& ns : (*s)["linux"]["namespaces"]) has_net_ns |= ns["type"] == "network";
  EXPECT_TRUE(has_net_ns) << "the workload must not share the guest loopback (the tunnel)";

  ContainerRequest pod;
  pod.network_namespace = "/run/coco/netns/pod";  // the pod's shared namespace, joined by path
  auto joined = BuildRuntimeSpec(Image(), pod, "/nonexistent");
  ASSERT_TRUE(joined.ok());
  bool joins = false;
  for (const auto& ns : (*joined)["linux"]["namespaces"]) {
    joins |= ns["type"] == "network" && ns.value("path", "") == "/run/coco/netns/pod";
  }
  EXPECT_TRUE(joins) << (*joined)["linux"]["namespaces"].dump();

  ContainerRequest r;
  r.args = {"/bin/sh", "-c", "echo hi"};
  r.env = {"MODE=request", "EXTRA=1"};
  r.cwd = "/tmp";
  r.user = "1000:1001";
  auto t = BuildRuntimeSpec(Image(), r, "/nonexistent");
  ASSERT_TRUE(t.ok());
  const auto& q = (*t)["process"];
  EXPECT_EQ(q["args"], nlohmann::json({"/bin/sh", "-c", "echo hi"}));
  EXPECT_EQ(q["env"], nlohmann::json({"PATH=/bin", "MODE=request", "EXTRA=1"}));
  EXPECT_EQ(q["cwd"], "/tmp");
  EXPECT_EQ(q["user"]["uid"], 1000);
  EXPECT_EQ(q["user"]["gid"], 1001);
}

TEST(RuntimeSpec, NamedUserFromTheImagesPasswd) {
  auto dir = std::filesystem::temp_directory_path() / "coco-spec-test";
  std::filesystem::create_directories(dir / "etc");
  ASSERT_TRUE(WriteFileAtomic((dir / "etc/passwd").string(),
                              "root:x:0:0:root:/root:/bin/sh\napp:x:500:501::/home/app:/bin/sh\n")
                  .ok());
  ASSERT_TRUE(WriteFileAtomic((dir / "etc/group").string(), "root:x:0:\nstaff:x:50:\n").ok());
  oci::ImageConfig img = Image();
  img.user = "app";
  auto s = BuildRuntimeSpec(img, {}, dir.string());
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ((*s)["process"]["user"]["uid"], 500);
  EXPECT_EQ((*s)["process"]["user"]["gid"], 501);
  ContainerRequest r;
  r.user = "app:staff";
  auto t = BuildRuntimeSpec(img, r, dir.string());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)["process"]["user"]["gid"], 50);
  r.user = "nobody";
  auto u = BuildRuntimeSpec(img, r, dir.string());
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.error().message.find("nobody"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(RuntimeSpec, BadInputsRefused) {
  oci::ImageConfig empty;
  auto a = BuildRuntimeSpec(empty, {}, "/");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("no Entrypoint or Cmd"), std::string::npos);
  ContainerRequest r;
  r.env = {"NOEQUALS"};
  EXPECT_FALSE(BuildRuntimeSpec(Image(), r, "/").ok());
  r.env = {};
  r.cwd = "relative";
  EXPECT_FALSE(BuildRuntimeSpec(Image(), r, "/").ok());
}

}  // namespace
}  // namespace coco::agent
