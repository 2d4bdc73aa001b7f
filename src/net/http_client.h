// A blocking HTTP/1.1 client (plain or TLS) for everything coco fetches from a peer it does not
// trust to behave: the key broker, registries, PCCS. Every exchange is bounded before anything
// is kept: the response header in bytes (it is parsed as it arrives, so an endless header stops
// at the limit), the body by the caller (a callback that may stop it, or a byte limit), and the
// time, both without progress and in all. Connections are kept alive and reused per origin.
//
// Built on Boost.Beast over Asio and OpenSSL: header-only, so the pod's agent links no
// further shared library.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "base/stream.h"

namespace coco::net {

// Proxies, as the host tools take them from the environment: an http:// proxy (CONNECT tunnels
// for https targets, absolute-form requests for http ones), optionally with user:password.
struct ProxyConfig {
  std::string http;      // for http:// targets
  std::string https;     // for https:// targets
  std::string no_proxy;  // comma-separated: "*", host names (and their subdomains), IPs, CIDRs
  bool Empty() const { return http.empty() && https.empty(); }
};
// https_proxy/HTTPS_PROXY, http_proxy (lower case only: a CGI-set HTTP_PROXY is ignored, as
// libcurl does), all_proxy/ALL_PROXY for both, no_proxy/NO_PROXY.
ProxyConfig ProxyConfigFromEnvironment();

struct HttpClientOptions {
  int connect_timeout_secs = 10;
  // Longest wait for any progress (a byte read or written); a stalled peer fails after this.
  int io_timeout_secs = 30;
  // A body arriving slower than this, on average over io_timeout_secs, fails (0: no bound): a
  // trickle cannot keep a download alive forever.
  uint64_t low_speed_bytes_per_sec = 0;
  // Longest whole exchange (connect to last body byte); 0: none (large downloads with progress).
  int total_timeout_secs = 0;
  // Status line + response headers; more fails with kind TooLarge.
  size_t max_header_bytes = 64 * 1024;
  // Trust anchors for https: these PEM files, plus the system's store when system_trust is set
  // or no file is given.
  std::vector<std::string> ca_files;
  bool system_trust = true;
  std::string user_agent = "coco";
  int max_redirects = 10;
  // None by default: the pod's agent must reach only the peers its channel gives it.
  ProxyConfig proxy;
  size_t max_idle_per_origin = 8;
};

struct HttpHeaders {
  // Lower-case names, repeated headers in the order received.
  std::multimap<std::string, std::string> fields;
  // The last value of a header; empty if absent.
  std::string Get(const std::string& lower_name) const;
};

struct HttpCall {
  std::string method = "GET";
  std::string url;  // http:// or https://, with host[:port] and path
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;               // sent when body_reader is null (and for POST/PUT even empty)
  Reader* body_reader = nullptr;  // a streamed body of body_size bytes (not replayed)
  int64_t body_size = -1;
  bool verify_tls = true;
  bool follow_redirects = true;
  // Called once with the final response's status and headers (after redirects); false stops.
  std::function<bool(int status, const HttpHeaders& headers)> on_head;
  // Called with each piece of the final response's body; false stops. Unset: the body is kept
  // in HttpReply::body, up to max_body bytes (more fails with kind TooLarge).
  std::function<bool(const char* data, size_t len)> on_body;
  size_t max_body = 4 << 20;
};

struct HttpReply {
  int status = 0;
  HttpHeaders headers;
  std::string body;  // when HttpCall::on_body is unset
  std::string url;   // after redirects
};

// Errors: code Unavailable for the transport (cannot connect, TLS, reset, timeouts; the
// message says which), TooLarge for a header or kept body over its limit, Aborted when a
// callback returned false (its caller knows why), InvalidArgument for a bad URL or method.
class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Thread-safe: concurrent calls use separate connections.
  Result<HttpReply> Send(HttpCall& call);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The parts of an http(s) URL.
struct ParsedUrl {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  int port = 0;
  std::string target;  // path and query, at least "/"
  std::string Origin() const;
};
Result<ParsedUrl> ParseHttpUrl(const std::string& url);
// `location` (absolute, scheme-relative, or a path) resolved against `base`.
std::string ResolveLocation(const ParsedUrl& base, const std::string& location);

}  // namespace coco::net
