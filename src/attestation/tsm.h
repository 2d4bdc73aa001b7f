// The kernel's configfs-tsm report interface (Documentation/ABI/testing/configfs-tsm): a guest
// gets a TEE report by creating an entry under /sys/kernel/config/tsm/report, writing its 64
// bytes of report data to `inblob`, and reading `outblob` (the report) and `auxblob` (SNP: the
// certificate table). `provider` names the TEE ("sev_guest", "tdx_guest"); `generation` counts
// writes, so a report read between two equal generations belongs to our inblob.
//
// The file operations sit behind TsmFs so that tests can replay recorded reports.
#pragma once

#include <memory>
#include <string>

#include "base/bytes.h"
#include "base/result.h"

namespace coco::attestation {

class TsmFs {
 public:
  virtual ~TsmFs() = default;
  // Creates a report entry; `entry` is a plain name (no '/').
  virtual Status MakeEntry(const std::string& entry) = 0;
  virtual Status RemoveEntry(const std::string& entry) = 0;
  virtual Status Write(const std::string& entry, const std::string& attr, const Bytes& data) = 0;
  // NotFound when the attribute does not exist (auxblob on some providers).
  virtual Result<Bytes> Read(const std::string& entry, const std::string& attr) = 0;
};

// configfs-tsm under `root` (default /sys/kernel/config/tsm/report). Available() says whether
// the kernel offers it.
std::unique_ptr<TsmFs> NewConfigfsTsm(std::string root = "/sys/kernel/config/tsm/report");
bool ConfigfsTsmAvailable(const std::string& root = "/sys/kernel/config/tsm/report");

struct TsmReport {
  std::string provider;
  Bytes outblob;
  Bytes auxblob;  // empty when the provider gives none
};

// One report for `inblob` (up to 64 bytes, zero-padded) at `privlevel` (SNP VMPL; 0 leaves the
// default). Retries once when another writer raced us (generation changed); always removes the
// entry it created.
Result<TsmReport> GetTsmReport(TsmFs& fs, const Bytes& inblob, uint32_t privlevel = 0);

}  // namespace coco::attestation
