// SEV-SNP attestation report layout (SNP firmware ABI, ATTESTATION_REPORT), upstream's JSON
// form of it, and the extended report's certificate table.
#include <cstring>

#include "attestation/snp.h"

namespace coco::attestation {
namespace {

// Byte offsets of the report's fields.
constexpr size_t kOffFamilyId = 0x10, kOffImageId = 0x20, kOffVmpl = 0x30, kOffSigAlgo = 0x34,
                 kOffCurrentTcb = 0x38, kOffPlatInfo = 0x40, kOffKeyInfo = 0x48,
                 kOffReportData = 0x50, kOffMeasurement = 0x90, kOffHostData = 0xC0,
                 kOffIdKeyDigest = 0xE0, kOffAuthorKeyDigest = 0x110, kOffReportId = 0x140,
                 kOffReportIdMa = 0x160, kOffReportedTcb = 0x180, kOffCpuidFam = 0x188,
                 kOffCpuidMod = 0x189, kOffCpuidStep = 0x18A, kOffChipId = 0x1A0,
                 kOffCommittedTcb = 0x1E0, kOffCurrentVersion = 0x1E8, kOffCommittedVersion = 0x1EC,
                 kOffLaunchTcb = 0x1F0, kOffLaunchMit = 0x1F8, kOffCurrentMit = 0x200,
                 kOffSignatureR = 0x2A0, kOffSignatureS = 0x2E8;
constexpr size_t kSigComponent = 72;

Error Bad(const std::string& what) { return MakeError(Code::kEvidence, "SNP report: " + what); }

uint64_t Le(const Bytes& b, size_t off, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(b[off + i]) << (8 * i);
  return v;
}
void PutLe(Bytes& b, size_t off, size_t n, uint64_t v) {
  for (size_t i = 0; i < n; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
Bytes Slice(const Bytes& b, size_t off, size_t n) {
  return Bytes(b.begin() + static_cast<long>(off), b.begin() + static_cast<long>(off + n));
}
void Put(Bytes& b, size_t off, const Bytes& v) { std::copy(v.begin(), v.end(), b.begin() + off); }

SnpTcb ParseTcb(const Bytes& b, size_t off, SnpGeneration g) {
  SnpTcb t;
  if (g == SnpGeneration::kTurin) {
    t.fmc = b[off];
    t.bootloader = b[off + 1];
    t.tee = b[off + 2];
    t.snp = b[off + 3];
  } else {
    t.bootloader = b[off];
    t.tee = b[off + 1];
    t.snp = b[off + 6];
  }
  t.microcode = b[off + 7];
  return t;
}
void PutTcb(Bytes& b, size_t off, const SnpTcb& t, SnpGeneration g) {
  if (g == SnpGeneration::kTurin) {
    b[off] = t.fmc.value_or(0);
    b[off + 1] = t.bootloader;
    b[off + 2] = t.tee;
    b[off + 3] = t.snp;
  } else {
    b[off] = t.bootloader;
    b[off + 1] = t.tee;
    b[off + 6] = t.snp;
  }
  b[off + 7] = t.microcode;
}

bool AllZero(const Bytes& b, size_t off, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (b[off + i] != 0) return false;
  return true;
}

// ---- JSON ----------------------------------------------------------------------------------

nlohmann::json ByteArray(const Bytes& b) {
  return nlohmann::json(std::vector<unsigned>(b.begin(), b.end()));
}

// A JSON number that is a whole number in [0, max].
bool IsUintUpTo(const nlohmann::json& v, uint64_t max) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= max;
  return v.is_number_integer() && v.get<int64_t>() >= 0 &&
         static_cast<uint64_t>(v.get<int64_t>()) <= max;
}

Result<Bytes> ReadByteArray(const nlohmann::json& j, const char* name, size_t want) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_array())
    return Bad(std::string("\"") + name + "\" is missing or not an array of bytes");
  if (it->size() != want)
    return Bad(std::string("\"") + name + "\" has " + std::to_string(it->size()) +
               " bytes, expected " + std::to_string(want));
  Bytes out;
  out.reserve(want);
  for (const auto& e : *it) {
    if (!IsUintUpTo(e, 255))
      return Bad(std::string("\"") + name + "\" holds a value that is not a byte");
    out.push_back(static_cast<uint8_t>(e.get<uint64_t>()));
  }
  return out;
}

Result<uint64_t> ReadUint(const nlohmann::json& j, const char* name, uint64_t max) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_number_integer())
    return Bad(std::string("\"") + name + "\" is missing or not a whole number");
  if (!IsUintUpTo(*it, max)) return Bad(std::string("\"") + name + "\" is out of range");
  return it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(it->get<int64_t>());
}

