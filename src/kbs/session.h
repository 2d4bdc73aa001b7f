// In-memory RCAR sessions: created by /auth, moved to attested by /attest, expiring after a fixed
// timeout. The store is bounded, with half of `max_sessions` for sessions still in their
// handshake and half for attested ones: a flood of /auth only ever pushes out the oldest
// unauthenticated sessions (never an attested guest), and a store full of attested sessions never
// starves new handshakes (the oldest attested session makes room; its guest attests again).
// Thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>

namespace coco::kbs {

struct Session {
  std::string id;
  std::string tee;
  std::string nonce;
  std::string extra_params;  // as received in the Request, re-used for evidence checks
  int64_t expires = 0;       // unix seconds
  bool nonce_used = false;   // set by the first /attest: a nonce is never evaluated twice
  bool attested = false;
  std::string token;
  std::shared_ptr<const nlohmann::json> claims;  // verified token claims, when attested
};

class SessionStore {
 public:
  SessionStore(size_t max_sessions, int64_t timeout_secs);

  // Creates a session with a fresh random id; drops the oldest unauthenticated session when the
  // handshake half is full.
  Session Create(const std::string& tee, const std::string& nonce, int64_t now_unix);
  // A copy of a live session; nullopt if unknown or expired.
  std::optional<Session> Get(const std::string& id, int64_t now_unix);
  // Marks the nonce used; returns the session as it was before, or nullopt if unknown/expired.
  std::optional<Session> ConsumeNonce(const std::string& id, int64_t now_unix);
  // Moves a session to attested; drops the oldest attested session when that half is full.
  void SetAttested(const std::string& id, std::string token,
                   std::shared_ptr<const nlohmann::json> claims);
  void Remove(const std::string& id);
  size_t size();
  size_t evictions();

 private:
  using List = std::list<Session>;
  struct Entry {
    List* list;
    List::iterator it;
  };
  void ExpireLocked(int64_t now_unix);
  // The live session `id`, or nullptr (an expired one is erased on the way).
  Session* FindLiveLocked(const std::string& id, int64_t now_unix);
  void EraseLocked(const std::string& id);

  const size_t max_pending_;
  const size_t max_attested_;
  const int64_t timeout_;
  std::mutex mu_;
  List pending_;   // unauthenticated, oldest first
  List attested_;  // oldest first
  std::unordered_map<std::string, Entry> index_;
  size_t evictions_ = 0;
};

}  // namespace coco::kbs
