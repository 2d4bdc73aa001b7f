#include "kbs/policy.h"

#include <algorithm>
#include <cctype>

namespace coco::kbs {
namespace {

constexpr std::string_view kDefaultCpu =
    R"rego(# default_cpu: grades CPU TEE claims into an EAR trust vector.
# Built into coco-kbs; the values follow the AR4SI trust tiers.
package policy

import rego.v1

default executables := 33
default hardware := 97
default configuration := 36

# sample (development TEE)
executables := 3 if {
	input.sample.launch_digest in query_reference_value("launch_digest")
}

hardware := 2 if {
	input.sample.svn in query_reference_value("svn")
	input.sample.platform_version.major == query_reference_value("major_version")
	input.sample.platform_version.minor >= query_reference_value("minimum_minor_version")
}

configuration := 2 if {
	input.sample.debug == false
}

# snp (AMD SEV-SNP)
executables := 3 if {
	input.snp.measurement in query_reference_value("snp_launch_measurement")
}

hardware := 2 if {
	input.snp.reported_tcb_bootloader in query_reference_value("snp_bootloader")
	input.snp.reported_tcb_microcode in query_reference_value("snp_microcode")
	input.snp.reported_tcb_snp in query_reference_value("snp_snp_svn")
	input.snp.reported_tcb_tee in query_reference_value("snp_tee_svn")
}

configuration := 2 if {
	input.snp.policy_debug_allowed == false
	input.snp.policy_migrate_ma == false
	input.snp.platform_smt_enabled == query_reference_value("snp_smt_enabled")
	input.snp.platform_tsme_enabled == query_reference_value("snp_tsme_enabled")
	input.snp.policy_abi_major == query_reference_value("snp_guest_abi_major")
	input.snp.policy_abi_minor == query_reference_value("snp_guest_abi_minor")
	input.snp.policy_single_socket == query_reference_value("snp_single_socket")
	input.snp.policy_smt_allowed == query_reference_value("snp_smt_allowed")
} else := 3 if {
	input.snp.policy_debug_allowed == false
	input.snp.policy_migrate_ma == false
}

# tdx (Intel TDX)
executables := 3 if {
	input.tdx.quote.body.rtmr_1 in query_reference_value("rtmr_1")
	input.tdx.quote.body.rtmr_2 in query_reference_value("rtmr_2")
	tdx_kernel_ok
	tdx_kernel_params_ok
} else := 4 if {
	input.tdx.quote.body.rtmr_1 in query_reference_value("rtmr_1")
	input.tdx.quote.body.rtmr_2 in query_reference_value("rtmr_2")
}

hardware := 2 if {
	input.tdx.quote.header.tee_type == "81000000"
	input.tdx.quote.header.vendor_id == "939a7233f79c4ca9940a0db3957f0607"
	input.tdx.quote.body.mr_td in query_reference_value("mr_td")
	input.tdx.tcb_status == "UpToDate"
	input.tdx.collateral_expiration_status == "0"
}

configuration := 2 if {
	input.tdx.td_attributes.debug == false
	input.tdx.quote.body.xfam in query_reference_value("xfam")
}

tdx_kernel_ok if {
	event := input.tdx.uefi_event_logs[_]
	event.type_name == "EV_EFI_BOOT_SERVICES_APPLICATION"
	"File(kernel)" in event.details.device_paths
	event.digests[_].digest == query_reference_value("tdvfkernel")
}

tdx_kernel_params_ok if {
	event := input.tdx.uefi_event_logs[_]
	event.type_name == "EV_EVENT_TAG"
	event.details.string == "LOADED_IMAGE::LoadOptions"
	event.digests[_].digest == query_reference_value("tdvfkernelparams")
}

# tpm (TPM 2.0 quotes)
hardware := 2 if {
	input.tpm
}

executables := 3 if {
	input.tpm.pcr11 in query_reference_value("tpm_pcr11")
	input.tpm.ak_public in query_reference_value("trusted_aks")
}

configuration := 0 if {
	input.tpm
}

trust_claims := {
	"executables": executables,
	"hardware": hardware,
	"configuration": configuration,
}
)rego";

constexpr std::string_view kAffirming = R"(# Release a resource only when every submodule of the
# attestation token is affirming.
package policy

import rego.v1

default allow := false

allow if {
	count(input.submods) > 0
	every _, submod in input.submods {
		submod["ear.status"] == "affirming"
	}
}
)";

