// Benchmark: complete RCAR flows per second (auth + attest + resource, JWE decrypted by the
// client) against a real coco-kbs process over loopback, with 1, 8 and 32 concurrent clients;
// p50/p99 flow latency; broker RSS after 10k and 100k flows; and, in the same run, the per-flow
// crypto bound measured in-process (ECDH P-256 + ES256 sign + ES256 verify + AES-256-GCM of the
// payload).
//
//   build/bin/kbs_flow_bench --kbs build/bin/coco-kbs [--flows 3000] [--rss-flows 100000]
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

#include "attestation/attester.h"
#include "attestation/runtime_data.h"
#include "base/bytes.h"
#include "base/file.h"
#include "crypto/crypto.h"
#include "jose/jwe.h"
#include "jose/jwk.h"
#include "jose/jwt.h"

namespace {

using Clock = std::chrono::steady_clock;
const std::string kSecret(64, 's');  // a 64-byte secret, like an image key with metadata

struct Broker {
  pid_t pid = -1;
  std::string url;
  int port = 0;
};

int Run(const std::vector<std::string>& argv, bool quiet = true) {
  pid_t pid = fork();
  if (pid == 0) {
    if (quiet) {
      FILE* f = freopen("/dev/null", "w", stdout);
      (void)f;
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Broker StartBroker(const std::string& kbs, const std::string& dir) {
  std::filesystem::remove_all(dir);
  if (Run({kbs, "init", "--data-dir", dir}) != 0) {
    std::cerr << "coco-kbs init failed\n";
    std::exit(1);
  }
  Broker b;
  std::string port_file = dir + "/port";
  b.pid = fork();
  if (b.pid == 0) {
    FILE* f = freopen((dir + "/kbs.log").c_str(), "w", stderr);
    (void)f;
    execl(kbs.c_str(), kbs.c_str(), "--data-dir", dir.c_str(), "--listen", "127.0.0.1:0",
          "--port-file", port_file.c_str(), "--dev", static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 200 && !std::filesystem::exists(port_file); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto port = coco::ReadFile(port_file);
  if (!port.ok()) {
    std::cerr << "coco-kbs did not start; see " << dir << "/kbs.log\n";
    kill(b.pid, SIGTERM);
    std::exit(1);
  }
  b.port = std::stoi(*port);
  b.url = "http://127.0.0.1:" + std::to_string(b.port);
  // Provision: reference values so the sample TEE is affirming, and the secret.
  auto token = coco::ReadFile(dir + "/admin-token");
  std::string bearer = "Bearer " + token->substr(0, token->find('\n'));
  httplib::Client c(b.url);
  nlohmann::json payload = {{"launch_digest", {"abcde"}},
                            {"svn", {"1"}},
                            {"major_version", {1}},
                            {"minimum_minor_version", {4}}};
  nlohmann::json msg = {{"version", "0.1.0"},
                        {"type", "sample"},
                        {"payload", coco::Base64Encode(coco::ToBytes(payload.dump()))}};
  httplib::Headers h = {{"Authorization", bearer}};
  auto r1 = c.Post("/kbs/v0/reference-value", h, msg.dump(), "application/json");
  auto r2 = c.Post("/kbs/v0/resource/bench/key/1", h, kSecret, "application/octet-stream");
  if (!r1 || r1->status != 200 || !r2 || r2->status != 200) {
    std::cerr << "provisioning the broker failed\n";
    kill(b.pid, SIGTERM);
    std::exit(1);
  }
  return b;
}

// CPU seconds (user + system) the process has used so far.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stod(f);
    if (i == 15) stime = std::stod(f);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

// One guest: a TEE key pair and a keep-alive connection. Flow() runs auth + attest + GET and
// decrypts the JWE; returns false on any failure.
class Guest {
 public:
  explicit Guest(const std::string& url) : http_(url) {
    http_.set_keep_alive(true);
    http_.set_tcp_nodelay(true);
    key_ = *coco::crypto::Key::GenerateEc(coco::crypto::Curve::kP256);
    jwk_ = *coco::jose::PublicJwk(*key_, "ECDH-ES+A256KW");
    attester_ = coco::attestation::NewSampleAttester();
  }

  bool Flow() {
    auto auth =
        http_.Post("/kbs/v0/auth", R"({"version":"0.4.0","tee":"sample","extra-params":""})",
                   "application/json");
    if (!auth || auth->status != 200) return Fail("auth", auth);
    std::string cookie = auth->get_header_value("Set-Cookie");
    cookie = cookie.substr(0, cookie.find(';'));
    std::string nonce = nlohmann::json::parse(auth->body)["nonce"];
    auto digest = coco::attestation::RuntimeDataDigest(
        coco::attestation::PrimaryRuntimeData(jwk_, nonce, ""));
    auto ev = attester_->GetEvidence(*digest);
    nlohmann::json att = {
        {"runtime-data", {{"nonce", nonce}, {"tee-pubkey", jwk_}}},
        {"tee-evidence", {{"primary_evidence", *ev}, {"additional_evidence", ""}}}};
    httplib::Headers h = {{"Cookie", cookie}};
    auto a = http_.Post("/kbs/v0/attest", h, att.dump(), "application/json");
    if (!a || a->status != 200) return Fail("attest", a);
    auto res = http_.Get("/kbs/v0/resource/bench/key/1", h);
    if (!res || res->status != 200) return Fail("resource", res);
    auto plain = coco::jose::JweDecrypt(nlohmann::json::parse(res->body), *key_);
    if (!plain.ok() || coco::ToString(plain->bytes()) != kSecret) {
      std::cerr << "decryption failed\n";
      return false;
    }
    return true;
  }

 private:
  bool Fail(const char* step, const httplib::Result& r) {
    std::cerr << step << " failed: "
              << (r ? std::to_string(r->status) + " " + r->body : httplib::to_string(r.error()))
              << "\n";
    return false;
  }
  httplib::Client http_;
  std::optional<coco::crypto::Key> key_;
  nlohmann::json jwk_;
  std::unique_ptr<coco::attestation::Attester> attester_;
};

struct RunResult {
  double flows_per_sec = 0;
  double p50_ms = 0, p99_ms = 0;
  long failures = 0;
};

// Runs `total_flows` flows spread over the guests, one thread per guest. Guests keep their
// connection between runs, as a warmed-up fleet would.
RunResult RunFlows(std::vector<std::unique_ptr<Guest>>& guests, long total_flows) {
  int clients = static_cast<int>(guests.size());
  std::atomic<long> next{0}, failures{0};
  std::vector<std::vector<double>> lat(clients);
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      Guest& g = *guests[t];
      while (next.fetch_add(1) < total_flows) {
        auto s = Clock::now();
        if (!g.Flow()) ++failures;
        lat[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
      }
    });
  }
  for (auto& th : threads) th.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  RunResult r;
  r.flows_per_sec = total_flows / secs;
  r.p50_ms = all[all.size() / 2];
  r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  r.failures = failures;
  return r;
}

// The crypto every flow needs at minimum, on one core: ECDH P-256 (with the ephemeral key
// generation JWE needs), one ES256 signature, one ES256 verification and AES-256-GCM of the
// payload.
double CryptoBoundPerCore(double seconds) {
  using namespace coco::crypto;
  Key peer = Key::GenerateEc(Curve::kP256)->PublicOnly();
  Key signer = *Key::GenerateEc(Curve::kP256);
  Key verifier = signer.PublicOnly();
  std::string msg(700, 'x');  // about the size of a token's signing input
  coco::Bytes cek = RandomBytes(32), iv = RandomBytes(12);
  long n = 0;
  auto start = Clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    Key eph = *Key::GenerateEc(Curve::kP256);
    auto z = EcdhDerive(eph, peer);
    auto sig = EcdsaSign(signer, msg);
    auto ok = EcdsaVerify(verifier, msg, *sig);
    auto sealed = AesGcmEncrypt(cek, iv, "aad", coco::ToBytes(kSecret));
    if (!z.ok() || !ok.ok() || !sealed.ok()) std::abort();
    ++n;
    if (n % 64 == 0) elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  return n / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"RCAR flow throughput of coco-kbs over loopback vs the in-process crypto bound"};
  std::string kbs = "build/bin/coco-kbs";
  long flows = 3000, rss_flows = 100000;
  std::string dir = "/tmp/coco-kbs-bench." + std::to_string(getpid());
  app.add_option("--kbs", kbs, "coco-kbs binary")->capture_default_str();
  app.add_option("--flows", flows, "flows per concurrency level")->capture_default_str();
  app.add_option("--rss-flows", rss_flows, "flows for the RSS check (0 skips it)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  signal(SIGPIPE, SIG_IGN);

  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("machine: %u cores; payload %zu bytes; key EC P-256 (ECDH-ES+A256KW)\n", cores,
              kSecret.size());
  double bound_core = CryptoBoundPerCore(2.0);
  double bound = bound_core * cores;
  std::printf(
      "crypto bound (ECDH + ES256 sign + ES256 verify + AES-GCM), in-process: %.0f "
      "flows/s on one core (%.0f us/flow), %.0f flows/s on %u cores\n"
      "client and broker share this machine's cores; 'kbs eff.' compares the broker's own "
      "CPU time per flow with the bound's\n\n",
      bound_core, 1e6 / bound_core, bound, cores);

  Broker b = StartBroker(kbs, dir);
  std::printf("%-8s %9s %8s %8s %11s %13s %12s %9s\n", "clients", "flows/s", "p50 ms", "p99 ms",
              "%1-core bnd", "kbs CPU/flow", "kbs eff.", "failures");
  for (int clients : {1, 8, 32}) {
    std::vector<std::unique_ptr<Guest>> guests;
    for (int i = 0; i < clients; ++i) guests.push_back(std::make_unique<Guest>(b.url));
    RunFlows(guests, std::min<long>(flows / 10, 300));  // warm-up: connections, caches
    double cpu0 = CpuSeconds(b.pid);
    RunResult r = RunFlows(guests, flows);
    double cpu_us = 1e6 * (CpuSeconds(b.pid) - cpu0) / flows;
    // kbs eff.: the crypto bound's time per flow over the broker's CPU time per flow.
    std::printf("%-8d %9.0f %8.2f %8.2f %10.1f%% %10.0f us %11.1f%% %9ld\n", clients,
                r.flows_per_sec, r.p50_ms, r.p99_ms, 100.0 * r.flows_per_sec / bound_core, cpu_us,
                100.0 * (1e6 / bound_core) / cpu_us, r.failures);
    std::fflush(stdout);
  }
  if (rss_flows > 0) {
    std::vector<std::unique_ptr<Guest>> guests;
    for (int i = 0; i < 8; ++i) guests.push_back(std::make_unique<Guest>(b.url));
    long first = std::min<long>(10000, rss_flows);
    RunFlows(guests, first);
    long rss10 = RssKiB(b.pid);
    RunFlows(guests, rss_flows - first);
    long rss100 = RssKiB(b.pid);
    std::printf("\nbroker RSS after %ld flows: %ld KiB; after %ld flows: %ld KiB (%+.1f%%)\n",
                first, rss10, rss_flows, rss100, 100.0 * (rss100 - rss10) / rss10);
  }
  kill(b.pid, SIGTERM);
  int status = 0;
  waitpid(b.pid, &status, 0);
  std::filesystem::remove_all(dir);
  return 0;
}
