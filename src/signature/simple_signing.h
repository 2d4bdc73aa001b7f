// GPG "simple signing" (containers/image signature format): an OpenPGP signed message whose
// plaintext is the JSON payload of payload.h with type "atomic container signature".
// Verification and signing go through gpgme.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "signature/payload.h"

namespace coco::signature {

// A private, temporary GnuPG home holding only the trusted public keys. It is never the
// user's GNUPGHOME. The destructor stops any gpg daemons started for it (`gpgconf --kill all`)
// and removes the directory. Not thread-safe; use one verifier per thread.
class GpgVerifier {
 public:
  // Creates the temporary home and imports every keyring (binary or ASCII-armored OpenPGP
  // public keys). Fails if the home cannot be created, if a keyring cannot be imported, or if no
  // key at all was imported ("no public keys imported").
  static Result<std::unique_ptr<GpgVerifier>> Create(const std::vector<std::string>& keyrings);
  ~GpgVerifier();
  GpgVerifier(const GpgVerifier&) = delete;
  GpgVerifier& operator=(const GpgVerifier&) = delete;

  // Primary-key fingerprints (uppercase hex) of the imported, trusted keys.
  const std::set<std::string>& trusted_fingerprints() const { return trusted_; }
  const std::string& home() const { return home_; }

  struct Verified {
    std::string payload;      // the signed plaintext
    std::string fingerprint;  // primary-key fingerprint of the signer, one of trusted_fingerprints
  };
  // Verifies an OpenPGP signed message. Requires exactly one signature, cryptographically good,
  // made by (a subkey of) a trusted key that is neither expired nor revoked. Errors (kind
  // "SignatureInvalid") name the signing key: "signature by key ABCD… is not trusted".
  Result<Verified> Verify(std::string_view blob);

 private:
  GpgVerifier() = default;
  struct Ctx;
  std::string home_;
  std::unique_ptr<Ctx> ctx_;
  std::set<std::string> trusted_;
};

// Verifies a simple-signing blob and parses its payload (type "atomic container signature").
// The payload is returned only if the signature is valid; identity/digest checks are the
// caller's (see verify.h).
struct SimpleSigningResult {
  SignaturePayload payload;
  std::string fingerprint;
};
Result<SimpleSigningResult> VerifySimpleSigning(GpgVerifier& verifier, std::string_view blob);

struct GpgSignOptions {
  // Key to sign with: fingerprint, key id or e-mail, as gpg understands it. Must name exactly
  // one secret key.
  std::string key;
  // GnuPG home holding the secret key; empty uses the process default ($GNUPGHOME or ~/.gnupg).
  std::string gnupg_home;
  // Passphrase for a protected key (loopback pinentry); empty uses the agent as configured.
  std::string passphrase;
  // "optional.creator" in the payload.
  std::string creator = "coco";
};

// Produces the simple-signing blob for (docker_reference, manifest_digest) the way
// `skopeo copy --sign-by` / `skopeo standalone-sign` does: payload with sorted keys, optional
// creator and timestamp, signed as a binary (non-armored) OpenPGP message. Fails if the key is
// unknown or ambiguous, or gpg cannot sign. Thread-compatible (uses its own gpgme context).
Result<std::string> SignSimpleSigning(const std::string& docker_reference,
                                      const std::string& manifest_digest,
                                      const GpgSignOptions& options);

}  // namespace coco::signature
