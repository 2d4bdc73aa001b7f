// Cosign signature manifests (src/signature/cosign.h). Input: the manifest JSON, then NUL-separated
// blobs that the fetcher serves by their sha256. Signatures are checked with the fixed P-256 key
// of fuzz_keys.h (the seeds are signed with it).
// Invariants: every returned signature's payload has the layer digest; a verified payload is
// the one ParsePayload reads; the signature tag of a valid digest ends in ".sig".
#include <vector>

#include "base/bytes.h"
#include "crypto/crypto.h"
#include "fuzz_keys.h"
#include "fuzz_util.h"
#include "signature/cosign.h"
#include "signature/image_ref.h"

namespace sig = coco::signature;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const coco::crypto::Key key = *coco::crypto::Key::FromPem(coco::fuzz::kEcP256Pem);
  std::string_view in = coco::fuzz::AsString(data, size);
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t nul = in.find('\0', start);
    parts.push_back(in.substr(start, nul == std::string_view::npos ? nul : nul - start));
    if (nul == std::string_view::npos) break;
    start = nul + 1;
  }
  auto fetch = [&](const std::string& digest) -> coco::Result<std::string> {
    for (size_t i = 1; i < parts.size(); ++i) {
      if ("sha256:" + coco::HexEncode(coco::crypto::Sha256(parts[i])) == digest) {
        return std::string(parts[i]);
      }
    }
    return coco::MakeError(coco::Code::kNotFound, "no blob " + digest);
  };

  auto sigs = sig::ReadCosignSignatures(std::string(parts[0]), fetch);
  if (!sigs.ok()) return 0;
  for (const auto& s : *sigs) {
    FUZZ_CHECK("sha256:" + coco::HexEncode(coco::crypto::Sha256(s.payload)) == s.layer_digest);
    FUZZ_CHECK(!s.signature.empty());
    auto p = sig::VerifyCosignSignature(key, s);
    if (!p.ok()) continue;
    auto direct = sig::ParsePayload(s.payload, sig::kCosignType);
    FUZZ_CHECK(direct.ok() && direct->docker_reference == p->docker_reference &&
               direct->manifest_digest == p->manifest_digest);
    if (sig::ValidateDigest(p->manifest_digest).ok()) {
      auto tag = sig::CosignSignatureTag(p->manifest_digest);
      FUZZ_CHECK(tag.ok() && tag->ends_with(".sig") && tag->find(':') == std::string::npos);
    }
  }
  return 0;
}
