// Reference value provider (RVPS): registers reference values from upstream's message format
// and answers queries from the attestation policy. Expired values are ignored.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/result.h"
#include "kbs/storage.h"

namespace coco::kbs {

class ReferenceValues {
 public:
  // `storage` must outlive this object.
  explicit ReferenceValues(Storage* storage) : storage_(storage) {}

  // Registers every value in a message {"version":"0.1.0","type":"sample","payload":"<b64 of
  // {name: value, ...}>"}. Each record expires `validity_secs` after `now_unix` (default 12
  // months, as upstream). Returns the names stored.
  Result<std::vector<std::string>> Register(const nlohmann::json& message, int64_t now_unix,
                                            int64_t validity_secs = 365LL * 24 * 3600);

  // The stored record {"version","name","expiration","value"}; nullopt if unknown.
  Result<std::optional<nlohmann::json>> GetRecord(const std::string& name);

  // The value for the policy: null when unknown or expired at `now_unix`.
  nlohmann::json Query(const std::string& name, int64_t now_unix);

 private:
  Storage* storage_;
};

}  // namespace coco::kbs