Result<std::optional<uint64_t>> ReadOptUint(const nlohmann::json& j, const char* name,
                                            uint64_t max) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::optional<uint64_t>();
  COCO_ASSIGN_OR_RETURN(uint64_t v, ReadUint(j, name, max));
  return std::optional<uint64_t>(v);
}

nlohmann::json TcbJson(const SnpTcb& t) {
  return {{"fmc", t.fmc ? nlohmann::json(*t.fmc) : nlohmann::json()},
          {"bootloader", t.bootloader},
          {"tee", t.tee},
          {"snp", t.snp},
          {"microcode", t.microcode}};
}

Result<SnpTcb> ReadTcb(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_object()) return Bad(std::string("\"") + name + "\" is missing");
  SnpTcb t;
  COCO_ASSIGN_OR_RETURN(auto fmc, ReadOptUint(*it, "fmc", 255));
  if (fmc) t.fmc = static_cast<uint8_t>(*fmc);
  COCO_ASSIGN_OR_RETURN(uint64_t bl, ReadUint(*it, "bootloader", 255));
  COCO_ASSIGN_OR_RETURN(uint64_t tee, ReadUint(*it, "tee", 255));
  COCO_ASSIGN_OR_RETURN(uint64_t snp, ReadUint(*it, "snp", 255));
  COCO_ASSIGN_OR_RETURN(uint64_t uc, ReadUint(*it, "microcode", 255));
  t.bootloader = static_cast<uint8_t>(bl);
  t.tee = static_cast<uint8_t>(tee);
  t.snp = static_cast<uint8_t>(snp);
  t.microcode = static_cast<uint8_t>(uc);
  return t;
}

Result<SnpVersion> ReadVersion(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_object()) return Bad(std::string("\"") + name + "\" is missing");
  SnpVersion v;
  COCO_ASSIGN_OR_RETURN(uint64_t major, ReadUint(*it, "major", 255));
  COCO_ASSIGN_OR_RETURN(uint64_t minor, ReadUint(*it, "minor", 255));
  COCO_ASSIGN_OR_RETURN(uint64_t build, ReadUint(*it, "build", 255));
  v.major = static_cast<uint8_t>(major);
  v.minor = static_cast<uint8_t>(minor);
  v.build = static_cast<uint8_t>(build);
  return v;
}

// Cert table GUIDs, in the byte order of their text form.
struct CertGuid {
  const char* type;
  uint8_t guid[16];
};
constexpr CertGuid kCertGuids[] = {
    {"ARK",
     {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0,
      0xae}},
    {"ASK",
     {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7,
      0x82}},
    {"VCEK",
     {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
      0xcd}},
    {"VLEK",
     {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8,
      0xa1}},
    {"CRL",
     {0x92, 0xf8, 0x1b, 0xc3, 0x58, 0x11, 0x4d, 0x3d, 0x97, 0xff, 0xd1, 0x9f, 0x88, 0xdc, 0x67,
      0xea}},
};

}  // namespace

