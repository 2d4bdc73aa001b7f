// HTTP(S) transport for the broker (cpp-httplib): maps requests to Broker::Handle, enforces the
// body limit, logs one line per request.
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "kbs/broker.h"

namespace coco::kbs {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;       // 0 picks a free port
  std::string tls_cert;  // PEM; HTTPS when both are set
  std::string tls_key;
  size_t max_body_bytes = 2 * 1024 * 1024;
  int worker_threads = 64;  // connections served at once (keep-alive holds one)
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // Binds the socket; returns the bound port.
  virtual Result<int> Bind() = 0;
  // Serves until Stop() is called (from any thread or a signal-handling thread).
  virtual Status Serve() = 0;
  virtual void Stop() = 0;
};

// `broker` must outlive the server.
Result<std::unique_ptr<HttpServer>> NewHttpServer(const HttpOptions& options, Broker* broker);

// "HOST:PORT" → host, port.
Result<std::pair<std::string, int>> ParseListenAddress(const std::string& address);

}  // namespace coco::kbs
