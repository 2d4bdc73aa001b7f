// Whole-process comparison: `coco image pull --decryption-key` vs `skopeo copy --decryption-key`
// of the same JWE-encrypted ~256 MiB mixed-content gzip layer (~512 MiB of tar) from a real
// `docker-registry` on 127.0.0.1, same machine, same run; plus, in-process, the single-core crypto
// bound of the decryption (AES-256-CTR + HMAC-SHA256 + SHA-256 over the ciphertext's size) and the
// peak RSS of the coco pull at two layer sizes.
//
//   build/bin/pull_decrypt_bench [--mib 256] [--runs 3] [--dir /dev/shm] [--coco build/bin/coco]
//                                [--rss-mib 64] [--keep]
//
// Everything (OCI layout, registry storage, keys, the stores pulled into) lives in a fresh
// directory under --dir (default /dev/shm: tmpfs, as in the guest; both tools write there).
// The bench computes every digest itself with OpenSSL, independently of the code under test.
// Exits non-zero when a child process fails; a missed target only prints "below target".
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mixed_layer.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "pull_decrypt_bench: %s\n", msg.c_str());
  std::exit(1);
}

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

using coco::bench::Hex;
using coco::bench::Sha256;

std::string Sha256Hex(const std::string& s) {
  Sha256 h;
  h.Update(s.data(), s.size());
  return h.HexFinish();
}

std::string Sha256File(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  Sha256 h;
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) h.Update(buf.data(), n);
  std::fclose(f);
  return h.HexFinish();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) Die("cannot write " + path);
}

// ---- The layer: the generator shared with unpack_bench (bench/mixed_layer.h) ----

using Layer = coco::bench::MixedLayer;

// Adds files until the gzip output reaches `target_gz_bytes` (about twice as much tar content).
Layer BuildLayer(const std::string& path, uint64_t target_gz_bytes, uint64_t seed) {
  return coco::bench::WriteMixedLayer(path, coco::bench::LayerTarget::kGzipBytes, target_gz_bytes,
                                      seed);
}

// Writes an OCI image layout DIR with one image tagged `tag` holding the layer.
Layer WriteLayout(const std::string& dir, const std::string& tag, uint64_t mib, uint64_t seed) {
  fs::create_directories(dir + "/blobs/sha256");
  std::string tmp = dir + "/layer.tmp";
  Layer l = BuildLayer(tmp, mib << 20, seed);
  fs::rename(tmp, dir + "/blobs/sha256/" + l.digest_hex);
  auto put = [&](const std::string& bytes) {
    std::string d = Sha256Hex(bytes);
    WriteFile(dir + "/blobs/sha256/" + d, bytes);
    return d;
  };
  json config = {{"architecture", "amd64"},
                 {"os", "linux"},
                 {"config", {{"Cmd", {"/bin/sh"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", {"sha256:" + l.diff_id_hex}}}}};
  std::string cfg = config.dump();
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                     {"digest", "sha256:" + put(cfg)},
                     {"size", cfg.size()}}},
                   {"layers",
                    {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                      {"digest", "sha256:" + l.digest_hex},
                      {"size", l.size}}}}};
  std::string m = manifest.dump();
  json index = {{"schemaVersion", 2},
                {"manifests",
                 {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"digest", "sha256:" + put(m)},
                   {"size", m.size()},
                   {"annotations", {{"org.opencontainers.image.ref.name", tag}}}}}}};
  WriteFile(dir + "/index.json", index.dump());
  WriteFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  return l;
}

// ---- Child processes ----

struct Run {
  double seconds = 0;
  long maxrss_kib = 0;
  int status = 0;
  double user = 0, sys = 0;
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

std::string Tail(const std::string& path) {
  std::ifstream in(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.size() > 2000 ? s.substr(s.size() - 2000) : s;
}

// Runs argv (stdout and stderr to `log`) and waits; wall time, rusage of that child.
Run Spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (null >= 0) dup2(null, 0);
    execv(args[0], args.data());
    _exit(127);
  }
  if (pid < 0) Die("fork failed");
  Run r;
  struct rusage ru {};
  wait4(pid, &r.status, 0, &ru);
  r.seconds = Since(t0);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  r.maxrss_kib = ru.ru_maxrss;
  r.user = secs(ru.ru_utime);
  r.sys = secs(ru.ru_stime);
  return r;
}

void CheckRun(const Run& r, const std::string& what, const std::string& log) {
  if (r.ok()) return;
  std::string how = WIFEXITED(r.status) ? "exited " + std::to_string(WEXITSTATUS(r.status))
                                        : "died of signal " + std::to_string(WTERMSIG(r.status));
  Die(what + " " + how + "; output:\n" + Tail(log));
}

