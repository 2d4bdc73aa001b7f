// ImageLocation::Parse and Digest::Parse (src/oci/reference.h) on arbitrary text.
// Invariants: a parsed location prints (ToString) to text that parses back to the same
// location; a parsed digest prints back to exactly its input.
#include "fuzz_util.h"
#include "oci/reference.h"

using coco::oci::Digest;
using coco::oci::ImageLocation;

namespace {

bool Same(const ImageLocation& a, const ImageLocation& b) {
  return a.transport == b.transport && a.registry == b.registry && a.repository == b.repository &&
         a.tag == b.tag && a.digest == b.digest && a.dir == b.dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = coco::fuzz::AsString(data, size);

  if (auto d = Digest::Parse(text); d.ok()) {
    FUZZ_CHECK(d->str() == text);
    FUZZ_CHECK(!d->empty());
  }

  auto loc = ImageLocation::Parse(text);
  if (!loc.ok()) {
    FUZZ_CHECK(!loc.error().message.empty());
    return 0;
  }
  std::string printed = loc->ToString();
  auto again = ImageLocation::Parse(printed);
  FUZZ_CHECK_OK(again);
  FUZZ_CHECK(Same(*loc, *again));
  FUZZ_CHECK(again->ToString() == printed);
  if (loc->is_docker()) {
    FUZZ_CHECK(!loc->registry.empty() && !loc->repository.empty());
    FUZZ_CHECK(!loc->ManifestReference().empty());
    if (!loc->digest.empty()) FUZZ_CHECK(Digest::Parse(loc->digest).ok());
  } else {
    FUZZ_CHECK(!loc->dir.empty());
  }
  return 0;
}
