#include "kbs/storage.h"

#include <sqlite3.h>

#include <map>
#include <mutex>

namespace coco::kbs {
namespace {

// A cached prepared statement in use: reset and unbound when released, finalized with the
// database. Callers hold the storage mutex while they use it.
struct StmtReleaser {
  void operator()(sqlite3_stmt* s) const {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtReleaser>;

class SqliteStorage final : public Storage {
 public:
  explicit SqliteStorage(sqlite3* db) : db_(db) {}
  ~SqliteStorage() override {
    for (auto& [sql, st] : statements_) sqlite3_finalize(st);
    sqlite3_close(db_);
  }

  Status Init() {
    const char* sql =
        // One broker process owns its database file: exclusive locking spares a file lock
        // round trip per read (several per attestation flow).
        "PRAGMA locking_mode=EXCLUSIVE;"
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=FULL;"
        "CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,"
        " PRIMARY KEY (ns, key));";
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return MakeError("Storage", "cannot initialise database: " + msg);
    }
    sqlite3_busy_timeout(db_, 5000);
    return Status::Ok();
  }

  Result<std::optional<std::string>> Get(std::string_view ns, std::string_view key) override {
    std::lock_guard<std::mutex> lock(mu_);
    COCO_ASSIGN_OR_RETURN(Stmt st, Prepare("SELECT value FROM kv WHERE ns=?1 AND key=?2"));
    Bind(st.get(), ns, key);
    int rc = sqlite3_step(st.get());
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return Fail("read");
    auto* p = static_cast<const char*>(sqlite3_column_blob(st.get(), 0));
    int n = sqlite3_column_bytes(st.get(), 0);
    return std::optional<std::string>(std::string(p ? p : "", static_cast<size_t>(n)));
  }

  Status Put(std::string_view ns, std::string_view key, std::string_view value) override {
    std::lock_guard<std::mutex> lock(mu_);
    COCO_ASSIGN_OR_RETURN(Stmt st, Prepare("INSERT OR REPLACE INTO kv (ns, key, value) "
                                           "VALUES (?1, ?2, ?3)"));
    Bind(st.get(), ns, key);
    sqlite3_bind_blob(st.get(), 3, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    if (sqlite3_step(st.get()) != SQLITE_DONE) return Fail("write").error();
    return Status::Ok();
  }

  Result<std::string> PutIfAbsent(std::string_view ns, std::string_view key,
                                  std::string_view value) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      COCO_ASSIGN_OR_RETURN(Stmt st, Prepare("INSERT OR IGNORE INTO kv (ns, key, value) "
                                             "VALUES (?1, ?2, ?3)"));
      Bind(st.get(), ns, key);
      sqlite3_bind_blob(st.get(), 3, value.data(), static_cast<int>(value.size()),
                        SQLITE_TRANSIENT);
      if (sqlite3_step(st.get()) != SQLITE_DONE) return Fail("write").error();
    }
    COCO_ASSIGN_OR_RETURN(auto stored, Get(ns, key));
    if (!stored) return MakeError("Storage", "record vanished after insert");
    return *stored;
  }

  Result<bool> Delete(std::string_view ns, std::string_view key) override {
    std::lock_guard<std::mutex> lock(mu_);
    COCO_ASSIGN_OR_RETURN(Stmt st, Prepare("DELETE FROM kv WHERE ns=?1 AND key=?2"));
    Bind(st.get(), ns, key);
    if (sqlite3_step(st.get()) != SQLITE_DONE) return Fail("delete").error();
    return sqlite3_changes(db_) > 0;
  }

  Result<std::vector<std::string>> ListKeys(std::string_view ns) override {
    std::lock_guard<std::mutex> lock(mu_);
    COCO_ASSIGN_OR_RETURN(Stmt st, Prepare("SELECT key FROM kv WHERE ns=?1 ORDER BY key"));
    sqlite3_bind_text(st.get(), 1, ns.data(), static_cast<int>(ns.size()), SQLITE_TRANSIENT);
    std::vector<std::string> keys;
    int rc;
    while ((rc = sqlite3_step(st.get())) == SQLITE_ROW)
      keys.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 0)));
    if (rc != SQLITE_DONE) return Fail("list").error();
    return keys;
  }

 private:
  Result<Stmt> Prepare(const char* sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return Stmt(it->second);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK)
      return MakeError("Storage", std::string("cannot prepare statement: ") + sqlite3_errmsg(db_));
    statements_.emplace(sql, st);
    return Stmt(st);
  }
  static void Bind(sqlite3_stmt* st, std::string_view ns, std::string_view key) {
    sqlite3_bind_text(st, 1, ns.data(), static_cast<int>(ns.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  }
  Result<std::optional<std::string>> Fail(const char* op) {
    return MakeError("Storage", std::string("database ") + op + " failed: " + sqlite3_errmsg(db_));
  }

  std::mutex mu_;
  sqlite3* db_;
  std::map<std::string, sqlite3_stmt*> statements_;  // by SQL text
};

class MemoryStorage final : public Storage {
 public:
  Result<std::optional<std::string>> Get(std::string_view ns, std::string_view key) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = kv_.find({std::string(ns), std::string(key)});
    if (it == kv_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status Put(std::string_view ns, std::string_view key, std::string_view value) override {
    std::lock_guard<std::mutex> lock(mu_);
    kv_[{std::string(ns), std::string(key)}] = std::string(value);
    return Status::Ok();
  }
  Result<std::string> PutIfAbsent(std::string_view ns, std::string_view key,
                                  std::string_view value) override {
    std::lock_guard<std::mutex> lock(mu_);
    return kv_.try_emplace({std::string(ns), std::string(key)}, std::string(value)).first->second;
  }
  Result<bool> Delete(std::string_view ns, std::string_view key) override {
    std::lock_guard<std::mutex> lock(mu_);
    return kv_.erase({std::string(ns), std::string(key)}) > 0;
  }
  Result<std::vector<std::string>> ListKeys(std::string_view ns) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> keys;
    for (const auto& [k, v] : kv_)
      if (k.first == ns) keys.push_back(k.second);
    return keys;
  }

 private:
  std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::string> kv_;
};

}  // namespace

Result<std::unique_ptr<Storage>> OpenSqliteStorage(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return MakeError("Storage", "cannot open database " + path + ": " + msg);
  }
  auto storage = std::make_unique<SqliteStorage>(db);
  COCO_RETURN_IF_ERROR(storage->Init());
  return std::unique_ptr<Storage>(std::move(storage));
}

std::unique_ptr<Storage> NewMemoryStorage() { return std::make_unique<MemoryStorage>(); }

}  // namespace coco::kbs
