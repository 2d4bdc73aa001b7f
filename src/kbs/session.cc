#include "kbs/session.h"

#include <algorithm>

#include "base/json.h"
#include "crypto/crypto.h"

namespace coco::kbs {
namespace {

constexpr size_t kIvBytes = 12;
constexpr size_t kTagBytes = 16;
constexpr std::string_view kAad = "coco-kbs session v1";

}  // namespace

Result<SessionSealer> SessionSealer::LoadOrCreate(Storage* storage) {
  std::string fresh = HexEncode(crypto::RandomBytes(32));
  COCO_ASSIGN_OR_RETURN(std::string stored, storage->PutIfAbsent(kNsKeys, "session-key", fresh));
  auto key = HexDecode(stored);
  if (!key.ok() || key->size() != 32)
    return MakeError(Code::kStorage, "stored session key is not 32 bytes of hex");
  return SessionSealer(std::move(key).value());
}

SessionSealer::SessionSealer(Bytes key) : key_(std::move(key)) {}

std::string SessionSealer::Seal(const SessionState& s) const {
  nlohmann::json body = {{"t", s.tee}, {"n", s.nonce}, {"v", s.version}, {"e", s.expires}};
  Bytes iv = crypto::RandomBytes(kIvBytes);
  auto sealed = crypto::AesGcmEncrypt(key_, iv, kAad, ToBytes(body.dump()));
  // A 32-byte key and a 12-byte IV cannot be refused; an empty cookie would fail at /attest.
  if (!sealed.ok()) return "";
  Bytes out = iv;
  out.insert(out.end(), sealed->ciphertext.begin(), sealed->ciphertext.end());
  out.insert(out.end(), sealed->tag.begin(), sealed->tag.end());
  return Base64UrlEncode(out);
}

Result<SessionState> SessionSealer::Open(std::string_view cookie, int64_t now) const {
  auto bad = [](const std::string& why) { return MakeError(Code::kInvalidArgument, why); };
  if (cookie.size() > 1024) return bad("session cookie is too long");
  auto raw = Base64UrlDecode(std::string(cookie));
  // Only the canonical spelling is accepted: the unused low bits of the last character are
  // not covered by the tag, and one session must have exactly one cookie.
  if (!raw.ok() || raw->size() < kIvBytes + kTagBytes + 2 || Base64UrlEncode(*raw) != cookie)
    return bad("session cookie was not issued by this broker");
  Bytes iv(raw->begin(), raw->begin() + kIvBytes);
  Bytes tag(raw->end() - kTagBytes, raw->end());
  Bytes ct(raw->begin() + kIvBytes, raw->end() - kTagBytes);
  auto plain = crypto::AesGcmDecrypt(key_, iv, kAad, ct, tag);
  if (!plain.ok()) return bad("session cookie was not issued by this broker (or was altered)");
  auto j = ParseJsonObject(ToString(plain->bytes()), "session cookie");
  if (!j.ok()) return j.error();
  SessionState s;
  try {
    s.tee = j->at("t").get<std::string>();
    s.nonce = j->at("n").get<std::string>();
    s.version = j->at("v").get<std::string>();
    s.expires = j->at("e").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    return bad("session cookie has an unexpected shape");
  }
  if (s.expires <= now) return bad("session expired: call /kbs/v0/auth again");
  return s;
}

NonceRecord::NonceRecord(size_t max_entries) : max_entries_(std::max<size_t>(1, max_entries)) {}

void NonceRecord::ExpireLocked(int64_t now) {
  while (!entries_.empty() && entries_.front().expires <= now) {
    index_.erase(entries_.front().nonce);
    entries_.pop_front();
  }
}

NonceRecord::Claim NonceRecord::TryClaim(const std::string& nonce, int64_t expires, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  ExpireLocked(now);
  if (index_.count(nonce)) return Claim::kAlreadyUsed;
  if (entries_.size() >= max_entries_) {
    // Drop the oldest attested session; one still attesting is never dropped (its nonce would
    // become claimable twice).
    auto victim = entries_.begin();
    while (victim != entries_.end() && !victim->attested) ++victim;
    if (victim == entries_.end()) return Claim::kFull;
    index_.erase(victim->nonce);
    entries_.erase(victim);
    ++evictions_;
  }
  // Keep expiry order (a cookie sealed earlier may arrive later).
  auto pos = entries_.end();
  while (pos != entries_.begin() && std::prev(pos)->expires > expires) --pos;
  auto it = entries_.insert(pos, Entry{nonce, expires, false, {}});
  index_[nonce] = it;
  return Claim::kClaimed;
}

void NonceRecord::Release(const std::string& nonce) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(nonce);
  if (it == index_.end() || it->second->attested) return;
  entries_.erase(it->second);
  index_.erase(it);
}

void NonceRecord::SetAttested(const std::string& nonce, AttestedSession session) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(nonce);
  if (it == index_.end()) return;
  it->second->attested = true;
  it->second->session = std::move(session);
}

std::optional<AttestedSession> NonceRecord::Get(const std::string& nonce, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(nonce);
  if (it == index_.end() || !it->second->attested || it->second->expires <= now)
    return std::nullopt;
  return it->second->session;
}

size_t NonceRecord::size() {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

size_t NonceRecord::evictions() {
  std::lock_guard<std::mutex> lock(mu_);
  return evictions_;
}

}  // namespace coco::kbs
