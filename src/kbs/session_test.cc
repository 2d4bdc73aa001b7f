#include "kbs/session.h"

#include <gtest/gtest.h>

#include "crypto/crypto.h"

namespace coco::kbs {
namespace {

SessionSealer NewSealer() { return SessionSealer(crypto::RandomBytes(32)); }

TEST(SessionSealer, RoundTripAndExpiry) {
  SessionSealer sealer = NewSealer();
  std::string cookie = sealer.Seal({"snp", "nonce-1", "0.4.0", 1300});
  EXPECT_LT(cookie.size(), 256u);
  auto s = sealer.Open(cookie, 1299);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->tee, "snp");
  EXPECT_EQ(s->nonce, "nonce-1");
  EXPECT_EQ(s->version, "0.4.0");
  EXPECT_EQ(s->expires, 1300);
  auto late = sealer.Open(cookie, 1300);  // expired exactly at the timeout
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message.find("expired"), std::string::npos);
}

TEST(SessionSealer, RefusesForgedAlteredAndForeignCookies) {
  SessionSealer sealer = NewSealer();
  std::string cookie = sealer.Seal({"sample", "n", "0.4.0", 1000});
  // Every single-character change of the cookie is refused, including the last character,
  // whose low bits carry no data (many cookies, so that a random IV cannot hide it).
  for (int round = 0; round < 64; ++round) {
    std::string fresh = sealer.Seal({"sample", "n", "0.4.0", 1000});
    for (size_t i = 0; i < fresh.size(); ++i) {
      for (char repl : {'A', 'B', 'C', 'D'}) {
        if (fresh[i] == repl) continue;
        std::string c = fresh;
        c[i] = repl;
        ASSERT_FALSE(sealer.Open(c, 0).ok()) << "position " << i << " of " << fresh;
      }
    }
  }
  EXPECT_FALSE(NewSealer().Open(cookie, 0).ok());  // another broker key
  EXPECT_FALSE(sealer.Open("", 0).ok());
  EXPECT_FALSE(sealer.Open("0123456789abcdef0123456789abcdef", 0).ok());  // a UUID-shaped id
  EXPECT_FALSE(sealer.Open(std::string(5000, 'A'), 0).ok());
}

TEST(SessionSealer, KeyIsSharedThroughStorage) {
  auto storage = NewMemoryStorage();
  auto a = SessionSealer::LoadOrCreate(storage.get());
  auto b = SessionSealer::LoadOrCreate(storage.get());
  ASSERT_TRUE(a.ok() && b.ok());
  auto opened = b->Open(a->Seal({"tdx", "n", "0.4.0", 50}), 10);
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  EXPECT_EQ(opened->tee, "tdx");
}

TEST(NonceRecord, ClaimOnceReleaseOnFailureKeepOnSuccess) {
  NonceRecord r(10);
  EXPECT_EQ(r.TryClaim("a", 100, 0), NonceRecord::Claim::kClaimed);
  EXPECT_EQ(r.TryClaim("a", 100, 1), NonceRecord::Claim::kAlreadyUsed);  // concurrent replay
  r.Release("a");  // the attestation failed
  EXPECT_EQ(r.TryClaim("a", 100, 2), NonceRecord::Claim::kClaimed);
  auto claims = std::make_shared<const nlohmann::json>(nlohmann::json{{"exp", 90}});
  r.SetAttested("a", {"tok", claims});
  r.Release("a");  // a success is never released
  EXPECT_EQ(r.TryClaim("a", 100, 3), NonceRecord::Claim::kAlreadyUsed);
  auto got = r.Get("a", 50);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->token, "tok");
  EXPECT_FALSE(r.Get("a", 100).has_value());  // expired with its session
  EXPECT_EQ(r.TryClaim("a", 200, 100), NonceRecord::Claim::kClaimed);  // gone after expiry
}

TEST(NonceRecord, FullRecordDropsOldestAttestedNeverOneInProgress) {
  NonceRecord r(3);
  EXPECT_EQ(r.TryClaim("p1", 100, 0), NonceRecord::Claim::kClaimed);
  EXPECT_EQ(r.TryClaim("a1", 100, 0), NonceRecord::Claim::kClaimed);
  r.SetAttested("a1", {"t1", nullptr});
  EXPECT_EQ(r.TryClaim("a2", 100, 0), NonceRecord::Claim::kClaimed);
  r.SetAttested("a2", {"t2", nullptr});
  EXPECT_EQ(r.TryClaim("p2", 100, 0), NonceRecord::Claim::kClaimed);  // drops a1
  EXPECT_EQ(r.evictions(), 1u);
  EXPECT_FALSE(r.Get("a1", 1).has_value());
  EXPECT_TRUE(r.Get("a2", 1).has_value());
  EXPECT_EQ(r.TryClaim("p3", 100, 0), NonceRecord::Claim::kClaimed);  // drops a2
  // Now every slot is an attestation in progress: a new one is refused, none is dropped.
  EXPECT_EQ(r.TryClaim("p4", 100, 0), NonceRecord::Claim::kFull);
  EXPECT_EQ(r.TryClaim("p1", 100, 0), NonceRecord::Claim::kAlreadyUsed);
  EXPECT_EQ(r.size(), 3u);
}

}  // namespace
}  // namespace coco::kbs
