// coco image ...: pull, inspect and prune images (encrypt/decrypt/sign/verify/unpack join here).
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <tuple>

#include "base/file.h"
#include "cli/commands.h"
#include "crypto/crypto.h"
#include "image/puller.h"
#include "image/signature_check.h"
#include "oci/content_store.h"
#include "oci/registry.h"
#include "oci/transport.h"
#include "oci/unpack.h"
#include "signature/cosign.h"
#include "signature/image_ref.h"
#include "signature/lookaside.h"
#include "signature/verify.h"

namespace coco::cli {
namespace {

std::string DefaultStore() {
  if (const char* s = std::getenv("COCO_IMAGE_STORE"); s && *s) return s;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/coco/images";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.local/share/coco/images";
  return "/var/lib/coco/images";
}

struct RegistryFlags {
  std::string auth_file;
  std::vector<std::string> insecure;
  std::vector<std::string> ca_files;
  int retries = 4;
};

void AddRegistryFlags(CLI::App* cmd, RegistryFlags* f) {
  cmd->add_option("--authfile", f->auth_file,
                  "docker-style auth.json with registry credentials ({\"auths\":{HOST:{auth}}})");
  cmd->add_option("--insecure-registry", f->insecure,
                  "HOST:PORT that may be reached over plain HTTP (localhost always may)");
  cmd->add_option("--registry-ca", f->ca_files, "extra PEM CA bundle for HTTPS registries");
  cmd->add_option("--retries", f->retries, "attempts per request")->capture_default_str();
}

Result<std::unique_ptr<oci::RegistryClient>> MakeRegistry(const RegistryFlags& f) {
  oci::RegistryOptions o;
  o.auth_file = f.auth_file;
  if (o.auth_file.empty()) {
    if (const char* a = std::getenv("REGISTRY_AUTH_FILE"); a && *a) o.auth_file = a;
  }
  o.insecure_registries = f.insecure;
  o.ca_files = f.ca_files;
  o.max_attempts = f.retries;
  return oci::RegistryClient::Create(o);
}

// An image location with the registry client and source that serve it.
struct Opened {
  oci::ImageLocation loc;
  std::unique_ptr<oci::RegistryClient> reg;
  std::unique_ptr<oci::ImageSource> source;
};

Result<Opened> OpenSource(const std::string& src, const RegistryFlags& flags) {
  Opened o;
  COCO_ASSIGN_OR_RETURN(o.loc, oci::ImageLocation::Parse(src));
  COCO_ASSIGN_OR_RETURN(o.reg, MakeRegistry(flags));
  COCO_ASSIGN_OR_RETURN(o.source, oci::OpenImageSource(o.loc, o.reg.get()));
  return o;
}

// Progress: a bar per layer on a terminal, plain lines otherwise.
class ProgressPrinter {
 public:
  ProgressPrinter() : tty_(::isatty(2) == 1) {}
  void Status(const std::string& line) {
    std::lock_guard<std::mutex> l(mu_);
    if (tty_) std::cerr << "\r\033[K";
    std::cerr << line << "\n";
  }
  void Progress(size_t layer, uint64_t done, uint64_t total) {
    if (!tty_ || total == 0) return;
    std::lock_guard<std::mutex> l(mu_);
    int pct = static_cast<int>(done * 100 / total);
    if (pct == last_pct_ && layer == last_layer_) return;
    last_pct_ = pct;
    last_layer_ = layer;
    std::string bar(static_cast<size_t>(pct / 4), '#');
    bar.resize(25, '.');
    std::cerr << "\r\033[Klayer " << layer + 1 << " [" << bar << "] " << pct << "% "
              << done / (1 << 20) << "/" << total / (1 << 20) << " MiB" << std::flush;
  }

 private:
  bool tty_;
  std::mutex mu_;
  int last_pct_ = -1;
  size_t last_layer_ = 0;
};

struct UnpackFlags {
  std::string ownership = "auto", devices = "create";
  bool strip_setuid = false;
  uint64_t max_entries = 1'000'000;
  uint64_t max_bytes = 64ull << 30;
  oci::UnpackOptions ToOptions() const {
    oci::UnpackOptions o;
    o.ownership = ownership == "keep"   ? oci::UnpackOptions::Ownership::kKeep
                  : ownership == "mine" ? oci::UnpackOptions::Ownership::kCurrentUser
                                        : oci::UnpackOptions::Ownership::kDefault;
    o.devices = devices == "skip"     ? oci::UnpackOptions::Devices::kSkip
                : devices == "refuse" ? oci::UnpackOptions::Devices::kRefuse
                                      : oci::UnpackOptions::Devices::kCreate;
    o.keep_setuid_setgid = !strip_setuid;
    o.max_entries = max_entries;
    o.max_total_bytes = max_bytes;
    return o;
  }
};

void AddUnpackFlags(CLI::App* cmd, UnpackFlags* f) {
  cmd->add_option("--ownership", f->ownership,
                  "auto: as in the layers when run as root, else yours; keep; mine")
      ->check(CLI::IsMember({"auto", "keep", "mine"}))
      ->capture_default_str();
  cmd->add_option("--devices", f->devices,
                  "device nodes: create (when root; skipped otherwise), skip, refuse")
      ->check(CLI::IsMember({"create", "skip", "refuse"}))
      ->capture_default_str();
  cmd->add_flag("--strip-setuid", f->strip_setuid, "clear setuid/setgid bits");
  cmd->add_option("--max-entries", f->max_entries, "limit on tar entries per layer")
      ->capture_default_str();
  cmd->add_option("--max-bytes", f->max_bytes, "limit on uncompressed bytes")
      ->capture_default_str();
}

class StringReader : public Reader {
 public:
  explicit StringReader(const std::string& s) : s_(s) {}
  Result<size_t> Read(uint8_t* buf, size_t n) override {
    size_t k = std::min(n, s_.size() - off_);
    std::memcpy(buf, s_.data() + off_, k);
    off_ += k;
    return k;
  }

