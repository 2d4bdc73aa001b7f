// Init-data (src/attestation/runtime_data.h): the TOML document a guest sends with /attest and the
// agent reads from the host. Invariants: no crash (toml++ recursion stays within the bounds
// checked first), a parsed document's digest has its algorithm's size, and a document the bounds
// refuse is never parsed.
#include "attestation/runtime_data.h"
#include "base/toml_bounds.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = coco::fuzz::AsString(data, size);
  bool within = coco::CheckTomlBounds(text, "fuzz").ok();
  auto parsed = coco::attestation::ParseInitData(text);
  if (!within) FUZZ_CHECK(!parsed.ok());
  if (!parsed.ok()) return 0;
  size_t want = parsed->algorithm == "sha256" ? 32 : parsed->algorithm == "sha384" ? 48 : 64;
  FUZZ_CHECK(parsed->digest.size() == want);
  FUZZ_CHECK(parsed->data.is_object());
  return 0;
}
