// RFC 8785 canonicalisation (src/jose/jcs.h), which binds the runtime data in attestation.
// Invariants: canonical text is valid JSON whose canonical form is itself (idempotence); the
// ECMAScript number form of a finite double reads back as that double.
#include <cmath>
#include <cstdlib>

#include "fuzz_util.h"
#include "jose/jcs.h"

namespace jose = coco::jose;
using Json = nlohmann::json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= sizeof(double)) {
    double d;
    std::memcpy(&d, data, sizeof d);
    std::string s = jose::FormatEcmaScriptNumber(d);
    if (std::isfinite(d)) FUZZ_CHECK(std::strtod(s.c_str(), nullptr) == d);
  }

  Json j = Json::parse(coco::fuzz::AsString(data, size), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  auto canon = jose::Canonicalize(j);
  if (!canon.ok()) return 0;
  Json back = Json::parse(*canon, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!back.is_discarded());
  auto again = jose::Canonicalize(back);
  FUZZ_CHECK_OK(again);
  FUZZ_CHECK(*again == *canon);
  return 0;
}
