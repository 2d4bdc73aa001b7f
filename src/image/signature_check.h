// The pull's signature check over containers-policy.json (src/signature): simple-signing
// signatures from registries.d lookaside stores (file:// and http(s)://) and cosign signatures
// from the registry's `sha256-<hex>.sig` tag.
#pragma once

#include <memory>
#include <string>

#include "image/puller.h"
#include "oci/registry.h"
#include "signature/policy.h"
#include "signature/verify.h"

namespace coco::image {

struct PolicyCheckOptions {
  std::string policy_file;     // containers-policy.json
  std::string policy_json;     // or its text (e.g. fetched from the key broker); wins if set
  std::string registries_dir;  // registries.d ("" = none: no lookaside stores)
  // Resolves `kbs:///...` key paths in the policy (e.g. through the key broker); may be empty.
  signature::KeyResolver remote_keys;
};

// `registry` must outlive the check. Errors loading the policy or registries.d name the file.
Result<std::unique_ptr<SignatureCheck>> NewPolicySignatureCheck(const PolicyCheckOptions& options,
                                                                oci::RegistryClient* registry);

}  // namespace coco::image
