// coco-kbs: key broker + built-in attestation service + reference value store.
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "attestation/snp.h"
#include "attestation/tdx.h"
#include "attestation/tdx_collateral.h"
#include "attestation/tdx_collateral_pccs.h"
#include "attestation/tpm.h"
#include "attestation/verifier.h"
#include "base/file.h"
#include "base/log.h"
#include "kbs/admin_auth.h"
#include "kbs/broker.h"
#include "kbs/config.h"
#include "kbs/http_server.h"
#include "kbs/policy.h"
#include "kbs/storage.h"
#include "kbsclient/admin.h"

namespace coco::kbs {
namespace {

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int Fatal(const std::string& message) {
  std::cerr << "coco-kbs: " << message << "\n";
  return 1;
}

std::string DbPath(const std::string& dir) { return dir + "/kbs.db"; }

int Init(const std::string& dir, bool force, int token_days) {
  if (dir.empty()) return Fatal("init needs --data-dir DIR");
  std::string key_path = dir + "/admin-key.pem";
  if (std::filesystem::exists(key_path) && !force)
    return Fatal(dir + " is already initialised (" + key_path +
                 " exists); pass --force to replace the admin key and token");
  if (auto s = MakeDirs(dir, 0700); !s.ok()) return Fatal(s.error().message);
  auto storage = OpenSqliteStorage(DbPath(dir));
  if (!storage.ok()) return Fatal(storage.error().message);
  auto tokens = TokenIssuer::LoadOrCreate(storage->get());
  if (!tokens.ok()) return Fatal(tokens.error().message);
  auto key = crypto::Key::GenerateEd25519();
  if (!key.ok()) return Fatal(key.error().message);
  auto priv = key->PrivatePem();
  auto pub = key->PublicPem();
  if (!priv.ok() || !pub.ok()) return Fatal("cannot encode the admin key");
  auto token = kbsclient::MakeAdminToken(*key, "admin", NowUnix(), int64_t{token_days} * 24 * 3600);
  if (!token.ok()) return Fatal(token.error().message);
  for (auto [path, contents, mode] :
       {std::tuple{key_path, *priv, 0600u}, std::tuple{dir + "/admin-key.pub.pem", *pub, 0644u},
        std::tuple{dir + "/admin-token", *token + "\n", 0600u}}) {
    if (auto s = WriteFileAtomic(path, contents, mode); !s.ok()) return Fatal(s.error().message);
  }
  std::cout << "initialised " << dir << ":\n"
            << "  " << DbPath(dir) << "          database (resources, policies, reference values, "
            << "token signing key)\n"
            << "  " << key_path << "   admin private key (Ed25519) — keep it secret\n"
            << "  " << dir << "/admin-key.pub.pem   admin public key the broker trusts\n"
            << "  " << dir << "/admin-token     admin token (role admin, valid " << token_days
            << " days)\n"
            << "start the broker: coco-kbs --data-dir " << dir << "\n";
  return 0;
}

int ShowPolicy(const std::string& name) {
  if (name == "default_cpu") {
    std::cout << DefaultAttestationPolicyText();
  } else if (name == "affirming") {
    std::cout << AffirmingResourcePolicyText();
  } else if (name == "allow-all") {
    std::cout << AllowAllResourcePolicyText();
  } else if (name == "deny-all") {
    std::cout << DenyAllResourcePolicyText();
  } else {
    return Fatal("unknown policy \"" + name + "\" (default_cpu, affirming, allow-all, deny-all)");
  }
  return 0;
}

int Serve(Config config, const std::string& port_file) {
  log::SetJson(config.log_json);
  auto level = log::ParseLevel(config.log_level);
  if (!level)
    return Fatal("--log-level must be debug, info, warn or error, not " + config.log_level);
  log::SetLevel(*level);
  if (config.data_dir.empty())
    return Fatal("--data-dir DIR is required (run `coco-kbs init` first)");
  if (!std::filesystem::exists(DbPath(config.data_dir)))
    return Fatal(DbPath(config.data_dir) + " does not exist: run `coco-kbs init --data-dir " +
                 config.data_dir + "` first");
  StorageOptions so;
  so.max_bytes = config.max_database_bytes;
  auto storage = OpenSqliteStorage(DbPath(config.data_dir), so);
  if (!storage.ok()) return Fatal(storage.error().message);

  std::vector<std::string> key_files = config.admin_public_keys;
  if (key_files.empty()) key_files.push_back(config.data_dir + "/admin-key.pub.pem");
  std::vector<crypto::Key> admin_keys;
  for (const auto& f : key_files) {
    auto pem = ReadFile(f);
    if (!pem.ok()) {
      log::Warn("admin key not loaded: admin API refuses every request", {{"file", f}});
      continue;
    }
    auto k = crypto::Key::FromPem(*pem);
    if (!k.ok()) return Fatal("admin public key " + f + ": " + k.error().message);
    admin_keys.push_back(*k);
  }
  auto admin = AdminAuth::Create(admin_keys, config.admin_acl);
  if (!admin.ok()) return Fatal(admin.error().message);

  if (config.dev) {
    log::Warn(
        "!!! DEVELOPMENT MODE: the sample TEE is accepted. Sample evidence proves nothing; "
        "never run --dev where secrets matter !!!");
  }
  std::vector<std::unique_ptr<attestation::Verifier>> verifiers;
  verifiers.push_back(attestation::NewSampleVerifier());
  attestation::SnpVerifyOptions snp;
  snp.vcek_dir = config.snp_vcek_dir;
  snp.max_vmpl = static_cast<uint32_t>(config.snp_max_vmpl);
  verifiers.push_back(attestation::NewSnpVerifier(std::move(snp)));
  attestation::TdxVerifyOptions tdx;  // without collateral, TDX evidence is refused with why
  if (!config.tdx_collateral_dir.empty())
    tdx.collateral = attestation::NewTdxCollateralDir(config.tdx_collateral_dir, {});
  if (!config.tdx_pccs_url.empty()) {
    attestation::PccsOptions po;
    po.url = config.tdx_pccs_url;
    if (!config.tdx_pccs_ca_file.empty()) po.ca_files.push_back(config.tdx_pccs_ca_file);
    po.proxy = net::ProxyConfigFromEnvironment();
    auto pccs = attestation::NewTdxCollateralPccs(po, {});
    if (!pccs.ok()) return Fatal("tdx.pccs_url: " + pccs.error().message);
    tdx.collateral = std::move(*pccs);
  }
  verifiers.push_back(attestation::NewTdxVerifier(std::move(tdx)));
  attestation::TpmVerifyOptions tpm;
  for (const auto& f : config.tpm_trusted_aks) {
    auto pem = ReadFile(f);
    if (!pem.ok()) return Fatal("tpm.trusted_aks: " + pem.error().message);
    auto key = crypto::Key::FromPem(*pem);
    if (!key.ok()) return Fatal("tpm.trusted_aks: " + f + ": " + key.error().message);
    auto der = key->PublicDer();
    if (!der.ok()) return Fatal("tpm.trusted_aks: " + f + ": " + der.error().message);
    tpm.trusted_aks.push_back(*der);
  }
  verifiers.push_back(attestation::NewTpmVerifier(std::move(tpm)));
  BrokerOptions bo;
  bo.dev = config.dev;
  bo.session_timeout_secs = config.session_timeout_secs;
  bo.max_sessions = config.max_sessions;
  bo.token_lifetime_secs = config.token_lifetime_secs;
  bo.extra_teekey_paths = config.extra_teekey_paths;
  auto broker = Broker::Create(bo, storage->get(), std::move(*admin), std::move(verifiers));
  if (!broker.ok()) return Fatal(broker.error().message);

  auto addr = ParseListenAddress(config.listen);
  if (!addr.ok()) return Fatal(addr.error().message);
  HttpOptions ho;
  ho.host = addr->first;
  ho.port = addr->second;
  ho.tls_cert = config.tls_cert;
  ho.tls_key = config.tls_key;
  ho.max_body_bytes = config.max_body_bytes;
  ho.worker_threads = config.worker_threads;
  ho.header_timeout_secs = static_cast<int>(config.header_timeout_secs);
  ho.body_timeout_secs = static_cast<int>(config.body_timeout_secs);
  ho.max_header_bytes = config.max_header_bytes;
  ho.max_connections = config.max_connections;
  ho.max_connections_per_client = config.max_connections_per_client;
  ho.max_pending_requests = config.max_pending_requests;
  auto server = NewHttpServer(ho, broker->get());
  if (!server.ok()) return Fatal(server.error().message);
  auto port = (*server)->Bind();
  if (!port.ok()) return Fatal(port.error().message);
  if (!port_file.empty()) {
    if (auto s = WriteFileAtomic(port_file, std::to_string(*port) + "\n"); !s.ok())
      return Fatal(s.error().message);
  }
  std::string scheme = config.tls_cert.empty() ? "http" : "https";
  log::Info("coco-kbs listening", {{"url", scheme + "://" + ho.host + ":" + std::to_string(*port)},
                                   {"data_dir", config.data_dir},
                                   {"dev", config.dev ? "true" : "false"}});

  // Signals are blocked in every thread; one thread waits for them and stops the server.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  HttpServer* srv = server->get();
  std::thread waiter([set, srv] {
    int sig = 0;
    sigwait(&set, &sig);
    log::Info("stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    srv->Stop();
  });
  Status served = srv->Serve();
  if (waiter.joinable()) {
    // Serve may end without a signal (error): wake the waiter so it can exit.
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
  }
  if (!served.ok()) return Fatal(served.error().message);
  log::Info("stopped");
  return 0;
}

}  // namespace
}  // namespace coco::kbs

int main(int argc, char** argv) {
  using namespace coco::kbs;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  CLI::App app{
      "coco-kbs: the key broker (KBS), attestation service and reference value store of coco.\n"
      "Speaks the RCAR protocol 0.4.0 of CNCF Confidential Containers' Trustee.\n\n"
      "Quick start:\n"
      "  coco-kbs init --data-dir /var/lib/coco-kbs\n"
      "  coco-kbs --data-dir /var/lib/coco-kbs --listen 127.0.0.1:8080\n"
      "  coco kbs --url http://127.0.0.1:8080 --admin-token /var/lib/coco-kbs/admin-token \\\n"
      "      set-resource default/key/1 key.bin\n",
      "coco-kbs"};
  app.footer(ConfigReference());
  Config config;
  std::string config_file, port_file;
  app.add_option("--config", config_file, "TOML configuration file (keys below)")
      ->check(CLI::ExistingFile);
  auto* o_dir =
      app.add_option("--data-dir", config.data_dir, "directory of the database and admin keys");
  auto* o_listen =
      app.add_option("--listen", config.listen, "HOST:PORT to serve on")->capture_default_str();
  auto* o_dev =
      app.add_flag("--dev", config.dev, "development mode: accept the sample TEE (loud warning)");
  auto* o_cert = app.add_option("--tls-cert", config.tls_cert, "PEM certificate: serve HTTPS");
  auto* o_key = app.add_option("--tls-key", config.tls_key, "PEM private key for --tls-cert");
  auto* o_st =
      app.add_option("--session-timeout", config.session_timeout_secs, "session lifetime, seconds")
          ->capture_default_str();
  auto* o_tl = app.add_option("--token-lifetime", config.token_lifetime_secs,
                              "attestation token lifetime, seconds")
                   ->capture_default_str();
  auto* o_mb = app.add_option("--max-body", config.max_body_bytes, "request body limit, bytes")
                   ->capture_default_str();
  auto* o_ms = app.add_option("--max-sessions", config.max_sessions, "bound on live sessions")
                   ->capture_default_str();
  auto* o_ht = app.add_option("--header-timeout", config.header_timeout_secs,
                              "seconds a client has to send a whole request header")
                   ->capture_default_str();
  auto* o_lj = app.add_flag("--log-json", config.log_json, "log one JSON object per line");
  auto* o_ll = app.add_option("--log-level", config.log_level,
                              "debug, info (one line per request), warn or error")
                   ->capture_default_str();
  app.add_option("--port-file", port_file,
                 "write the bound port here once listening (with port 0)");

  auto* init = app.add_subcommand(
      "init", "create the database, token signing key, admin key pair and DIR/admin-token");
  std::string init_dir;
  bool force = false;
  int token_days = 365;
  init->add_option("--data-dir", init_dir, "directory to initialise")->required();
  init->add_flag("--force", force, "replace an existing admin key and token");
  init->add_option("--token-days", token_days, "admin token validity in days")
      ->capture_default_str();

  auto* show = app.add_subcommand(
      "show-policy", "print a built-in policy (default_cpu, affirming, allow-all, deny-all)");
  std::string policy_name = "default_cpu";
  show->add_option("name", policy_name, "policy name")->capture_default_str();
  app.require_subcommand(0, 1);

  CLI11_PARSE(app, argc, argv);
  if (init->parsed()) return Init(init_dir, force, token_days);
  if (show->parsed()) return ShowPolicy(policy_name);

  if (!config_file.empty()) {
    Config from_file;
    if (auto s = LoadConfigFile(config_file, &from_file); !s.ok()) {
      std::cerr << "coco-kbs: " << s.error().message << "\n";
      return 2;
    }
    // Flags given on the command line win over the file.
    Config flags = config;
    config = from_file;
    if (o_dir->count()) config.data_dir = flags.data_dir;
    if (o_listen->count()) config.listen = flags.listen;
    if (o_dev->count()) config.dev = true;
    if (o_cert->count()) config.tls_cert = flags.tls_cert;
    if (o_key->count()) config.tls_key = flags.tls_key;
    if (o_st->count()) config.session_timeout_secs = flags.session_timeout_secs;
    if (o_tl->count()) config.token_lifetime_secs = flags.token_lifetime_secs;
    if (o_mb->count()) config.max_body_bytes = flags.max_body_bytes;
    if (o_ms->count()) config.max_sessions = flags.max_sessions;
    if (o_lj->count()) config.log_json = true;
    if (o_ll->count()) config.log_level = flags.log_level;
    if (o_ht->count()) config.header_timeout_secs = flags.header_timeout_secs;
  }
  return Serve(config, port_file);
}
