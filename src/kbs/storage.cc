#include "kbs/storage.h"

#include <sqlite3.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>

#include "base/log.h"

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

std::string DirOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// Waits for a lock another process holds (a broker that is still stopping), saying so once.
struct LockWait {
  std::string path;
  int limit_ms = 0;
  bool announced = false;
  std::chrono::steady_clock::time_point start;
};
int WaitForLock(void* arg, int attempt) {
  auto* w = static_cast<LockWait*>(arg);
  auto now = std::chrono::steady_clock::now();
  if (attempt == 0) w->start = now;
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(now - w->start).count();
  if (waited >= w->limit_ms) return 0;
  if (!w->announced && waited >= 200) {
    w->announced = true;
    log::Warn("waiting for the database lock (another coco-kbs still has it open?)",
              {{"database", w->path}, {"limit_ms", std::to_string(w->limit_ms)}});
  }
  ::usleep(20000);
  return 1;
}

class SqliteStorage final : public Storage {
 public:
  SqliteStorage(sqlite3* db, std::string path, StorageOptions options)
      : db_(db), path_(std::move(path)), options_(options) {
    lock_wait_.path = path_;
    lock_wait_.limit_ms = options_.lock_wait_ms;
  }
  ~SqliteStorage() override {
    for (auto& [sql, st] : statements_) sqlite3_finalize(st);
    sqlite3_close(db_);
  }

  Status Init() {
    // The lock may still be held by a broker that is stopping: wait for it before the first
    // statement, which takes it.
    sqlite3_busy_handler(db_, WaitForLock, &lock_wait_);
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
      if (sqlite3_errcode(db_) == SQLITE_BUSY)
        msg += " after waiting " + std::to_string(options_.lock_wait_ms) +
               " ms: another process has " + path_ + " open";
      return MakeError(Code::kStorage, "cannot initialise database " + path_ + ": " + msg);
    }
    if (options_.max_bytes > 0) {
      int page = 4096;
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db_, "PRAGMA page_size", -1, &st, nullptr) == SQLITE_OK &&
          sqlite3_step(st) == SQLITE_ROW)
        page = sqlite3_column_int(st, 0);
      sqlite3_finalize(st);
      int64_t pages = std::max<int64_t>(1, options_.max_bytes / page);
      std::string pragma = "PRAGMA max_page_count=" + std::to_string(pages) + ";";
      if (sqlite3_exec(db_, pragma.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK)
        return Fail("size limit").error();
    }
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
    if (!stored) return MakeError(Code::kStorage, "record vanished after insert");
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
      return MakeError(Code::kStorage,
                       std::string("cannot prepare statement: ") + sqlite3_errmsg(db_));
    statements_.emplace(sql, st);
    return Stmt(st);
  }
  static void Bind(sqlite3_stmt* st, std::string_view ns, std::string_view key) {
    sqlite3_bind_text(st, 1, ns.data(), static_cast<int>(ns.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  }
  // Names the operation, SQLite's reason and, for the conditions an operator must fix, what to
  // do. A full disk or database is kind StorageFull, everything else Storage.
  Result<std::optional<std::string>> Fail(const char* op) {
    int code = sqlite3_errcode(db_);
    std::string msg = std::string("database ") + op + " failed: " + sqlite3_errmsg(db_);
    if (code == SQLITE_FULL) {
      struct statvfs vfs {};
      std::string dir = DirOf(path_);
      if (::statvfs(dir.c_str(), &vfs) == 0)
        msg += " (" + std::to_string(static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize) +
               " bytes free in " + dir;
      else
        msg += " (" + dir;
      if (options_.max_bytes > 0)
        msg += "; the database may grow to " + std::to_string(options_.max_bytes) + " bytes";
      msg += ")";
      return MakeError(Code::kStorageFull, msg);
    }
    if (code == SQLITE_READONLY)
      msg += " (" + path_ + " or its directory is read-only for this process)";
    return MakeError(Code::kStorage, msg);
  }

  std::mutex mu_;
  sqlite3* db_;
  std::string path_;
  StorageOptions options_;
  LockWait lock_wait_;
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

Result<std::unique_ptr<Storage>> OpenSqliteStorage(const std::string& path,
                                                   StorageOptions options) {
  // SQLite's own report for these is "disk I/O error" or "unable to open database file": say
  // which file, for which user, and why.
  std::string dir = DirOf(path);
  std::string who = "uid " + std::to_string(::geteuid());
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    int e = errno;
    return MakeError(Code::kStorage, "data dir " + dir + " is not writable by " + who + " (" +
                                         std::strerror(e) +
                                         "): the broker keeps its database and journal there; give "
                                         "that user write access or mount it read-write");
  }
  if (::access(path.c_str(), F_OK) == 0 && ::access(path.c_str(), R_OK | W_OK) != 0) {
    int e = errno;
    return MakeError(Code::kStorage, "database " + path + " is not readable and writable by " +
                                         who + " (" + std::strerror(e) + ")");
  }
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return MakeError(Code::kStorage, "cannot open database " + path + ": " + msg);
  }
  auto storage = std::make_unique<SqliteStorage>(db, path, options);
  COCO_RETURN_IF_ERROR(storage->Init());
  return std::unique_ptr<Storage>(std::move(storage));
}

std::unique_ptr<Storage> NewMemoryStorage() { return std::make_unique<MemoryStorage>(); }

}  // namespace coco::kbs