std::string SnpGenerationName(SnpGeneration g) {
  switch (g) {
    case SnpGeneration::kMilan:
      return "Milan";
    case SnpGeneration::kGenoa:
      return "Genoa";
    case SnpGeneration::kTurin:
      return "Turin";
  }
  return "?";
}

Result<SnpGeneration> SnpGenerationFromCpuid(uint8_t family, uint8_t model) {
  if (family == 0x19) {
    if (model <= 0x0F) return SnpGeneration::kMilan;
    if ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF))
      return SnpGeneration::kGenoa;
  } else if (family == 0x1A && model <= 0x11) {
    return SnpGeneration::kTurin;
  }
  char buf[64];
  snprintf(buf, sizeof buf, "family 0x%02x model 0x%02x", family, model);
  return Bad(std::string("CPU ") + buf +
             " is not a known SEV-SNP generation (Milan, Genoa, Turin)");
}

Result<SnpReport> ParseSnpReport(const Bytes& b, std::optional<SnpGeneration> v2_generation) {
  if (b.size() != kSnpReportSize)
    return Bad("has " + std::to_string(b.size()) + " bytes, expected " +
               std::to_string(kSnpReportSize));
  SnpReport r;
  r.version = static_cast<uint32_t>(Le(b, 0, 4));
  if (r.version < 2 || r.version > 5)
    return Bad("version " + std::to_string(r.version) + " is not supported (2 to 5)");
  if (r.version >= 3) {
    r.cpuid_fam_id = b[kOffCpuidFam];
    r.cpuid_mod_id = b[kOffCpuidMod];
    r.cpuid_step = b[kOffCpuidStep];
    COCO_ASSIGN_OR_RETURN(r.generation, SnpGenerationFromCpuid(b[kOffCpuidFam], b[kOffCpuidMod]));
  } else if (v2_generation) {
    r.generation = *v2_generation;
  } else {
    if (AllZero(b, kOffChipId, 64))
      return Bad(
          "version 2 with a masked CHIP_ID: the CPU generation cannot be told; give the "
          "VCEK");
    r.generation = AllZero(b, kOffChipId + 8, 56) ? SnpGeneration::kTurin : SnpGeneration::kGenoa;
  }
  r.guest_svn = static_cast<uint32_t>(Le(b, 4, 4));
  r.policy = Le(b, 8, 8);
  r.family_id = Slice(b, kOffFamilyId, 16);
  r.image_id = Slice(b, kOffImageId, 16);
  r.vmpl = static_cast<uint32_t>(Le(b, kOffVmpl, 4));
  r.sig_algo = static_cast<uint32_t>(Le(b, kOffSigAlgo, 4));
  r.current_tcb = ParseTcb(b, kOffCurrentTcb, r.generation);
  r.plat_info = Le(b, kOffPlatInfo, 8);
  r.key_info = static_cast<uint32_t>(Le(b, kOffKeyInfo, 4));
  r.report_data = Slice(b, kOffReportData, 64);
  r.measurement = Slice(b, kOffMeasurement, 48);
  r.host_data = Slice(b, kOffHostData, 32);
  r.id_key_digest = Slice(b, kOffIdKeyDigest, 48);
  r.author_key_digest = Slice(b, kOffAuthorKeyDigest, 48);
  r.report_id = Slice(b, kOffReportId, 32);
  r.report_id_ma = Slice(b, kOffReportIdMa, 32);
  r.reported_tcb = ParseTcb(b, kOffReportedTcb, r.generation);
  r.chip_id = Slice(b, kOffChipId, 64);
  r.committed_tcb = ParseTcb(b, kOffCommittedTcb, r.generation);
  r.current = {b[kOffCurrentVersion + 2], b[kOffCurrentVersion + 1], b[kOffCurrentVersion]};
  r.committed = {b[kOffCommittedVersion + 2], b[kOffCommittedVersion + 1], b[kOffCommittedVersion]};
  r.launch_tcb = ParseTcb(b, kOffLaunchTcb, r.generation);
  if (r.version >= 5) {
    r.launch_mit_vector = Le(b, kOffLaunchMit, 8);
    r.current_mit_vector = Le(b, kOffCurrentMit, 8);
  }
  r.signature_r = Slice(b, kOffSignatureR, kSigComponent);
  r.signature_s = Slice(b, kOffSignatureS, kSigComponent);
  r.raw = b;
  return r;
}