pid_t g_registry = -1;
std::string g_tmp;  // removed at exit unless --keep

void StopRegistry() {
  if (g_registry > 0) {
    kill(g_registry, SIGTERM);
    int status = 0;
    waitpid(g_registry, &status, 0);
    g_registry = -1;
  }
}

void Cleanup() {
  StopRegistry();
  if (!g_tmp.empty()) {
    std::error_code ec;
    fs::remove_all(g_tmp, ec);
  }
}

void OnSignal(int sig) {
  if (g_registry > 0) kill(g_registry, SIGTERM);
  _exit(128 + sig);
}

int FreePort() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    Die("cannot find a free port");
  }
  close(s);
  return ntohs(a.sin_port);
}

// A plain HTTP/1.0 GET on 127.0.0.1:port; returns status and body (status 0: no connection).
std::pair<int, std::string> HttpGet(int port, const std::string& path,
                                    const std::string& extra_headers = "") {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(s);
    return {0, ""};
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\n" + extra_headers + "\r\n";
  if (write(s, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(s);
    return {0, ""};
  }
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = read(s, buf, sizeof(buf))) > 0) resp.append(buf, static_cast<size_t>(n));
  close(s);
  int status = 0;
  if (std::sscanf(resp.c_str(), "HTTP/%*d.%*d %d", &status) != 1) return {0, ""};
  auto body = resp.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : resp.substr(body + 4)};
}

// GETs `path` and discards the body: the registry's serving time over loopback, the floor under
// any pull. Returns the bytes received (headers included), 0 on failure.
uint64_t HttpGetDiscard(int port, const std::string& path) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  uint64_t total = 0;
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      write(s, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
    static std::vector<char> buf(1 << 20);
    ssize_t n;
    while ((n = read(s, buf.data(), buf.size())) > 0) total += static_cast<uint64_t>(n);
  }
  close(s);
  return total;
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

