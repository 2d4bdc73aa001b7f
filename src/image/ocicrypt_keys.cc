#include "image/ocicrypt_keys.h"

#include <mutex>

#include "ocicrypt/layer_cipher.h"
#include "ocicrypt/layer_keys.h"

namespace coco::image {
namespace {

class Decryption : public LayerDecryption {
 public:
  Decryption(ocicrypt::LayerKey key, oci::Digest digest)
      : key_(std::move(key)), digest_(std::move(digest)) {}
  const oci::Digest& plaintext_digest() const override { return digest_; }
  Result<std::unique_ptr<Writer>> Decrypter(Writer& downstream) override {
    return ocicrypt::NewLayerDecryptor(key_.priv.symkey, key_.priv.nonce, key_.pub.hmac,
                                       downstream);
  }

 private:
  ocicrypt::LayerKey key_;
  oci::Digest digest_;
};

class OcicryptKeys : public LayerKeys {
 public:
  explicit OcicryptKeys(std::vector<std::unique_ptr<ocicrypt::KeyUnwrapper>> u)
      : unwrappers_(std::move(u)) {}
  Result<std::unique_ptr<LayerDecryption>> Unwrap(const oci::Descriptor& layer) override {
    std::vector<ocicrypt::KeyUnwrapper*> list;
    for (auto& u : unwrappers_) list.push_back(u.get());
    // Unwrappers cache KEKs and talk to brokers: one layer at a time.
    std::lock_guard<std::mutex> lock(mu_);
    auto key = ocicrypt::UnwrapLayerKey(layer.annotations, list);
    if (!key.ok()) return key.error();
    auto digest = oci::Digest::Parse(key->priv.digest);
    if (!digest.ok()) {
      return MakeError(Code::kInvalidArgument, "the layer key names an invalid plaintext digest: " +
                                                   digest.error().message);
    }
    return std::unique_ptr<LayerDecryption>(
        new Decryption(std::move(key).value(), std::move(digest).value()));
  }

 private:
  std::vector<std::unique_ptr<ocicrypt::KeyUnwrapper>> unwrappers_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<LayerKeys> NewOcicryptLayerKeys(
    std::vector<std::unique_ptr<ocicrypt::KeyUnwrapper>> unwrappers) {
  return std::make_unique<OcicryptKeys>(std::move(unwrappers));
}

}  // namespace coco::image