Result<Bytes> EncodeSnpReport(const SnpReport& r) {
  if (r.version < 2 || r.version > 5)
    return Bad("version " + std::to_string(r.version) + " is not supported (2 to 5)");
  struct Field {
    const Bytes& v;
    size_t size;
    const char* name;
  };
  for (const Field& f :
       {Field{r.family_id, 16, "family_id"}, Field{r.image_id, 16, "image_id"},
        Field{r.report_data, 64, "report_data"}, Field{r.measurement, 48, "measurement"},
        Field{r.host_data, 32, "host_data"}, Field{r.id_key_digest, 48, "id_key_digest"},
        Field{r.author_key_digest, 48, "author_key_digest"}, Field{r.report_id, 32, "report_id"},
        Field{r.report_id_ma, 32, "report_id_ma"}, Field{r.chip_id, 64, "chip_id"},
        Field{r.signature_r, kSigComponent, "signature.r"},
        Field{r.signature_s, kSigComponent, "signature.s"}}) {
    if (f.v.size() != f.size)
      return Bad(std::string(f.name) + " has " + std::to_string(f.v.size()) + " bytes, expected " +
                 std::to_string(f.size));
  }
  SnpGeneration g = r.generation;
  if (r.version >= 3) {
    if (!r.cpuid_fam_id || !r.cpuid_mod_id || !r.cpuid_step)
      return Bad("version " + std::to_string(r.version) +
                 " needs cpuid_fam_id, cpuid_mod_id and "
                 "cpuid_step");
    COCO_ASSIGN_OR_RETURN(g, SnpGenerationFromCpuid(*r.cpuid_fam_id, *r.cpuid_mod_id));
  }
  Bytes b(kSnpReportSize, 0);
  PutLe(b, 0, 4, r.version);
  PutLe(b, 4, 4, r.guest_svn);
  PutLe(b, 8, 8, r.policy);
  Put(b, kOffFamilyId, r.family_id);
  Put(b, kOffImageId, r.image_id);
  PutLe(b, kOffVmpl, 4, r.vmpl);
  PutLe(b, kOffSigAlgo, 4, r.sig_algo);
  PutTcb(b, kOffCurrentTcb, r.current_tcb, g);
  PutLe(b, kOffPlatInfo, 8, r.plat_info);
  PutLe(b, kOffKeyInfo, 4, r.key_info);
  Put(b, kOffReportData, r.report_data);
  Put(b, kOffMeasurement, r.measurement);
  Put(b, kOffHostData, r.host_data);
  Put(b, kOffIdKeyDigest, r.id_key_digest);
  Put(b, kOffAuthorKeyDigest, r.author_key_digest);
  Put(b, kOffReportId, r.report_id);
  Put(b, kOffReportIdMa, r.report_id_ma);
  PutTcb(b, kOffReportedTcb, r.reported_tcb, g);
  if (r.version >= 3) {
    b[kOffCpuidFam] = *r.cpuid_fam_id;
    b[kOffCpuidMod] = *r.cpuid_mod_id;
    b[kOffCpuidStep] = *r.cpuid_step;
  }
  Put(b, kOffChipId, r.chip_id);
  PutTcb(b, kOffCommittedTcb, r.committed_tcb, g);
  b[kOffCurrentVersion] = r.current.build;
  b[kOffCurrentVersion + 1] = r.current.minor;
  b[kOffCurrentVersion + 2] = r.current.major;
  b[kOffCommittedVersion] = r.committed.build;
  b[kOffCommittedVersion + 1] = r.committed.minor;
  b[kOffCommittedVersion + 2] = r.committed.major;
  PutTcb(b, kOffLaunchTcb, r.launch_tcb, g);
  if (r.version >= 5) {
    PutLe(b, kOffLaunchMit, 8, r.launch_mit_vector.value_or(0));
    PutLe(b, kOffCurrentMit, 8, r.current_mit_vector.value_or(0));
  }
  Put(b, kOffSignatureR, r.signature_r);
  Put(b, kOffSignatureS, r.signature_s);
  return b;
}

