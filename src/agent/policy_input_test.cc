#include "agent/policy_input.h"

#include <gtest/gtest.h>

namespace coco::agent {
namespace {

TEST(PolicyInput, IsTheRequestWithItsProtoFieldNames) {
  v1::ExecProcessRequest exec;
  exec.set_container_id("c1");
  exec.set_exec_id("e1");
  exec.add_args("/bin/sh");
  exec.add_args("-c");
  EXPECT_EQ(
      PolicyInput(exec),
      (nlohmann::json{{"container_id", "c1"}, {"exec_id", "e1"}, {"args", {"/bin/sh", "-c"}}}));

  v1::CreateSandboxRequest sb;
  sb.set_sandbox_id("pod");
  sb.set_init_data("a=1\n");
  sb.add_tunnel_ports(8080);
  sb.set_host_time_unix_ms(1700000000123);
  (*sb.mutable_registry_schemes())["127.0.0.1:5000"] = "http";
  nlohmann::json in = PolicyInput(sb);
  EXPECT_EQ(in["sandbox_id"], "pod");
  EXPECT_EQ(in["init_data"], "YT0xCg==");  // bytes: base64
  EXPECT_EQ(in["tunnel_ports"], nlohmann::json::array({8080}));
  EXPECT_EQ(in["host_time_unix_ms"], "1700000000123");  // int64: a string
  EXPECT_EQ(in["registry_schemes"]["127.0.0.1:5000"], "http");
  EXPECT_EQ(in["dev_policy"], false);  // defaults are present
  EXPECT_TRUE(in["insecure_registries"].is_array());

  v1::CreateContainerRequest cc;
  cc.set_container_id("c");
  cc.set_image("docker://r/x:1");
  cc.add_env("A=1");
  EXPECT_EQ(PolicyInput(cc)["image"], "docker://r/x:1");
  EXPECT_EQ(PolicyInput(cc)["env"], nlohmann::json::array({"A=1"}));
  v1::SignalProcessRequest sig;
  sig.set_signal(9);
  EXPECT_EQ(PolicyInput(sig)["signal"], 9);
  EXPECT_EQ(PolicyInput(v1::DestroySandboxRequest()), nlohmann::json::object());
}

}  // namespace
}  // namespace coco::agent
