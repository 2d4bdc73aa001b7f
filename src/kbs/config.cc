#include "kbs/config.h"

#include <toml++/toml.h>

#include <set>

#include "base/log.h"

namespace coco::kbs {
namespace {

Status CheckKeys(const toml::table& t, const std::set<std::string>& allowed,
                 const std::string& where) {
  for (const auto& [k, v] : t) {
    if (!allowed.count(std::string(k.str())))
      return MakeError(Code::kInvalidArgument, "unknown config key " + where +
                                                   std::string(k.str()) + " (see coco-kbs --help)");
  }
  return Status::Ok();
}

template <class T>
Status Read(const toml::table& t, const char* key, T* out, const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return Status::Ok();
  auto v = n->value<T>();
  if (!v)
    return MakeError(Code::kInvalidArgument, "config key " + where + key + " has the wrong type");
  *out = *v;
  return Status::Ok();
}

Status ReadStrings(const toml::table& t, const char* key, std::vector<std::string>* out,
                   const std::string& where) {
  const toml::node* n = t.get(key);
  if (!n) return Status::Ok();
  auto* arr = n->as_array();
  if (!arr)
    return MakeError(Code::kInvalidArgument, "config key " + where + key + " must be an array");
  out->clear();
  for (const auto& e : *arr) {
    auto s = e.value<std::string>();
    if (!s)
      return MakeError(Code::kInvalidArgument, "config key " + where + key + " must hold strings");
    out->push_back(*s);
  }
  return Status::Ok();
}

}  // namespace

Status LoadConfigFile(const std::string& path, Config* c) {
  toml::table doc;
  try {
    doc = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return MakeError(Code::kInvalidArgument, "config " + path + ": " +
                                                 std::string(e.description()) + " at line " +
                                                 std::to_string(e.source().begin.line));
  }
  COCO_RETURN_IF_ERROR(CheckKeys(
      doc,
      {"data_dir", "listen", "dev", "log_json", "log_level", "max_body_bytes", "worker_threads",
       "tls", "session", "token", "admin", "snp", "tdx", "tpm", "limits"},
      ""));
  COCO_RETURN_IF_ERROR(Read(doc, "data_dir", &c->data_dir, ""));
  COCO_RETURN_IF_ERROR(Read(doc, "listen", &c->listen, ""));
  COCO_RETURN_IF_ERROR(Read(doc, "dev", &c->dev, ""));
  COCO_RETURN_IF_ERROR(Read(doc, "log_json", &c->log_json, ""));
  COCO_RETURN_IF_ERROR(Read(doc, "log_level", &c->log_level, ""));
  if (!log::ParseLevel(c->log_level))
    return MakeError(Code::kInvalidArgument,
                     "log_level \"" + c->log_level + "\" must be debug, info, warn or error");
  int64_t body = static_cast<int64_t>(c->max_body_bytes);
  COCO_RETURN_IF_ERROR(Read(doc, "max_body_bytes", &body, ""));
  if (body < 1024) return MakeError(Code::kInvalidArgument, "max_body_bytes must be at least 1024");
  c->max_body_bytes = static_cast<size_t>(body);
  int64_t threads = c->worker_threads;
  COCO_RETURN_IF_ERROR(Read(doc, "worker_threads", &threads, ""));
  c->worker_threads = static_cast<int>(threads);
  if (auto* l = doc["limits"].as_table()) {
    COCO_RETURN_IF_ERROR(CheckKeys(
        *l,
        {"header_timeout_secs", "body_timeout_secs", "max_header_bytes", "max_connections",
         "max_connections_per_client", "max_pending_requests", "max_database_bytes"},
        "limits."));
    COCO_RETURN_IF_ERROR(Read(*l, "max_database_bytes", &c->max_database_bytes, "limits."));
    if (c->max_database_bytes != 0 && c->max_database_bytes < 65536)
      return MakeError(Code::kInvalidArgument,
                       "limits.max_database_bytes must be 0 (no bound) or at least 65536");
    COCO_RETURN_IF_ERROR(Read(*l, "header_timeout_secs", &c->header_timeout_secs, "limits."));
    COCO_RETURN_IF_ERROR(Read(*l, "body_timeout_secs", &c->body_timeout_secs, "limits."));
    for (auto [key, field] :
         {std::pair{"max_header_bytes", &c->max_header_bytes},
          std::pair{"max_connections", &c->max_connections},
          std::pair{"max_connections_per_client", &c->max_connections_per_client},
          std::pair{"max_pending_requests", &c->max_pending_requests}}) {
      int64_t v = static_cast<int64_t>(*field);
      COCO_RETURN_IF_ERROR(Read(*l, key, &v, "limits."));
      if (v < 1)
        return MakeError(Code::kInvalidArgument,
                         std::string("limits.") + key + " must be positive");
      *field = static_cast<size_t>(v);
    }
    if (c->header_timeout_secs < 1 || c->body_timeout_secs < 1)
      return MakeError(Code::kInvalidArgument, "limits.*_timeout_secs must be at least 1");
    if (c->max_header_bytes < 1024)
      return MakeError(Code::kInvalidArgument, "limits.max_header_bytes must be at least 1024");
  }
  if (auto* tls = doc["tls"].as_table()) {
    COCO_RETURN_IF_ERROR(CheckKeys(*tls, {"cert", "key"}, "tls."));
    COCO_RETURN_IF_ERROR(Read(*tls, "cert", &c->tls_cert, "tls."));
    COCO_RETURN_IF_ERROR(Read(*tls, "key", &c->tls_key, "tls."));
  }
  if (auto* s = doc["session"].as_table()) {
    COCO_RETURN_IF_ERROR(CheckKeys(*s, {"timeout_secs", "max_sessions"}, "session."));
    COCO_RETURN_IF_ERROR(Read(*s, "timeout_secs", &c->session_timeout_secs, "session."));
    int64_t max = static_cast<int64_t>(c->max_sessions);
    COCO_RETURN_IF_ERROR(Read(*s, "max_sessions", &max, "session."));
    if (max < 1) return MakeError(Code::kInvalidArgument, "session.max_sessions must be positive");
    c->max_sessions = static_cast<size_t>(max);
  }
  if (auto* t = doc["token"].as_table()) {
    COCO_RETURN_IF_ERROR(CheckKeys(*t, {"lifetime_secs", "extra_teekey_paths"}, "token."));
    COCO_RETURN_IF_ERROR(Read(*t, "lifetime_secs", &c->token_lifetime_secs, "token."));
    COCO_RETURN_IF_ERROR(ReadStrings(*t, "extra_teekey_paths", &c->extra_teekey_paths, "token."));
  }
  if (auto* snp = doc["snp"].as_table()) {
    COCO_RETURN_IF_ERROR(CheckKeys(*snp, {"vcek_dir", "max_vmpl"}, "snp."));
    COCO_RETURN_IF_ERROR(Read(*snp, "vcek_dir", &c->snp_vcek_dir, "snp."));
    COCO_RETURN_IF_ERROR(Read(*snp, "max_vmpl", &c->snp_max_vmpl, "snp."));
    if (c->snp_max_vmpl < 0 || c->snp_max_vmpl > 3)
      return MakeError(Code::kInvalidArgument, "snp.max_vmpl must be 0 to 3");
  }
  if (auto* tdx = doc["tdx"].as_table()) {
    COCO_RETURN_IF_ERROR(CheckKeys(*tdx, {"collateral_dir", "pccs_url", "pccs_ca_file"}, "tdx."));
    COCO_RETURN_IF_ERROR(Read(*tdx, "collateral_dir", &c->tdx_collateral_dir, "tdx."));
    COCO_RETURN_IF_ERROR(Read(*tdx, "pccs_url", &c->tdx_pccs_url, "tdx."));
    COCO_RETURN_IF_ERROR(Read(*tdx, "pccs_ca_file", &c->tdx_pccs_ca_file, "tdx."));
    if (!c->tdx_collateral_dir.empty() && !c->tdx_pccs_url.empty())
      return MakeError(Code::kInvalidArgument,
                       "tdx.collateral_dir and tdx.pccs_url are exclusive: give one");
  }
  if (auto* tpm = doc["tpm"].as_table()) {
    COCO_RETURN_IF_ERROR(CheckKeys(*tpm, {"trusted_aks"}, "tpm."));
    COCO_RETURN_IF_ERROR(ReadStrings(*tpm, "trusted_aks", &c->tpm_trusted_aks, "tpm."));
  }
  if (auto* a = doc["admin"].as_table()) {
    COCO_RETURN_IF_ERROR(CheckKeys(*a, {"public_keys", "acl"}, "admin."));
    COCO_RETURN_IF_ERROR(ReadStrings(*a, "public_keys", &c->admin_public_keys, "admin."));
    if (const toml::node* n = a->get("acl")) {
      auto* arr = n->as_array();
      if (!arr) return MakeError(Code::kInvalidArgument, "admin.acl must be an array of tables");
      c->admin_acl.clear();
      for (const auto& e : *arr) {
        auto* rule = e.as_table();
        if (!rule) return MakeError(Code::kInvalidArgument, "admin.acl entries must be tables");
        COCO_RETURN_IF_ERROR(CheckKeys(*rule, {"role", "allowed_endpoints"}, "admin.acl."));
        AclRule r;
        COCO_RETURN_IF_ERROR(Read(*rule, "role", &r.role, "admin.acl."));
        COCO_RETURN_IF_ERROR(
            ReadStrings(*rule, "allowed_endpoints", &r.allowed_endpoints, "admin.acl."));
        if (r.role.empty())
          return MakeError(Code::kInvalidArgument, "admin.acl entry without role");
        c->admin_acl.push_back(std::move(r));
      }
    }
  }
  return Status::Ok();
}

const char* ConfigReference() {
  return R"(Configuration file (TOML, --config FILE; command-line flags override it):

  data_dir = "/var/lib/coco-kbs"   # database (kbs.db) and admin keys; --data-dir
  listen = "127.0.0.1:8080"        # HOST:PORT, port 0 picks a free one; --listen
  dev = false                      # accept the sample TEE (development only); --dev
  log_json = false                 # one JSON object per log line; --log-json
  log_level = "info"               # debug, info (one line per request), warn, error; --log-level
  max_body_bytes = 2097152         # request body limit (413 PayloadTooLarge above); --max-body
  worker_threads = 64              # requests handled at once (connections cost no thread)

  [limits]                         # what a slow or flooding client can hold
  header_timeout_secs = 10         # the whole request header, however it trickles; --header-timeout
  body_timeout_secs = 30           # the whole request body
  max_header_bytes = 16384         # request line + headers (431 above)
  max_connections = 8192           # open connections in all (503 + Retry-After above)
  max_connections_per_client = 1024  # open connections from one address (503 + Retry-After above)
  max_pending_requests = 1024      # requests waiting for a handler (503 + Retry-After above)
  max_database_bytes = 0           # bound on kbs.db (0: the disk's); writes beyond it answer
                                   # 507, as a full disk does

  [tls]                            # HTTPS when both are set; --tls-cert, --tls-key
  cert = "/etc/coco-kbs/tls.crt"
  key = "/etc/coco-kbs/tls.key"

  [session]
  timeout_secs = 300               # RCAR session lifetime from /auth; --session-timeout
  max_sessions = 8192              # attested sessions remembered (the oldest go first); /auth
                                   # stores nothing: its cookie is the sealed session

  [token]
  lifetime_secs = 300              # attestation token validity; --token-lifetime
  extra_teekey_paths = []          # JSON pointers to the TEE key in token claims, tried first

  [snp]                            # SEV-SNP evidence (AMD's roots are built in; no KDS fetch)
  vcek_dir = ""                    # offline VCEKs: DIR/vcek/<hwid>/[bl.._tee.._snp.._ucode.._]vcek.der
  max_vmpl = 0                     # highest VMPL a report may come from

  [tdx]                            # TDX quotes (Intel's SGX root is built in)
  collateral_dir = ""              # tcb_info_<FMSPC>.json, qe_identity.json, tcb_signing_chain.pem,
                                   # pck_crl_{platform,processor}.{pem,der}, root_ca_crl.{pem,der}
  pccs_url = ""                    # or fetch it from a PCCS / Intel PCS (v4 API), kept for an hour
  pccs_ca_file = ""                # PEM CA of a PCCS with its own TLS certificate
                                   # neither set: TDX evidence is refused

  [tpm]                            # TPM 2.0 quotes
  trusted_aks = []                 # PEM attestation keys; when set, quotes from others are refused

  [admin]
  public_keys = []                 # PEM files (Ed25519 or P-256); default <data_dir>/admin-key.pub.pem
  [[admin.acl]]                    # role claim -> endpoints (regex over the path, ^/kbs...$)
  role = "admin"
  allowed_endpoints = ["^/kbs/v0/.+$"]
)";
}

}  // namespace coco::kbs
