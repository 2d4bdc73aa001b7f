#include "oci/manifest.h"

#include <set>

#include "base/json.h"

namespace coco::oci {
namespace {

using json = nlohmann::json;

Error Invalid(const std::string& what) { return MakeError(Code::kInvalidArgument, what); }

Result<json> ParseJson(std::string_view bytes, const char* what) {
  json j = ParseJsonOrDiscarded(bytes);
  if (j.is_discarded() || !j.is_object()) {
    return Invalid(std::string(what) + " is not a JSON object");
  }
  return j;
}

Result<std::map<std::string, std::string>> StringMap(const json& j, const char* what) {
  std::map<std::string, std::string> out;
  if (j.is_null()) return out;
  if (!j.is_object()) return Invalid(std::string(what) + " must be an object of strings");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string()) {
      return Invalid(std::string(what) + " \"" + it.key() + "\" is not a string");
    }
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

json MapToJson(const std::map<std::string, std::string>& m) {
  json j = json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

std::string GetString(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<std::vector<std::string>> StringList(const json& j, const char* what) {
  std::vector<std::string> out;
  if (j.is_null()) return out;
  if (!j.is_array()) return Invalid(std::string(what) + " must be an array of strings");
  for (const auto& e : j) {
    if (!e.is_string()) return Invalid(std::string(what) + " must be an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

std::string ManifestAcceptHeader() {
  return std::string(media::kOciManifest) + ", " + media::kOciIndex + ", " +
         media::kDockerManifest + ", " + media::kDockerList;
}

bool IsIndexMediaType(const std::string& m) {
  return m == media::kOciIndex || m == media::kDockerList;
}
bool IsManifestMediaType(const std::string& m) {
  return m == media::kOciManifest || m == media::kDockerManifest;
}

Result<Descriptor> Descriptor::FromJson(const json& j) {
  if (!j.is_object()) return Invalid("descriptor is not an object");
  Descriptor d;
  d.extra = j;
  auto mt = j.find("mediaType");
  if (mt == j.end() || !mt->is_string() || mt->get<std::string>().empty()) {
    return Invalid("descriptor has no mediaType");
  }
  d.media_type = mt->get<std::string>();
  auto dg = j.find("digest");
  if (dg == j.end() || !dg->is_string()) return Invalid("descriptor has no digest");
  auto digest = Digest::Parse(dg->get<std::string>());
  if (!digest.ok()) return Invalid("descriptor digest: " + digest.error().message);
  d.digest = *digest;
  auto sz = j.find("size");
  if (sz == j.end() || !sz->is_number_integer() || sz->get<int64_t>() < 0) {
    return Invalid("descriptor " + d.digest.str() + " has no valid size");
  }
  d.size = sz->get<int64_t>();
  if (auto a = j.find("annotations"); a != j.end()) {
    COCO_ASSIGN_OR_RETURN(d.annotations, StringMap(*a, "annotation"));
  }
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
    d.platform =
        Platform{GetString(*p, "os"), GetString(*p, "architecture"), GetString(*p, "variant")};
  }
  for (const char* k : {"mediaType", "digest", "size", "annotations"}) d.extra.erase(k);
  return d;
}

json Descriptor::ToJson() const {
  json j = extra;
  j["mediaType"] = media_type;
  j["digest"] = digest.str();
  j["size"] = size;
  if (!annotations.empty())
    j["annotations"] = MapToJson(annotations);
  else
    j.erase("annotations");
  return j;
}

Result<std::string> DetectMediaType(std::string_view bytes, std::string_view content_type) {
  COCO_ASSIGN_OR_RETURN(json j, ParseJson(bytes, "manifest"));
  std::string mt = GetString(j, "mediaType");
  if (mt.empty()) {
    std::string ct(content_type.substr(0, content_type.find(';')));
    if (IsIndexMediaType(ct) || IsManifestMediaType(ct)) mt = ct;
  }
  if (mt.empty()) mt = j.contains("manifests") ? media::kOciIndex : media::kOciManifest;
  if (j.contains("schemaVersion") && j["schemaVersion"] == 1) {
    return Invalid(
        "Docker schema 1 manifests are not supported (re-push the image with a "
        "current tool)");
  }
  return mt;
}

Result<Manifest> Manifest::Parse(std::string_view bytes, std::string_view content_type) {
  COCO_ASSIGN_OR_RETURN(std::string mt, DetectMediaType(bytes, content_type));
  if (!IsManifestMediaType(mt)) return Invalid("media type " + mt + " is not an image manifest");
  COCO_ASSIGN_OR_RETURN(json j, ParseJson(bytes, "manifest"));
  Manifest m;
  m.media_type = mt;
  m.extra = j;
  auto cfg = j.find("config");
  if (cfg == j.end()) return Invalid("manifest has no config descriptor");
  COCO_ASSIGN_OR_RETURN(m.config, Descriptor::FromJson(*cfg));
  auto layers = j.find("layers");
  if (layers == j.end() || !layers->is_array()) return Invalid("manifest has no layers array");
  for (const auto& l : *layers) {
    COCO_ASSIGN_OR_RETURN(Descriptor d, Descriptor::FromJson(l));
    m.layers.push_back(std::move(d));
  }
  if (auto a = j.find("annotations"); a != j.end()) {
    COCO_ASSIGN_OR_RETURN(m.annotations, StringMap(*a, "annotation"));
  }
  for (const char* k : {"config", "layers", "annotations"}) m.extra.erase(k);
  return m;
}

std::string Manifest::Serialize() const {
  json j = extra;
  j["schemaVersion"] = 2;
  j["mediaType"] = media_type;
  j["config"] = config.ToJson();
  j["layers"] = json::array();
  for (const auto& l : layers) j["layers"].push_back(l.ToJson());
  if (!annotations.empty()) j["annotations"] = MapToJson(annotations);
  return j.dump();
}

Result<Index> Index::Parse(std::string_view bytes, std::string_view content_type) {
  COCO_ASSIGN_OR_RETURN(std::string mt, DetectMediaType(bytes, content_type));
  if (!IsIndexMediaType(mt)) return Invalid("media type " + mt + " is not an image index");
  COCO_ASSIGN_OR_RETURN(json j, ParseJson(bytes, "index"));
  Index idx;
  idx.media_type = mt;
  idx.extra = j;
  auto ms = j.find("manifests");
  if (ms == j.end() || !ms->is_array()) return Invalid("index has no manifests array");
  for (const auto& e : *ms) {
    COCO_ASSIGN_OR_RETURN(Descriptor d, Descriptor::FromJson(e));
    idx.manifests.push_back(std::move(d));
  }
  if (auto a = j.find("annotations"); a != j.end()) {
    COCO_ASSIGN_OR_RETURN(idx.annotations, StringMap(*a, "annotation"));
  }
  for (const char* k : {"manifests", "annotations"}) idx.extra.erase(k);
  return idx;
}

std::string Index::Serialize() const {
  json j = extra;
  j["schemaVersion"] = 2;
  j["mediaType"] = media_type;
  j["manifests"] = json::array();
  for (const auto& m : manifests) j["manifests"].push_back(m.ToJson());
  if (!annotations.empty()) j["annotations"] = MapToJson(annotations);
  return j.dump();
}

Result<Descriptor> Index::Select(const std::string& os, const std::string& architecture,
                                 const std::string& variant) const {
  std::set<std::string> seen;
  for (const auto& d : manifests) {
    if (!d.platform) continue;
    seen.insert(d.platform->os + "/" + d.platform->architecture +
                (d.platform->variant.empty() ? "" : "/" + d.platform->variant));
    if (d.platform->os == os && d.platform->architecture == architecture &&
        (variant.empty() || d.platform->variant == variant)) {
      return d;
    }
  }
  std::string list;
  for (const auto& s : seen) list += (list.empty() ? "" : ", ") + s;
  return MakeError(Code::kNotFound,
                   "the image index has no manifest for " + os + "/" + architecture +
                       (variant.empty() ? "" : "/" + variant) +
                       " (it has: " + (list.empty() ? "none with a platform" : list) + ")");
}

Result<ImageConfig> ImageConfig::Parse(std::string_view bytes) {
  COCO_ASSIGN_OR_RETURN(json j, ParseJson(bytes, "image config"));
  ImageConfig c;
  c.os = GetString(j, "os");
  c.architecture = GetString(j, "architecture");
  auto rootfs = j.find("rootfs");
  if (rootfs == j.end() || !rootfs->is_object()) return Invalid("image config has no rootfs");
  COCO_ASSIGN_OR_RETURN(auto ids, StringList(rootfs->value("diff_ids", json()), "rootfs.diff_ids"));
  for (const auto& s : ids) {
    auto d = Digest::Parse(s);
    if (!d.ok()) return Invalid("image config diff_id: " + d.error().message);
    c.diff_ids.push_back(*d);
  }
  if (auto cfg = j.find("config"); cfg != j.end() && cfg->is_object()) {
    COCO_ASSIGN_OR_RETURN(c.env, StringList(cfg->value("Env", json()), "config.Env"));
    COCO_ASSIGN_OR_RETURN(c.entrypoint,
                          StringList(cfg->value("Entrypoint", json()), "config.Entrypoint"));
    COCO_ASSIGN_OR_RETURN(c.cmd, StringList(cfg->value("Cmd", json()), "config.Cmd"));
    c.working_dir = GetString(*cfg, "WorkingDir");
    c.user = GetString(*cfg, "User");
  }
  return c;
}

}  // namespace coco::oci
