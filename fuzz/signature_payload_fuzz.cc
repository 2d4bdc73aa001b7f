// The signed payload shared by simple signing and cosign (src/signature/payload.h).
// Invariant: a parsed payload re-serialised by MakePayload (with and without "optional") parses
// back to the same fields.
#include "fuzz_util.h"
#include "signature/payload.h"

namespace sig = coco::signature;

namespace {

void RoundTrip(const sig::SignaturePayload& p, const std::string& made) {
  auto again = sig::ParsePayload(made, p.type);
  FUZZ_CHECK_OK(again);
  FUZZ_CHECK(again->type == p.type && again->docker_reference == p.docker_reference &&
             again->manifest_digest == p.manifest_digest);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = coco::fuzz::AsString(data, size);
  for (const char* type : {sig::kSimpleSigningType, sig::kCosignType}) {
    auto p = sig::ParsePayload(text, type);
    if (!p.ok()) continue;
    FUZZ_CHECK(p->type == type);
    RoundTrip(*p, sig::MakePayload(*p));
    RoundTrip(*p, sig::MakePayload(*p, "fuzz", 1700000000));
  }
  return 0;
}
