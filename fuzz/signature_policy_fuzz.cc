// containers-policy.json (src/signature/policy.h): parsing, scope lookup and signedIdentity
// matching for a few images.
// Invariants: every lookup yields a non-empty requirement list; a docker scope that is itself
// a normalised repository is found for that repository; each identity rule accepts the
// signature identities it is defined to accept.
#include "fuzz_util.h"
#include "signature/policy.h"

namespace sig = coco::signature;
using Id = sig::SignedIdentity::Type;

namespace {

void CheckIdentity(const sig::SignedIdentity& rule, const sig::ImageReference& image) {
  // A tag+digest image is matched by either form alone (see MatchSignedIdentity).
  std::string same =
      image.has_digest() && image.has_tag() ? image.WithDigest("").String() : image.String();
  bool ok = sig::MatchSignedIdentity(rule, image, same).ok();
  switch (rule.type) {
    case Id::kMatchExact:
    case Id::kMatchRepoDigestOrExact:
    case Id::kMatchRepository:
      FUZZ_CHECK(ok);  // the image's own identity always matches
      break;
    case Id::kExactReference:
      FUZZ_CHECK(sig::MatchSignedIdentity(rule, image, rule.docker_reference).ok());
      break;
    case Id::kExactRepository:
      FUZZ_CHECK(sig::MatchSignedIdentity(rule, image, rule.docker_repository + ":v1").ok());
      break;
    case Id::kRemapIdentity:
      break;
  }
  (void)sig::MatchSignedIdentity(rule, image, "docker.io/library/busybox:latest");
  (void)sig::MatchSignedIdentity(rule, image, "not a reference");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto policy = sig::Policy::Parse(coco::fuzz::AsString(data, size));
  if (!policy.ok()) return 0;
  FUZZ_CHECK(!policy->default_requirements().empty());

  std::vector<std::string> images = {
      "docker.io/library/busybox:latest",
      "registry.example.com:5000/team/app:v1@sha256:"
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
  auto docker = policy->transports().find("docker");
  if (docker != policy->transports().end()) {
    for (const auto& [scope, reqs] : docker->second) {
      FUZZ_CHECK(!reqs.empty());
      auto ref = sig::ImageReference::Parse(scope);
      if (!ref.ok() || !ref->name_only() || ref->Name() != scope) continue;
      images.push_back(scope + ":v1");
      auto m = policy->ForDocker(ref->WithTag("v1"));
      FUZZ_CHECK(!m.is_default && !m.scope.empty());
    }
  }
  for (const std::string& text : images) {
    auto image = sig::ImageReference::Parse(text);
    if (!image.ok()) continue;
    auto m = policy->ForDocker(*image);
    FUZZ_CHECK(m.requirements != nullptr && !m.requirements->empty());
    FUZZ_CHECK(!m.Describe().empty());
    for (const auto& r : *m.requirements) {
      FUZZ_CHECK(!sig::RequirementTypeName(r.type).empty());
      CheckIdentity(r.signed_identity, *image);
    }
  }
  auto other = policy->ForTransport("oci", {"/var/lib/images/app", "/var/lib/images"});
  FUZZ_CHECK(other.requirements != nullptr && !other.requirements->empty());
  return 0;
}
