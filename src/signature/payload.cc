#include "signature/payload.h"

#include <nlohmann/json.hpp>

#include "base/json.h"

namespace coco::signature {
namespace {

using nlohmann::json;

Error Bad(const std::string& why) {
  return MakeError(Code::kInvalidArgument, "signature payload: " + why);
}

Result<std::string> OnlyStringMember(const json& obj, const char* where, const char* key) {
  if (!obj.is_object()) return Bad(std::string(where) + " is not an object");
  if (obj.size() != 1 || !obj.contains(key)) {
    return Bad(std::string(where) + " must contain exactly \"" + key + "\"");
  }
  const json& v = obj.at(key);
  if (!v.is_string()) return Bad(std::string(where) + "." + key + " is not a string");
  return v.get<std::string>();
}

}  // namespace

Result<SignaturePayload> ParsePayload(std::string_view text, std::string_view expected_type) {
  auto parsed = ParseJson(text, "the payload");
  if (!parsed.ok()) return Bad(parsed.error().message);
  json j = std::move(parsed).value();
  if (!j.is_object()) return Bad("not a JSON object");
  for (const auto& [k, v] : j.items()) {
    if (k != "critical" && k != "optional") return Bad("unknown top-level field \"" + k + "\"");
  }
  if (!j.contains("critical")) return Bad("missing \"critical\"");
  if (j.contains("optional") && !j.at("optional").is_object() && !j.at("optional").is_null()) {
    return Bad("\"optional\" is not an object");
  }
  const json& c = j.at("critical");
  if (!c.is_object()) return Bad("\"critical\" is not an object");
  for (const auto& [k, v] : c.items()) {
    if (k != "type" && k != "image" && k != "identity") {
      return Bad("unknown field critical." + k);
    }
  }
  if (!c.contains("type") || !c.contains("image") || !c.contains("identity")) {
    return Bad("critical needs type, image and identity");
  }
  SignaturePayload p;
  if (!c.at("type").is_string()) return Bad("critical.type is not a string");
  p.type = c.at("type").get<std::string>();
  if (p.type != expected_type) {
    return Bad("type \"" + p.type + "\" is not \"" + std::string(expected_type) + "\"");
  }
  COCO_ASSIGN_OR_RETURN(p.manifest_digest, OnlyStringMember(c.at("image"), "critical.image",
                                                            "docker-manifest-digest"));
  COCO_ASSIGN_OR_RETURN(p.docker_reference, OnlyStringMember(c.at("identity"), "critical.identity",
                                                             "docker-reference"));
  return p;
}

std::string MakePayload(const SignaturePayload& payload,
                        const std::optional<std::string>& optional_creator,
                        std::optional<int64_t> optional_timestamp) {
  json j;
  j["critical"]["identity"]["docker-reference"] = payload.docker_reference;
  j["critical"]["image"]["docker-manifest-digest"] = payload.manifest_digest;
  j["critical"]["type"] = payload.type;
  if (optional_creator || optional_timestamp) {
    json o = json::object();
    if (optional_creator) o["creator"] = *optional_creator;
    if (optional_timestamp) o["timestamp"] = *optional_timestamp;
    j["optional"] = o;
  } else {
    j["optional"] = nullptr;
  }
  return j.dump();
}

}  // namespace coco::signature
