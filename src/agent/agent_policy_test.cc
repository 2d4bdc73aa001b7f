#include "agent/agent_policy.h"

#include <gtest/gtest.h>

namespace coco::agent {
namespace {

TEST(AgentPolicy, DefaultRefusesExecAllowsThePodsOwnWork) {
  auto p = CompileAgentPolicy("default", DefaultAgentPolicyText());
  ASSERT_TRUE(p.ok()) << p.error().message;
  for (const char* ok : {"CreateSandboxRequest", "CreateContainerRequest", "StartContainerRequest",
                         "ReadStdoutRequest", "WaitProcessRequest", "DestroySandboxRequest"}) {
    EXPECT_TRUE((*p)->Evaluate(ok, {}).allow) << ok;
  }
  auto d = (*p)->Evaluate("ExecProcessRequest", {});
  EXPECT_FALSE(d.allow);
  EXPECT_EQ(d.reason, "ExecProcessRequest is blocked by policy");
  // A request the policy does not name is refused, as an undefined Rego rule is.
  EXPECT_FALSE((*p)->Evaluate("SetPolicyRequest", {}).allow);
}

TEST(AgentPolicy, AllowAllAllowsExec) {
  auto p = CompileAgentPolicy("dev", AllowAllAgentPolicyText());
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*p)->Evaluate("ExecProcessRequest", {}).allow);
}

// The shape of Kata's allow-all-except-exec-process policy: defaults with `:=` and comments.
TEST(AgentPolicy, KataStyleDefaultsAreUnderstood) {
  auto p = CompileAgentPolicy("init-data", R"(
package agent_policy
# comment
default CreateContainerRequest := true
default ExecProcessRequest := false   # no exec
default ReadStdoutRequest = true
default AllowRequestsFailingPolicy := false
)");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE((*p)->Evaluate("CreateContainerRequest", {}).allow);
  EXPECT_TRUE((*p)->Evaluate("ReadStdoutRequest", {}).allow);
  EXPECT_FALSE((*p)->Evaluate("ExecProcessRequest", {}).allow);
}

TEST(AgentPolicy, AnythingElseIsRefusedWithTheLine) {
  auto e1 = CompileAgentPolicy("x", "package agent_policy\nExecProcessRequest { true }\n");
  ASSERT_FALSE(e1.ok());
  EXPECT_EQ(e1.error().code, Code::kPolicyInvalid);
  EXPECT_NE(e1.error().message.find("line 2"), std::string::npos) << e1.error().message;
  auto e2 = CompileAgentPolicy("x", "package other\n");
  ASSERT_FALSE(e2.ok());
  EXPECT_NE(e2.error().message.find("agent_policy"), std::string::npos);
  auto e3 = CompileAgentPolicy("x", "default ExecProcessRequest := true\n");
  ASSERT_FALSE(e3.ok());
  auto e4 =
      CompileAgentPolicy("x", "package agent_policy\ndefault AllowRequestsFailingPolicy := true\n");
  ASSERT_FALSE(e4.ok());
  auto e5 = CompileAgentPolicy("x",
                               "package agent_policy\ndefault ExecProcessRequest := true\ndefault "
                               "ExecProcessRequest := false\n");
  ASSERT_FALSE(e5.ok());
  EXPECT_NE(e5.error().message.find("twice"), std::string::npos);
}

}  // namespace
}  // namespace coco::agent
