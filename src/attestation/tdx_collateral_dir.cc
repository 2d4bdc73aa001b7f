// The offline collateral directory (tdx_collateral.h has the layout).
#include <sys/stat.h>

#include <chrono>
#include <map>

#include "attestation/tdx_collateral.h"
#include "base/file.h"

namespace coco::attestation {

namespace {

Error Fail(const std::string& why) { return MakeError(Code::kEvidence, "TDX collateral: " + why); }

// A file's identity for change detection: "" when it does not exist.
std::string Stamp(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_ino);
}

class DirSource : public TdxCollateralSource {
 public:
  DirSource(std::string dir, TdxCollateralOptions opts)
      : dir_(std::move(dir)), opts_(std::move(opts)) {}

  Result<std::shared_ptr<const TdxCollateral>> Get(const Bytes& fmspc, bool platform_ca) override {
    std::string key = HexEncode(fmspc) + (platform_ca ? "/platform" : "/processor");
    auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    Entry& e = cache_[key];
    if (e.collateral && now - e.checked < kRecheck) return e.collateral;
    COCO_ASSIGN_OR_RETURN(Paths p, Find(fmspc, platform_ca));
    std::string stamp;
    for (const std::string* f : {&p.tcb_info, &p.qe_identity, &p.chain, &p.pck_crl, &p.root_crl})
      stamp += Stamp(*f) + ";";
    e.checked = now;
    if (e.collateral && stamp == e.stamp) return e.collateral;
    TdxCollateralFiles files;
    COCO_ASSIGN_OR_RETURN(files.tcb_info, Read(p.tcb_info));
    COCO_ASSIGN_OR_RETURN(files.qe_identity, Read(p.qe_identity));
    COCO_ASSIGN_OR_RETURN(files.tcb_signing_chain, Read(p.chain));
    COCO_ASSIGN_OR_RETURN(std::string pck_crl, Read(p.pck_crl));
    COCO_ASSIGN_OR_RETURN(std::string root_crl, Read(p.root_crl));
    files.pck_crl = Bytes(pck_crl.begin(), pck_crl.end());
    files.root_ca_crl = Bytes(root_crl.begin(), root_crl.end());
    auto c = LoadTdxCollateral(files, opts_);
    if (!c.ok()) {
      e = Entry{};
      return MakeError(c.error().code, c.error().message + " (collateral in " + dir_ + ")");
    }
    e.collateral = std::make_shared<const TdxCollateral>(std::move(*c));
    e.stamp = stamp;
    return e.collateral;
  }

 private:
  static constexpr std::chrono::seconds kRecheck{5};
  struct Entry {
    std::shared_ptr<const TdxCollateral> collateral;
    std::string stamp;
    std::chrono::steady_clock::time_point checked;
  };
  struct Paths {
    std::string tcb_info, qe_identity, chain, pck_crl, root_crl;
  };

  static Result<std::string> Read(const std::string& path) {
    auto text = ReadFile(path);
    if (!text.ok()) return Fail("cannot read " + path + ": " + text.error().message);
    return *text;
  }

  // The first of `names` that exists.
  Result<std::string> First(std::initializer_list<std::string> names) const {
    for (const auto& n : names) {
      std::string path = dir_ + "/" + n;
      if (!Stamp(path).empty()) return path;
    }
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : " or ") + n;
    return Fail(dir_ + " has no " + list);
  }

  Result<Paths> Find(const Bytes& fmspc, bool platform_ca) const {
    Paths p;
    std::string lower = HexEncode(fmspc), upper = lower;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    COCO_ASSIGN_OR_RETURN(p.tcb_info, First({"tcb_info_" + upper + ".json",
                                             "tcb_info_" + lower + ".json", "tcb_info.json"}));
    COCO_ASSIGN_OR_RETURN(p.qe_identity, First({"qe_identity.json"}));
    COCO_ASSIGN_OR_RETURN(p.chain, First({"tcb_signing_chain.pem"}));
    std::string ca = platform_ca ? "pck_crl_platform" : "pck_crl_processor";
    COCO_ASSIGN_OR_RETURN(p.pck_crl, First({ca + ".pem", ca + ".der"}));
    COCO_ASSIGN_OR_RETURN(p.root_crl, First({"root_ca_crl.pem", "root_ca_crl.der"}));
    return p;
  }

  std::string dir_;
  TdxCollateralOptions opts_;
  std::mutex mu_;
  std::map<std::string, Entry> cache_;
};

}  // namespace

std::unique_ptr<TdxCollateralSource> NewTdxCollateralDir(std::string dir,
                                                         TdxCollateralOptions opts) {
  return std::make_unique<DirSource>(std::move(dir), std::move(opts));
}

}  // namespace coco::attestation