nlohmann::json SnpReportToJson(const SnpReport& r) {
  auto opt = [](const auto& o) { return o ? nlohmann::json(*o) : nlohmann::json(); };
  auto ver = [](const SnpVersion& v) {
    return nlohmann::json{{"major", v.major}, {"minor", v.minor}, {"build", v.build}};
  };
  nlohmann::json j = {
      {"version", r.version},
      {"guest_svn", r.guest_svn},
      {"policy", r.policy},
      {"family_id", ByteArray(r.family_id)},
      {"image_id", ByteArray(r.image_id)},
      {"vmpl", r.vmpl},
      {"sig_algo", r.sig_algo},
      {"current_tcb", TcbJson(r.current_tcb)},
      {"plat_info", r.plat_info},
      {"key_info", r.key_info},
      {"report_data", ByteArray(r.report_data)},
      {"measurement", ByteArray(r.measurement)},
      {"host_data", ByteArray(r.host_data)},
      {"id_key_digest", ByteArray(r.id_key_digest)},
      {"author_key_digest", ByteArray(r.author_key_digest)},
      {"report_id", ByteArray(r.report_id)},
      {"report_id_ma", ByteArray(r.report_id_ma)},
      {"reported_tcb", TcbJson(r.reported_tcb)},
      {"cpuid_fam_id", opt(r.cpuid_fam_id)},
      {"cpuid_mod_id", opt(r.cpuid_mod_id)},
      {"cpuid_step", opt(r.cpuid_step)},
      {"chip_id", ByteArray(r.chip_id)},
      {"committed_tcb", TcbJson(r.committed_tcb)},
      {"current", ver(r.current)},
      {"committed", ver(r.committed)},
      {"launch_tcb", TcbJson(r.launch_tcb)},
      {"launch_mit_vector", opt(r.launch_mit_vector)},
      {"current_mit_vector", opt(r.current_mit_vector)},
      {"signature", {{"r", ByteArray(r.signature_r)}, {"s", ByteArray(r.signature_s)}}},
  };
  return j;
}

