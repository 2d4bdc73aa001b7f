// Agent policy text (init-data's policy.rego; src/agent/agent_policy.h): compiling never
// crashes; a compiled policy answers every request name, and a refusal says why.
#include "agent/agent_policy.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto p = coco::agent::CompileAgentPolicy("fuzz", coco::fuzz::AsString(data, size));
  if (!p.ok()) {
    FUZZ_CHECK(p.error().code == coco::Code::kPolicyInvalid && !p.error().message.empty());
    return 0;
  }
  for (const char* r : {"CreateSandboxRequest", "ExecProcessRequest", "NoSuchRequest", ""}) {
    auto d = (*p)->Evaluate(r, {});
    FUZZ_CHECK(d.allow || !d.reason.empty());
  }
  return 0;
}
