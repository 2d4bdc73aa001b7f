// registries.d YAML (src/signature/lookaside.h) and the signature URLs built from it.
// Invariants: merging the same document twice is accepted and changes nothing; a configured
// base URL (trailing '/' trimmed) yields signature URLs under it; http(s) lookaside reads stop at
// the first missing signature. (file:// is never read here: no file outside a temp dir.)
#include "fuzz_util.h"
#include "signature/lookaside.h"

namespace sig = coco::signature;

namespace {

constexpr char kDigest[] =
    "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string yaml(coco::fuzz::AsString(data, size));
  sig::RegistriesConfig cfg;
  if (!sig::RegistriesConfig::ParseYaml(yaml, "fuzz.yaml", cfg).ok()) return 0;

  sig::RegistriesConfig twice = cfg;
  FUZZ_CHECK_OK(sig::RegistriesConfig::ParseYaml(yaml, "again.yaml", twice));
  FUZZ_CHECK(twice.default_docker() == cfg.default_docker() && twice.docker() == cfg.docker());

  std::vector<std::string> refs = {"docker.io/library/busybox:latest",
                                   "registry.example.com:5000/team/app@" + std::string(kDigest)};
  for (const auto& [scope, entry] : cfg.docker()) refs.push_back(scope);
  for (const std::string& text : refs) {
    auto ref = sig::ImageReference::Parse(text);
    if (!ref.ok()) continue;
    for (bool write : {false, true}) {
      std::string base = cfg.BaseUrlFor(*ref, write);
      if (base.empty()) continue;
      auto url = sig::SignatureUrl(base, *ref, kDigest, 1);
      std::string trimmed = base.substr(0, base.find_last_not_of('/') + 1);  // as SignatureUrl does
      FUZZ_CHECK(url.ok() && url->rfind(trimmed + "/", 0) == 0);
      if (!write && (url->rfind("http://", 0) == 0 || url->rfind("https://", 0) == 0)) {
        int calls = 0;
        auto fetch = [&](const std::string& u) -> coco::Result<std::optional<std::string>> {
          ++calls;
          if (calls == 1) FUZZ_CHECK(u == *url);
          return calls <= 2 ? std::optional<std::string>("sig") : std::nullopt;
        };
        auto sigs = sig::ReadLookasideSignatures(base, *ref, kDigest, fetch);
        FUZZ_CHECK_OK(sigs);
        FUZZ_CHECK(sigs->size() == 2 && calls == 3);
      }
    }
  }
  return 0;
}