int StartRegistry(const std::string& dir) {
  fs::create_directories(dir + "/data");
  int port = FreePort();
  std::string cfg = dir + "/config.yml";
  WriteFile(cfg,
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            "storage:\n  filesystem:\n    rootdirectory: " +
                dir + "/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:" +
                std::to_string(port) + "\n");
  std::string log = dir + "/registry.log";
  g_registry = fork();
  if (g_registry == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execl("/usr/bin/docker-registry", "docker-registry", "serve", cfg.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  auto t0 = Clock::now();
  while (Since(t0) < 20) {
    int status = 0;
    if (waitpid(g_registry, &status, WNOHANG) == g_registry) {
      g_registry = -1;
      Die("docker-registry exited early; log:\n" + Tail(log));
    }
    if (HttpGet(port, "/v2/").first == 200) return port;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Die("docker-registry did not answer on 127.0.0.1:" + std::to_string(port) + "; log:\n" +
      Tail(log));
}

void GenerateRsaKey(const std::string& priv, const std::string& pub) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  if (key == nullptr) Die("RSA key generation failed");
  FILE* f = std::fopen(priv.c_str(), "w");
  FILE* g = std::fopen(pub.c_str(), "w");
  if (f == nullptr || g == nullptr ||
      PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_PUBKEY(g, key) != 1) {
    Die("cannot write the RSA key pair");
  }
  std::fclose(f);
  std::fclose(g);
  chmod(priv.c_str(), 0600);
  EVP_PKEY_free(key);
}

// ---- The in-process crypto bound ----

struct Bound {
  double all = 0;      // AES-256-CTR + HMAC-SHA256 + SHA-256: wall seconds, best of R
  double all_cpu = 0;  // the same pass in thread CPU seconds, best of R
  double aes = 0, hmac = 0, sha = 0;  // each alone, wall seconds, best of R
};

double ThreadCpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Decrypts `bytes` in 1 MiB chunks on one core the way a layer decryption must at least:
// AES-256-CTR, HMAC-SHA256 of the ciphertext, SHA-256 of the plaintext (the flags select parts).
// Returns wall seconds; `cpu` gets the thread's CPU seconds.
double CryptoPass(uint64_t bytes, bool aes, bool hmac, bool sha, double* cpu = nullptr) {
  constexpr size_t kChunk = 1 << 20;
  static std::vector<unsigned char> in(kChunk), out(kChunk);
  static bool filled = false;
  if (!filled) {
    RAND_bytes(in.data(), static_cast<int>(in.size()));
    filled = true;
  }
  unsigned char key[32], iv[16];
  RAND_bytes(key, sizeof(key));
  RAND_bytes(iv, sizeof(iv));
  auto t0 = Clock::now();
  double c0 = ThreadCpu();
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  EVP_DecryptInit_ex(c, EVP_aes_256_ctr(), nullptr, key, iv);
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* m = EVP_MAC_CTX_new(mac);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                         OSSL_PARAM_construct_end()};
  EVP_MAC_init(m, key, sizeof(key), params);
  Sha256 h;
  for (uint64_t done = 0; done < bytes;) {
    size_t k = static_cast<size_t>(std::min<uint64_t>(kChunk, bytes - done));
    if (hmac) EVP_MAC_update(m, in.data(), k);
    int len = 0;
    if (aes) EVP_DecryptUpdate(c, out.data(), &len, in.data(), static_cast<int>(k));
    if (sha) h.Update(out.data(), k);
    done += k;
  }
  unsigned char tag[32];
  size_t tag_len = 0;
  EVP_MAC_final(m, tag, &tag_len, sizeof(tag));
  h.HexFinish();
  double s = Since(t0);
  if (cpu != nullptr) *cpu = ThreadCpu() - c0;
  EVP_MAC_CTX_free(m);
  EVP_MAC_free(mac);
  EVP_CIPHER_CTX_free(c);
  return s;
}

Bound MeasureBound(uint64_t bytes, int runs) {
  Bound b{1e9, 1e9, 1e9, 1e9, 1e9};
  for (int i = 0; i < runs; ++i) {
    double cpu = 0;
    b.all = std::min(b.all, CryptoPass(bytes, true, true, true, &cpu));
    b.all_cpu = std::min(b.all_cpu, cpu);
    b.aes = std::min(b.aes, CryptoPass(bytes, true, false, false));
    b.hmac = std::min(b.hmac, CryptoPass(bytes, false, true, false));
    b.sha = std::min(b.sha, CryptoPass(bytes, false, false, true));
  }
  return b;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Image {
  std::string ref;      // docker://127.0.0.1:PORT/bench/NAME:v1
  Layer plain;          // the gzip layer before encryption
  std::string enc_hex;  // the encrypted layer's digest in the pushed manifest
  uint64_t enc_size = 0;
  double gen_s = 0, push_s = 0;
};

// Builds an OCI layout with a `mib` MiB layer, encrypts and pushes it with skopeo.
Image MakeImage(const std::string& tmp, const std::string& name, uint64_t mib, int port,
                const std::string& pub, uint64_t seed) {
  Image img;
  std::string layout = tmp + "/layout-" + name;
  auto t0 = Clock::now();
  img.plain = WriteLayout(layout, "v1", mib, seed);
  img.gen_s = Since(t0);
  img.ref = "docker://127.0.0.1:" + std::to_string(port) + "/bench/" + name + ":v1";
  std::string log = tmp + "/push-" + name + ".log";
  Run push = Spawn({"/usr/bin/skopeo", "--insecure-policy", "copy", "--encryption-key",
                    "jwe:" + pub, "--dest-tls-verify=false", "oci:" + layout + ":v1", img.ref},
                   log);
  CheckRun(push, "skopeo copy (encrypt + push)", log);
  img.push_s = push.seconds;
  auto [status, body] = HttpGet(port, "/v2/bench/" + name + "/manifests/v1",
                                "Accept: application/vnd.oci.image.manifest.v1+json, "
                                "application/vnd.docker.distribution.manifest.v2+json\r\n");
  json m = json::parse(body, nullptr, false);
  if (status != 200 || !m.is_object() || !m.contains("layers") || m["layers"].size() != 1) {
    Die("cannot read the pushed manifest of bench/" + name + " (HTTP " + std::to_string(status) +
        ")");
  }
  const json& l = m["layers"][0];
  std::string mt = l.value("mediaType", "");
  if (mt.size() < 10 || mt.substr(mt.size() - 10) != "+encrypted") {
    Die("the pushed layer is not encrypted (media type " + mt + ")");
  }
  img.enc_hex = l.value("digest", "").substr(7);
  img.enc_size = l.value("size", uint64_t{0});
  fs::remove_all(layout + "/blobs");  // the registry has it now; keep tmpfs use down
  return img;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"coco image pull --decryption-key vs skopeo copy --decryption-key, same run"};
  uint64_t mib = 256, rss_mib = 64;
  int runs = 3;
  std::string base = "/dev/shm", coco;
  bool keep = false;
  app.add_option("--mib", mib, "size of the gzip layer, MiB (about twice that of tar content)")
      ->capture_default_str();
  app.add_option("--runs", runs, "timed runs per tool (medians)")->capture_default_str();
  app.add_option("--dir", base, "where the temporary directory goes (same filesystem for both)")
      ->capture_default_str();
  app.add_option("--coco", coco, "coco binary (default: bin/coco beside this program)");
  app.add_option("--rss-mib", rss_mib, "second, smaller layer for the peak-RSS check (0 skips)")
      ->capture_default_str();
  app.add_flag("--keep", keep, "keep the temporary directory");
  CLI11_PARSE(app, argc, argv);
  if (runs < 1 || mib < 1) Die("--runs and --mib must be at least 1");
  if (coco.empty()) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    coco = (fs::path(exe).parent_path() / "coco").string();
  }
  if (access(coco.c_str(), X_OK) != 0) Die("no coco binary at " + coco + " (give --coco)");
  for (const char* tool : {"/usr/bin/skopeo", "/usr/bin/docker-registry"}) {
    if (access(tool, X_OK) != 0) Die(std::string(tool) + " is missing");
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);

  std::string tmpl = base + "/coco-pull-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) Die("cannot create a directory under " + base);
  const std::string tmp = tmpl;
  if (!keep) g_tmp = tmp;
  std::atexit(Cleanup);
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  std::string priv = tmp + "/priv.pem", pub = tmp + "/pub.pem";
  GenerateRsaKey(priv, pub);
  int port = StartRegistry(tmp + "/registry");
  std::printf("machine: %u cores; temp dir %s; registry 127.0.0.1:%d; coco %s\n",
              std::thread::hardware_concurrency(), tmp.c_str(), port, coco.c_str());

  Image img = MakeImage(tmp, "enc", mib, port, pub, 20240601);
  std::printf(
      "layer: %.1f MiB tar -> %.1f MiB gzip (built in %.1f s), encrypted %.1f MiB\n"
      "skopeo encrypt + push (JWE, RSA-2048): %.3f s (information)\n",
      img.plain.tar_size / 1048576.0, img.plain.size / 1048576.0, img.gen_s,
      img.enc_size / 1048576.0, img.push_s);
  Image small;
  if (rss_mib > 0) {
    small = MakeImage(tmp, "enc-small", rss_mib, port, pub, 7);
    std::printf("second layer for the RSS check: %.1f MiB tar -> encrypted %.1f MiB\n",
                small.plain.tar_size / 1048576.0, small.enc_size / 1048576.0);
  }

  // One untimed pull of each so the first timed run does not pay for cold caches alone.
  int seq = 0;
  auto coco_pull = [&](const Image& im, bool verify) {
    std::string store = tmp + "/coco-store-" + std::to_string(seq++);
    std::string log = store + ".log";
    Run r = Spawn({coco, "image", "pull", im.ref, "--decryption-key", priv, "--store", store}, log);
    CheckRun(r, "coco image pull", log);
    if (verify) {
      std::string blob = store + "/blobs/sha256/" + im.plain.digest_hex;
      std::string got = Sha256File(blob);
      if (got != im.plain.digest_hex) {
        Die("after coco image pull, " + blob + " " +
            (got.empty() ? "is missing" : "hashes to sha256:" + got) +
            "; the layer was sha256:" + im.plain.digest_hex);
      }
    }
    fs::remove_all(store);
    fs::remove(log);
    return r;
  };
  auto skopeo_pull = [&](const Image& im, bool verify) {
    std::string dest = tmp + "/skopeo-oci-" + std::to_string(seq++);
    std::string log = dest + ".log";
    Run r = Spawn({"/usr/bin/skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                   "--decryption-key", priv, im.ref, "oci:" + dest + ":v1"},
                  log);
    CheckRun(r, "skopeo copy (pull + decrypt)", log);
    if (verify &&
        Sha256File(dest + "/blobs/sha256/" + im.plain.digest_hex) != im.plain.digest_hex) {
      Die("skopeo's decrypted layer differs from the original");
    }
    fs::remove_all(dest);
    fs::remove(log);
    return r;
  };
  coco_pull(img, true);
  skopeo_pull(img, true);
  std::printf(
      "correctness: coco's store holds blobs/sha256/%.12s... and its sha256 matches the "
      "original layer (skopeo's too)\n\n",
      img.plain.digest_hex.c_str());

  std::string blob_path = "/v2/bench/enc/blobs/sha256:" + img.enc_hex;
  std::vector<double> coco_t, skopeo_t, coco_cpu, skopeo_cpu, floor_t;
  long coco_rss = 0;
  std::string load_before = LoadAvg();
  for (int i = 0; i < runs; ++i) {
    Run c, s;
    if (i % 2 == 0) {
      c = coco_pull(img, false);
      s = skopeo_pull(img, false);
    } else {
      s = skopeo_pull(img, false);
      c = coco_pull(img, false);
    }
    auto t0 = Clock::now();
    if (HttpGetDiscard(port, blob_path) < img.enc_size) Die("GET of the encrypted blob failed");
    floor_t.push_back(Since(t0));
    coco_t.push_back(c.seconds);
    skopeo_t.push_back(s.seconds);
    coco_cpu.push_back(c.user + c.sys);
    skopeo_cpu.push_back(s.user + s.sys);
    coco_rss = std::max(coco_rss, c.maxrss_kib);
    std::printf(
        "run %d (%s first): coco %.3f s (cpu user %.2f sys %.2f, RSS %.1f MiB), "
        "skopeo %.3f s (cpu user %.2f sys %.2f), blob GET %.3f s\n",
        i + 1, i % 2 == 0 ? "coco" : "skopeo", c.seconds, c.user, c.sys, c.maxrss_kib / 1024.0,
        s.seconds, s.user, s.sys, floor_t.back());
  }
  long small_rss = 0;
  double small_t = 0;
  if (rss_mib > 0) {
    Run r = coco_pull(small, true);
    small_rss = r.maxrss_kib;
    small_t = r.seconds;
  }

  Bound b = MeasureBound(img.enc_size, runs);
  double mc = Median(coco_t), ms = Median(skopeo_t), mf = Median(floor_t);
  double cc = Median(coco_cpu);
  double enc_mib = img.enc_size / 1048576.0;
  auto tput = [&](double s) { return enc_mib / s; };

  std::printf(
      "\nencrypted layer %.1f MiB (%llu bytes); medians of %d runs, alternating order; "
      "load average %s before the runs, %s after\n",
      enc_mib, static_cast<unsigned long long>(img.enc_size), runs, load_before.c_str(),
      LoadAvg().c_str());
  std::printf("%-48s %9s %8s %9s %9s\n", "", "wall", "MiB/s", "cpu", "peak RSS");
  std::printf("%-48s %7.3f s %8.0f %7.2f s %5.1f MiB\n", "coco image pull --decryption-key", mc,
              tput(mc), cc, coco_rss / 1024.0);
  std::printf("%-48s %7.3f s %8.0f %7.2f s\n", "skopeo copy --decryption-key (to oci:)", ms,
              tput(ms), Median(skopeo_cpu));
  std::printf("%-48s %7.3f s %8.0f\n", "registry GET of the blob, discarded (floor)", mf, tput(mf));
  std::printf("%-48s %7.3f s %8.0f %7.2f s\n", "crypto bound, 1 core: AES-CTR + HMAC + SHA-256",
              b.all, tput(b.all), b.all_cpu);
  std::printf("%-48s %7.3f s %8.0f\n", "  AES-256-CTR alone", b.aes, tput(b.aes));
  std::printf("%-48s %7.3f s %8.0f\n", "  HMAC-SHA256 alone", b.hmac, tput(b.hmac));
  std::printf("%-48s %7.3f s %8.0f\n", "  SHA-256 alone", b.sha, tput(b.sha));

  double ratio = ms / mc, pct = 100.0 * b.all / mc;
  auto verdict = [](bool ok) { return ok ? "" : "  below target"; };
  std::printf("\nspeedup skopeo/coco: %.2fx (target >= 5x)%s\n", ratio, verdict(ratio >= 5));
  std::printf("coco pull throughput: %.1f %% of the 1-core crypto bound (target >= 50 %%)%s\n", pct,
              verdict(pct >= 50));
  std::printf("coco CPU efficiency (bound CPU / coco user+sys, information): %.1f %%\n",
              100.0 * b.all_cpu / cc);
  std::printf("coco pull peak RSS: %.1f MiB with the %.1f MiB encrypted layer", coco_rss / 1024.0,
              enc_mib);
  if (rss_mib > 0) {
    std::printf(", %.1f MiB with the %.1f MiB one (%.3f s)", small_rss / 1024.0,
                small.enc_size / 1048576.0, small_t);
  }
  bool rss_ok = std::max(coco_rss, small_rss) <= 64 * 1024;
  std::printf(" (target <= 64 MiB)%s\n", verdict(rss_ok));

  if (keep) std::printf("kept %s\n", tmp.c_str());
  return 0;  // Cleanup() stops the registry and removes the directory
}
