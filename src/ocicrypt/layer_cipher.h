// The ocicrypt layer cipher AES_256_CTR_HMAC_SHA256, streamed: AES-256-CTR with a 16-byte nonce
// as the initial big-endian counter, then HMAC-SHA256 over the whole ciphertext with the same
// 32-byte key (encrypt-then-MAC). Memory is constant whatever the layer size.
#pragma once

#include <memory>

#include "base/bytes.h"
#include "base/result.h"
#include "base/stream.h"

namespace coco::ocicrypt {

inline constexpr size_t kSymKeySize = 32;
inline constexpr size_t kNonceSize = 16;
inline constexpr size_t kHmacSize = 32;

// Writes the ciphertext of what it is given to `downstream`. Close() closes `downstream`; after
// that hmac() is the MAC to publish in the layer's public options.
class LayerEncryptor : public Writer {
 public:
  static Result<std::unique_ptr<LayerEncryptor>> Create(const SecretBytes& key, const Bytes& nonce,
                                                        Writer& downstream);
  ~LayerEncryptor() override;
  Status Write(const uint8_t* data, size_t n) override;
  Status Close() override;
  const Bytes& hmac() const { return hmac_; }

 private:
  struct State;
  explicit LayerEncryptor(std::unique_ptr<State> s);
  std::unique_ptr<State> s_;
  Bytes hmac_;
};

// Decrypts ciphertext into `downstream`. Close() compares the MAC (constant time) with
// `expected_hmac` first and closes `downstream` only when it matches; on a mismatch it fails with
// code DigestMismatch and leaves `downstream` unclosed, so nothing it wrote is ever committed.
Result<std::unique_ptr<Writer>> NewLayerDecryptor(const SecretBytes& key, const Bytes& nonce,
                                                  const Bytes& expected_hmac, Writer& downstream);

}  // namespace coco::ocicrypt
