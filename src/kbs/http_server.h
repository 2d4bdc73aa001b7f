// HTTP(S) transport for the broker: an event-driven server (Boost.Beast on Asio) that maps
// requests to Broker::Handle on a fixed pool of handler threads.
//
// Built to hold against hostile clients: a connection costs a few kilobytes and no thread while it
// waits, so slow clients cannot exhaust anything a legitimate guest needs. Every request has one
// deadline for its whole header and one for its whole body (bytes that trickle in do not extend
// them); header and body sizes are capped; connections are capped in total and per client
// address; and when the handler queue is full the answer is 503 with Retry-After instead of a
// timeout. Every refusal is counted per endpoint (kbs_http_refused_total).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"
#include "kbs/broker.h"

namespace coco::kbs {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;       // 0 picks a free port
  std::string tls_cert;  // PEM; HTTPS when both are set
  std::string tls_key;
  size_t max_body_bytes = 2 * 1024 * 1024;  // 413 above
  size_t max_header_bytes = 16 * 1024;      // request line + headers; 431 above
  int header_timeout_secs = 10;   // the whole header (and a TLS handshake, and keep-alive idle)
  int body_timeout_secs = 30;     // the whole body
  int write_timeout_secs = 30;    // the whole response
  int worker_threads = 64;        // requests handled at once (attestation, storage)
  size_t max_pending_requests = 1024;     // queued for a handler; 503 + Retry-After above
  size_t max_connections = 8192;          // open connections in all; 503 above
  size_t max_connections_per_client = 1024;  // open connections from one address; 503 above
  int io_threads = 1;                     // threads reading and writing sockets
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds the socket; returns the bound port.
  virtual Result<int> Bind() = 0;
  // Serves until Stop() is called (from any thread or a signal-handling thread). Stop closes
  // the listener, lets the requests already read be answered (at most 5 s), then Serve returns.
  virtual Status Serve() = 0;
  virtual void Stop() = 0;
};

// `broker` must outlive the server.
Result<std::unique_ptr<HttpServer>> NewHttpServer(const HttpOptions& options, Broker* broker);

// "HOST:PORT" → host, port.
Result<std::pair<std::string, int>> ParseListenAddress(const std::string& address);

// Parses one HTTP/1.x request from `bytes` with the server's limits and conversions, as a
// connection would (the fuzz target's entry point). Errors name the parse failure.
Result<Request> ParseRequestBytes(std::string_view bytes, const HttpOptions& options);

// The metrics label of a request path: healthz, metrics, jwks, auth, attest, resource, admin, other.
std::string RouteLabel(const std::string& path);

}  // namespace coco::kbs
