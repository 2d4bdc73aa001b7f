// RCAR sessions without a table of pending handshakes.
//
// `/auth` keeps nothing: its kbs-session-id cookie *is* the session (TEE, nonce, protocol version,
// expiry), sealed with a broker key (AES-256-GCM), so a flood of /auth costs no memory and evicts
// nobody, and any broker holding the key can continue the handshake. The cookie stays opaque to
// clients, as upstream's UUID is.
//
// `/attest` claims the cookie's nonce in a bounded NonceRecord until the session expires: a nonce
// is evaluated once (a concurrent or later replay is refused). A failed attestation releases its
// nonce (a fresh one costs an attacker nothing, so keeping failures would only let a flood of bad
// evidence fill the record). A successful one keeps its token there, which is what a later
// resource request with the same cookie finds.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/bytes.h"
#include "base/result.h"
#include "kbs/storage.h"

namespace coco::kbs {

struct SessionState {
  std::string tee;
  std::string nonce;
  std::string version;
  int64_t expires = 0;  // unix seconds
};

// Seals and opens session cookies. Thread-safe (immutable after creation).
class SessionSealer {
 public:
  // Loads the 256-bit session key from storage, creating it on first use (replicas on one
  // database share it: the first insert wins).
  static Result<SessionSealer> LoadOrCreate(Storage* storage);
  explicit SessionSealer(Bytes key);

  // base64url(iv[12] || ciphertext || tag[16]); about 170 characters.
  std::string Seal(const SessionState& state) const;
  // The state a cookie carries; an error (code InvalidArgument) when it was not sealed by this
  // key, was altered, or has expired at `now_unix`.
  Result<SessionState> Open(std::string_view cookie, int64_t now_unix) const;

 private:
  Bytes key_;
};

struct AttestedSession {
  std::string token;
  std::shared_ptr<const nlohmann::json> claims;  // exactly what the token signs
};

// Nonces claimed by /attest, each kept until its session expires. Thread-safe.
class NonceRecord {
 public:
  explicit NonceRecord(size_t max_entries);

  enum class Claim { kClaimed, kAlreadyUsed, kFull };
  // Claims `nonce` for one attestation. kFull only when every slot holds an attestation still
  // in progress (a session that attested makes room: its guest attests again).
  Claim TryClaim(const std::string& nonce, int64_t expires, int64_t now_unix);
  // The attestation under `nonce` failed: the nonce is forgotten.
  void Release(const std::string& nonce);
  // The attestation under `nonce` succeeded.
  void SetAttested(const std::string& nonce, AttestedSession session);
  // The attested session of `nonce`, if it is still recorded and unexpired.
  std::optional<AttestedSession> Get(const std::string& nonce, int64_t now_unix);

  size_t size();
  size_t evictions();

 private:
  struct Entry {
    std::string nonce;
    int64_t expires = 0;
    bool attested = false;
    AttestedSession session;
  };
  using List = std::list<Entry>;
  void ExpireLocked(int64_t now_unix);

  const size_t max_entries_;
  std::mutex mu_;
  List entries_;  // in claim order; expiries are monotone because every session has one lifetime
  std::unordered_map<std::string, List::iterator> index_;
  size_t evictions_ = 0;
};

}  // namespace coco::kbs
