// The JSON payload shared by simple signing and cosign:
// {"critical":{"identity":{"docker-reference":R},"image":{"docker-manifest-digest":D},
//  "type":T},"optional":{...}|null}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace coco::signature {

inline constexpr char kSimpleSigningType[] = "atomic container signature";
inline constexpr char kCosignType[] = "cosign container image signature";

struct SignaturePayload {
  std::string type;
  std::string docker_reference;
  std::string manifest_digest;
};

// Parses an (already cryptographically verified) payload. Strict like containers/image:
// "critical" must hold exactly type/image/identity, "image" exactly docker-manifest-digest and
// "identity" exactly docker-reference; "type" must equal `expected_type`; "optional" may be an
// object, null or absent. Errors are InvalidArgument and say which field was wrong.
Result<SignaturePayload> ParsePayload(std::string_view json, std::string_view expected_type);

// Serialises a payload with sorted keys and no whitespace (the form skopeo and cosign emit).
// `optional_creator` / `optional_timestamp` fill "optional" when set; cosign leaves both empty
// and gets "optional":null.
std::string MakePayload(const SignaturePayload& payload,
                        const std::optional<std::string>& optional_creator = std::nullopt,
                        std::optional<int64_t> optional_timestamp = std::nullopt);

}  // namespace coco::signature
