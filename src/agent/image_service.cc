#include "agent/image_service.h"

#include <chrono>
#include <mutex>

#include "attestation/attester.h"
#include "attestation/tpm_attester.h"
#include "image/ocicrypt_keys.h"
#include "image/puller.h"
#include "image/signature_check.h"
#include "kbsclient/kbs_client.h"
#include "oci/content_store.h"
#include "oci/registry.h"
#include "oci/transport.h"
#include "oci/unpack.h"
#include "ocicrypt/provider_packet.h"

namespace coco::agent {
namespace {

using Clock = std::chrono::steady_clock;
int64_t Micros(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - since).count();
}

// What one pull collects while it runs: its own log (which the host sees) and the time spent
// attesting on its behalf. Pulls run concurrently; each has its own.
struct PullContext {
  std::mutex mu;
  std::vector<std::string> log;
  int64_t attest_us = 0;

  void Note(const std::string& line) {
    std::lock_guard<std::mutex> l(mu);
    log.push_back(line);
  }
};

class Service final : public ImageService {
 public:
  explicit Service(ImageServiceConfig c) : cfg_(std::move(c)) {}

  // For the pod's other users (sealed secrets, the workload's resource API): nothing goes into
  // a pull's log, which the host sees.
  Result<SecretBytes> GetResource(const std::string& uri) override {
    return Fetch(uri, /*pull=*/nullptr);
  }

  Result<PulledRootfs> PullAndUnpack(const std::string& image, const std::string& rootfs) override {
    PullContext ctx;
    auto out = PullInto(image, rootfs, ctx);
    if (!out.ok()) return out;
    std::lock_guard<std::mutex> l(ctx.mu);
    out->log = std::move(ctx.log);
    return out;
  }

 private:
  Result<PulledRootfs> PullInto(const std::string& image, const std::string& rootfs,
                                PullContext& ctx) {
    PulledRootfs out;
    COCO_ASSIGN_OR_RETURN(auto loc, oci::ImageLocation::Parse(image));
    if (loc.transport != oci::ImageLocation::Transport::kDocker) {
      return MakeError(Code::kInvalidArgument,
                       "the pod can only pull docker:// images, not " + image);
    }
    oci::RegistryOptions ro;
    ro.insecure_registries = cfg_.insecure_registries;
    ro.schemes = cfg_.registry_schemes;
    COCO_ASSIGN_OR_RETURN(auto reg, oci::RegistryClient::Create(ro));
    COCO_ASSIGN_OR_RETURN(auto source, oci::OpenImageSource(loc, reg.get()));
    COCO_ASSIGN_OR_RETURN(auto store, oci::ContentStore::Open(cfg_.store_dir));
    auto fetch = [this, &ctx](const std::string& uri) { return Fetch(uri, &ctx); };

    std::unique_ptr<image::SignatureCheck> check;
    if (!cfg_.image_policy.empty()) {
      image::PolicyCheckOptions po;
      po.registries_dir = cfg_.registries_dir;
      if (cfg_.image_policy.rfind("kbs:", 0) == 0) {
        COCO_ASSIGN_OR_RETURN(SecretBytes text, fetch(cfg_.image_policy));
        po.policy_json = ToString(text.bytes());
      } else {
        po.policy_json = cfg_.image_policy;
      }
      po.remote_keys = [fetch](const std::string& path) -> Result<std::string> {
        COCO_ASSIGN_OR_RETURN(SecretBytes key, fetch(path));
        return ToString(key.bytes());
      };
      COCO_ASSIGN_OR_RETURN(check, image::NewPolicySignatureCheck(po, reg.get()));
    }
    std::vector<std::unique_ptr<ocicrypt::KeyUnwrapper>> unwrappers;
    if (!cfg_.kbs_url.empty()) {
      unwrappers.push_back(ocicrypt::NewProviderUnwrapper(fetch, /*allow_ctr=*/false));
    }
    std::unique_ptr<image::LayerKeys> keys;
    if (!unwrappers.empty()) keys = image::NewOcicryptLayerKeys(std::move(unwrappers));

    image::PullOptions po;
    po.status = [&ctx](const std::string& s) { ctx.Note(s); };
    auto t_pull = Clock::now();
    auto pulled = image::Pull(loc, *source, *store, check.get(), keys.get(), po);
    int64_t attest_us;
    {
      std::lock_guard<std::mutex> l(ctx.mu);
      attest_us = ctx.attest_us;
    }
    int64_t pull_us = Micros(t_pull) - attest_us;
    if (!pulled.ok()) {
      return Annotate(pulled.error(), "image pull " + image);
    }
    out.manifest_digest = pulled->manifest.digest.str();
    out.config = pulled->config;
    out.timings.emplace_back("attestation", attest_us);
    out.timings.emplace_back("pull", pull_us);
    auto t_unpack = Clock::now();
    oci::UnpackOptions uo;
    auto stats = image::UnpackPulled(*pulled, *store, rootfs, uo);
    if (!stats.ok()) {
      return Annotate(stats.error(), "image unpack " + image);
    }
    out.timings.emplace_back("unpack", Micros(t_unpack));
    ctx.Note("unpacked " + std::to_string(stats->entries) + " entries");
    return out;
  }

