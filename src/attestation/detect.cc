// Which TEE the guest runs in.
#include <sys/stat.h>

#include "attestation/attester.h"
#include "attestation/snp.h"
#include "attestation/tdx.h"
#include "attestation/tsm.h"

namespace coco::attestation {
namespace {

bool Exists(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0;
}

// The configfs-tsm provider's name, from a probe entry ("" when there is none).
std::string TsmProvider(const std::string& root) {
  if (!ConfigfsTsmAvailable(root)) return "";
  auto fs = NewConfigfsTsm(root);
  std::string entry = "coco-probe";
  if (!fs->MakeEntry(entry).ok()) return "";
  auto p = fs->Read(entry, "provider");
  (void)fs->RemoveEntry(entry);
  if (!p.ok()) return "";
  std::string s(p->begin(), p->end());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

Result<std::unique_ptr<Attester>> DetectAttester(const DetectOptions& o) {
  // The device nodes first: probing configfs-tsm means creating and removing a report entry.
  bool sev = Exists(o.dev_dir + "/sev-guest");
  bool tdx = Exists(o.dev_dir + "/tdx_guest");
  std::string provider = sev || tdx ? "" : TsmProvider(o.configfs_root);
  if (sev || provider == "sev_guest") {
    SnpAttesterOptions so;
    so.configfs_root = o.configfs_root;
    so.device = o.dev_dir + "/sev-guest";
    return NewSnpAttester(so);
  }
  if (tdx || provider == "tdx_guest") {
    TdxAttesterOptions to;
    to.configfs_root = o.configfs_root;
    return NewTdxAttester(to);
  }
  if (o.tpm && Exists(o.dev_dir + "/tpmrm0")) return o.tpm();
  if (o.allow_sample) return NewSampleAttester();
  return MakeError(
      Code::kFailedPrecondition,
      "no TEE found (no " + o.dev_dir + "/sev-guest, " + o.dev_dir +
          "/tdx_guest, configfs-tsm provider or TPM); the sample TEE is used only when "
          "allowed");
}

}  // namespace coco::attestation