Result<SnpReport> SnpReportFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Bad("\"attestation_report\" is not an object");
  SnpReport r;
  COCO_ASSIGN_OR_RETURN(uint64_t version, ReadUint(j, "version", 0xFFFFFFFF));
  r.version = static_cast<uint32_t>(version);
  if (r.version < 2 || r.version > 5)
    return Bad("version " + std::to_string(r.version) + " is not supported (2 to 5)");
  COCO_ASSIGN_OR_RETURN(uint64_t svn, ReadUint(j, "guest_svn", 0xFFFFFFFF));
  r.guest_svn = static_cast<uint32_t>(svn);
  COCO_ASSIGN_OR_RETURN(r.policy, ReadUint(j, "policy", UINT64_MAX));
  COCO_ASSIGN_OR_RETURN(r.family_id, ReadByteArray(j, "family_id", 16));
  COCO_ASSIGN_OR_RETURN(r.image_id, ReadByteArray(j, "image_id", 16));
  COCO_ASSIGN_OR_RETURN(uint64_t vmpl, ReadUint(j, "vmpl", 0xFFFFFFFF));
  r.vmpl = static_cast<uint32_t>(vmpl);
  COCO_ASSIGN_OR_RETURN(uint64_t alg, ReadUint(j, "sig_algo", 0xFFFFFFFF));
  r.sig_algo = static_cast<uint32_t>(alg);
  COCO_ASSIGN_OR_RETURN(r.current_tcb, ReadTcb(j, "current_tcb"));
  COCO_ASSIGN_OR_RETURN(r.plat_info, ReadUint(j, "plat_info", UINT64_MAX));
  COCO_ASSIGN_OR_RETURN(uint64_t key_info, ReadUint(j, "key_info", 0xFFFFFFFF));
  r.key_info = static_cast<uint32_t>(key_info);
  COCO_ASSIGN_OR_RETURN(r.report_data, ReadByteArray(j, "report_data", 64));
  COCO_ASSIGN_OR_RETURN(r.measurement, ReadByteArray(j, "measurement", 48));
  COCO_ASSIGN_OR_RETURN(r.host_data, ReadByteArray(j, "host_data", 32));
  COCO_ASSIGN_OR_RETURN(r.id_key_digest, ReadByteArray(j, "id_key_digest", 48));
  COCO_ASSIGN_OR_RETURN(r.author_key_digest, ReadByteArray(j, "author_key_digest", 48));
  COCO_ASSIGN_OR_RETURN(r.report_id, ReadByteArray(j, "report_id", 32));
  COCO_ASSIGN_OR_RETURN(r.report_id_ma, ReadByteArray(j, "report_id_ma", 32));
  COCO_ASSIGN_OR_RETURN(r.reported_tcb, ReadTcb(j, "reported_tcb"));
  COCO_ASSIGN_OR_RETURN(auto fam, ReadOptUint(j, "cpuid_fam_id", 255));
  COCO_ASSIGN_OR_RETURN(auto mod, ReadOptUint(j, "cpuid_mod_id", 255));
  COCO_ASSIGN_OR_RETURN(auto step, ReadOptUint(j, "cpuid_step", 255));
  if (fam) r.cpuid_fam_id = static_cast<uint8_t>(*fam);
  if (mod) r.cpuid_mod_id = static_cast<uint8_t>(*mod);
  if (step) r.cpuid_step = static_cast<uint8_t>(*step);
  COCO_ASSIGN_OR_RETURN(r.chip_id, ReadByteArray(j, "chip_id", 64));
  COCO_ASSIGN_OR_RETURN(r.committed_tcb, ReadTcb(j, "committed_tcb"));
  COCO_ASSIGN_OR_RETURN(r.current, ReadVersion(j, "current"));
  COCO_ASSIGN_OR_RETURN(r.committed, ReadVersion(j, "committed"));
  COCO_ASSIGN_OR_RETURN(r.launch_tcb, ReadTcb(j, "launch_tcb"));
  COCO_ASSIGN_OR_RETURN(r.launch_mit_vector, ReadOptUint(j, "launch_mit_vector", UINT64_MAX));
  COCO_ASSIGN_OR_RETURN(r.current_mit_vector, ReadOptUint(j, "current_mit_vector", UINT64_MAX));
  auto sig = j.find("signature");
  if (sig == j.end() || !sig->is_object()) return Bad("\"signature\" is missing");
  COCO_ASSIGN_OR_RETURN(r.signature_r, ReadByteArray(*sig, "r", kSigComponent));
  COCO_ASSIGN_OR_RETURN(r.signature_s, ReadByteArray(*sig, "s", kSigComponent));
  if (r.version >= 3) {
    if (!r.cpuid_fam_id || !r.cpuid_mod_id || !r.cpuid_step)
      return Bad("version " + std::to_string(r.version) +
                 " without cpuid_fam_id/cpuid_mod_id/"
                 "cpuid_step");
    COCO_ASSIGN_OR_RETURN(r.generation, SnpGenerationFromCpuid(*r.cpuid_fam_id, *r.cpuid_mod_id));
  } else {
    r.generation = r.reported_tcb.fmc ? SnpGeneration::kTurin : SnpGeneration::kGenoa;
  }
  // The TCB layout follows the generation: Turin's carries fmc, the others' do not.
  bool turin = r.generation == SnpGeneration::kTurin;
  for (const SnpTcb* t : {&r.current_tcb, &r.reported_tcb, &r.committed_tcb, &r.launch_tcb}) {
    if (t->fmc.has_value() != turin)
      return Bad(turin ? "a Turin report's TCB needs \"fmc\""
                       : "\"fmc\" is set in the TCB of a report from before Turin");
  }
  return r;
}