constexpr std::string_view kAllowAll = "package policy\ndefault allow = true\n";
constexpr std::string_view kDenyAll = "package policy\ndefault allow = false\n";

// Strips comments and all whitespace, and treats ":=" like "=", so that formatting and comments
// do not matter when recognising a built-in policy.
std::string Normalize(std::string_view text) {
  std::string out;
  bool comment = false;
  for (char c : text) {
    if (comment) {
      if (c == '\n') comment = false;
      continue;
    }
    if (c == '#') {
      comment = true;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    out += c;
  }
  size_t pos;
  while ((pos = out.find(":=")) != std::string::npos) out.erase(pos, 1);
  const std::string imp = "importrego.v1";
  if ((pos = out.find(imp)) != std::string::npos) out.erase(pos, imp.size());
  return out;
}

// Reference-value matching as the policy's `in`: a list matches any member; a scalar matches
// itself. Numbers and their decimal strings are equal (reference values are often provisioned as
// strings).
std::string Scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}
bool In(const nlohmann::json& value, const nlohmann::json& rv) {
  if (rv.is_null()) return false;
  if (rv.is_array()) {
    return std::any_of(rv.begin(), rv.end(),
                       [&](const nlohmann::json& e) { return Scalar(e) == Scalar(value); });
  }
  return Scalar(rv) == Scalar(value);
}
// The policy's `==` against a reference value: equal scalars (a number and its decimal string
// count as equal, as in In); a missing reference value never matches.
bool Equal(const nlohmann::json& value, const nlohmann::json& rv) {
  if (rv.is_null() || value.is_null()) return false;
  if (rv.is_array()) return rv.size() == 1 && Scalar(rv[0]) == Scalar(value);
  return Scalar(rv) == Scalar(value);
}

bool AtLeast(const nlohmann::json& value, const nlohmann::json& rv) {
  auto num = [](const nlohmann::json& v) -> std::optional<double> {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
      try {
        size_t idx = 0;
        double d = std::stod(v.get<std::string>(), &idx);
        if (idx == v.get<std::string>().size()) return d;
      } catch (...) {
      }
    }
    return std::nullopt;
  };
  auto val = num(value);
  if (!val) return false;
  auto check = [&](const nlohmann::json& e) {
    auto m = num(e);
    return m && *val >= *m;
  };
  if (rv.is_array()) return std::any_of(rv.begin(), rv.end(), check);
  return check(rv);
}

nlohmann::json EmptyVector() {
  return {{"instance-identity", 0}, {"configuration", 0}, {"executables", 0},
          {"file-system", 0},       {"hardware", 0},      {"runtime-opaque", 0},
          {"storage-opaque", 0},    {"sourced-data", 0}};
}

