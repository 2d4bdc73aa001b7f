#include "kbs/metrics.h"

#include <sstream>

namespace coco::kbs {

void Metrics::ObserveRequest(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
  auto& b = latency_buckets_[route];
  size_t i = 0;
  while (i < kBuckets.size() && seconds > kBuckets[i]) ++i;
  ++b[i];
  latency_sum_[route] += seconds;
}

void Metrics::Attestation(const std::string& tee, const std::string& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  ++attestations_[{tee, outcome}];
}

void Metrics::Release(const std::string& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  ++releases_[outcome];
}

void Metrics::Refused(const std::string& route, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  ++refused_[{route, reason}];
}

std::string Metrics::Render() {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream o;
  o << "# HELP kbs_http_requests_total HTTP requests by route and status.\n"
       "# TYPE kbs_http_requests_total counter\n";
  for (const auto& [k, v] : requests_)
    o << "kbs_http_requests_total{route=\"" << k.first << "\",status=\"" << k.second << "\"} " << v
      << "\n";
  o << "# HELP kbs_attestation_total Attestations by TEE and outcome.\n"
       "# TYPE kbs_attestation_total counter\n";
  for (const auto& [k, v] : attestations_)
    o << "kbs_attestation_total{tee_type=\"" << k.first << "\",outcome=\"" << k.second << "\"} "
      << v << "\n";
  o << "# HELP kbs_resource_releases_total Resource requests by outcome.\n"
       "# TYPE kbs_resource_releases_total counter\n";
  for (const auto& [k, v] : releases_)
    o << "kbs_resource_releases_total{outcome=\"" << k << "\"} " << v << "\n";
  o << "# HELP kbs_sessions Attested RCAR sessions (and attestations in progress) remembered.\n"
       "# TYPE kbs_sessions gauge\nkbs_sessions "
    << sessions_.load() << "\n";
  o << "# HELP kbs_http_connections Open HTTP connections.\n# TYPE kbs_http_connections gauge\n"
       "kbs_http_connections "
    << connections_.load() << "\n";
  o << "# HELP kbs_http_refused_total Requests and connections refused by the transport, by route "
       "and reason.\n# TYPE kbs_http_refused_total counter\n";
  for (const auto& [k, v] : refused_)
    o << "kbs_http_refused_total{route=\"" << k.first << "\",reason=\"" << k.second << "\"} " << v
      << "\n";
  o << "# HELP kbs_http_request_duration_seconds Request latency by route.\n"
       "# TYPE kbs_http_request_duration_seconds histogram\n";
  for (const auto& [route, b] : latency_buckets_) {
    uint64_t cum = 0;
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cum += b[i];
      o << "kbs_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\"" << kBuckets[i]
        << "\"} " << cum << "\n";
    }
    cum += b[kBuckets.size()];
    o << "kbs_http_request_duration_seconds_bucket{route=\"" << route << "\",le=\"+Inf\"} " << cum
      << "\n";
    o << "kbs_http_request_duration_seconds_sum{route=\"" << route << "\"} " << latency_sum_[route]
      << "\n";
    o << "kbs_http_request_duration_seconds_count{route=\"" << route << "\"} " << cum << "\n";
  }
  return o.str();
}

}  // namespace coco::kbs
