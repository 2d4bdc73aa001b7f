#include "kbs/session.h"

#include <gtest/gtest.h>

namespace coco::kbs {
namespace {

TEST(SessionStore, CreateGetExpire) {
  SessionStore store(10, 300);
  Session s = store.Create("sample", "n1", 1000);
  EXPECT_EQ(s.id.size(), 32u);
  EXPECT_EQ(s.expires, 1300);
  auto got = store.Get(s.id, 1299);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->nonce, "n1");
  EXPECT_FALSE(store.Get(s.id, 1300).has_value());  // expired exactly at timeout
  EXPECT_EQ(store.size(), 0u);
}

TEST(SessionStore, NonceIsConsumedOnce) {
  SessionStore store(10, 300);
  Session s = store.Create("sample", "n1", 0);
  auto first = store.ConsumeNonce(s.id, 1);
  ASSERT_TRUE(first.has_value());
  EXPECT_FALSE(first->nonce_used);
  auto second = store.ConsumeNonce(s.id, 2);
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(second->nonce_used);
  EXPECT_FALSE(store.ConsumeNonce("unknown", 2).has_value());
}

TEST(SessionStore, FloodOfAuthNeverEvictsAttested) {
  SessionStore store(4, 300);  // 2 handshakes + 2 attested
  Session a = store.Create("sample", "a", 0);
  store.SetAttested(a.id, "tok", std::make_shared<const nlohmann::json>(nlohmann::json::object()));
  for (int i = 0; i < 100; ++i) store.Create("sample", "flood", 1);
  EXPECT_EQ(store.size(), 3u);
  auto kept = store.Get(a.id, 2);
  ASSERT_TRUE(kept.has_value()) << "attested session was evicted by an /auth flood";
  EXPECT_TRUE(kept->attested);
  EXPECT_EQ(kept->token, "tok");
  EXPECT_EQ(store.evictions(), 98u);
}

TEST(SessionStore, AttestedSessionsDoNotStarveHandshakes) {
  SessionStore store(4, 300);
  auto claims = std::make_shared<const nlohmann::json>(nlohmann::json::object());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    Session s = store.Create("sample", "n", i);
    store.SetAttested(s.id, "t", claims);
    ids.push_back(s.id);
  }
  // The attested half holds two: the oldest attested session made room.
  EXPECT_FALSE(store.Get(ids[0], 10).has_value());
  EXPECT_TRUE(store.Get(ids[1], 10).has_value());
  EXPECT_TRUE(store.Get(ids[2], 10).has_value());
  // A store full of attested sessions still admits and keeps new handshakes.
  Session p1 = store.Create("sample", "p1", 10);
  Session p2 = store.Create("sample", "p2", 10);
  EXPECT_TRUE(store.Get(p1.id, 11).has_value());
  EXPECT_TRUE(store.Get(p2.id, 11).has_value());
  EXPECT_TRUE(store.Get(ids[2], 11).has_value());
  // Expiry still works for attested sessions after the move between lists.
  EXPECT_FALSE(store.Get(ids[2], 303).has_value());
}

}  // namespace
}  // namespace coco::kbs