// The TDX part of default_cpu (see its text above).
void TdxAppraise(const nlohmann::json& claims, const ReferenceValueLookup& rv, int* executables,
                 int* hardware, int* configuration) {
  auto at = [&](std::initializer_list<const char*> path) {
    const nlohmann::json* j = &claims;
    for (const char* k : path) {
      if (!j->is_object() || !j->contains(k)) return nlohmann::json();
      j = &(*j)[k];
    }
    return *j;
  };
  // An event of the log that matches `pick` and has a digest equal to the reference value.
  auto logged = [&](const char* rv_name, auto pick) {
    nlohmann::json want = rv(rv_name);
    if (want.is_null()) return false;
    for (const auto& e : at({"uefi_event_logs"})) {
      if (!pick(e)) continue;
      for (const auto& d : e.value("digests", nlohmann::json::array()))
        if (Equal(d.value("digest", nlohmann::json()), want)) return true;
    }
    return false;
  };
  bool rtmrs = In(at({"quote", "body", "rtmr_1"}), rv("rtmr_1")) &&
               In(at({"quote", "body", "rtmr_2"}), rv("rtmr_2"));
  if (rtmrs) {
    bool kernel = logged("tdvfkernel", [](const nlohmann::json& e) {
      if (e.value("type_name", "") != "EV_EFI_BOOT_SERVICES_APPLICATION") return false;
      auto paths = e.value("details", nlohmann::json::object())
                       .value("device_paths", nlohmann::json::array());
      return std::find(paths.begin(), paths.end(), "File(kernel)") != paths.end();
    });
    bool params = logged("tdvfkernelparams", [](const nlohmann::json& e) {
      return e.value("type_name", "") == "EV_EVENT_TAG" &&
             e.value("details", nlohmann::json::object()).value("string", "") ==
                 "LOADED_IMAGE::LoadOptions";
    });
    *executables = kernel && params ? 3 : 4;
  }
  if (at({"quote", "header", "tee_type"}) == "81000000" &&
      at({"quote", "header", "vendor_id"}) == "939a7233f79c4ca9940a0db3957f0607" &&
      In(at({"quote", "body", "mr_td"}), rv("mr_td")) && at({"tcb_status"}) == "UpToDate" &&
      at({"collateral_expiration_status"}) == "0")
    *hardware = 2;
  if (at({"td_attributes", "debug"}) == false && In(at({"quote", "body", "xfam"}), rv("xfam")))
    *configuration = 2;
}

class DefaultCpuPolicy final : public AttestationPolicy {
 public:
  std::string id() const override { return "default_cpu"; }

  Result<Appraisal> Appraise(const std::string& tee, const nlohmann::json& claims,
                             const ReferenceValueLookup& rv) const override {
    nlohmann::json v = EmptyVector();
    int executables = 33, hardware = 97, configuration = 36;
    if (tee == "sample") {
      if (In(claims.value("launch_digest", nlohmann::json()), rv("launch_digest"))) executables = 3;
      const auto& pv = claims.value("platform_version", nlohmann::json::object());
      if (In(claims.value("svn", nlohmann::json()), rv("svn")) &&
          In(pv.value("major", nlohmann::json()), rv("major_version")) &&
          AtLeast(pv.value("minor", nlohmann::json()), rv("minimum_minor_version")))
        hardware = 2;
      if (claims.value("debug", true) == false) configuration = 2;
    } else if (tee == "snp") {
      auto c = [&](const char* k) { return claims.value(k, nlohmann::json()); };
      if (In(c("measurement"), rv("snp_launch_measurement"))) executables = 3;
      if (In(c("reported_tcb_bootloader"), rv("snp_bootloader")) &&
          In(c("reported_tcb_microcode"), rv("snp_microcode")) &&
          In(c("reported_tcb_snp"), rv("snp_snp_svn")) &&
          In(c("reported_tcb_tee"), rv("snp_tee_svn")))
        hardware = 2;
      bool safe = c("policy_debug_allowed") == false && c("policy_migrate_ma") == false;
      if (safe && Equal(c("platform_smt_enabled"), rv("snp_smt_enabled")) &&
          Equal(c("platform_tsme_enabled"), rv("snp_tsme_enabled")) &&
          Equal(c("policy_abi_major"), rv("snp_guest_abi_major")) &&
          Equal(c("policy_abi_minor"), rv("snp_guest_abi_minor")) &&
          Equal(c("policy_single_socket"), rv("snp_single_socket")) &&
          Equal(c("policy_smt_allowed"), rv("snp_smt_allowed"))) {
        configuration = 2;
      } else if (safe) {
        configuration = 3;
      }
    } else if (tee == "tdx") {
      TdxAppraise(claims, rv, &executables, &hardware, &configuration);
    } else if (tee == "tpm") {
      hardware = 2;
      if (In(claims.value("pcr11", nlohmann::json()), rv("tpm_pcr11")) &&
          In(claims.value("ak_public", nlohmann::json()), rv("trusted_aks")))
        executables = 3;
      configuration = 0;
    }
    v["executables"] = executables;
    v["hardware"] = hardware;
    v["configuration"] = configuration;
    return Appraisal{v, StatusOf(v)};
  }
};

