#include "signature/verify.h"

#include "base/file.h"
#include "crypto/crypto.h"
#include "signature/cosign.h"

namespace coco::signature {
namespace {

Error Denied(const std::string& why) { return MakeError(Code::kPolicyDenied, why); }

Result<std::string> LoadKeyMaterial(const std::string& path, const VerifyOptions& options) {
  if (path.rfind("kbs:", 0) == 0) {
    if (!options.remote_keys) {
      return MakeError(Code::kUnavailable,
                       "keyPath " + path + " needs a key resolver, none is set");
    }
    auto key = options.remote_keys(path);
    if (!key.ok()) {
      return Annotate(key.error(), "cannot fetch key " + path);
    }
    return key;
  }
  std::string file = path.rfind("file://", 0) == 0 ? path.substr(7) : path;
  auto data = ReadFile(file);
  if (!data.ok()) {
    return Annotate(data.error(), "cannot read key " + path);
  }
  return data;
}

// Checks a verified payload's digest and identity.
Status CheckClaims(const SignaturePayload& p, const Requirement& req, const ImageReference& image,
                   const std::string& manifest_digest) {
  if (p.manifest_digest != manifest_digest) {
    return Denied("signed digest " + p.manifest_digest + " does not match manifest " +
                  manifest_digest);
  }
  Status id = MatchSignedIdentity(req.signed_identity, image, p.docker_reference);
  if (!id.ok()) return Denied(id.error().message);
  return Status::Ok();
}

// Combines the reasons every signature was refused into one message.
Error NoneAccepted(const std::vector<std::string>& reasons) {
  if (reasons.size() == 1) return Denied(reasons[0]);
  std::string msg = "none of " + std::to_string(reasons.size()) + " signatures is acceptable";
  for (size_t i = 0; i < reasons.size(); ++i) {
    msg += (i == 0 ? ": " : "; ") + std::string("signature ") + std::to_string(i + 1) + ": " +
           reasons[i];
  }
  return Denied(msg);
}

Status EvaluateSignedBy(const Requirement& req, const ImageReference& image,
                        const std::string& digest, SignatureSources& sources,
                        const VerifyOptions& options) {
  std::vector<std::string> keyrings;
  if (req.key_data) keyrings.push_back(*req.key_data);
  for (const std::string& path : req.key_paths) {
    COCO_ASSIGN_OR_RETURN(std::string data, LoadKeyMaterial(path, options));
    keyrings.push_back(std::move(data));
  }
  COCO_ASSIGN_OR_RETURN(SimpleSignatureSet set, sources.SimpleSignatures(image, digest));
  if (set.blobs.empty()) return Denied("no signature found in " + set.location);
  COCO_ASSIGN_OR_RETURN(std::unique_ptr<GpgVerifier> verifier, GpgVerifier::Create(keyrings));
  std::vector<std::string> reasons;
  for (const std::string& blob : set.blobs) {
    auto v = VerifySimpleSigning(*verifier, blob);
    if (!v.ok()) {
      reasons.push_back(v.error().message);
      continue;
    }
    Status claims = CheckClaims(v->payload, req, image, digest);
    if (claims.ok()) return Status::Ok();
    reasons.push_back(claims.error().message);
  }
  return NoneAccepted(reasons);
}

Status EvaluateSigstore(const Requirement& req, const ImageReference& image,
                        const std::string& digest, SignatureSources& sources,
                        const VerifyOptions& options) {
  std::vector<std::string> pems;
  if (req.key_data) pems.push_back(*req.key_data);
  for (const std::string& path : req.key_paths) {
    COCO_ASSIGN_OR_RETURN(std::string pem, LoadKeyMaterial(path, options));
    pems.push_back(std::move(pem));
  }
  std::vector<crypto::Key> keys;
  for (const std::string& pem : pems) {
    auto key = crypto::Key::FromPem(pem);
    if (!key.ok()) {
      return MakeError(Code::kInvalidArgument,
                       "sigstoreSigned key is not a usable PEM public key: " + key.error().message);
    }
    keys.push_back(key->PublicOnly());
  }
  COCO_ASSIGN_OR_RETURN(std::string tag, CosignSignatureTag(digest));
  std::string where = "tag " + tag + " of " + image.Name();
  COCO_ASSIGN_OR_RETURN(std::optional<std::string> manifest, sources.CosignManifest(image, digest));
  if (!manifest) return Denied("no cosign signature found (" + where + ")");
  auto fetch = [&](const std::string& d) { return sources.CosignBlob(image, d); };
  auto sigs = ReadCosignSignatures(*manifest, fetch);
  if (!sigs.ok()) return Denied(where + ": " + sigs.error().message);
  if (sigs->empty()) return Denied("no cosign signature layers in " + where);
  std::vector<std::string> reasons;
  for (const CosignSignature& s : *sigs) {
    // Any of the policy's keys may have made the signature.
    auto p = VerifyCosignSignature(keys.at(0), s);
    for (size_t k = 1; !p.ok() && k < keys.size(); ++k) p = VerifyCosignSignature(keys[k], s);
    if (!p.ok()) {
      reasons.push_back(p.error().message);
      continue;
    }
    Status claims = CheckClaims(*p, req, image, digest);
    if (claims.ok()) return Status::Ok();
    reasons.push_back(claims.error().message);
  }
  return NoneAccepted(reasons);
}

Status Evaluate(const Requirement& req, const ImageReference& image, const std::string& digest,
                SignatureSources& sources, const VerifyOptions& options) {
  switch (req.type) {
    case Requirement::Type::kInsecureAcceptAnything:
      return Status::Ok();
    case Requirement::Type::kReject:
      return Denied("the policy rejects this image");
    case Requirement::Type::kSignedBy:
      return EvaluateSignedBy(req, image, digest, sources, options);
    case Requirement::Type::kSigstoreSigned:
      return EvaluateSigstore(req, image, digest, sources, options);
  }
  return Denied("unknown requirement");
}

}  // namespace

StoreSignatureSources::StoreSignatureSources(RegistriesConfig registries, UrlFetcher http,
                                             ManifestByTag manifest_by_tag,
                                             BlobByDigest blob_by_digest)
    : registries_(std::move(registries)),
      http_(std::move(http)),
      manifest_by_tag_(std::move(manifest_by_tag)),
      blob_by_digest_(std::move(blob_by_digest)) {}

Result<SimpleSignatureSet> StoreSignatureSources::SimpleSignatures(
    const ImageReference& image, const std::string& manifest_digest) {
  SimpleSignatureSet set;
  std::string base = registries_.BaseUrlFor(image, false);
  if (base.empty()) {
    set.location = "any lookaside (none is configured in registries.d for " + image.Name() + ")";
    return set;
  }
  COCO_ASSIGN_OR_RETURN(std::string first, SignatureUrl(base, image, manifest_digest, 1));
  set.location = "lookaside " + first.substr(0, first.rfind('/'));
  COCO_ASSIGN_OR_RETURN(set.blobs, ReadLookasideSignatures(base, image, manifest_digest, http_));
  return set;
}

Result<std::optional<std::string>> StoreSignatureSources::CosignManifest(
    const ImageReference& image, const std::string& manifest_digest) {
  if (!manifest_by_tag_) return std::optional<std::string>();
  COCO_ASSIGN_OR_RETURN(std::string tag, CosignSignatureTag(manifest_digest));
  return manifest_by_tag_(image, tag);
}

Result<std::string> StoreSignatureSources::CosignBlob(const ImageReference& image,
                                                      const std::string& blob_digest) {
  if (!blob_by_digest_) return MakeError(Code::kUnavailable, "no registry blob reader configured");
  return blob_by_digest_(image, blob_digest);
}

Status Verify(const Policy& policy, const ImageReference& image_in,
              const std::string& manifest_digest, SignatureSources& sources,
              const VerifyOptions& options) {
  COCO_RETURN_IF_ERROR(ValidateDigest(manifest_digest));
  ImageReference image = image_in.TagNameOnly();
  if (image.has_digest() && image.digest() != manifest_digest) {
    return Denied("image " + image.String() + " names digest " + image.digest() +
                  " but the manifest has digest " + manifest_digest);
  }
  PolicyMatch match = policy.ForDocker(image);
  const auto& reqs = *match.requirements;
  if (reqs.empty()) {
    return Denied("image " + image.String() + " (" + match.Describe() + "): no requirements");
  }
  for (size_t i = 0; i < reqs.size(); ++i) {
    Status s = Evaluate(reqs[i], image, manifest_digest, sources, options);
    if (!s.ok()) {
      return Annotate(s.error(), "image " + image.String() + " (" + match.Describe() +
                                     "): requirement " + std::to_string(i + 1) + " of " +
                                     std::to_string(reqs.size()) + " (" +
                                     RequirementTypeName(reqs[i].type) + ")");
    }
  }
  return Status::Ok();
}

Result<std::string> SignToLookaside(const RegistriesConfig& registries, const ImageReference& image,
                                    const std::string& manifest_digest,
                                    const GpgSignOptions& options) {
  COCO_RETURN_IF_ERROR(ValidateDigest(manifest_digest));
  std::string base = registries.BaseUrlFor(image, true);
  if (base.empty()) {
    return MakeError(Code::kNotFound,
                     "no lookaside is configured in registries.d for " + image.Name());
  }
  std::string identity = image.WithDigest("").TagNameOnly().String();
  COCO_ASSIGN_OR_RETURN(std::string blob, SignSimpleSigning(identity, manifest_digest, options));
  return AppendLookasideSignature(base, image, manifest_digest, blob);
}

}  // namespace coco::signature
