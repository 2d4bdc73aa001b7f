#include "kbs/storage.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "kbs/reference_values.h"
#include "kbs/token.h"

namespace coco::kbs {
namespace {

std::string TempDb() {
  auto dir = std::filesystem::temp_directory_path() /
             ("coco-storage-test-" + std::to_string(::getpid()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "kbs.db").string();
}

TEST(SqliteStorage, PersistsAcrossReopen) {
  std::string db = TempDb();
  {
    auto s = OpenSqliteStorage(db);
    ASSERT_TRUE(s.ok()) << s.error().message;
    ASSERT_TRUE((*s)->Put(kNsResource, "a/b/c", std::string("sec\0ret", 7)).ok());
    ASSERT_TRUE((*s)->Put(kNsResource, "a/b/d", "x").ok());
    ASSERT_TRUE((*s)->Put(kNsResource, "a/b/d", "y").ok());  // replace
    auto del = (*s)->Delete(kNsResource, "a/b/c");
    ASSERT_TRUE(del.ok());
    EXPECT_TRUE(*del);
    ASSERT_TRUE((*s)->Put(kNsResource, "a/b/c", std::string("sec\0ret", 7)).ok());
  }
  auto s = OpenSqliteStorage(db);
  ASSERT_TRUE(s.ok());
  auto v = (*s)->Get(kNsResource, "a/b/c");
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(v->has_value());
  EXPECT_EQ(**v, std::string("sec\0ret", 7));
  EXPECT_EQ(**(*s)->Get(kNsResource, "a/b/d"), "y");
  EXPECT_FALSE((*s)->Get(kNsPolicy, "a/b/c")->has_value());  // namespaces are separate
  auto keys = (*s)->ListKeys(kNsResource);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, (std::vector<std::string>{"a/b/c", "a/b/d"}));
  auto gone = (*s)->Delete(kNsResource, "nope");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(*gone);
}

TEST(SqliteStorage, TokenKeySurvivesRestart) {
  std::string db = TempDb();
  nlohmann::json jwks;
  std::string token;
  {
    auto s = OpenSqliteStorage(db);
    auto t = TokenIssuer::LoadOrCreate(s->get());
    ASSERT_TRUE(t.ok()) << t.error().message;
    jwks = (*t)->Jwks();
    auto issued = (*t)->Issue({{"ear.status", "affirming"}}, "snp", false, 1000, 300);
    ASSERT_TRUE(issued.ok());
    token = issued->token;
  }
  auto s = OpenSqliteStorage(db);
  auto t = TokenIssuer::LoadOrCreate(s->get());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->Jwks(), jwks);
  auto claims = (*t)->Verify(token, 1100);
  ASSERT_TRUE(claims.ok()) << claims.error().message;
  EXPECT_EQ((*claims)["submods"]["cpu0"]["ear.status"], "affirming");
  EXPECT_FALSE((*t)->Verify(token, 1300).ok());  // expired
}

TEST(SqliteStorage, OpenFailsWithClearError) {
  auto s = OpenSqliteStorage("/nonexistent-dir/for/sure/kbs.db");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("/nonexistent-dir"), std::string::npos);
}

TEST(ReferenceValues, RegisterQueryExpire) {
  auto storage = NewMemoryStorage();
  ReferenceValues rv(storage.get());
  nlohmann::json payload = {{"svn", {"1"}}, {"launch_digest", {"abcde"}}};
  nlohmann::json msg = {
      {"version", "0.1.0"}, {"type", "sample"}, {"payload", Base64Encode(ToBytes(payload.dump()))}};
  auto names = rv.Register(msg, 1000, 100);
  ASSERT_TRUE(names.ok()) << names.error().message;
  EXPECT_EQ(names->size(), 2u);
  EXPECT_EQ(rv.Query("svn", 1050), nlohmann::json({"1"}));
  EXPECT_TRUE(rv.Query("svn", 1100).is_null()) << "expired values must be ignored";
  EXPECT_TRUE(rv.Query("unknown", 1050).is_null());
  auto rec = rv.GetRecord("svn");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((**rec)["expiration"], FormatUtc(1100));

  msg["version"] = "0.2.0";
  EXPECT_FALSE(rv.Register(msg, 0).ok());
  msg["version"] = "0.1.0";
  msg["type"] = "swid";
  EXPECT_FALSE(rv.Register(msg, 0).ok());
  msg["type"] = "sample";
  msg["payload"] = "not base64!";
  EXPECT_FALSE(rv.Register(msg, 0).ok());
}

TEST(ReferenceValues, UtcRoundTrip) {
  EXPECT_EQ(FormatUtc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(*ParseUtc("2026-11-24T18:00:00Z"), 1795543200);
  EXPECT_FALSE(ParseUtc("yesterday").ok());
}

}  // namespace
}  // namespace coco::kbs