class AffirmingPolicy final : public ResourcePolicy {
 public:
  std::string name() const override { return "affirming"; }
  Decision Evaluate(const nlohmann::json& claims, const std::string&) const override {
    auto submods = claims.find("submods");
    if (submods == claims.end() || !submods->is_object() || submods->empty())
      return {false, "the token has no submods"};
    for (const auto& [name, sub] : submods->items()) {
      std::string status = sub.is_object() ? sub.value("ear.status", "") : "";
      if (status != "affirming")
        return {false, "submod " + name + " is " + (status.empty() ? "missing a status" : status) +
                           ", the resource policy requires affirming"};
    }
    return {true, "every submod is affirming"};
  }
};

class ConstantPolicy final : public ResourcePolicy {
 public:
  explicit ConstantPolicy(bool allow) : allow_(allow) {}
  std::string name() const override { return allow_ ? "allow-all" : "deny-all"; }
  Decision Evaluate(const nlohmann::json&, const std::string&) const override {
    return {allow_, allow_ ? "the resource policy allows all" : "the resource policy denies all"};
  }

 private:
  bool allow_;
};

}  // namespace

std::string TierOf(int value) {
  if (value >= -1 && value <= 1) return "none";
  int a = value < 0 ? -value - 1 : value;  // negative values mirror the positive tiers
  if (a <= 31) return "affirming";
  if (a <= 95) return "warning";
  return "contraindicated";
}

std::string StatusOf(const nlohmann::json& trust_vector) {
  static const std::vector<std::string> order = {"none", "affirming", "warning", "contraindicated"};
  size_t worst = 0;
  for (const auto& [k, v] : trust_vector.items()) {
    if (!v.is_number_integer()) continue;
    auto tier = TierOf(v.get<int>());
    size_t rank = std::find(order.begin(), order.end(), tier) - order.begin();
    worst = std::max(worst, rank);
  }
  return order[worst];
}

std::string_view DefaultAttestationPolicyText() { return kDefaultCpu; }
std::string_view AffirmingResourcePolicyText() { return kAffirming; }
std::string_view AllowAllResourcePolicyText() { return kAllowAll; }
std::string_view DenyAllResourcePolicyText() { return kDenyAll; }

Result<std::unique_ptr<AttestationPolicy>> CompileAttestationPolicy(std::string_view id,
                                                                    std::string_view text) {
  if (id != "default_cpu")
    return MakeError(Code::kPolicyInvalid,
                     "attestation policy id \"" + std::string(id) +
                         "\" is not used by this broker (it evaluates default_cpu)");
  if (Normalize(text) == Normalize(kDefaultCpu))
    return std::unique_ptr<AttestationPolicy>(std::make_unique<DefaultCpuPolicy>());
  return MakeError(Code::kPolicyInvalid,
                   "this broker evaluates only its built-in default_cpu attestation policy (see "
                   "`coco-kbs show-policy default_cpu`); custom Rego needs the policy engine");
}

Result<std::unique_ptr<ResourcePolicy>> CompileResourcePolicy(std::string_view text) {
  std::string n = Normalize(text);
  if (n == Normalize(kAffirming))
    return std::unique_ptr<ResourcePolicy>(std::make_unique<AffirmingPolicy>());
  if (n == Normalize(kAllowAll))
    return std::unique_ptr<ResourcePolicy>(std::make_unique<ConstantPolicy>(true));
  if (n == Normalize(kDenyAll))
    return std::unique_ptr<ResourcePolicy>(std::make_unique<ConstantPolicy>(false));
  return MakeError(Code::kPolicyInvalid,
                   "this broker evaluates only its built-in resource policies: affirming (the "
                   "default), allow-all and deny-all (see `coco-kbs show-policy`); custom Rego "
                   "needs the policy engine");
}

}  // namespace coco::kbs
