// Whole-process comparison: coco's layer unpack (oci::UnpackImage) vs `gzip -dc | tar -x` on the
// same ~256 MiB mixed-content tar.gz, same machine, same run. Prints medians, the ratio and the
// peak RSS of the coco unpack process.
//
//   unpack_bench [--mib N] [--runs R] [--dir D] [--zlib]
// D defaults to a fresh directory under /dev/shm (tmpfs, as in the guest, which has no disk; on
// this build machine's ext4 both tools are dominated by disk writeback and vary 2-10x run to run).
//   unpack_bench --unpack LAYER ROOT DIFF_ID [--zlib]   (the child process timed above)
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "mixed_layer.h"
#include "oci/unpack.h"

namespace {

using coco::oci::GzipBackend;

// Streams tar bytes into gzip (zlib level 6, as `gzip` and most image builders) and sha256.
// Writes the layer; returns its diff_id.
std::string BuildLayer(const std::string& path, uint64_t target_bytes) {
  auto layer = coco::bench::WriteMixedLayer(path, coco::bench::LayerTarget::kFileContentBytes,
                                            target_bytes, 20240601);
  return "sha256:" + layer.diff_id_hex;
}

struct Run {
  double seconds;
  long maxrss_kib;
  int status;
  double user, sys;
};

Run Spawn(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (auto& s : argv) args.push_back(const_cast<char*>(s.c_str()));
  args.push_back(nullptr);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return {s, ru.ru_maxrss, status, secs(ru.ru_utime), secs(ru.ru_stime)};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int UnpackChild(const std::string& layer, const std::string& root, const std::string& diff_id,
                bool zlib) {
  coco::oci::LayerSource src{[&]() { return coco::OpenFileReader(layer); },
                             "application/vnd.oci.image.layer.v1.tar+gzip", diff_id};
  coco::oci::UnpackOptions opt;
  if (zlib) opt.gzip = GzipBackend::kZlib;
  auto r = coco::oci::UnpackImage({src}, root, opt);
  if (!r.ok()) {
    fprintf(stderr, "unpack failed: %s\n", r.error().message.c_str());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bool zlib = std::find(args.begin(), args.end(), "--zlib") != args.end();
  if (args.size() >= 4 && args[0] == "--unpack")
    return UnpackChild(args[1], args[2], args[3], zlib);
  uint64_t mib = 256;
  int runs = 5;
  std::string dir;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--mib") mib = std::stoull(args[i + 1]);
    if (args[i] == "--runs") runs = std::stoi(args[i + 1]);
    if (args[i] == "--dir") dir = args[i + 1];
  }
  if (dir.empty()) {
    char tmpl[] = "/dev/shm/coco-unpack-bench-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    dir = tmpl;
  }
  mkdir(dir.c_str(), 0755);
  std::string layer = dir + "/layer.tar.gz", out = dir + "/out";
  auto t0 = std::chrono::steady_clock::now();
  std::string diff_id = BuildLayer(layer, mib << 20);
  struct stat st;
  stat(layer.c_str(), &st);
  printf("layer: %s, %.1f MiB gzip of %llu MiB tar content, built in %.1f s\n", layer.c_str(),
         st.st_size / 1048576.0, static_cast<unsigned long long>(mib),
         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  std::string self = "/proc/self/exe";
  char exe[4096];
  ssize_t n = readlink(self.c_str(), exe, sizeof(exe) - 1);
  exe[n > 0 ? n : 0] = '\0';
  // Remove the previous tree and flush dirty pages (untimed) so every run starts alike.
  auto clean = [&] {
    Spawn({"/bin/rm", "-rf", out});
    Spawn({"/bin/sync"});
  };
  std::vector<double> coco_t, tar_t;
  long rss = 0;
  for (int i = 0; i < runs; ++i) {
    clean();
    Run c = Spawn({exe, "--unpack", layer, out, diff_id, zlib ? "--zlib" : ""});
    if (c.status != 0) {
      fprintf(stderr, "coco unpack failed\n");
      return 1;
    }
    coco_t.push_back(c.seconds);
    rss = std::max(rss, c.maxrss_kib);
    clean();
    mkdir(out.c_str(), 0755);
    Run t = Spawn({"/bin/sh", "-c", "gzip -dc '" + layer + "' | tar -x -C '" + out + "'"});
    if (t.status != 0) {
      fprintf(stderr, "gzip | tar failed\n");
      return 1;
    }
    tar_t.push_back(t.seconds);
    printf("run %d: coco %.3f s (cpu user %.2f sys %.2f), gzip -dc | tar -x %.3f s\n", i + 1,
           c.seconds, c.user, c.sys, t.seconds);
  }
  clean();
  double mc = Median(coco_t), mt = Median(tar_t);
  printf("median: coco unpack (%s) %.3f s (%.0f MiB/s of tar), gzip -dc | tar -x %.3f s\n",
         zlib ? "zlib" : "isa-l", mc, mib / mc, mt);
  printf("speedup: %.2fx (target >= 1.5x)\n", mt / mc);
  printf("coco unpack peak RSS: %.1f MiB (target <= 64 MiB)\n", rss / 1024.0);
  if (!std::getenv("UNPACK_BENCH_KEEP")) {
    unlink(layer.c_str());
    rmdir(dir.c_str());
  } else {
    printf("kept %s (diff_id %s)\n", layer.c_str(), diff_id.c_str());
  }
  return 0;
}
