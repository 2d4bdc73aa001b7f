#include "kbs/session.h"

#include <algorithm>

#include "base/bytes.h"
#include "crypto/crypto.h"

namespace coco::kbs {

SessionStore::SessionStore(size_t max_sessions, int64_t timeout_secs)
    : max_pending_(std::max<size_t>(1, max_sessions / 2)),
      max_attested_(std::max<size_t>(1, max_sessions - max_sessions / 2)),
      timeout_(timeout_secs) {}

void SessionStore::ExpireLocked(int64_t now) {
  // All sessions share one timeout, so each list is ordered by expiry as well.
  for (List* l : {&pending_, &attested_}) {
    while (!l->empty() && l->front().expires <= now) {
      index_.erase(l->front().id);
      l->pop_front();
    }
  }
}

void SessionStore::EraseLocked(const std::string& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  it->second.list->erase(it->second.it);
  index_.erase(it);
}

Session SessionStore::Create(const std::string& tee, const std::string& nonce, int64_t now) {
  Session s;
  s.id = HexEncode(crypto::RandomBytes(16));  // 128-bit random, as a simple-hex UUID
  s.tee = tee;
  s.nonce = nonce;
  s.expires = now + timeout_;
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now);
  while (pending_.size() >= max_pending_) {
    index_.erase(pending_.front().id);
    pending_.pop_front();
    ++evictions_;
  }
  pending_.push_back(s);
  index_[s.id] = Entry{&pending_, std::prev(pending_.end())};
  return s;
}

Session* SessionStore::FindLiveLocked(const std::string& id, int64_t now) {
  auto it = index_.find(id);
  if (it == index_.end()) return nullptr;
  if (it->second.it->expires <= now) {
    EraseLocked(id);
    return nullptr;
  }
  return &*it->second.it;
}

std::optional<Session> SessionStore::Get(const std::string& id, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  Session* s = FindLiveLocked(id, now);
  if (!s) return std::nullopt;
  return *s;
}

std::optional<Session> SessionStore::ConsumeNonce(const std::string& id, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  Session* s = FindLiveLocked(id, now);
  if (!s) return std::nullopt;
  Session before = *s;
  s->nonce_used = true;
  return before;
}

void SessionStore::SetAttested(const std::string& id, std::string token,
                               std::shared_ptr<const nlohmann::json> claims) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) return;
  Session& s = *it->second.it;
  s.attested = true;
  s.token = std::move(token);
  s.claims = std::move(claims);
  if (it->second.list == &pending_) {
    while (attested_.size() >= max_attested_) {
      index_.erase(attested_.front().id);
      attested_.pop_front();
      ++evictions_;
    }
    // Keep expiry order: attested_ is ordered by creation time too, so insert in place.
    auto pos = attested_.end();
    while (pos != attested_.begin() && std::prev(pos)->expires > s.expires) --pos;
    attested_.splice(pos, pending_, it->second.it);
    it->second.list = &attested_;
  }
}

void SessionStore::Remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  EraseLocked(id);
}

size_t SessionStore::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return index_.size();
}

size_t SessionStore::evictions() {
  std::lock_guard<std::mutex> lock(mu_);
  return evictions_;
}

}  // namespace coco::kbs
