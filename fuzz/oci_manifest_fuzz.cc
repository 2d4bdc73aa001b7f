// Manifest, Index and ImageConfig parsing and DetectMediaType (src/oci/manifest.h).
// The first input byte picks the Content-Type the registry claims; the rest is the body.
// Invariants: Serialize() of a parsed manifest/index parses back and serializes identically;
// Index::Select never returns a descriptor without the requested platform.
#include "fuzz_util.h"
#include "oci/manifest.h"

namespace oci = coco::oci;

namespace {

constexpr const char* kContentTypes[] = {
    "",
    "application/json",
    oci::media::kOciManifest,
    oci::media::kOciIndex,
    oci::media::kDockerManifest,
    oci::media::kDockerList,
    "application/vnd.oci.image.index.v1+json; charset=utf-8",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
};

template <class T>
void RoundTrip(const T& parsed, std::string_view content_type) {
  std::string once = parsed.Serialize();
  auto again = T::Parse(once, content_type);
  FUZZ_CHECK_OK(again);
  FUZZ_CHECK(again->media_type == parsed.media_type);
  FUZZ_CHECK(again->Serialize() == once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view content_type = kContentTypes[data[0] % std::size(kContentTypes)];
  std::string_view body = coco::fuzz::AsString(data + 1, size - 1);

  auto mt = oci::DetectMediaType(body, content_type);
  if (auto m = oci::Manifest::Parse(body, content_type); m.ok()) {
    FUZZ_CHECK(mt.ok() && oci::IsManifestMediaType(*mt) && *mt == m->media_type);
    for (const auto& l : m->layers) FUZZ_CHECK(l.size >= 0 && !l.digest.empty());
    RoundTrip(*m, content_type);
  }
  if (auto idx = oci::Index::Parse(body, content_type); idx.ok()) {
    FUZZ_CHECK(mt.ok() && oci::IsIndexMediaType(*mt));
    RoundTrip(*idx, content_type);
    for (const char* arch : {"amd64", "arm64"}) {
      auto d = idx->Select("linux", arch, "");
      if (d.ok()) FUZZ_CHECK(d->platform && d->platform->architecture == arch);
    }
  }
  if (auto cfg = oci::ImageConfig::Parse(body); cfg.ok()) {
    for (const auto& d : cfg->diff_ids) FUZZ_CHECK(oci::Digest::Parse(d.str()).ok());
  }
  return 0;
}