  // The attestation (once) and the broker call; `pull`: the pull it serves, whose log gets the
  // lines and which is charged the attestation's time (null: nothing is logged, for the pod's
  // other users such as sealed secrets and the workload's resource API).
  Result<SecretBytes> Fetch(const std::string& uri, PullContext* pull) {
    std::lock_guard<std::mutex> l(broker_mu_);
    if (cfg_.kbs_url.empty()) {
      return MakeError(Code::kFailedPrecondition,
                       uri + " needs the key broker, and the pod has no broker URL");
    }
    if (!client_) {
      kbsclient::KbsClientOptions ko;
      ko.url = cfg_.kbs_url;
      ko.init_data_toml = cfg_.init_data;
      // The guest's own TEE when it has one. The sample fallback is no downgrade: detection
      // prefers real hardware, and a production broker refuses sample evidence.
      attestation::DetectOptions detect;
      detect.allow_sample = true;
      detect.tpm = [] { return attestation::NewTpmAttester(); };
      COCO_ASSIGN_OR_RETURN(auto attester, attestation::DetectAttester(detect));
      tee_ = attester->tee();
      COCO_ASSIGN_OR_RETURN(client_, kbsclient::KbsClient::Create(ko, std::move(attester)));
    }
    if (!attested_) {
      auto t0 = Clock::now();
      auto token = client_->Attest();
      if (!token.ok()) {
        return Annotate(token.error(), "attestation to " + cfg_.kbs_url);
      }
      attested_ = true;
      if (pull != nullptr) {
        {
          std::lock_guard<std::mutex> l(pull->mu);
          pull->attest_us = Micros(t0);
        }
        pull->Note("attested to " + cfg_.kbs_url + " (" + tee_ + " TEE" +
                   std::string(cfg_.init_data ? ", init-data digest bound" : "") +
                   "): token issued");
      }
    }
    auto r = client_->GetResource(uri);
    if (!r.ok()) {
      return Annotate(r.error(), "the key broker did not release " + uri);
    }
    if (pull != nullptr) {
      pull->Note("the broker released " + uri + " (" + std::to_string(r->bytes().size()) +
                 " bytes, encrypted to this pod's key)");
    }
    return r;
  }

  ImageServiceConfig cfg_;
  std::mutex broker_mu_;
  std::string tee_;  // the attester's TEE, once the client exists
  std::unique_ptr<kbsclient::KbsClient> client_;
  bool attested_ = false;
};

}  // namespace

Result<std::unique_ptr<ImageService>> ImageService::Create(const ImageServiceConfig& config) {
  if (config.store_dir.empty())
    return MakeError(Code::kInvalidArgument, "no image store directory");
  return std::unique_ptr<ImageService>(new Service(config));
}

}  // namespace coco::agent
