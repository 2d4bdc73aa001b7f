#include "ocicrypt/layer_cipher.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
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
      return MakeError(Code::kInvalidArgument, "layer key has " + std::to_string(key.size()) +
                                                   " bytes; AES_256_CTR_HMAC_SHA256 needs 32");
    }
    if (nonce.size() != kNonceSize) {
      return MakeError(Code::kInvalidArgument, "layer nonce has " + std::to_string(nonce.size()) +
                                                   " bytes; AES_256_CTR_HMAC_SHA256 needs 16");
    }
    cipher_.reset(EVP_CIPHER_CTX_new());
    if (!cipher_ || EVP_EncryptInit_ex(cipher_.get(), EVP_aes_256_ctr(), nullptr, key.data(),
                                       nonce.data()) != 1) {
      return MakeError(Code::kCrypto, "cannot set up AES-256-CTR");
    }
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    if (mac == nullptr) return MakeError(Code::kCrypto, "HMAC is not available");
    mac_.reset(EVP_MAC_CTX_new(mac));
    EVP_MAC_free(mac);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!mac_ || EVP_MAC_init(mac_.get(), key.data(), key.size(), params) != 1) {
      return MakeError(Code::kCrypto, "cannot set up HMAC-SHA256");
    }
    buf_.resize(kChunk);
    return Status::Ok();
  }
  // XORs `n` (≤ kChunk) bytes into buf_.
  Status Xor(const uint8_t* in, size_t n) {
    int out_len = 0;
    if (EVP_EncryptUpdate(cipher_.get(), buf_.data(), &out_len, in, static_cast<int>(n)) != 1 ||
        static_cast<size_t>(out_len) != n) {
      return MakeError(Code::kCrypto, "AES-256-CTR failed");
    }
    return Status::Ok();
  }
  Status Mac(const uint8_t* p, size_t n) {
    if (EVP_MAC_update(mac_.get(), p, n) != 1)
      return MakeError(Code::kCrypto, "HMAC-SHA256 failed");
    return Status::Ok();
  }
  Result<Bytes> FinishMac() {
    Bytes out(kHmacSize);
    size_t len = 0;
    if (EVP_MAC_final(mac_.get(), out.data(), &len, out.size()) != 1 || len != kHmacSize) {
      return MakeError(Code::kCrypto, "HMAC-SHA256 failed");
    }
    return out;
  }
  uint8_t* buf() { return buf_.data(); }

 private:
  std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> cipher_;
  std::unique_ptr<EVP_MAC_CTX, CtxDeleter> mac_;
  std::vector<uint8_t> buf_;
};

// Decryption runs on two threads: the caller MACs the ciphertext (it arrives on the download
// thread, which also hashes it), a worker XORs the keystream and writes downstream (which hashes
// and stores the plaintext). Buffers of kChunk bytes move between them through a bounded queue,
// so memory stays at kDepth chunks whatever the layer size.
class Decryptor : public Writer {
 public:
  Decryptor(Bytes expected, Writer& down) : expected_(std::move(expected)), down_(down) {}
  ~Decryptor() override { Stop(); }
  CtrHmac& core() { return core_; }

  Status Write(const uint8_t* data, size_t n) override {
    if (closed_) return MakeError(Code::kInvalidArgument, "write after close");
    COCO_RETURN_IF_ERROR(core_.Mac(data, n));
    while (n > 0) {
      if (!current_) COCO_RETURN_IF_ERROR(TakeFree());
      size_t k = std::min(n, kChunk - current_->size());
      current_->insert(current_->end(), data, data + k);
      data += k;
      n -= k;
      if (current_->size() == kChunk) COCO_RETURN_IF_ERROR(Submit());
    }
    return Status::Ok();
  }

  Status Close() override {
    if (closed_) return MakeError(Code::kInvalidArgument, "layer decryptor closed twice");
    closed_ = true;
    if (current_ && !current_->empty()) COCO_RETURN_IF_ERROR(Submit());
    Stop();
    if (worker_error_) return *worker_error_;
    COCO_ASSIGN_OR_RETURN(Bytes got, core_.FinishMac());
    if (!ConstantTimeEqual(got, expected_)) {
      return MakeError(Code::kDigestMismatch,
                       "layer ciphertext fails its HMAC-SHA256 check (tampered or truncated, or "
                       "the public options do not belong to this layer)");
    }
    return down_.Close();
  }

 private:
  static constexpr size_t kDepth = 4;
  using Buffer = std::unique_ptr<std::vector<uint8_t>>;

  Status TakeFree() {
    std::unique_lock<std::mutex> l(mu_);
    if (!started_) {
      started_ = true;
      for (size_t i = 0; i < kDepth; ++i) {
        free_.push_back(std::make_unique<std::vector<uint8_t>>());
        free_.back()->reserve(kChunk);
      }
      worker_ = std::thread([this] { Run(); });
    }
    cv_.wait(l, [&] { return !free_.empty() || worker_error_.has_value(); });
    if (worker_error_) return *worker_error_;
    current_ = std::move(free_.back());
    free_.pop_back();
    current_->clear();
    return Status::Ok();
  }

  Status Submit() {
    std::lock_guard<std::mutex> l(mu_);
    if (worker_error_) return *worker_error_;
    full_.push_back(std::move(current_));
    cv_.notify_all();
    return Status::Ok();
  }

  void Run() {
    for (;;) {
      Buffer b;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return !full_.empty() || done_; });
        if (full_.empty()) return;
        b = std::move(full_.front());
        full_.pop_front();
      }
      Status s = core_.Xor(b->data(), b->size());
      if (s.ok()) s = down_.Write(core_.buf(), b->size());
      std::lock_guard<std::mutex> l(mu_);
      if (!s.ok()) {
        worker_error_ = s.error();
        full_.clear();
        cv_.notify_all();
        return;
      }
      free_.push_back(std::move(b));
      cv_.notify_all();
    }
  }

  // Lets the worker finish what is queued, then joins it.
  void Stop() {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
      cv_.notify_all();
    }
    if (worker_.joinable()) worker_.join();
  }

  CtrHmac core_;  // MAC used by the caller, cipher and buf by the worker: disjoint parts
  Bytes expected_;
  Writer& down_;
  bool closed_ = false;
  Buffer current_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Buffer> full_;
  std::vector<Buffer> free_;
  std::optional<Error> worker_error_;
  bool started_ = false;
  bool done_ = false;
  std::thread worker_;
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
  if (s_->closed) return MakeError(Code::kInvalidArgument, "write after close");
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
  if (s_->closed) return MakeError(Code::kInvalidArgument, "layer encryptor closed twice");
  s_->closed = true;
  COCO_ASSIGN_OR_RETURN(hmac_, s_->core.FinishMac());
  return s_->down->Close();
}

Result<std::unique_ptr<Writer>> NewLayerDecryptor(const SecretBytes& key, const Bytes& nonce,
                                                  const Bytes& expected_hmac, Writer& downstream) {
  if (expected_hmac.size() != kHmacSize) {
    return MakeError(
        Code::kInvalidArgument,
        expected_hmac.empty()
            ? std::string("layer public options carry no HMAC; refusing to decrypt "
                          "a layer that cannot be authenticated")
            : "layer HMAC has " + std::to_string(expected_hmac.size()) + " bytes, expected 32");
  }
  auto d = std::make_unique<Decryptor>(expected_hmac, downstream);
  COCO_RETURN_IF_ERROR(d->core().Init(key, nonce));
  return std::unique_ptr<Writer>(std::move(d));
}

}  // namespace coco::ocicrypt
