#include "cli/image_common.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>

#include "attestation/attester.h"
#include "base/file.h"
#include "image/ocicrypt_keys.h"
#include "kbsclient/kbs_client.h"
#include "ocicrypt/keywrap.h"

namespace coco::cli {

std::string DefaultStore() {
  if (const char* s = std::getenv("COCO_IMAGE_STORE"); s && *s) return s;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::string(x) + "/coco/images";
  if (const char* h = std::getenv("HOME"); h && *h)
    return std::string(h) + "/.local/share/coco/images";
  return "/var/lib/coco/images";
}

void AddRegistryFlags(CLI::App* cmd, RegistryFlags* f) {
  cmd->add_option("--authfile", f->auth_file,
                  "docker-style auth.json with registry credentials ({\"auths\":{HOST:{auth}}})");
  cmd->add_option("--insecure-registry", f->insecure,
                  "HOST:PORT that may be reached over plain HTTP (localhost always may)");
  cmd->add_option("--registry-ca", f->ca_files, "extra PEM CA bundle for HTTPS registries");
  cmd->add_option("--retries", f->retries, "attempts per request")->capture_default_str();
}

Result<std::string> ReadFileOrResource(const std::string& path, const ResourceFetcher& broker,
                                       const std::string& what) {
  if (path.rfind("kbs:", 0) != 0) return ReadFile(path);
  if (!broker) {
    return MakeError(Code::kInvalidArgument,
                     what + " " + path + " is a broker resource: give --kbs URL");
  }
  auto r = broker(path);
  if (!r.ok()) return Annotate(r.error(), what + " " + path);
  return ToString(r->bytes());
}

Result<std::unique_ptr<oci::RegistryClient>> MakeRegistry(const RegistryFlags& f,
                                                          const ResourceFetcher& broker) {
  oci::RegistryOptions o;
  if (f.auth_file.rfind("kbs:", 0) == 0) {
    COCO_ASSIGN_OR_RETURN(o.auth_json, ReadFileOrResource(f.auth_file, broker, "auth file"));
  } else {
    o.auth_file = f.auth_file;
  }
  if (o.auth_file.empty()) {
    if (const char* a = std::getenv("REGISTRY_AUTH_FILE"); a && *a) o.auth_file = a;
  }
  o.insecure_registries = f.insecure;
  o.ca_files = f.ca_files;
  o.max_attempts = f.retries;
  o.proxy = net::ProxyConfigFromEnvironment();
  return oci::RegistryClient::Create(o);
}

Result<Opened> OpenSource(const std::string& src, const RegistryFlags& flags,
                          const ResourceFetcher& broker) {
  Opened o;
  COCO_ASSIGN_OR_RETURN(o.loc, oci::ImageLocation::Parse(src));
  COCO_ASSIGN_OR_RETURN(o.reg, MakeRegistry(flags, broker));
  COCO_ASSIGN_OR_RETURN(o.source, oci::OpenImageSource(o.loc, o.reg.get()));
  return o;
}

ProgressPrinter::ProgressPrinter() : tty_(::isatty(2) == 1) {}

void ProgressPrinter::Status(const std::string& line) {
  std::lock_guard<std::mutex> l(mu_);
  if (tty_) std::cerr << "\r\033[K";
  std::cerr << line << "\n";
}

void ProgressPrinter::Progress(size_t layer, uint64_t done, uint64_t total) {
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

oci::UnpackOptions UnpackFlags::ToOptions() const {
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

void AddKeyFlags(CLI::App* cmd, KeyFlags* f) {
  cmd->add_option("--decryption-key", f->decryption_keys,
                  "PEM private key for JWE-wrapped layer keys (repeatable)");
  cmd->add_option("--kbs", f->kbs,
                  "key broker URL: layer keys wrapped by the key provider (kid kbs:///...) are "
                  "fetched after attestation with the sample TEE");
  cmd->add_option("--kbs-cert", f->kbs_ca, "PEM CA certificate to trust for an https broker");
  cmd->add_option("--init-data", f->init_data, "init-data TOML sent to the broker with evidence");
  cmd->add_flag("--allow-ctr-key-wrap", f->allow_ctr,
                "accept key-provider packets wrapped with A256CTR (no integrity: a host that "
                "alters them can learn the layer key); refused by default");
}

ResourceFetcher BrokerFetcher(const KeyFlags& f) {
  if (f.kbs.empty()) return {};
  auto client = std::make_shared<std::unique_ptr<kbsclient::KbsClient>>();
  auto mu = std::make_shared<std::mutex>();
  std::string url = f.kbs, ca = f.kbs_ca, init_data = f.init_data;
  return [client, mu, url, ca, init_data](const std::string& uri) -> Result<SecretBytes> {
    std::lock_guard<std::mutex> lock(*mu);
    COCO_RETURN_IF_ERROR(kbsclient::ParseResourcePath(uri));
    if (!*client) {
      kbsclient::KbsClientOptions ko;
      ko.url = url;
      ko.ca_cert = ca;
      ko.proxy = net::ProxyConfigFromEnvironment();
      if (!init_data.empty()) {
        COCO_ASSIGN_OR_RETURN(std::string text, ReadFile(init_data));
        ko.init_data_toml = text;
      }
      COCO_ASSIGN_OR_RETURN(*client,
                            kbsclient::KbsClient::Create(ko, attestation::NewSampleAttester()));
    }
    return (*client)->GetResource(uri);
  };
}

Result<std::unique_ptr<image::LayerKeys>> MakeLayerKeys(const KeyFlags& f,
                                                        const ResourceFetcher& broker) {
  std::vector<std::unique_ptr<ocicrypt::KeyUnwrapper>> unwrappers;
  if (!f.decryption_keys.empty()) {
    std::vector<crypto::Key> keys;
    for (const std::string& path : f.decryption_keys) {
      COCO_ASSIGN_OR_RETURN(crypto::Key k, ocicrypt::LoadPrivateKey(path));
      keys.push_back(std::move(k));
    }
    unwrappers.push_back(ocicrypt::NewJweUnwrapper(std::move(keys)));
  }
  if (broker) unwrappers.push_back(ocicrypt::NewProviderUnwrapper(broker, f.allow_ctr));
  if (unwrappers.empty()) return std::unique_ptr<image::LayerKeys>();
  return image::NewOcicryptLayerKeys(std::move(unwrappers));
}

}  // namespace coco::cli
