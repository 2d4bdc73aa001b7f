// Storage: the broker's persistent state as namespaced key/value records (resources, policies,
// reference values, keys). Every write is atomic: a reader sees the old or the new value.
// Implementations are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace coco::kbs {

// Namespaces, as upstream names them.
inline constexpr std::string_view kNsResource = "repository";
inline constexpr std::string_view kNsPolicy = "kbs";
inline constexpr std::string_view kNsAttestationPolicy = "attestation_service_policy";
inline constexpr std::string_view kNsReferenceValue = "reference_value";
inline constexpr std::string_view kNsKeys = "keys";

class Storage {
 public:
  virtual ~Storage() = default;
  // Returns nullopt when the key is absent.
  virtual Result<std::optional<std::string>> Get(std::string_view ns, std::string_view key) = 0;
  virtual Status Put(std::string_view ns, std::string_view key, std::string_view value) = 0;
  // Stores `value` only if the key is absent; returns the value that is stored afterwards.
  virtual Result<std::string> PutIfAbsent(std::string_view ns, std::string_view key,
                                          std::string_view value) = 0;
  // Returns whether a record was deleted.
  virtual Result<bool> Delete(std::string_view ns, std::string_view key) = 0;
  virtual Result<std::vector<std::string>> ListKeys(std::string_view ns) = 0;
};

struct StorageOptions {
  // How long opening waits for a lock another process holds (a broker still stopping).
  int lock_wait_ms = 10000;
  // Upper bound on the database's size; 0 = only the disk's. Writes beyond it fail as a full
  // disk does.
  int64_t max_bytes = 0;
};

// SQLite database at `path` (created if missing, WAL journal). Errors: code Storage, or
// StorageFull when the disk or the size bound is reached; messages name the file and the cause.
Result<std::unique_ptr<Storage>> OpenSqliteStorage(const std::string& path,
                                                   StorageOptions options = {});
// Volatile storage for tests.
std::unique_ptr<Storage> NewMemoryStorage();

}  // namespace coco::kbs
