// The agent policy: which host requests coco-agent carries out. Every request is checked under
// the name of its request message ("ExecProcessRequest", ...) with the request as JSON input,
// the same shape Kata's Rego agent policies (package agent_policy) are written for.
//
// Until the Rego engine lands, a policy may only consist of `package agent_policy` and
// `default <Name>Request := true|false` rules (which is what Kata's allow-all and
// allow-all-except-exec-process policies are); a request with no rule is refused, as an
// undefined rule is in Rego. Anything else is refused with an error naming the line.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace coco::agent {

struct PolicyDecision {
  bool allow = false;
  std::string reason;  // "<Name> is blocked by policy" when refused
};

class AgentPolicy {
 public:
  virtual ~AgentPolicy() = default;
  virtual std::string name() const = 0;
  virtual PolicyDecision Evaluate(const std::string& request,
                                  const nlohmann::json& input) const = 0;
};

// coco's default for confidential pods: everything a pod needs, but no exec into a container
// and no policy change from the host. A container's own stdout/stderr (the pod's log) may be read.
std::string_view DefaultAgentPolicyText();
// Allows every request (development).
std::string_view AllowAllAgentPolicyText();

// `name` is shown in logs and in CreateSandbox's answer.
Result<std::unique_ptr<AgentPolicy>> CompileAgentPolicy(std::string_view name,
                                                        std::string_view text);

}  // namespace coco::agent
