// Prometheus metrics of the broker (text exposition format 0.0.4). Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>

namespace coco::kbs {

class Metrics {
 public:
  void ObserveRequest(const std::string& route, int status, double seconds);
  void Attestation(const std::string& tee, const std::string& outcome);  // success|failure
  void Release(const std::string& outcome);                              // released|denied|error
  void SetSessions(size_t n) { sessions_ = n; }
  void SetConnections(size_t n) { connections_ = n; }
  // A request or connection the transport refused: route as RouteLabel() names it (or
  // "connection"), reason e.g. overload, header_timeout, body_too_large, too_many_connections.
  void Refused(const std::string& route, const std::string& reason);
  std::string Render();

 private:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
  std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, uint64_t> attestations_;
  std::map<std::string, uint64_t> releases_;
  std::map<std::string, std::array<uint64_t, kBuckets.size() + 1>> latency_buckets_;
  std::map<std::string, double> latency_sum_;
  std::atomic<size_t> sessions_{0};
  std::atomic<size_t> connections_{0};
  std::map<std::pair<std::string, std::string>, uint64_t> refused_;
};

}  // namespace coco::kbs
