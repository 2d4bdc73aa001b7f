#include "image/signature_check.h"

#include "signature/image_ref.h"
#include "signature/lookaside.h"

namespace coco::image {
namespace {

constexpr size_t kMaxSignatureBlob = 4 << 20;

class StringSink : public Writer {
 public:
  Status Write(const uint8_t* p, size_t n) override {
    if (data.size() + n > kMaxSignatureBlob) {
      return MakeError(Code::kTooLarge, "signature blob over " + std::to_string(kMaxSignatureBlob));
    }
    data.append(reinterpret_cast<const char*>(p), n);
    return Status::Ok();
  }
  std::string data;
};

oci::ImageLocation LocationOf(const signature::ImageReference& ref, const std::string& tag) {
  oci::ImageLocation loc;
  loc.registry = ref.host();
  loc.repository = ref.path();
  loc.tag = tag;
  return loc;
}

class PolicyCheck : public SignatureCheck {
 public:
  PolicyCheck(signature::Policy policy, signature::RegistriesConfig registries,
              signature::KeyResolver remote_keys, oci::RegistryClient* registry)
      : policy_(std::move(policy)),
        registries_(std::move(registries)),
        remote_keys_(std::move(remote_keys)),
        registry_(registry) {}

  Status Verify(const oci::ImageLocation& location, const oci::FetchedManifest& manifest,
                oci::ImageSource& source) override {
    if (!location.is_docker()) {
      return MakeError(Code::kInvalidArgument,
                       "signature policies apply to docker:// images; " + location.ToString() +
                           " is a local layout (copy it to a registry, or pull without --policy)");
    }
    COCO_ASSIGN_OR_RETURN(auto ref, signature::ImageReference::Parse(location.DockerReference()));
    oci::RegistryClient* reg = registry_;
    auto by_tag = [reg](const signature::ImageReference& image,
                        const std::string& tag) -> Result<std::optional<std::string>> {
      auto m = reg->GetManifest(LocationOf(image, tag), tag);
      if (!m.ok() && m.error().code == Code::kNotFound) return std::optional<std::string>();
      if (!m.ok()) return m.error();
      return std::optional<std::string>(m->bytes);
    };
    auto by_digest = [reg](const signature::ImageReference& image,
                           const std::string& digest) -> Result<std::string> {
      oci::Descriptor d;
      COCO_ASSIGN_OR_RETURN(d.digest, oci::Digest::Parse(digest));
      d.size = kMaxSignatureBlob;
      StringSink sink;
      COCO_RETURN_IF_ERROR(reg->FetchBlob(LocationOf(image, ""), d, sink));
      return sink.data;
    };
    auto http = [reg](const std::string& url) { return reg->FetchUrl(url); };
    signature::StoreSignatureSources sources(registries_, http, by_tag, by_digest);
    signature::VerifyOptions vo;
    vo.remote_keys = remote_keys_;
    // The digest of the manifest pulled (for an index: of the platform manifest, as signed).
    return signature::Verify(policy_, ref, manifest.digest.str(), sources, vo);
  }

 private:
  signature::Policy policy_;
  signature::RegistriesConfig registries_;
  signature::KeyResolver remote_keys_;
  oci::RegistryClient* registry_;
};

}  // namespace

Result<std::unique_ptr<SignatureCheck>> NewPolicySignatureCheck(const PolicyCheckOptions& options,
                                                                oci::RegistryClient* registry) {
  auto loaded = options.policy_json.empty() ? signature::Policy::Load(options.policy_file)
                                            : signature::Policy::Parse(options.policy_json);
  COCO_ASSIGN_OR_RETURN(auto policy, std::move(loaded));
  signature::RegistriesConfig registries;
  if (!options.registries_dir.empty()) {
    COCO_ASSIGN_OR_RETURN(registries, signature::RegistriesConfig::LoadDir(options.registries_dir));
  }
  return std::unique_ptr<SignatureCheck>(std::make_unique<PolicyCheck>(
      std::move(policy), std::move(registries), options.remote_keys, registry));
}

}  // namespace coco::image