 private:
  const std::string& s_;
  size_t off_ = 0;
};

}  // namespace

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
    int jobs = 3;
    UnpackFlags up;
  };
  auto p = std::make_shared<PullArgs>();
  auto* pull =
      image->add_subcommand("pull",
                            "pull an image into the content store, checking every digest\n"
                            "  coco image pull docker://127.0.0.1:5000/app:v1 --store /tmp/store\n"
                            "  coco image pull oci:./layout:v1");
  pull->add_option("SRC", p->src, "image location")->required();
  pull->add_option("--store", p->store, "content store directory (env COCO_IMAGE_STORE)")
      ->capture_default_str();
  pull->add_option("--jobs", p->jobs, "layers downloaded at once")->capture_default_str();
  pull->add_option("--policy", p->policy,
                   "containers-policy.json checked on every pull (cached or not)");
  pull->add_option("--registries.d", p->registries_d,
                   "registries.d directory naming the signature lookaside stores");
  pull->add_option("--unpack", p->unpack,
                   "then unpack the root filesystem into this new directory (atomically)");
  AddRegistryFlags(pull, &p->reg);
  AddUnpackFlags(pull, &p->up);
  pull->callback([p] {
    auto opened = OpenSource(p->src, p->reg);
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
      auto c = image::NewPolicySignatureCheck({p->policy, p->registries_d, {}}, reg->get());
      if (!c.ok()) return Fail(c.error().message);
      check = std::move(*c);
    }
    auto pulled = image::Pull(*loc, **source, **store, check.get(), nullptr, opts);
    if (!pulled.ok()) return Fail("pull of " + p->src + " failed: " + pulled.error().message);
    if (!p->unpack.empty()) {
      auto stats = image::UnpackPulled(*pulled, **store, p->unpack, p->up.ToOptions());
      if (!stats.ok())
        return Fail("unpack into " + p->unpack + " failed: " + stats.error().message);
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
      for (const auto& [k, v] : l.annotations) {
        if (k.rfind("org.opencontainers.image.enc.keys.", 0) == 0) keys.push_back(k.substr(34));
      }
      if (!keys.empty()) j["keyWrappers"] = keys;
      out["layers"].push_back(j);
    }
    std::cout << out.dump(2) << "\n";
  });

  // ---- unpack ----
  struct UnpackArgs {
    std::string src, dir, store = DefaultStore();
    RegistryFlags reg;
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
  AddUnpackFlags(unpack, &u->up);
  unpack->callback([u] {
    auto opened = OpenSource(u->src, u->reg);
    if (!opened.ok()) return Fail(opened.error().message);
    auto& [loc_v, reg_v, source_v] = *opened;
    auto* loc = &loc_v;
    auto* source = &source_v;
    auto store = oci::ContentStore::Open(u->store);
    if (!store.ok()) return Fail(store.error().message);
    ProgressPrinter printer;
    image::PullOptions opts;
    opts.status = [&](const std::string& s) { printer.Status(s); };
    auto pulled = image::Pull(*loc, **source, **store, nullptr, nullptr, opts);
    if (!pulled.ok()) return Fail("pull of " + u->src + " failed: " + pulled.error().message);
    auto stats = image::UnpackPulled(*pulled, **store, u->dir, u->up.ToOptions());
    if (!stats.ok()) return Fail("unpack into " + u->dir + " failed: " + stats.error().message);
    for (const auto& w : stats->warnings) printer.Status("warning: " + w);
    std::cout << "unpacked " << stats->entries << " entries (" << stats->uncompressed_bytes
              << " bytes) into " << u->dir << "\n";
  });

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
    auto check = image::NewPolicySignatureCheck({v->policy, v->registries_d, {}}, reg->get());
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
      StringReader r(bytes);
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
