// Pieces shared by the `coco image ...` and `coco keyprovider` commands: store location,
// registry and unpack flags, key flags, progress output.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "base/stream.h"
#include "image/puller.h"
#include "oci/registry.h"
#include "oci/transport.h"
#include "oci/unpack.h"
#include "ocicrypt/provider_packet.h"

namespace coco::cli {

// $COCO_IMAGE_STORE, else $XDG_DATA_HOME/coco/images, else ~/.local/share/coco/images.
std::string DefaultStore();

struct RegistryFlags {
  std::string auth_file;
  std::vector<std::string> insecure;
  std::vector<std::string> ca_files;
  int retries = 4;
};
void AddRegistryFlags(CLI::App* cmd, RegistryFlags* f);

// Fetches a kbs:///repo/type/tag resource from the key broker (attesting once, sample TEE);
// empty when no broker is configured.
using ResourceFetcher = std::function<Result<SecretBytes>(const std::string& uri)>;

// FILE, or a kbs:/// resource through `broker`; `what` names it in errors.
Result<std::string> ReadFileOrResource(const std::string& path, const ResourceFetcher& broker,
                                       const std::string& what);

// --authfile may be a kbs:/// resource (then `broker` fetches it).
Result<std::unique_ptr<oci::RegistryClient>> MakeRegistry(const RegistryFlags& f,
                                                          const ResourceFetcher& broker = {});

// An image location with the registry client and source that serve it.
struct Opened {
  oci::ImageLocation loc;
  std::unique_ptr<oci::RegistryClient> reg;
  std::unique_ptr<oci::ImageSource> source;
};
Result<Opened> OpenSource(const std::string& src, const RegistryFlags& flags,
                          const ResourceFetcher& broker = {});

// Progress: a bar per layer on a terminal, plain lines otherwise.
class ProgressPrinter {
 public:
  ProgressPrinter();
  void Status(const std::string& line);
  void Progress(size_t layer, uint64_t done, uint64_t total);

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
  oci::UnpackOptions ToOptions() const;
};
void AddUnpackFlags(CLI::App* cmd, UnpackFlags* f);

// Where layer keys come from: private key files (JWE) and/or a key broker (key-provider packets,
// fetched after attestation with the sample TEE).
struct KeyFlags {
  std::vector<std::string> decryption_keys;
  std::string kbs;
  std::string kbs_ca;
  std::string init_data;
  bool allow_ctr = false;
};
void AddKeyFlags(CLI::App* cmd, KeyFlags* f);
// The broker named by --kbs (empty function without --kbs). One attestation serves all fetches.
ResourceFetcher BrokerFetcher(const KeyFlags& f);
// Null when no key source is given.
Result<std::unique_ptr<image::LayerKeys>> MakeLayerKeys(const KeyFlags& f,
                                                        const ResourceFetcher& broker);

}  // namespace coco::cli
