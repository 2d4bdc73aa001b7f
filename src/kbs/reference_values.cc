#include "kbs/reference_values.h"

#include <ctime>

#include "base/bytes.h"
#include "base/json.h"
#include "base/time.h"

namespace coco::kbs {

Result<std::vector<std::string>> ReferenceValues::Register(const nlohmann::json& message,
                                                           int64_t now_unix,
                                                           int64_t validity_secs) {
  if (!message.is_object())
    return MakeError(Code::kInvalidArgument, "RVPS message is not an object");
  auto version = message.find("version");
  if (version == message.end() || *version != "0.1.0")
    return MakeError(Code::kInvalidArgument,
                     "RVPS message version must be \"0.1.0\", got " +
                         (version == message.end() ? std::string("none") : version->dump()));
  auto type = message.find("type");
  if (type == message.end() || !type->is_string())
    return MakeError(Code::kInvalidArgument, "RVPS message has no string field \"type\"");
  if (*type != "sample")
    return MakeError(Code::kInvalidArgument, "RVPS message type " + type->dump() +
                                                 " is not supported (supported: \"sample\")");
  auto payload = message.find("payload");
  if (payload == message.end() || !payload->is_string())
    return MakeError(Code::kInvalidArgument, "RVPS message has no string field \"payload\"");
  auto raw = Base64Decode(payload->get<std::string>());
  if (!raw.ok()) return MakeError(Code::kInvalidArgument, "RVPS payload: " + raw.error().message);
  // The message arrived within the body's nesting limit, but its payload is a document of its
  // own: it gets the same bounds before anything is built from it.
  auto values = ParseJsonOrDiscarded(*raw, JsonLimits{raw->size(), 32});
  if (values.is_discarded() || !values.is_object())
    return MakeError(Code::kInvalidArgument,
                     "RVPS sample payload is not a JSON object of name: value (nested at most 32 "
                     "levels)");
  std::vector<std::string> names;
  std::string expiration = FormatRfc3339(now_unix + validity_secs);
  for (const auto& [name, value] : values.items()) {
    nlohmann::json record = {
        {"version", "0.1.0"}, {"name", name}, {"expiration", expiration}, {"value", value}};
    COCO_RETURN_IF_ERROR(storage_->Put(kNsReferenceValue, name, record.dump()));
    names.push_back(name);
  }
  return names;
}

Result<std::optional<nlohmann::json>> ReferenceValues::GetRecord(const std::string& name) {
  COCO_ASSIGN_OR_RETURN(auto raw, storage_->Get(kNsReferenceValue, name));
  if (!raw) return std::optional<nlohmann::json>();
  auto record = ParseJsonOrDiscarded(*raw);
  if (record.is_discarded())
    return MakeError(Code::kStorage, "reference value " + name + " is corrupt");
  return std::optional<nlohmann::json>(std::move(record));
}

nlohmann::json ReferenceValues::Query(const std::string& name, int64_t now_unix) {
  auto record = GetRecord(name);
  if (!record.ok() || !record->has_value()) return nullptr;
  const auto& r = **record;
  auto exp = ParseRfc3339(r.value("expiration", ""));
  if (!exp.ok() || *exp <= now_unix) return nullptr;
  return r.value("value", nlohmann::json());
}

}  // namespace coco::kbs
