#include "agent/agent_policy.h"

#include <sstream>

namespace coco::agent {
namespace {

class DefaultsPolicy final : public AgentPolicy {
 public:
  DefaultsPolicy(std::string name, std::map<std::string, bool> rules)
      : name_(std::move(name)), rules_(std::move(rules)) {}
  std::string name() const override { return name_; }
  PolicyDecision Evaluate(const std::string& request, const nlohmann::json&) const override {
    auto it = rules_.find(request);
    if (it != rules_.end() && it->second) return {true, ""};
    return {false, request + " is blocked by policy"};
  }

 private:
  std::string name_;
  std::map<std::string, bool> rules_;
};

std::string Trim(std::string s) {
  auto c = s.find('#');
  if (c != std::string::npos) s.erase(c);
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// Every request of the agent API, and whether coco's default for confidential pods allows it.
// The host may create and run the pod's containers and read their own output (the pod log),
// but not exec into them.
constexpr struct {
  const char* request;
  bool confidential_default;
} kRequests[] = {
    {"CreateSandboxRequest", true},   {"CreateContainerRequest", true},
    {"StartContainerRequest", true},  {"ExecProcessRequest", false},
    {"ReadStdoutRequest", true},      {"ReadStderrRequest", true},
    {"WaitProcessRequest", true},     {"SignalProcessRequest", true},
    {"RemoveContainerRequest", true}, {"DestroySandboxRequest", true},
};

// A policy text of `default <Request> := ...` rules, one per request.
std::string PolicyText(const char* comment, bool allow_all) {
  std::string text = "package agent_policy\n\n# " + std::string(comment) + "\n";
  for (const auto& r : kRequests) {
    text += std::string("default ") + r.request +
            (allow_all || r.confidential_default ? " := true\n" : " := false\n");
  }
  return text;
}

}  // namespace

std::string_view DefaultAgentPolicyText() {
  static const std::string text = PolicyText(
      "coco's default for confidential pods: the pod's own work and log, no exec.", false);
  return text;
}

std::string_view AllowAllAgentPolicyText() {
  static const std::string text =
      PolicyText("Every request is allowed: for development only.", true);
  return text;
}

Result<std::unique_ptr<AgentPolicy>> CompileAgentPolicy(std::string_view name,
                                                        std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string raw;
  int line_no = 0;
  bool have_package = false;
  std::map<std::string, bool> rules;
  auto refuse = [&](const std::string& why) {
    return MakeError(Code::kPolicyInvalid,
                     "agent policy " + std::string(name) + " line " + std::to_string(line_no) +
                         ": " + why +
                         " (only `package agent_policy` and `default <Name>Request "
                         ":= true|false` rules are understood until the Rego "
                         "engine lands)");
  };
  while (std::getline(in, raw)) {
    ++line_no;
    std::string line = Trim(raw);
    if (line.empty()) continue;
    if (line.rfind("package ", 0) == 0) {
      if (Trim(line.substr(8)) != "agent_policy") return refuse("the package must be agent_policy");
      have_package = true;
      continue;
    }
    std::istringstream words(line);
    std::string kw, rule, op, value, extra;
    words >> kw >> rule >> op >> value >> extra;
    if (kw != "default" || (op != ":=" && op != "=") || (value != "true" && value != "false") ||
        !extra.empty() || rule.empty()) {
      return refuse("\"" + line + "\" is not a default rule");
    }
    if (rule.size() < 8 || rule.compare(rule.size() - 7, 7, "Request") != 0) {
      // Kata policies also set defaults such as AllowRequestsFailingPolicy; honour only that one.
      if (rule == "AllowRequestsFailingPolicy") {
        if (value == "true") {
          return refuse(
              "AllowRequestsFailingPolicy := true turns the policy off; use the "
              "allow-all policy instead");
        }
        continue;
      }
      return refuse("rule " + rule + " does not name a request");
    }
    if (rules.count(rule)) return refuse("rule " + rule + " is given twice");
    rules[rule] = value == "true";
  }
  if (!have_package) {
    return MakeError(Code::kPolicyInvalid,
                     "agent policy " + std::string(name) + " has no `package agent_policy` line");
  }
  return std::unique_ptr<AgentPolicy>(new DefaultsPolicy(std::string(name), std::move(rules)));
}

}  // namespace coco::agent
