// SEV-SNP attester (guest side): a report through configfs-tsm, or through /dev/sev-guest's
// SNP_GET_EXT_REPORT / SNP_GET_REPORT ioctls on kernels without it.
#include <fcntl.h>
#include <linux/sev-guest.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "attestation/snp.h"

namespace coco::attestation {
namespace {

constexpr size_t kRespHeader = 0x20;  // status, report size, 24 reserved

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// The ioctl path: the extended report (with the host's certificate table) when the host has
// one, else the plain report.
Result<std::pair<Bytes, Bytes>> ReportFromDevice(const std::string& device, const Bytes& data,
                                                 uint32_t vmpl) {
  Fd f;
  f.fd = open(device.c_str(), O_RDWR | O_CLOEXEC);
  if (f.fd < 0) return MakeError(Code::kIo, "open " + device + ": " + std::strerror(errno));
  snp_ext_report_req ext{};
  std::memcpy(ext.data.user_data, data.data(), data.size());
  ext.data.vmpl = vmpl;
  snp_report_resp resp{};
  Bytes certs(16 * 4096);  // page multiples; grown to what the host asks for
  for (int attempt = 0; attempt < 2; ++attempt) {
    ext.certs_address = reinterpret_cast<uint64_t>(certs.data());
    ext.certs_len = static_cast<uint32_t>(certs.size());
    snp_guest_request_ioctl req{};
    req.msg_version = 1;
    req.req_data = reinterpret_cast<uint64_t>(&ext);
    req.resp_data = reinterpret_cast<uint64_t>(&resp);
    if (ioctl(f.fd, SNP_GET_EXT_REPORT, &req) == 0) {
      Bytes r(resp.data, resp.data + sizeof resp.data);
      COCO_ASSIGN_OR_RETURN(Bytes report, ReportFromGuestResponse(r));
      return std::make_pair(report, certs);
    }
    if (req.vmm_error == SNP_GUEST_VMM_ERR_INVALID_LEN && ext.certs_len > certs.size()) {
      certs.assign(ext.certs_len, 0);  // the host said how much it needs
      continue;
    }
    break;
  }
  snp_guest_request_ioctl req{};
  req.msg_version = 1;
  req.req_data = reinterpret_cast<uint64_t>(&ext.data);
  req.resp_data = reinterpret_cast<uint64_t>(&resp);
  if (ioctl(f.fd, SNP_GET_REPORT, &req) != 0)
    return MakeError(Code::kIo, "SNP_GET_REPORT on " + device + ": " + std::strerror(errno) +
                                    " (firmware error " + std::to_string(req.fw_error) +
                                    ", VMM error " + std::to_string(req.vmm_error) + ")");
  Bytes r(resp.data, resp.data + sizeof resp.data);
  COCO_ASSIGN_OR_RETURN(Bytes report, ReportFromGuestResponse(r));
  return std::make_pair(report, Bytes());
}

class SnpAttester final : public Attester {
 public:
  explicit SnpAttester(SnpAttesterOptions o) : o_(std::move(o)) {}
  std::string tee() const override { return "snp"; }

  Result<nlohmann::json> GetEvidence(const Bytes& report_data) const override {
    if (report_data.size() > 64)
      return MakeError(Code::kInvalidArgument, "SNP report data is at most 64 bytes");
    Bytes data = report_data;
    data.resize(64, 0);
    Bytes raw, table;
    if (o_.tsm || ConfigfsTsmAvailable(o_.configfs_root)) {
      std::shared_ptr<TsmFs> fs =
          o_.tsm ? o_.tsm : std::shared_ptr<TsmFs>(NewConfigfsTsm(o_.configfs_root));
      COCO_ASSIGN_OR_RETURN(TsmReport r, GetTsmReport(*fs, data, o_.vmpl));
      if (r.provider != "sev_guest")
        return MakeError(Code::kFailedPrecondition,
                         "configfs-tsm provider is \"" + r.provider + "\", not sev_guest");
      raw = std::move(r.outblob);
      table = std::move(r.auxblob);
    } else {
      COCO_ASSIGN_OR_RETURN(auto got, ReportFromDevice(o_.device, data, o_.vmpl));
      raw = std::move(got.first);
      table = std::move(got.second);
    }
    SnpEvidence e;
    COCO_ASSIGN_OR_RETURN(e.report, ParseSnpReport(raw));
    if (e.report.report_data != data)
      return MakeError(Code::kIo, "the SNP report does not carry the report data asked for");
    if (!table.empty() &&
        !std::all_of(table.begin(), table.end(), [](uint8_t b) { return b == 0; })) {
      COCO_ASSIGN_OR_RETURN(auto certs, ParseSnpCertTable(table));
      e.certs = std::move(certs);
    }
    return SnpEvidenceToJson(e);
  }

 private:
  SnpAttesterOptions o_;
};

}  // namespace

Result<Bytes> ReportFromGuestResponse(const Bytes& resp) {
  if (resp.size() < kRespHeader + kSnpReportSize)
    return MakeError(Code::kIo, "SNP guest response is too short");
  uint32_t status = resp[0] | resp[1] << 8 | resp[2] << 16 | static_cast<uint32_t>(resp[3]) << 24;
  uint32_t size = resp[4] | resp[5] << 8 | resp[6] << 16 | static_cast<uint32_t>(resp[7]) << 24;
  if (status != 0)
    return MakeError(Code::kIo, "the SNP firmware refused the report request (status " +
                                    std::to_string(status) + ")");
  if (size != kSnpReportSize)
    return MakeError(Code::kIo, "the SNP firmware returned a report of " + std::to_string(size) +
                                    " bytes, expected " + std::to_string(kSnpReportSize));
  return Bytes(resp.begin() + kRespHeader, resp.begin() + kRespHeader + kSnpReportSize);
}

std::unique_ptr<Attester> NewSnpAttester(SnpAttesterOptions opts) {
  return std::make_unique<SnpAttester>(std::move(opts));
}

}  // namespace coco::attestation
