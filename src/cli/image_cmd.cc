// coco image ...: pull, inspect, unpack, verify, sign and prune (encrypt/decrypt:
// image_crypt_cmd.cc).
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <tuple>

#include "base/file.h"
#include "cli/commands.h"
#include "cli/image_common.h"
#include "crypto/crypto.h"
#include "image/puller.h"
#include "image/signature_check.h"
#include "oci/content_store.h"
#include "oci/registry.h"
#include "oci/transport.h"
#include "oci/unpack.h"
#include "ocicrypt/options.h"
#include "ocicrypt/provider_packet.h"
#include "signature/cosign.h"
#include "signature/image_ref.h"
#include "signature/lookaside.h"
#include "signature/verify.h"

namespace coco::cli {

void AddImageCommands(CLI::App& app) {
  auto* image = app.add_subcommand(
      "image",
      "pull, inspect, encrypt, decrypt, sign and verify container images\n"
      "Image locations are written as skopeo writes them: docker://HOST[:PORT]/REPO[:TAG|@DIGEST] "
      "or oci:DIR[:TAG].");
  image->require_subcommand(1);

  // ---- pull ----
  struct PullArgs {
    std::string src, store = DefaultStore(), policy, registries_d, unpack;
    RegistryFlags reg;
    KeyFlags keys;
    int jobs = 3;
    UnpackFlags up;
  };
  auto p = std::make_shared<PullArgs>();
  auto* pull =
      image->add_subcommand("pull",
                            "pull an image into the content store, checking every digest\n"
                            "  coco image pull docker://127.0.0.1:5000/app:v1 --store /tmp/store\n"
                            "  coco image pull oci:./layout:v1\n"
                            "  coco image pull docker://127.0.0.1:5000/app:enc --decryption-key "
                            "key.pem --unpack ./rootfs\n"
                            "  coco image pull docker://127.0.0.1:5000/app:kbs --kbs "
                            "http://127.0.0.1:8080 --policy policy.json");
  pull->add_option("SRC", p->src, "image location")->required();
  pull->add_option("--store", p->store, "content store directory (env COCO_IMAGE_STORE)")
      ->capture_default_str();
  pull->add_option("--jobs", p->jobs, "layers downloaded at once")->capture_default_str();
  pull->add_option("--policy", p->policy,
                   "containers-policy.json (FILE or kbs:///R/T/G with --kbs) checked on every "
                   "pull, cached or not; kbs:/// key paths inside it come from the broker too");
  pull->add_option("--registries.d", p->registries_d,
                   "registries.d directory naming the signature lookaside stores");
  pull->add_option("--unpack", p->unpack,
                   "then unpack the root filesystem into this new directory (atomically)");
  AddRegistryFlags(pull, &p->reg);
  AddKeyFlags(pull, &p->keys);
  AddUnpackFlags(pull, &p->up);
  pull->callback([p] {
    auto broker = BrokerFetcher(p->keys);
    auto opened = OpenSource(p->src, p->reg, broker);
    if (!opened.ok()) return Fail(opened.error().message);
    auto& [loc_v, reg_v, source_v] = *opened;
    auto* loc = &loc_v;
    auto* reg = &reg_v;
    auto* source = &source_v;
    auto store = oci::ContentStore::Open(p->store);
    if (!store.ok()) return Fail(store.error().message);
    ProgressPrinter printer;
    image::PullOptions opts;
    opts.max_concurrent_layers = p->jobs;
    opts.status = [&](const std::string& s) { printer.Status(s); };
    opts.progress = [&](size_t i, uint64_t d, uint64_t t) { printer.Progress(i, d, t); };
    std::unique_ptr<image::SignatureCheck> check;
    if (!p->policy.empty()) {
      image::PolicyCheckOptions po{p->policy, "", p->registries_d, {}};
      if (p->policy.rfind("kbs:", 0) == 0) {
        auto text = ReadFileOrResource(p->policy, broker, "policy");
        if (!text.ok()) return Fail(text.error().message);
        po.policy_json = *text;
      }
      if (broker) {
        po.remote_keys = [broker](const std::string& path) -> Result<std::string> {
          COCO_ASSIGN_OR_RETURN(SecretBytes key, broker(path));
          return ToString(key.bytes());
        };
      }
      auto c = image::NewPolicySignatureCheck(po, reg->get());
      if (!c.ok()) return Fail(c.error().message);
      check = std::move(*c);
    }
    auto keys = MakeLayerKeys(p->keys, broker);
    if (!keys.ok()) return Fail(keys.error().message);
    auto pulled = image::Pull(*loc, **source, **store, check.get(), keys->get(), opts);
    if (!pulled.ok()) return Fail("image pull " + p->src + ": " + pulled.error().message);
    if (!p->unpack.empty()) {
      auto stats = image::UnpackPulled(*pulled, **store, p->unpack, p->up.ToOptions());
      if (!stats.ok()) return Fail("unpack into " + p->unpack + ": " + stats.error().message);
      for (const auto& w : stats->warnings) printer.Status("warning: " + w);
      printer.Status("unpacked " + std::to_string(stats->entries) + " entries (" +
                     std::to_string(stats->uncompressed_bytes) + " bytes) into " + p->unpack);
    }
    std::cout << pulled->manifest.digest.str() << "\n";
  });

  // ---- inspect ----
  struct InspectArgs {
    std::string src;
    RegistryFlags reg;
    bool raw = false;
  };
  auto in = std::make_shared<InspectArgs>();
  auto* inspect = image->add_subcommand(
      "inspect",
      "print an image's manifest digest, layers (and whether they are encrypted) and config\n"
      "  coco image inspect docker://127.0.0.1:5000/app:v1\n"
      "  coco image inspect --raw oci:./layout:v1 | jq .");
  inspect->add_option("SRC", in->src, "image location")->required();
  inspect->add_flag("--raw", in->raw, "print the manifest exactly as stored");
  AddRegistryFlags(inspect, &in->reg);
  inspect->callback([in] {
    auto opened = OpenSource(in->src, in->reg);
    if (!opened.ok()) return Fail(opened.error().message);
    auto& [loc_v, reg_v, source_v] = *opened;
    auto* loc = &loc_v;
    auto* source = &source_v;
    auto m = oci::ResolveManifest(**source);
    if (!m.ok()) return Fail(m.error().message);
    if (in->raw) {
      std::cout << m->bytes << "\n";
      return;
    }
    auto parsed = oci::Manifest::Parse(m->bytes, m->media_type);
    if (!parsed.ok()) return Fail(parsed.error().message);
    nlohmann::json out;
    out["location"] = loc->ToString();
    out["digest"] = m->digest.str();
    out["mediaType"] = m->media_type;
    out["config"] = parsed->config.digest.str();
    out["layers"] = nlohmann::json::array();
    for (const auto& l : parsed->layers) {
      nlohmann::json j = {{"digest", l.digest.str()},
                          {"size", l.size},
                          {"mediaType", l.media_type},
                          {"encrypted", !image::PlainMediaType(l.media_type).empty()}};
      nlohmann::json keys = nlohmann::json::array();
      nlohmann::json kids = nlohmann::json::array();
      for (const auto& [k, v] : l.annotations) {
        if (k.rfind(ocicrypt::kAnnotationKeysPrefix, 0) != 0) continue;
        keys.push_back(k.substr(sizeof(ocicrypt::kAnnotationKeysPrefix) - 1));
        if (k.rfind(ocicrypt::kAnnotationProviderPrefix, 0) != 0) continue;
        // Key ids of key-provider packets: which broker resources this image needs.
        size_t start = 0;
        while (start < v.size() && kids.size() < 64) {
          size_t end = std::min(v.find(',', start), v.size());
          auto blob = Base64Decode(std::string_view(v).substr(start, end - start));
          auto packet = blob.ok() ? ocicrypt::ParseProviderPacket(*blob)
                                  : Result<ocicrypt::ProviderPacket>(blob.error());
          if (packet.ok()) kids.push_back(packet->kid);
          start = end + 1;
        }
      }
      if (!keys.empty()) j["keyWrappers"] = keys;
      if (!kids.empty()) j["keyIds"] = kids;
      out["layers"].push_back(j);
    }
    std::cout << out.dump(2) << "\n";
  });

  // ---- unpack ----
  struct UnpackArgs {
    std::string src, dir, store = DefaultStore();
    RegistryFlags reg;
    KeyFlags keys;
    UnpackFlags up;
  };
  auto u = std::make_shared<UnpackArgs>();
  auto* unpack = image->add_subcommand(
      "unpack",
      "unpack an image's root filesystem into a new directory (pulling what the store lacks);\n"
      "nothing is created or followed outside DIR, and DIR appears only when complete\n"
      "  coco image unpack docker://127.0.0.1:5000/app:v1 ./rootfs\n"
      "  coco image unpack oci:./layout:v1 ./rootfs --ownership mine --devices skip");
  unpack->add_option("SRC", u->src, "image location")->required();
  unpack->add_option("DIR", u->dir, "root directory to create")->required();
  unpack->add_option("--store", u->store, "content store directory")->capture_default_str();
  AddRegistryFlags(unpack, &u->reg);
  AddKeyFlags(unpack, &u->keys);
  AddUnpackFlags(unpack, &u->up);
  unpack->callback([u] {
    auto broker = BrokerFetcher(u->keys);
    auto opened = OpenSource(u->src, u->reg, broker);
    if (!opened.ok()) return Fail(opened.error().message);
    auto& [loc_v, reg_v, source_v] = *opened;
    auto* loc = &loc_v;
    auto* source = &source_v;
    auto store = oci::ContentStore::Open(u->store);
    if (!store.ok()) return Fail(store.error().message);
    ProgressPrinter printer;
    image::PullOptions opts;
    opts.status = [&](const std::string& s) { printer.Status(s); };
    auto keys = MakeLayerKeys(u->keys, broker);
    if (!keys.ok()) return Fail(keys.error().message);
    auto pulled = image::Pull(*loc, **source, **store, nullptr, keys->get(), opts);
    if (!pulled.ok()) return Fail("image pull " + u->src + ": " + pulled.error().message);
    auto stats = image::UnpackPulled(*pulled, **store, u->dir, u->up.ToOptions());
    if (!stats.ok()) return Fail("unpack into " + u->dir + ": " + stats.error().message);
    for (const auto& w : stats->warnings) printer.Status("warning: " + w);
    std::cout << "unpacked " << stats->entries << " entries (" << stats->uncompressed_bytes
              << " bytes) into " << u->dir << "\n";
  });

  AddImageCryptCommands(image);

  // ---- verify ----
  struct VerifyArgs {
    std::string src, policy, registries_d;
    RegistryFlags reg;
  };
  auto v = std::make_shared<VerifyArgs>();
  auto* verify = image->add_subcommand(
      "verify",
      "check an image against a containers-policy.json (GPG simple signing, cosign keys)\n"
      "  coco image verify docker://127.0.0.1:5000/app:v1 --policy policy.json "
      "--registries.d ./registries.d");
  verify->add_option("SRC", v->src, "docker:// image location")->required();
  verify->add_option("--policy", v->policy, "containers-policy.json")->required();
  verify->add_option("--registries.d", v->registries_d,
                     "registries.d directory naming the signature lookaside stores");
  AddRegistryFlags(verify, &v->reg);
  verify->callback([v] {
    auto opened = OpenSource(v->src, v->reg);
    if (!opened.ok()) return Fail(opened.error().message);
    auto& [loc_v, reg_v, source_v] = *opened;
    auto* loc = &loc_v;
    auto* reg = &reg_v;
    auto* source = &source_v;
    auto m = oci::ResolveManifest(**source);
    if (!m.ok()) return Fail(m.error().message);
    auto check = image::NewPolicySignatureCheck({v->policy, "", v->registries_d, {}}, reg->get());
    if (!check.ok()) return Fail(check.error().message);
    Status s = (*check)->Verify(*loc, *m, **source);
    if (!s.ok()) return Fail("refused: " + s.error().message);
    std::cout << "accepted: " << loc->ToString() << " (" << m->digest.str() << ")\n";
  });

  // ---- sign ----
  struct SignArgs {
    std::string src, gpg_key, gnupg_home, cosign_key, registries_d;
    RegistryFlags reg;
  };
  auto sg = std::make_shared<SignArgs>();
  auto* sign = image->add_subcommand(
      "sign",
      "sign an image in a registry: GPG simple signing into the registries.d lookaside "
      "store, or a cosign key signature pushed as the sha256-<hex>.sig tag\n"
      "  coco image sign docker://127.0.0.1:5000/app:v1 --gpg-key alice@example.com "
      "--registries.d ./registries.d\n"
      "  coco image sign docker://127.0.0.1:5000/app:v1 --cosign-key cosign.key.pem");
  sign->add_option("SRC", sg->src, "docker:// image location")->required();
  auto* gpg = sign->add_option("--gpg-key", sg->gpg_key, "GPG key id, fingerprint or e-mail");
  sign->add_option("--gnupg-home", sg->gnupg_home, "GnuPG home with the secret key");
  auto* cos = sign->add_option("--cosign-key", sg->cosign_key,
                               "EC P-256 private key (PEM, unencrypted) for a cosign signature");
  gpg->excludes(cos);
  sign->add_option("--registries.d", sg->registries_d,
                   "registries.d directory naming the lookaside store to write (GPG)");
  AddRegistryFlags(sign, &sg->reg);
  sign->callback([sg] {
    if (sg->gpg_key.empty() == sg->cosign_key.empty()) {
      return Fail("give exactly one of --gpg-key and --cosign-key");
    }
    auto opened = OpenSource(sg->src, sg->reg);
    if (!opened.ok()) return Fail(opened.error().message);
    auto& [loc_v, reg_v, source_v] = *opened;
    auto* loc = &loc_v;
    auto* reg = &reg_v;
    auto* source = &source_v;
    if (!loc->is_docker()) return Fail("coco image sign signs docker:// images");
    auto m = oci::ResolveManifest(**source);
    if (!m.ok()) return Fail(m.error().message);
    auto ref = signature::ImageReference::Parse(loc->DockerReference());
    if (!ref.ok()) return Fail(ref.error().message);
    if (!sg->gpg_key.empty()) {
      auto registries = signature::RegistriesConfig::LoadDir(sg->registries_d);
      if (!registries.ok()) return Fail(registries.error().message);
      signature::GpgSignOptions go;
      go.key = sg->gpg_key;
      go.gnupg_home = sg->gnupg_home;
      auto url = signature::SignToLookaside(*registries, *ref, m->digest.str(), go);
      if (!url.ok()) return Fail(url.error().message);
      std::cout << "signed " << m->digest.str() << ": " << *url << "\n";
      return;
    }
    auto pem = ReadFile(sg->cosign_key);
    if (!pem.ok()) return Fail(pem.error().message);
    auto key = crypto::Key::FromPem(*pem);
    if (!key.ok()) return Fail("cannot read " + sg->cosign_key + ": " + key.error().message);
    auto signed_ =
        signature::SignCosign(*key, ref->WithDigest("").TagNameOnly().String(), m->digest.str());
    if (!signed_.ok()) return Fail(signed_.error().message);
    auto dest_loc = *loc;
    dest_loc.tag = signed_->tag;
    dest_loc.digest.clear();
    for (const auto& [bytes, digest, type] :
         {std::tuple{signed_->payload, signed_->payload_digest,
                     "application/vnd.dev.cosign.simplesigning.v1+json"},
          std::tuple{signed_->config, signed_->config_digest,
                     "application/vnd.oci.image.config.v1+json"}}) {
      oci::Descriptor d;
      auto dg = oci::Digest::Parse(digest);
      if (!dg.ok()) return Fail(dg.error().message);
      d.digest = *dg;
      d.size = static_cast<int64_t>(bytes.size());
      d.media_type = type;
      MemoryReader r(bytes);
      Status s = (*reg)->PushBlob(dest_loc, d, r);
      if (!s.ok()) return Fail(s.error().message);
    }
    Status s =
        (*reg)->PushManifest(dest_loc, signed_->tag, oci::media::kOciManifest, signed_->manifest);
    if (!s.ok()) return Fail(s.error().message);
    std::cout << "signed " << m->digest.str() << ": cosign signature pushed as " << loc->registry
              << "/" << loc->repository << ":" << signed_->tag << "\n";
  });

  // ---- prune ----
  auto pr_store = std::make_shared<std::string>(DefaultStore());
  auto* prune = image->add_subcommand(
      "prune",
      "remove blobs that no pulled image uses, and leftovers of interrupted pulls\n"
      "  coco image prune --store /tmp/store");
  prune->add_option("--store", *pr_store, "content store directory")->capture_default_str();
  prune->callback([pr_store] {
    auto store = oci::ContentStore::Open(*pr_store);
    if (!store.ok()) return Fail(store.error().message);
    auto r = (*store)->Prune();
    if (!r.ok()) return Fail(r.error().message);
    std::cout << "removed " << r->blobs_removed << " blobs (" << r->bytes_removed << " bytes) and "
              << r->temp_files_removed << " temporary files; kept " << r->blobs_kept << " blobs\n";
  });
}

}  // namespace coco::cli
