#include "kbs/storage.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "base/time.h"
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

// Another connection that holds the database the way a running broker does.
sqlite3* HoldExclusive(const std::string& db) {
  sqlite3* h = nullptr;
  EXPECT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(h,
                         "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL;"
                         "INSERT OR REPLACE INTO kv VALUES('x','y',x'00');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(h);
  return h;
}

TEST(SqliteStorage, OpenWaitsForABrokerThatIsStopping) {
  std::string db = TempDb();
  { ASSERT_TRUE(OpenSqliteStorage(db).ok()); }
  sqlite3* old = HoldExclusive(db);
  std::thread release([old] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    sqlite3_close(old);
  });
  auto started = std::chrono::steady_clock::now();
  auto s = OpenSqliteStorage(db);
  auto waited = std::chrono::steady_clock::now() - started;
  release.join();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  EXPECT_TRUE((*s)->Put(kNsResource, "a/b/c", "v").ok());
}

TEST(SqliteStorage, OpenGivesUpOnALockThatStaysWithTheReason) {
  std::string db = TempDb();
  { ASSERT_TRUE(OpenSqliteStorage(db).ok()); }
  sqlite3* other = HoldExclusive(db);
  StorageOptions o;
  o.lock_wait_ms = 150;
  auto s = OpenSqliteStorage(db, o);
  sqlite3_close(other);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("another process has " + db + " open"), std::string::npos)
      << s.error().message;
}

TEST(SqliteStorage, FullDatabaseIsStorageFullAndKeepsWhatWasStored) {
  std::string db = TempDb();
  StorageOptions o;
  o.max_bytes = 64 * 1024;
  auto s = OpenSqliteStorage(db, o);
  ASSERT_TRUE(s.ok()) << s.error().message;
  std::string value(1024, 'v');
  int stored = 0;
  Status last = Status::Ok();
  for (; stored < 1000; ++stored) {
    last = (*s)->Put(kNsResource, "r/k/" + std::to_string(stored), value);
    if (!last.ok()) break;
  }
  ASSERT_FALSE(last.ok()) << "64 KiB never filled";
  EXPECT_GT(stored, 10);
  EXPECT_EQ(last.error().code, Code::kStorageFull);
  EXPECT_NE(last.error().message.find("full"), std::string::npos) << last.error().message;
  EXPECT_NE(last.error().message.find("65536 bytes"), std::string::npos) << last.error().message;
  for (int i = 0; i < stored; ++i) {
    auto v = (*s)->Get(kNsResource, "r/k/" + std::to_string(i));
    ASSERT_TRUE(v.ok() && v->has_value()) << i;
    EXPECT_EQ(**v, value);
  }
  // Space freed by a delete is used again.
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(*(*s)->Delete(kNsResource, "r/k/" + std::to_string(i)));
  Status again = (*s)->Put(kNsResource, "r/k/0", value);
  EXPECT_TRUE(again.ok()) << again.error().message;
}

// The message a broker running as `uid` gets for `db` (in a child when that takes a setuid).
std::string OpenErrorAs(uid_t uid, const std::string& db) {
  if (uid == ::geteuid()) {
    auto s = OpenSqliteStorage(db);
    return s.ok() ? "" : s.error().message;
  }
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    std::string msg = "cannot setuid";
    if (::setgid(uid) == 0 && ::setuid(uid) == 0) {
      auto s = OpenSqliteStorage(db);
      msg = s.ok() ? "" : s.error().message;
    }
    (void)!::write(fds[1], msg.data(), msg.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  ::waitpid(pid, nullptr, 0);
  return out;
}

TEST(SqliteStorage, UnwritableDataDirNamesDirAndUser) {
  std::string db = TempDb();
  auto dir = std::filesystem::path(db).parent_path();
  { ASSERT_TRUE(OpenSqliteStorage(db).ok()); }
  // Root passes permission checks: test as an unprivileged user then, as a broker under a
  // service account would run.
  uid_t uid = ::geteuid() == 0 ? 65534 : ::geteuid();
  std::filesystem::permissions(
      dir, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec |
               std::filesystem::perms::others_read | std::filesystem::perms::others_exec);
  std::string msg = OpenErrorAs(uid, db);
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
  if (msg == "cannot setuid") GTEST_SKIP() << "no setuid here";
  EXPECT_NE(msg.find("data dir " + dir.string() + " is not writable by uid " + std::to_string(uid) +
                     " (Permission denied)"),
            std::string::npos)
      << msg;
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
  EXPECT_EQ((**rec)["expiration"], FormatRfc3339(1100));

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
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(*ParseRfc3339("2026-11-24T18:00:00Z"), 1795543200);
  EXPECT_FALSE(ParseRfc3339("yesterday").ok());
}

}  // namespace
}  // namespace coco::kbs
