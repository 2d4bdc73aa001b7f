// Sealed secrets (src/agent/sealed_secret.h) as they arrive in a container's environment:
// never a crash, and nothing is released unless the ES256 signature verifies (it cannot here:
// the key below signs nothing the fuzzer makes).
#include <nlohmann/json.hpp>

#include "agent/sealed_secret.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string kJwk =
      R"({"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
  bool released = false;
  auto get = [&](const std::string& uri) -> coco::Result<coco::SecretBytes> {
    if (uri == "kbs:///default/sealed-key/1") return coco::SecretBytes(coco::ToBytes(kJwk));
    released = true;
    return coco::SecretBytes(coco::ToBytes("secret"));
  };
  auto r = coco::agent::UnsealSecret(coco::fuzz::AsString(data, size), get);
  FUZZ_CHECK(!r.ok() && !released);
  FUZZ_CHECK(!r.error().message.empty());
  return 0;
}
