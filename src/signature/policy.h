// containers-policy.json (containers/image docs/containers-policy.json.5.md): parsing, scope
// resolution and signedIdentity matching. Evaluation against signatures is in verify.h.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "signature/image_ref.h"

namespace coco::signature {

// Which image identities a signature's claimed "docker-reference" may stand for.
struct SignedIdentity {
  enum class Type {
    kMatchExact,
    kMatchRepoDigestOrExact,
    kMatchRepository,
    kExactReference,
    kExactRepository,
    kRemapIdentity,
  };
  Type type = Type::kMatchRepoDigestOrExact;
  std::string docker_reference;   // kExactReference: normalised, has a tag or digest
  std::string docker_repository;  // kExactRepository: normalised name, no tag/digest
  std::string prefix;             // kRemapIdentity
  std::string signed_prefix;      // kRemapIdentity
};

// The policy name of an identity type, e.g. "matchRepoDigestOrExact".
std::string IdentityTypeName(SignedIdentity::Type type);

// Ok if a signature claiming `signed_reference` is acceptable for `image` under `rule`.
// `image` should carry a tag and/or digest (docker transports add ":latest"). On refusal the
// error (kind "IdentityMismatch") says "identity <signed> does not match the policy's <type> for
// <image>"; an unparsable signed reference is refused too.
Status MatchSignedIdentity(const SignedIdentity& rule, const ImageReference& image,
                           const std::string& signed_reference);

// One policy requirement.
struct Requirement {
  enum class Type { kInsecureAcceptAnything, kReject, kSignedBy, kSigstoreSigned };
  Type type = Type::kReject;
  // signedBy: keyType is always "GPGKeys". Exactly one key source is set:
  // key_paths (from keyPath or keyPaths) or key_data (keyData, already base64-decoded keyring).
  // sigstoreSigned: key_paths (keyPath or keyPaths; a signature by any of them counts), or
  // key_data, PEM text (keyData given as PEM or as base64 of PEM).
  // A key path beginning with "kbs:" is resolved by the caller's key resolver.
  std::vector<std::string> key_paths;
  std::optional<std::string> key_data;
  SignedIdentity signed_identity;  // default matchRepoDigestOrExact
};

// The policy name of a requirement type, e.g. "signedBy".
std::string RequirementTypeName(Requirement::Type type);

// The requirement list a lookup selected, and where it came from (for error messages).
struct PolicyMatch {
  std::string transport;    // "docker"
  std::string scope;        // the matched scope key ("" for the transport default)
  bool is_default = false;  // true when the policy's top-level "default" was used
  const std::vector<Requirement>* requirements = nullptr;  // owned by the Policy; never null
  // e.g. `transport docker scope "docker.io/library"` or `policy default`.
  std::string Describe() const;
};

// A parsed policy. Immutable after Parse; safe to share between threads. Matches returned
// by the lookups point into the Policy and are valid while it lives.
class Policy {
 public:
  // Parses the JSON text. Strict: unknown top-level keys, transports, requirement types,
  // requirement fields, keyTypes or identity types are refused, as are empty requirement lists,
  // invalid docker scopes, missing/duplicated key sources and undecodable keyData. Errors are
  // InvalidArgument naming the JSON location (e.g. `transports.docker["x"][1]`).
  static Result<Policy> Parse(std::string_view json);
  // Reads and parses a policy file.
  static Result<Policy> Load(const std::string& path);

  // Looks up the docker transport: image.String(), the repository and each parent namespace,
  // "*.domain" wildcards, then "" in transports.docker, then the default.
  PolicyMatch ForDocker(const ImageReference& image) const;
  // Looks up another transport: each candidate scope in order, then "", then the default.
  PolicyMatch ForTransport(const std::string& transport,
                           const std::vector<std::string>& scopes) const;

  const std::vector<Requirement>& default_requirements() const { return default_; }
  // transport → scope → requirements, as parsed.
  const std::map<std::string, std::map<std::string, std::vector<Requirement>>>& transports() const {
    return transports_;
  }

 private:
  std::vector<Requirement> default_;
  std::map<std::string, std::map<std::string, std::vector<Requirement>>> transports_;
};

}  // namespace coco::signature
