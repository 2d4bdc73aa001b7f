// coco-kbs configuration: a TOML file plus command-line flags (flags win).
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "kbs/admin_auth.h"
#include "kbs/broker.h"
#include "kbs/http_server.h"

namespace coco::kbs {

struct Config {
  std::string data_dir;
  std::string listen = "127.0.0.1:8080";
  bool dev = false;
  bool log_json = false;
  std::string log_level = "info";  // debug, info, warn, error
  size_t max_body_bytes = 2 * 1024 * 1024;
  int worker_threads = 64;
  // [limits]: what one client may hold of the broker (see http_server.h).
  int64_t header_timeout_secs = 10;
  int64_t body_timeout_secs = 30;
  size_t max_header_bytes = 16 * 1024;
  size_t max_connections = 8192;
  size_t max_connections_per_client = 1024;
  size_t max_pending_requests = 1024;
  int64_t max_database_bytes = 0;  // 0: only the disk bounds kbs.db
  std::string tls_cert, tls_key;
  int64_t session_timeout_secs = 300;
  size_t max_sessions = 8192;
  int64_t token_lifetime_secs = 300;
  std::vector<std::string> extra_teekey_paths;
  std::vector<std::string> admin_public_keys;  // empty: <data_dir>/admin-key.pub.pem
  std::vector<AclRule> admin_acl = DefaultAcl();
  // SEV-SNP verifier: offline VCEK store (DIR/vcek/<hwid>/[<tcb>_]vcek.der) for evidence that
  // carries no certificates, and the highest VMPL accepted.
  std::string snp_vcek_dir;
  int64_t snp_max_vmpl = 0;
  std::string tdx_collateral_dir;  // both empty: TDX evidence is refused
  std::string tdx_pccs_url, tdx_pccs_ca_file;
  // TPM verifier: when not empty, quotes are accepted only from these attestation keys (PEM).
  std::vector<std::string> tpm_trusted_aks;
};

// Reads a TOML config file into `config` (keys absent from the file keep their value).
// Unknown keys are errors, so typos do not pass silently.
Status LoadConfigFile(const std::string& path, Config* config);

// The reference of every key, for --help.
const char* ConfigReference();

}  // namespace coco::kbs
