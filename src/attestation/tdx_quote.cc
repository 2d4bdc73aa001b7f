// TDX quote layout (DCAP ECDSA quote v4 and v5) and upstream's claims.
#include "attestation/tdx.h"

namespace coco::attestation {
namespace {

constexpr uint16_t kAttKeyEcdsaP256 = 2;
constexpr uint32_t kTeeTdx = 0x81;
constexpr uint16_t kCertQeReport = 6;
constexpr uint16_t kCertPckChain = 5;

Error Bad(const std::string& what) { return MakeError(Code::kEvidence, "TDX quote: " + what); }

// Reads fields in order from a byte range, refusing to run past its end.
class Cursor {
 public:
  Cursor(const Bytes& b, size_t begin, size_t end) : b_(b), pos_(begin), end_(end) {}
  Result<Bytes> Take(size_t n, const char* what) {
    if (n > end_ - pos_) return Bad(std::string(what) + " runs past the end");
    Bytes out(b_.begin() + static_cast<long>(pos_), b_.begin() + static_cast<long>(pos_ + n));
    pos_ += n;
    return out;
  }
  Result<uint64_t> Le(size_t n, const char* what) {
    COCO_ASSIGN_OR_RETURN(Bytes v, Take(n, what));
    uint64_t x = 0;
    for (size_t i = 0; i < n; ++i) x |= static_cast<uint64_t>(v[i]) << (8 * i);
    return x;
  }
  size_t pos() const { return pos_; }

