#include "signature/policy.h"

#include <nlohmann/json.hpp>
#include <set>

#include "base/bytes.h"
#include "base/file.h"
#include "base/json.h"
#include "crypto/crypto.h"

namespace coco::signature {
namespace {

using nlohmann::json;

Error Bad(const std::string& where, const std::string& why) {
  return MakeError(Code::kInvalidArgument, "policy " + where + ": " + why);
}

Status OnlyKeys(const json& obj, const std::string& where,
                std::initializer_list<const char*> keys) {
  for (const auto& [k, v] : obj.items()) {
    bool known = false;
    for (const char* allowed : keys) known = known || k == allowed;
    if (!known) return Bad(where, "unknown field \"" + k + "\"");
  }
  return Status::Ok();
}

Result<std::string> StringField(const json& obj, const std::string& where, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return Bad(where, std::string("missing \"") + key + "\"");
  if (!it->is_string()) return Bad(where, std::string("\"") + key + "\" must be a string");
  return it->get<std::string>();
}

// A name-only, fully expanded docker repository (e.g. "docker.io/library/busybox").
Result<ImageReference> ParseRepository(const std::string& text, const std::string& where) {
  auto ref = ImageReference::Parse(text);
  if (!ref.ok()) return Bad(where, ref.error().message);
  if (!ref->name_only()) return Bad(where, "\"" + text + "\" must not have a tag or digest");
  return *ref;
}

Status ValidateRemapPrefix(const std::string& p, const std::string& where) {
  if (p.empty()) return Bad(where, "remapIdentity prefix must not be empty");
  if (p.rfind("*.", 0) == 0) return Bad(where, "remapIdentity prefix \"" + p + "\" is a wildcard");
  if (IsValidHost(p)) return Status::Ok();
  auto ref = ImageReference::Parse(p);
  if (!ref.ok() || !ref->name_only() || ref->Name() != p) {
    return Bad(where, "remapIdentity prefix \"" + p +
                          "\" must be a host[:port], a namespace or a fully expanded repository");
  }
  return Status::Ok();
}

Result<SignedIdentity> ParseIdentity(const json& j, const std::string& where) {
  if (!j.is_object()) return Bad(where, "signedIdentity must be an object");
  COCO_ASSIGN_OR_RETURN(std::string type, StringField(j, where, "type"));
  SignedIdentity id;
  if (type == "matchExact" || type == "matchRepoDigestOrExact" || type == "matchRepository") {
    COCO_RETURN_IF_ERROR(OnlyKeys(j, where, {"type"}));
    id.type = type == "matchExact"        ? SignedIdentity::Type::kMatchExact
              : type == "matchRepository" ? SignedIdentity::Type::kMatchRepository
                                          : SignedIdentity::Type::kMatchRepoDigestOrExact;
  } else if (type == "exactReference") {
    COCO_RETURN_IF_ERROR(OnlyKeys(j, where, {"type", "dockerReference"}));
    COCO_ASSIGN_OR_RETURN(std::string r, StringField(j, where, "dockerReference"));
    auto ref = ImageReference::Parse(r);
    if (!ref.ok()) return Bad(where, ref.error().message);
    if (ref->name_only()) return Bad(where, "dockerReference \"" + r + "\" needs a tag or digest");
    id.type = SignedIdentity::Type::kExactReference;
    id.docker_reference = ref->String();
  } else if (type == "exactRepository") {
    COCO_RETURN_IF_ERROR(OnlyKeys(j, where, {"type", "dockerRepository"}));
    COCO_ASSIGN_OR_RETURN(std::string r, StringField(j, where, "dockerRepository"));
    COCO_ASSIGN_OR_RETURN(ImageReference ref, ParseRepository(r, where));
    id.type = SignedIdentity::Type::kExactRepository;
    id.docker_repository = ref.Name();
  } else if (type == "remapIdentity") {
    COCO_RETURN_IF_ERROR(OnlyKeys(j, where, {"type", "prefix", "signedPrefix"}));
    COCO_ASSIGN_OR_RETURN(id.prefix, StringField(j, where, "prefix"));
    COCO_ASSIGN_OR_RETURN(id.signed_prefix, StringField(j, where, "signedPrefix"));
    COCO_RETURN_IF_ERROR(ValidateRemapPrefix(id.prefix, where));
    COCO_RETURN_IF_ERROR(ValidateRemapPrefix(id.signed_prefix, where));
    id.type = SignedIdentity::Type::kRemapIdentity;
  } else {
    return Bad(where, "unknown signedIdentity type \"" + type + "\"");
  }
  return id;
}

Result<std::vector<std::string>> KeyPaths(const json& j, const std::string& where) {
  std::vector<std::string> out;
  if (j.contains("keyPath")) {
    COCO_ASSIGN_OR_RETURN(std::string p, StringField(j, where, "keyPath"));
    if (p.empty()) return Bad(where, "keyPath is empty");
    out.push_back(p);
  }
  if (j.contains("keyPaths")) {
    const json& arr = j.at("keyPaths");
    if (!arr.is_array() || arr.empty()) return Bad(where, "keyPaths must be a non-empty array");
    for (const json& p : arr) {
      if (!p.is_string() || p.get<std::string>().empty()) {
        return Bad(where, "keyPaths entries must be non-empty strings");
      }
      out.push_back(p.get<std::string>());
    }
  }
  return out;
}

// sigstoreSigned keyData: the containers spec says base64 of a PEM; CoCo image-rs uses raw PEM.
Result<std::string> SigstoreKeyData(const std::string& data, const std::string& where) {
  std::string pem;
  auto decoded = Base64Decode(data);
  if (decoded.ok() && ToString(*decoded).find("-----BEGIN") != std::string::npos) {
    pem = ToString(*decoded);
  } else if (data.find("-----BEGIN") != std::string::npos) {
    pem = data;
  } else {
    return Bad(where, "keyData is neither a PEM public key nor base64 of one");
  }
  auto key = crypto::Key::FromPem(pem);
  if (!key.ok()) return Bad(where, "keyData is not a usable public key: " + key.error().message);
  return pem;
}

Result<Requirement> ParseRequirement(const json& j, const std::string& where) {
  if (!j.is_object()) return Bad(where, "a requirement must be an object");
  COCO_ASSIGN_OR_RETURN(std::string type, StringField(j, where, "type"));
  Requirement r;
  if (type == "insecureAcceptAnything" || type == "reject") {
    COCO_RETURN_IF_ERROR(OnlyKeys(j, where, {"type"}));
    r.type =
        type == "reject" ? Requirement::Type::kReject : Requirement::Type::kInsecureAcceptAnything;
    return r;
  }
  if (type == "signedBy") {
    r.type = Requirement::Type::kSignedBy;
    COCO_RETURN_IF_ERROR(OnlyKeys(
        j, where, {"type", "keyType", "keyPath", "keyPaths", "keyData", "signedIdentity"}));
    COCO_ASSIGN_OR_RETURN(std::string key_type, StringField(j, where, "keyType"));
    if (key_type != "GPGKeys") {
      return Bad(where, "signedBy keyType \"" + key_type + "\" is not supported (only GPGKeys)");
    }
    int sources = j.contains("keyPath") + j.contains("keyPaths") + j.contains("keyData");
    if (sources != 1) {
      return Bad(where, "signedBy needs exactly one of keyPath, keyPaths and keyData");
    }
    COCO_ASSIGN_OR_RETURN(r.key_paths, KeyPaths(j, where));
    if (j.contains("keyData")) {
      COCO_ASSIGN_OR_RETURN(std::string data, StringField(j, where, "keyData"));
      auto decoded = Base64Decode(data);
      if (!decoded.ok() || decoded->empty()) return Bad(where, "signedBy keyData is not base64");
      r.key_data = ToString(*decoded);
    }
  } else if (type == "sigstoreSigned") {
    r.type = Requirement::Type::kSigstoreSigned;
    for (const char* unsupported :
         {"fulcio", "rekorPublicKeyPath", "rekorPublicKeyData", "rekorPublicKeyPaths",
          "rekorPublicKeyDatas", "pki", "keyDatas"}) {
      if (j.contains(unsupported)) {
        return Bad(where, std::string("sigstoreSigned \"") + unsupported +
                              "\" is not supported (key-based cosign only)");
      }
    }
    COCO_RETURN_IF_ERROR(
        OnlyKeys(j, where, {"type", "keyPath", "keyPaths", "keyData", "signedIdentity"}));
    int sources = j.contains("keyPath") + j.contains("keyPaths") + j.contains("keyData");
    if (sources != 1) {
      return Bad(where, "sigstoreSigned needs exactly one of keyPath, keyPaths and keyData");
    }
    COCO_ASSIGN_OR_RETURN(r.key_paths, KeyPaths(j, where));
    if (j.contains("keyData")) {
      COCO_ASSIGN_OR_RETURN(std::string data, StringField(j, where, "keyData"));
      COCO_ASSIGN_OR_RETURN(r.key_data, SigstoreKeyData(data, where));
    }
  } else {
    return Bad(where, "unknown requirement type \"" + type + "\"");
  }
  if (j.contains("signedIdentity")) {
    COCO_ASSIGN_OR_RETURN(r.signed_identity,
                          ParseIdentity(j.at("signedIdentity"), where + ".signedIdentity"));
  }
  return r;
}

Result<std::vector<Requirement>> ParseList(const json& j, const std::string& where) {
  if (!j.is_array()) return Bad(where, "must be an array of requirements");
  if (j.empty()) return Bad(where, "no requirements (an empty list is not allowed)");
  std::vector<Requirement> out;
  for (size_t i = 0; i < j.size(); ++i) {
    COCO_ASSIGN_OR_RETURN(Requirement r,
                          ParseRequirement(j[i], where + "[" + std::to_string(i) + "]"));
    out.push_back(std::move(r));
  }
  return out;
}

const std::set<std::string>& KnownTransports() {
  static const std::set<std::string> known = {"docker", "atomic",         "containers-storage",
                                              "dir",    "docker-archive", "docker-daemon",
                                              "oci",    "oci-archive",    "ostree",
                                              "sif",    "tarball"};
  return known;
}

Status ValidateScope(const std::string& transport, const std::string& scope,
                     const std::string& where) {
  if (scope.empty()) return Status::Ok();
  if (transport == "docker" || transport == "atomic") {
    if (scope.rfind("*.", 0) == 0) {
      std::string host = scope.substr(2);
      if (host.find(':') != std::string::npos || !IsValidHost(host)) {
        return Bad(where, "invalid wildcard scope (\"*.\" then a domain without a port)");
      }
      return Status::Ok();
    }
    if (scope.find('/') == std::string::npos && IsValidHost(scope)) return Status::Ok();
    auto ref = ImageReference::Parse(scope);
    if (!ref.ok()) return Bad(where, ref.error().message);
    if (scope.compare(0, ref->host().size() + 1, ref->host() + "/") != 0) {
      return Bad(where, "scope must begin with a registry host (e.g. \"" + ref->Name() + "\")");
    }
    return Status::Ok();
  }
  if (transport == "dir" || transport == "oci" || transport == "oci-archive" ||
      transport == "docker-archive" || transport == "sif" || transport == "tarball") {
    if (scope[0] != '/') return Bad(where, "scope must be an absolute path");
    return Status::Ok();
  }
  if (transport == "docker-daemon") {
    if (scope.rfind("sha256:", 0) == 0) return ValidateDigest(scope);
    auto ref = ImageReference::Parse(scope);
    if (!ref.ok()) return Bad(where, ref.error().message);
  }
  return Status::Ok();
}

bool PrefixMatches(const std::string& ref, const std::string& prefix) {
  if (ref.size() < prefix.size() || ref.compare(0, prefix.size(), prefix) != 0) return false;
  if (ref.size() == prefix.size()) return true;
  char next = ref[prefix.size()];
  return next == '/' || next == ':' || next == '@';
}

Error Mismatch(const std::string& signed_ref, const SignedIdentity& rule,
               const ImageReference& image, const std::string& extra = "") {
  return MakeError(Code::kPolicyDenied, "identity " + signed_ref + " does not match the policy's " +
                                            IdentityTypeName(rule.type) + " for " + image.String() +
                                            extra);
}

// matchRepoDigestOrExact: a digested image needs the same repository, a tagged one the same
// tagged reference.
bool RepoDigestOrExact(const ImageReference& image, const ImageReference& sig) {
  if (image.has_digest()) return image.Name() == sig.Name();
  if (image.has_tag()) return image.String() == sig.String();
  return false;
}

}  // namespace

std::string IdentityTypeName(SignedIdentity::Type type) {
  switch (type) {
    case SignedIdentity::Type::kMatchExact:
      return "matchExact";
    case SignedIdentity::Type::kMatchRepoDigestOrExact:
      return "matchRepoDigestOrExact";
    case SignedIdentity::Type::kMatchRepository:
      return "matchRepository";
    case SignedIdentity::Type::kExactReference:
      return "exactReference";
    case SignedIdentity::Type::kExactRepository:
      return "exactRepository";
    case SignedIdentity::Type::kRemapIdentity:
      return "remapIdentity";
  }
  return "?";
}

std::string RequirementTypeName(Requirement::Type type) {
  switch (type) {
    case Requirement::Type::kInsecureAcceptAnything:
      return "insecureAcceptAnything";
    case Requirement::Type::kReject:
      return "reject";
    case Requirement::Type::kSignedBy:
      return "signedBy";
    case Requirement::Type::kSigstoreSigned:
      return "sigstoreSigned";
  }
  return "?";
}

Status MatchSignedIdentity(const SignedIdentity& rule, const ImageReference& image,
                           const std::string& signed_reference) {
  auto parsed = ImageReference::Parse(signed_reference);
  if (!parsed.ok()) {
    return MakeError(Code::kPolicyDenied,
                     "signature identity \"" + signed_reference +
                         "\" is not a valid reference: " + parsed.error().message);
  }
  const ImageReference& sig = *parsed;
  bool ok = false;
  switch (rule.type) {
    case SignedIdentity::Type::kMatchExact:
      if (image.has_tag() && image.has_digest()) {
        // Both forms name the same verified image.
        ok = sig.String() == image.WithDigest("").String() ||
             sig.String() == image.WithTag("").String();
      } else {
        ok = !image.name_only() && sig.String() == image.String();
      }
      break;
    case SignedIdentity::Type::kMatchRepoDigestOrExact:
      ok = RepoDigestOrExact(image, sig);
      break;
    case SignedIdentity::Type::kMatchRepository:
      ok = sig.Name() == image.Name();
      break;
    case SignedIdentity::Type::kExactReference:
      ok = sig.String() == rule.docker_reference;
      if (!ok) return Mismatch(sig.String(), rule, image, " (" + rule.docker_reference + ")");
      break;
    case SignedIdentity::Type::kExactRepository:
      ok = sig.Name() == rule.docker_repository;
      if (!ok) return Mismatch(sig.String(), rule, image, " (" + rule.docker_repository + ")");
      break;
    case SignedIdentity::Type::kRemapIdentity: {
      std::string full = image.String();
      ImageReference intended = image;
      if (PrefixMatches(full, rule.prefix)) {
        std::string remapped = rule.signed_prefix + full.substr(rule.prefix.size());
        auto r = ImageReference::Parse(remapped);
        if (!r.ok()) {
          return MakeError(Code::kPolicyDenied, "remapIdentity turned " + full + " into invalid " +
                                                    remapped + ": " + r.error().message);
        }
        intended = *r;
      }
      ok = RepoDigestOrExact(intended, sig);
      if (!ok)
        return Mismatch(sig.String(), rule, image, " (remapped to " + intended.String() + ")");
      break;
    }
  }
  if (!ok) return Mismatch(sig.String(), rule, image);
  return Status::Ok();
}

std::string PolicyMatch::Describe() const {
  if (is_default) return "policy default";
  return "transport " + transport + " scope \"" + scope + "\"";
}

Result<Policy> Policy::Parse(std::string_view text) {
  auto parsed = ParseJson(text, "policy");
  if (!parsed.ok()) return parsed.error();
  json j = std::move(parsed).value();
  if (!j.is_object()) return Bad("document", "must be a JSON object");
  COCO_RETURN_IF_ERROR(OnlyKeys(j, "document", {"default", "transports"}));
  if (!j.contains("default")) return Bad("document", "missing \"default\"");
  Policy p;
  COCO_ASSIGN_OR_RETURN(p.default_, ParseList(j.at("default"), "default"));
  if (j.contains("transports")) {
    const json& t = j.at("transports");
    if (!t.is_object()) return Bad("transports", "must be an object");
    for (const auto& [name, scopes] : t.items()) {
      std::string where = "transports." + name;
      if (!KnownTransports().count(name)) return Bad(where, "unknown transport \"" + name + "\"");
      if (!scopes.is_object()) return Bad(where, "must be an object of scopes");
      auto& out = p.transports_[name];
      for (const auto& [scope, list] : scopes.items()) {
        std::string sw = where + "[\"" + scope + "\"]";
        COCO_RETURN_IF_ERROR(ValidateScope(name, scope, sw));
        COCO_ASSIGN_OR_RETURN(out[scope], ParseList(list, sw));
      }
    }
  }
  return p;
}

Result<Policy> Policy::Load(const std::string& path) {
  COCO_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto p = Parse(text);
  if (!p.ok()) return Annotate(p.error(), path);
  return p;
}

PolicyMatch Policy::ForTransport(const std::string& transport,
                                 const std::vector<std::string>& scopes) const {
  PolicyMatch m;
  m.transport = transport;
  auto t = transports_.find(transport);
  if (t != transports_.end()) {
    for (const std::string& s : scopes) {
      auto it = t->second.find(s);
      if (it != t->second.end()) {
        m.scope = s;
        m.requirements = &it->second;
        return m;
      }
    }
    auto it = t->second.find("");
    if (it != t->second.end()) {
      m.requirements = &it->second;
      return m;
    }
  }
  m.is_default = true;
  m.requirements = &default_;
  return m;
}

PolicyMatch Policy::ForDocker(const ImageReference& image) const {
  return ForTransport("docker", image.PolicyScopes());
}

}  // namespace coco::signature
