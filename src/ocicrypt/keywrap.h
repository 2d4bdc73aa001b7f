// Ways to wrap a layer's private options for its recipients, and to unwrap them again. Each
// scheme lives in its own annotation "org.opencontainers.image.enc.keys.<scheme>", whose value
// is a comma-separated list of base64 blobs.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/result.h"
#include "crypto/crypto.h"
#include "jose/jwe_general.h"

namespace coco::ocicrypt {

class KeyWrapper {
 public:
  virtual ~KeyWrapper() = default;
  // The full annotation name the wrapped blob is stored under.
  virtual std::string annotation() const = 0;
  virtual Result<Bytes> Wrap(const SecretBytes& private_options) = 0;
};

class KeyUnwrapper {
 public:
  virtual ~KeyUnwrapper() = default;
  virtual bool Handles(const std::string& annotation) const = 0;
  // Error messages name the key ids or recipients involved.
  virtual Result<SecretBytes> Unwrap(const std::string& annotation, const Bytes& blob) = 0;
};

// JWE (keys.jwe): one JWE to all recipients, content A256GCM.
std::unique_ptr<KeyWrapper> NewJweWrapper(std::vector<jose::JweRecipient> recipients);
std::unique_ptr<KeyUnwrapper> NewJweUnwrapper(std::vector<crypto::Key> private_keys);

// A recipient key file: a PEM public key (SubjectPublicKeyInfo; RSA or EC) or a public JWK
// whose "alg" chooses the key-management algorithm.
Result<jose::JweRecipient> LoadRecipient(const std::string& path);
// A private key file in PEM (PKCS#8 or traditional RSA/EC). Errors name the file.
Result<crypto::Key> LoadPrivateKey(const std::string& path);

}  // namespace coco::ocicrypt
