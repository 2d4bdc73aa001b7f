#include "ocicrypt/layer_cipher.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <vector>

namespace coco::ocicrypt {
namespace {

constexpr size_t kChunk = 256 << 10;

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// AES-256-CTR + HMAC-SHA256 contexts shared by both directions.
class CtrHmac {
 public:
  Status Init(const SecretBytes& key, const Bytes& nonce) {
    if (key.size() != kSymKeySize) {
      return MakeError("InvalidArgument", "layer key has " + std::to_string(key.size()) +
                                              " bytes; AES_256_CTR_HMAC_SHA256 needs 32");
    }
    if (nonce.size() != kNonceSize) {
      return MakeError("InvalidArgument", "layer nonce has " + std::to_string(nonce.size()) +
                                              " bytes; AES_256_CTR_HMAC_SHA256 needs 16");
    }
    cipher_.reset(EVP_CIPHER_CTX_new());
    if (!cipher_ || EVP_EncryptInit_ex(cipher_.get(), EVP_aes_256_ctr(), nullptr, key.data(),
                                       nonce.data()) != 1) {
      return MakeError("Crypto", "cannot set up AES-256-CTR");
    }
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac == nullptr) return MakeError("Crypto", "HMAC is not available");
    mac_.reset(EVP_MAC_CTX_new(mac));
    EVP_MAC_free(mac);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!mac_ || EVP_MAC_init(mac_.get(), key.data(), key.size(), params) != 1) {
      return MakeError("Crypto", "cannot set up HMAC-SHA256");
    }
    buf_.resize(kChunk);
    return Status::Ok();
  }
  // XORs `n` (≤ kChunk) bytes into buf_.
  Status Xor(const uint8_t* in, size_t n) {
    int out_len = 0;
    if (EVP_EncryptUpdate(cipher_.get(), buf_.data(), &out_len, in, static_cast<int>(n)) != 1 ||
        static_cast<size_t>(out_len) != n) {
      return MakeError("Crypto", "AES-256-CTR failed");
    }
    return Status::Ok();
  }
  Status Mac(const uint8_t* p, size_t n) {
    if (EVP_MAC_update(mac_.get(), p, n) != 1) return MakeError("Crypto", "HMAC-SHA256 failed");
    return Status::Ok();
  }
  Result<Bytes> FinishMac() {
    Bytes out(kHmacSize);
    size_t len = 0;
    if (EVP_MAC_final(mac_.get(), out.data(), &len, out.size()) != 1 || len != kHmacSize) {
      return MakeError("Crypto", "HMAC-SHA256 failed");
    }
    return out;
  }
  uint8_t* buf() { return buf_.data(); }

 private:
  std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> cipher_;
  std::unique_ptr<EVP_MAC_CTX, CtxDeleter> mac_;
  std::vector<uint8_t> buf_;
};

class Decryptor : public Writer {
 public:
  Decryptor(Bytes expected, Writer& down) : expected_(std::move(expected)), down_(down) {}
  CtrHmac& core() { return core_; }
  Status Write(const uint8_t* data, size_t n) override {
    if (closed_) return MakeError("InvalidArgument", "write after close");
    while (n > 0) {
      size_t k = std::min(n, kChunk);
      COCO_RETURN_IF_ERROR(core_.Mac(data, k));
      COCO_RETURN_IF_ERROR(core_.Xor(data, k));
      COCO_RETURN_IF_ERROR(down_.Write(core_.buf(), k));
      data += k;
      n -= k;
    }
    return Status::Ok();
  }
  Status Close() override {
    if (closed_) return MakeError("InvalidArgument", "layer decryptor closed twice");
    closed_ = true;
    COCO_ASSIGN_OR_RETURN(Bytes got, core_.FinishMac());
    if (!ConstantTimeEqual(got, expected_)) {
      return MakeError("IntegrityError",
                       "layer ciphertext fails its HMAC-SHA256 check (tampered or truncated, or "
                       "the public options do not belong to this layer)");
    }
    return down_.Close();
  }

 private:
  CtrHmac core_;
  Bytes expected_;
  Writer& down_;
  bool closed_ = false;
};

}  // namespace

struct LayerEncryptor::State {
  CtrHmac core;
  Writer* down = nullptr;
  bool closed = false;
};

LayerEncryptor::LayerEncryptor(std::unique_ptr<State> s) : s_(std::move(s)) {}
LayerEncryptor::~LayerEncryptor() = default;

Result<std::unique_ptr<LayerEncryptor>> LayerEncryptor::Create(const SecretBytes& key,
                                                               const Bytes& nonce,
                                                               Writer& downstream) {
  auto s = std::make_unique<State>();
  COCO_RETURN_IF_ERROR(s->core.Init(key, nonce));
  s->down = &downstream;
  return std::unique_ptr<LayerEncryptor>(new LayerEncryptor(std::move(s)));
}

Status LayerEncryptor::Write(const uint8_t* data, size_t n) {
  if (s_->closed) return MakeError("InvalidArgument", "write after close");
  while (n > 0) {
    size_t k = std::min(n, kChunk);
    COCO_RETURN_IF_ERROR(s_->core.Xor(data, k));
    COCO_RETURN_IF_ERROR(s_->core.Mac(s_->core.buf(), k));
    COCO_RETURN_IF_ERROR(s_->down->Write(s_->core.buf(), k));
    data += k;
    n -= k;
  }
  return Status::Ok();
}

Status LayerEncryptor::Close() {
  if (s_->closed) return MakeError("InvalidArgument", "layer encryptor closed twice");
  s_->closed = true;
  COCO_ASSIGN_OR_RETURN(hmac_, s_->core.FinishMac());
  return s_->down->Close();
}

Result<std::unique_ptr<Writer>> NewLayerDecryptor(const SecretBytes& key, const Bytes& nonce,
                                                  const Bytes& expected_hmac, Writer& downstream) {
  if (expected_hmac.size() != kHmacSize) {
    return MakeError("InvalidArgument",
                     expected_hmac.empty()
                         ? std::string("layer public options carry no HMAC; refusing to decrypt "
                                       "a layer that cannot be authenticated")
                         : "layer HMAC has " + std::to_string(expected_hmac.size()) +
                               " bytes, expected 32");
  }
  auto d = std::make_unique<Decryptor>(expected_hmac, downstream);
  COCO_RETURN_IF_ERROR(d->core().Init(key, nonce));
  return std::unique_ptr<Writer>(std::move(d));
}

}  // namespace coco::ocicrypt
