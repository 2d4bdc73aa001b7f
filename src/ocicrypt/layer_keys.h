// A layer's key material in and out of its annotations: wrap the private options for every
// recipient scheme, and find the first scheme that unwraps them again.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "ocicrypt/keywrap.h"
#include "ocicrypt/options.h"

namespace coco::ocicrypt {

// The annotations for an encrypted layer: one keys.<scheme> entry per wrapper (wrappers sharing
// an annotation are comma-joined) plus pubopts.
Result<std::map<std::string, std::string>> EncryptionAnnotations(
    const PrivateOptions& priv, const PublicOptions& pub, const std::vector<KeyWrapper*>& wrappers);

struct LayerKey {
  PrivateOptions priv;
  PublicOptions pub;
  std::string annotation;  // the keys.* annotation that opened it
};

// Unwraps a layer key from `annotations`. On failure (kind "KeyMissing" when no unwrapper knows
// any of the layer's key annotations, else the last unwrap error's code) the message lists every
// key annotation and why each entry failed (JWE recipients, provider key ids).
Result<LayerKey> UnwrapLayerKey(const std::map<std::string, std::string>& annotations,
                                const std::vector<KeyUnwrapper*>& unwrappers);

}  // namespace coco::ocicrypt