Result<std::vector<SnpCert>> ParseSnpCertTable(const Bytes& t) {
  std::vector<SnpCert> out;
  constexpr size_t kEntry = 24;
  for (size_t off = 0;; off += kEntry) {
    if (off + kEntry > t.size())
      return MakeError(Code::kEvidence, "SNP certificate table: no terminating all-zero entry");
    if (AllZero(t, off, kEntry)) break;
    uint64_t data_off = Le(t, off + 16, 4), len = Le(t, off + 20, 4);
    if (data_off > t.size() || len > t.size() - data_off)
      return MakeError(Code::kEvidence, "SNP certificate table: entry " +
                                            std::to_string(off / kEntry) +
                                            " points outside the table");
    SnpCert c;
    c.type = "OTHER";
    for (const auto& g : kCertGuids)
      if (std::memcmp(g.guid, t.data() + off, 16) == 0) c.type = g.type;
    c.der = Slice(t, static_cast<size_t>(data_off), static_cast<size_t>(len));
    out.push_back(std::move(c));
  }
  return out;
}

Result<SnpEvidence> SnpEvidenceFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return MakeError(Code::kEvidence, "SNP evidence is not a JSON object");
  auto rep = j.find("attestation_report");
  if (rep == j.end())
    return MakeError(Code::kEvidence, "SNP evidence has no \"attestation_report\"");
  SnpEvidence e;
  COCO_ASSIGN_OR_RETURN(e.report, SnpReportFromJson(*rep));
  auto chain = j.find("cert_chain");
  if (chain != j.end() && !chain->is_null()) {
    if (!chain->is_array())
      return MakeError(Code::kEvidence, "SNP evidence: \"cert_chain\" is not an array");
    std::vector<SnpCert> certs;
    for (const auto& c : *chain) {
      if (!c.is_object())
        return MakeError(Code::kEvidence, "SNP cert_chain entry is not an object");
      auto type = c.find("cert_type");
      SnpCert sc;
      if (type != c.end() && type->is_string()) {
        sc.type = type->get<std::string>();
      } else if (type != c.end() && type->is_object()) {
        sc.type = "OTHER";  // {"OTHER": "<guid>"}
      } else {
        return MakeError(Code::kEvidence, "SNP cert_chain entry has no \"cert_type\"");
      }
      auto data = c.find("data");
      if (data == c.end() || !data->is_array())
        return MakeError(Code::kEvidence, "SNP cert_chain entry has no \"data\" byte array");
      for (const auto& b : *data) {
        if (!IsUintUpTo(b, 255))
          return MakeError(Code::kEvidence,
                           "SNP cert_chain entry data holds a value that is not a byte");
        sc.der.push_back(static_cast<uint8_t>(b.get<uint64_t>()));
      }
      certs.push_back(std::move(sc));
    }
    e.certs = std::move(certs);
  }
  return e;
}

nlohmann::json SnpEvidenceToJson(const SnpEvidence& e) {
  nlohmann::json chain;  // null when absent
  if (e.certs) {
    chain = nlohmann::json::array();
    for (const auto& c : *e.certs)
      chain.push_back({{"cert_type", c.type}, {"data", ByteArray(c.der)}});
  }
  return {{"attestation_report", SnpReportToJson(e.report)}, {"cert_chain", chain}};
}

}  // namespace coco::attestation
