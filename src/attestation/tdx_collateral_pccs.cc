// Collateral from a PCCS (Intel's Provisioning Certificate Caching Service) or Intel's PCS, over
// the v4 API:
//   GET {url}/tdx/certification/v4/tcb?fmspc=F    body: TCB info; TCB-Info-Issuer-Chain
//   GET {url}/tdx/certification/v4/qe/identity    body: QE identity
//   GET {url}/sgx/certification/v4/pckcrl?ca=platform|processor&encoding=der
//   GET {url}/sgx/certification/v4/rootcacrl      body: the CRL, DER or (PCCS) its hex text
// Issuer chains come URL-encoded in headers. Everything fetched is checked against Intel's root
// as from a directory, so the transport needs no trust; answers are kept for `cache_seconds`.
#include "attestation/tdx_collateral_pccs.h"

#include <chrono>
#include <map>
#include <mutex>

#include "base/file.h"

namespace coco::attestation {

namespace {

Error Fail(const std::string& why) { return MakeError(Code::kEvidence, "TDX collateral: " + why); }

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = HexDecode(s.substr(i + 1, 2));
      if (hex.ok()) {
        out += static_cast<char>((*hex)[0]);
        i += 2;
        continue;
      }
    }
    out += s[i] == '+' ? ' ' : s[i];
  }
  return out;
}

class PccsSource : public TdxCollateralSource {
 public:
  PccsSource(PccsOptions o, TdxCollateralOptions co)
      : o_(std::move(o)), co_(std::move(co)), http_(ClientOptions(o_)) {
    while (!o_.url.empty() && o_.url.back() == '/') o_.url.pop_back();
  }

  Result<std::shared_ptr<const TdxCollateral>> Get(const Bytes& fmspc, bool platform_ca) override {
    std::string key = HexEncode(fmspc) + (platform_ca ? "/platform" : "/processor");
    auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && now < it->second.until) return it->second.collateral;
    TdxCollateralFiles files;
    std::string upper = HexEncode(fmspc);
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    COCO_ASSIGN_OR_RETURN(net::HttpReply tcb,
                          Fetch("/tdx/certification/v4/tcb?fmspc=" + upper, "TCB info"));
    files.tcb_info = tcb.body;
    std::string chain = tcb.headers.Get("tcb-info-issuer-chain");
    if (chain.empty())
      return Fail(o_.url + " sent the TCB info without a TCB-Info-Issuer-Chain header");
    files.tcb_signing_chain = UrlDecode(chain);
    COCO_ASSIGN_OR_RETURN(net::HttpReply qe,
                          Fetch("/tdx/certification/v4/qe/identity", "QE identity"));
    files.qe_identity = qe.body;
    COCO_ASSIGN_OR_RETURN(net::HttpReply pck,
                          Fetch(std::string("/sgx/certification/v4/pckcrl?ca=") +
                                    (platform_ca ? "platform" : "processor") + "&encoding=der",
                                "PCK CRL"));
    files.pck_crl = ToBytes(pck.body);
    COCO_ASSIGN_OR_RETURN(net::HttpReply root,
                          Fetch("/sgx/certification/v4/rootcacrl", "root CA CRL"));
    // A PCCS sends the DER as hex text; Intel's PCS sends the DER itself (never valid hex).
    auto hex = HexDecode(root.body);
    files.root_ca_crl = hex.ok() ? *hex : ToBytes(root.body);
    auto c = LoadTdxCollateral(files, co_);
    if (!c.ok())
      return MakeError(c.error().code, c.error().message + " (collateral from " + o_.url + ")");
    auto shared = std::make_shared<const TdxCollateral>(std::move(*c));
    cache_[key] = Entry{shared, now + std::chrono::seconds(o_.cache_seconds)};
    return shared;
  }

 private:
  struct Entry {
    std::shared_ptr<const TdxCollateral> collateral;
    std::chrono::steady_clock::time_point until;
  };

  static net::HttpClientOptions ClientOptions(const PccsOptions& o) {
    net::HttpClientOptions n;
    n.connect_timeout_secs = 10;
    n.io_timeout_secs = 30;
    n.total_timeout_secs = 60;
    n.ca_files = o.ca_files;
    n.system_trust = o.ca_files.empty();  // a PCCS with its own CA is trusted through it only
    n.proxy = o.proxy;
    return n;
  }

  // One GET, tried twice when the transport fails.
  Result<net::HttpReply> Fetch(const std::string& path, const std::string& what) {
    std::string url = o_.url + path;
    Result<net::HttpReply> r = MakeError(Code::kUnavailable, "not tried");
    for (int attempt = 0; attempt < 2; ++attempt) {
      net::HttpCall call;
      call.url = url;
      call.max_body = 1 << 20;
      r = http_.Send(call);
      if (r.ok() || r.error().code != Code::kUnavailable) break;
    }
    if (!r.ok())
      return Fail("cannot fetch the " + what + " from " + url + ": " + r.error().message);
    if (r->status != 200)
      return Fail(url + " answered " + std::to_string(r->status) + " for the " + what +
                  (r->body.empty() ? "" : ": " + r->body.substr(0, 200)));
    return r;
  }

  PccsOptions o_;
  TdxCollateralOptions co_;
  net::HttpClient http_;
  std::mutex mu_;
  std::map<std::string, Entry> cache_;
};

}  // namespace

Result<std::unique_ptr<TdxCollateralSource>> NewTdxCollateralPccs(PccsOptions o,
                                                                  TdxCollateralOptions co) {
  if (o.url.rfind("https://", 0) != 0 && o.url.rfind("http://", 0) != 0)
    return MakeError(Code::kInvalidArgument,
                     "the PCCS URL must start with https:// or http://: " + o.url);
  for (const auto& ca : o.ca_files) COCO_RETURN_IF_ERROR(ReadFile(ca));  // fail early, naming it
  return std::unique_ptr<TdxCollateralSource>(
      std::make_unique<PccsSource>(std::move(o), std::move(co)));
}

}  // namespace coco::attestation