 private:
  const Bytes& b_;
  size_t pos_, end_;
};

Result<TdxBody> ReadBody(Cursor& c, bool td15) {
  TdxBody b;
  COCO_ASSIGN_OR_RETURN(b.tcb_svn, c.Take(16, "TEE_TCB_SVN"));
  COCO_ASSIGN_OR_RETURN(b.mr_seam, c.Take(48, "MRSEAM"));
  COCO_ASSIGN_OR_RETURN(b.mrsigner_seam, c.Take(48, "MRSIGNERSEAM"));
  COCO_ASSIGN_OR_RETURN(b.seam_attributes, c.Take(8, "SEAMATTRIBUTES"));
  COCO_ASSIGN_OR_RETURN(b.td_attributes, c.Take(8, "TDATTRIBUTES"));
  COCO_ASSIGN_OR_RETURN(b.xfam, c.Take(8, "XFAM"));
  COCO_ASSIGN_OR_RETURN(b.mr_td, c.Take(48, "MRTD"));
  COCO_ASSIGN_OR_RETURN(b.mr_config_id, c.Take(48, "MRCONFIGID"));
  COCO_ASSIGN_OR_RETURN(b.mr_owner, c.Take(48, "MROWNER"));
  COCO_ASSIGN_OR_RETURN(b.mr_owner_config, c.Take(48, "MROWNERCONFIG"));
  for (auto& r : b.rtmr) {
    COCO_ASSIGN_OR_RETURN(r, c.Take(48, "RTMR"));
  }
  COCO_ASSIGN_OR_RETURN(b.report_data, c.Take(64, "REPORTDATA"));
  if (td15) {
    COCO_ASSIGN_OR_RETURN(b.tee_tcb_svn2, c.Take(16, "TEE_TCB_SVN2"));
    COCO_ASSIGN_OR_RETURN(b.mr_servicetd, c.Take(48, "MRSERVICETD"));
  }
  return b;
}

}  // namespace

uint64_t TdxQuote::td_attributes() const {
  uint64_t x = 0;
  for (size_t i = 0; i < 8; ++i) x |= static_cast<uint64_t>(body.td_attributes[i]) << (8 * i);
  return x;
}

Result<TdxQuote> ParseTdxQuote(const Bytes& raw) {
  TdxQuote q;
  Cursor c(raw, 0, raw.size());
  COCO_ASSIGN_OR_RETURN(q.header, c.Take(kTdxHeaderSize, "the header"));
  q.version = static_cast<uint16_t>(q.header[0] | q.header[1] << 8);
  uint16_t key_type = static_cast<uint16_t>(q.header[2] | q.header[3] << 8);
  uint32_t tee =
      q.header[4] | q.header[5] << 8 | q.header[6] << 16 | static_cast<uint32_t>(q.header[7]) << 24;
  if (q.version != 4 && q.version != 5)
    return Bad("version " + std::to_string(q.version) + " is not a TD quote (4 or 5)");
  if (tee != kTeeTdx) return Bad("TEE type " + std::to_string(tee) + " is not TDX (0x81)");
  if (key_type != kAttKeyEcdsaP256)
    return Bad("attestation key type " + std::to_string(key_type) + " is not ECDSA P-256 (2)");
  bool td15 = false;
  if (q.version == 5) {
    COCO_ASSIGN_OR_RETURN(uint64_t type, c.Le(2, "the body type"));
    COCO_ASSIGN_OR_RETURN(uint64_t size, c.Le(4, "the body size"));
    q.body_type = static_cast<uint16_t>(type);
    q.body_size = static_cast<uint32_t>(size);
    if (type == 2 && size == kTdxBody10Size) {
      td15 = false;
    } else if (type == 3 && size == kTdxBody15Size) {
      td15 = true;
    } else {
      return Bad("version 5 body type " + std::to_string(type) + " of " + std::to_string(size) +
                 " bytes is neither TD 1.0 (2, 584) nor TD 1.5 (3, 648)");
    }
  }
  COCO_ASSIGN_OR_RETURN(q.body, ReadBody(c, td15));
  q.signed_part.assign(raw.begin(), raw.begin() + static_cast<long>(c.pos()));

  COCO_ASSIGN_OR_RETURN(uint64_t sig_len, c.Le(4, "the signature data length"));
  size_t sig_begin = c.pos();
  if (sig_len > raw.size() - sig_begin) return Bad("the signature data runs past the end");
  size_t sig_end = sig_begin + static_cast<size_t>(sig_len);
  for (size_t i = sig_end; i < raw.size(); ++i)
    if (raw[i] != 0) return Bad("non-zero bytes follow the signature data");

  Cursor s(raw, sig_begin, sig_end);
  COCO_ASSIGN_OR_RETURN(q.signature, s.Take(64, "the quote signature"));
  COCO_ASSIGN_OR_RETURN(q.attestation_key, s.Take(64, "the attestation key"));
  COCO_ASSIGN_OR_RETURN(uint64_t cert_type, s.Le(2, "the certification data type"));
  if (cert_type != kCertQeReport)
    return Bad("certification data type " + std::to_string(cert_type) +
               " is not the QE report (6)");
  COCO_ASSIGN_OR_RETURN(uint64_t cert_len, s.Le(4, "the certification data size"));
  size_t qe_begin = s.pos();
  if (cert_len > sig_end - qe_begin) return Bad("the QE certification data runs past the end");
  Cursor qe(raw, qe_begin, qe_begin + static_cast<size_t>(cert_len));
  COCO_ASSIGN_OR_RETURN(q.qe_report, qe.Take(kSgxReportSize, "the QE report"));
  COCO_ASSIGN_OR_RETURN(q.qe_report_signature, qe.Take(64, "the QE report signature"));
  COCO_ASSIGN_OR_RETURN(uint64_t auth_len, qe.Le(2, "the QE authentication data size"));
  COCO_ASSIGN_OR_RETURN(q.qe_auth_data, qe.Take(static_cast<size_t>(auth_len), "QE auth data"));
  COCO_ASSIGN_OR_RETURN(uint64_t chain_type, qe.Le(2, "the PCK certification data type"));
  if (chain_type != kCertPckChain)
    return Bad("certification data type " + std::to_string(chain_type) +
               " is not the PCK certificate chain (5)");
  COCO_ASSIGN_OR_RETURN(uint64_t chain_len, qe.Le(4, "the PCK chain size"));
  COCO_ASSIGN_OR_RETURN(Bytes chain, qe.Take(static_cast<size_t>(chain_len), "the PCK chain"));
  q.pck_chain_pem.assign(chain.begin(), chain.end());
  while (!q.pck_chain_pem.empty() && q.pck_chain_pem.back() == '\0') q.pck_chain_pem.pop_back();
  return q;
}

nlohmann::json TdxClaims(const TdxQuote& q, const PckInfo& pck) {
  const Bytes& h = q.header;
  auto part = [&](size_t off, size_t n) {
    return HexEncode(
        Bytes(h.begin() + static_cast<long>(off), h.begin() + static_cast<long>(off + n)));
  };
  nlohmann::json header = {{"version", part(0, 2)},     {"att_key_type", part(2, 2)},
                           {"tee_type", part(4, 4)},    {"reserved", part(8, 4)},
                           {"vendor_id", part(12, 16)}, {"user_data", part(28, 20)}};
  const TdxBody& b = q.body;
  nlohmann::json body = {{"tcb_svn", HexEncode(b.tcb_svn)},
                         {"mr_seam", HexEncode(b.mr_seam)},
                         {"mrsigner_seam", HexEncode(b.mrsigner_seam)},
                         {"seam_attributes", HexEncode(b.seam_attributes)},
                         {"td_attributes", HexEncode(b.td_attributes)},
                         {"xfam", HexEncode(b.xfam)},
                         {"mr_td", HexEncode(b.mr_td)},
                         {"mr_config_id", HexEncode(b.mr_config_id)},
                         {"mr_owner", HexEncode(b.mr_owner)},
                         {"mr_owner_config", HexEncode(b.mr_owner_config)},
                         {"rtmr_0", HexEncode(b.rtmr[0])},
                         {"rtmr_1", HexEncode(b.rtmr[1])},
                         {"rtmr_2", HexEncode(b.rtmr[2])},
                         {"rtmr_3", HexEncode(b.rtmr[3])},
                         {"report_data", HexEncode(b.report_data)}};
  if (b.tee_tcb_svn2) body["tee_tcb_svn2"] = HexEncode(*b.tee_tcb_svn2);
  if (b.mr_servicetd) body["mr_servicetd"] = HexEncode(*b.mr_servicetd);
  nlohmann::json quote = {{"header", header}, {"body", body}};
  if (q.version == 5) {
    quote["type"] = HexEncode(
        Bytes{static_cast<uint8_t>(*q.body_type & 0xFF), static_cast<uint8_t>(*q.body_type >> 8)});
    Bytes size(4);
    for (int i = 0; i < 4; ++i) size[i] = static_cast<uint8_t>(q.body_size >> (8 * i));
    quote["size"] = HexEncode(size);
  }
  uint64_t attr = q.td_attributes();
  nlohmann::json claims = {
      {"quote", quote},
      {"td_attributes",
       {{"debug", (attr & 1) != 0},
        {"septve_disable", (attr >> 28 & 1) != 0},
        {"protection_keys", (attr >> 30 & 1) != 0},
        {"key_locker", (attr >> 31 & 1) != 0},
        {"perfmon", (attr >> 63 & 1) != 0}}},
      {"report_data", HexEncode(b.report_data)},
      {"init_data", HexEncode(b.mr_config_id)},
  };
  // As upstream presents it: the octets read as a little-endian number, written big-endian.
  if (pck.platform_instance_id) {
    Bytes id(pck.platform_instance_id->rbegin(), pck.platform_instance_id->rend());
    claims["platform_instance_id"] = HexEncode(id);
  }
  return claims;
}

}  // namespace coco::attestation
