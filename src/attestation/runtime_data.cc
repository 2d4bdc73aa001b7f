#include "attestation/runtime_data.h"

#include <toml++/toml.h>

#include "base/toml_bounds.h"
#include "jose/jcs.h"

namespace coco::attestation {
namespace {

nlohmann::json TomlToJson(const toml::node& node) {
  if (auto* t = node.as_table()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : *t) out[std::string(k.str())] = TomlToJson(v);
    return out;
  }
  if (auto* a = node.as_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : *a) out.push_back(TomlToJson(v));
    return out;
  }
  if (auto* s = node.as_string()) return s->get();
  if (auto* i = node.as_integer()) return i->get();
  if (auto* f = node.as_floating_point()) return f->get();
  if (auto* b = node.as_boolean()) return b->get();
  std::ostringstream ss;  // dates and times keep their TOML spelling
  if (auto* d = node.as_date()) ss << d->get();
  if (auto* tm = node.as_time()) ss << tm->get();
  if (auto* dt = node.as_date_time()) ss << dt->get();
  return ss.str();
}

Result<toml::table> ParseToml(std::string_view text, const std::string& what) {
  COCO_RETURN_IF_ERROR(CheckTomlBounds(text, what));
  try {
    return toml::parse(text);
  } catch (const toml::parse_error& e) {
    std::ostringstream ss;
    ss << what << " is not valid TOML: " << e.description() << " at line " << e.source().begin.line
       << ", column " << e.source().begin.column;
    return MakeError(Code::kInvalidArgument, ss.str());
  }
}

}  // namespace

nlohmann::json PrimaryRuntimeData(const nlohmann::json& tee_pubkey, const std::string& nonce,
                                  const std::string& additional_evidence) {
  return {
      {"tee-pubkey", tee_pubkey}, {"nonce", nonce}, {"additional-evidence", additional_evidence}};
}

Bytes FitToField(const Bytes& digest, size_t size) {
  Bytes out(digest.begin(), digest.begin() + static_cast<long>(std::min(digest.size(), size)));
  out.resize(size, 0);
  return out;
}

Result<Bytes> RuntimeDataDigest(const nlohmann::json& runtime_data, crypto::HashAlg alg) {
  COCO_ASSIGN_OR_RETURN(std::string canonical, jose::Canonicalize(runtime_data));
  return crypto::Hash(alg, canonical);
}

Result<InitData> ParseInitData(std::string_view toml_text) {
  COCO_ASSIGN_OR_RETURN(toml::table doc, ParseToml(toml_text, "init-data"));
  InitData out;
  auto alg = doc["algorithm"].value<std::string>();
  if (!alg) return MakeError(Code::kInvalidArgument, "init-data has no string field \"algorithm\"");
  out.algorithm = *alg;
  crypto::HashAlg h;
  if (out.algorithm == "sha256") {
    h = crypto::HashAlg::kSha256;
  } else if (out.algorithm == "sha384") {
    h = crypto::HashAlg::kSha384;
  } else if (out.algorithm == "sha512") {
    h = crypto::HashAlg::kSha512;
  } else {
    return MakeError(Code::kInvalidArgument, "init-data algorithm \"" + out.algorithm +
                                                 "\" is not supported (sha256, sha384, sha512)");
  }
  auto version = doc["version"].value<std::string>();
  if (!version)
    return MakeError(Code::kInvalidArgument, "init-data has no string field \"version\"");
  out.version = *version;
  out.data = nlohmann::json::object();
  if (auto* data = doc["data"].as_table()) {
    for (const auto& [k, v] : *data) {
      std::string key(k.str());
      auto* s = v.as_string();
      if ((key == "aa.toml" || key == "cdh.toml") && s) {
        COCO_ASSIGN_OR_RETURN(toml::table inner, ParseToml(s->get(), "init-data " + key));
        out.data[key] = TomlToJson(inner);
      } else {
        out.data[key] = TomlToJson(v);
      }
    }
  } else if (doc.contains("data")) {
    return MakeError(Code::kInvalidArgument, "init-data field \"data\" is not a table");
  }
  out.digest = crypto::Hash(h, toml_text);
  return out;
}

}  // namespace coco::attestation
