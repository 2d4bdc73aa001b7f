// Docker references (src/signature/image_ref.h), plus a differential against the pull's parser:
// the image the puller fetches (oci::ImageLocation) must be the image the signature policy checks
// (signature::ImageReference of its DockerReference()), or a policy could vet the wrong image.
// Invariants: String() parses back to an equal reference; PolicyScopes() starts with the most
// specific scope; hosts and digests of parsed references pass their own validators.
#include "fuzz_util.h"
#include "oci/reference.h"
#include "signature/image_ref.h"

using coco::signature::ImageReference;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(coco::fuzz::AsString(data, size));
  (void)coco::signature::IsValidHost(text);
  (void)coco::signature::ValidateDigest(text);

  if (auto ref = ImageReference::Parse(text); ref.ok()) {
    auto again = ImageReference::Parse(ref->String());
    FUZZ_CHECK_OK(again);
    FUZZ_CHECK(*again == *ref);
    FUZZ_CHECK(coco::signature::IsValidHost(ref->host()));
    FUZZ_CHECK(!ref->has_digest() || coco::signature::ValidateDigest(ref->digest()).ok());
    auto scopes = ref->PolicyScopes();
    FUZZ_CHECK(!scopes.empty());
    FUZZ_CHECK(scopes[0] == (ref->name_only() ? ref->Name() : ref->String()));
    FUZZ_CHECK(ref->TagNameOnly().has_tag() || ref->has_digest());
  }

  auto loc = coco::oci::ImageLocation::Parse("docker://" + text);
  if (!loc.ok()) return 0;
  auto ref = ImageReference::Parse(loc->DockerReference());
  if (!ref.ok()) return 0;  // the signature check fails closed
  // The one normalisation ImageReference adds: index.docker.io is docker.io (with library/).
  bool index = loc->registry == "index.docker.io" && ref->host() == "docker.io";
  FUZZ_CHECK(ref->host() == loc->registry || index);
  FUZZ_CHECK(ref->path() == loc->repository ||
             (index && ref->path() == "library/" + loc->repository));
  FUZZ_CHECK(ref->tag() == loc->tag && ref->digest() == loc->digest);
  return 0;
}
