// Policies of the broker, behind interfaces a Rego engine will implement later. Their inputs are
// shaped as upstream's so that the swap changes no API:
//  - attestation policy (id "default_cpu"): TEE claims + reference values -> EAR trust vector;
//  - resource policy (id "resource-policy"): input = token claims, data = {"plugin":"resource",
//    "resource-path": "<repo>/<type>/<tag>"} -> allow or deny.
// Policy text arrives as Rego; until the engine lands, the built-in policies are recognised by
// their text (comments and whitespace ignored) and anything else is refused with a clear error.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace coco::kbs {

// AR4SI trust tiers of a claim value: none (-1..1), affirming, warning, contraindicated.
std::string TierOf(int value);
// The worst tier over a trust vector (values 0 are "no claim" and do not count).
std::string StatusOf(const nlohmann::json& trust_vector);

struct Appraisal {
  nlohmann::json trust_vector;  // instance-identity, configuration, executables, file-system,
                                // hardware, runtime-opaque, storage-opaque, sourced-data
  std::string status;           // affirming | warning | contraindicated | none
};

// Looks up a reference value by name; null when unknown or expired.
using ReferenceValueLookup = std::function<nlohmann::json(const std::string& name)>;

class AttestationPolicy {
 public:
  virtual ~AttestationPolicy() = default;
  virtual std::string id() const = 0;
  // Fails when the policy sets no trust claim at all (upstream: attestation fails).
  virtual Result<Appraisal> Appraise(const std::string& tee, const nlohmann::json& tee_claims,
                                     const ReferenceValueLookup& rv) const = 0;
};

struct Decision {
  bool allow = false;
  std::string reason;  // why; safe to show to the requester
};

class ResourcePolicy {
 public:
  virtual ~ResourcePolicy() = default;
  virtual std::string name() const = 0;
  virtual Decision Evaluate(const nlohmann::json& token_claims,
                            const std::string& resource_path) const = 0;
};

// Built-in policy texts.
std::string_view DefaultAttestationPolicyText();  // default_cpu
std::string_view AffirmingResourcePolicyText();   // the default resource policy
std::string_view AllowAllResourcePolicyText();
std::string_view DenyAllResourcePolicyText();

// Compile policy text. Errors (code PolicyInvalid) name what is supported.
Result<std::unique_ptr<AttestationPolicy>> CompileAttestationPolicy(std::string_view id,
                                                                    std::string_view text);
Result<std::unique_ptr<ResourcePolicy>> CompileResourcePolicy(std::string_view text);

}  // namespace coco::kbs
