#include "kbs/http_server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>

#include "base/log.h"

namespace coco::kbs {
namespace {

class HttplibServer final : public HttpServer {
 public:
  HttplibServer(const HttpOptions& o, Broker* broker) : options_(o), broker_(broker) {
    if (!o.tls_cert.empty()) {
      server_ = std::make_unique<httplib::SSLServer>(o.tls_cert.c_str(), o.tls_key.c_str());
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    int threads = std::max(4, o.worker_threads);
    server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_->set_payload_max_length(o.max_body_bytes);
    server_->set_keep_alive_max_count(1000000);
    server_->set_keep_alive_timeout(5);
    server_->set_tcp_nodelay(true);
    server_->set_read_timeout(10, 0);
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Dispatch(req, res);
    };
    const std::string any = R"(/.*)";
    server_->Get(any, handler);
    server_->Post(any, handler);
    server_->Put(any, handler);
    server_->Delete(any, handler);
    // Errors raised by the transport itself (body over the limit, bad request line).
    server_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413) {
        res.set_content(ErrorBody({"PayloadTooLarge", "request body exceeds the limit of " +
                                                          std::to_string(options_.max_body_bytes) +
                                                          " bytes (max_body_bytes / --max-body)"}),
                        "application/json");
      } else {
        res.set_content(ErrorBody({"HTTPFailed", "HTTP error " + std::to_string(res.status)}),
                        "application/json");
      }
      log::Info(
          "request",
          {{"method", req.method}, {"path", req.path}, {"status", std::to_string(res.status)}});
    });
  }

  Result<int> Bind() override {
    int port = options_.port;
    if (port == 0) {
      port = server_->bind_to_any_port(options_.host);
      if (port <= 0) return MakeError("Io", "cannot bind " + options_.host + " to a free port");
    } else if (!server_->bind_to_port(options_.host, port)) {
      return MakeError("Io", "cannot bind " + options_.host + ":" + std::to_string(port) +
                                 " (in use, or not a local address)");
    }
    return port;
  }

  Status Serve() override {
    if (!server_->listen_after_bind()) return MakeError("Io", "HTTP server stopped with an error");
    return Status::Ok();
  }

  void Stop() override { server_->stop(); }

 private:
  void Dispatch(const httplib::Request& req, httplib::Response& res) {
    auto start = std::chrono::steady_clock::now();
    Request r;
    r.method = req.method;
    r.path = req.path;
    r.body = req.body;
    for (const auto& [k, v] : req.headers) {
      std::string name = k;
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      r.headers[name] = v;
    }
    Response out = broker_->Handle(r);
    res.status = out.status;
    for (const auto& [k, v] : out.headers) res.set_header(k, v);
    res.set_content(out.body, out.content_type);
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", ms);
    log::Write(log::Level::kInfo, "request",
               {{"method", r.method},
                {"path", r.path},
                {"status", std::to_string(out.status)},
                {"ms", buf},
                {"remote", req.remote_addr}});
  }

  HttpOptions options_;
  Broker* broker_;
  std::unique_ptr<httplib::Server> server_;
};

}  // namespace

Result<std::unique_ptr<HttpServer>> NewHttpServer(const HttpOptions& options, Broker* broker) {
  if (options.tls_cert.empty() != options.tls_key.empty())
    return MakeError("InvalidArgument", "HTTPS needs both a certificate and a key");
  auto s = std::make_unique<HttplibServer>(options, broker);
  return std::unique_ptr<HttpServer>(std::move(s));
}

Result<std::pair<std::string, int>> ParseListenAddress(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return MakeError("InvalidArgument", "listen address \"" + address + "\" is not HOST:PORT");
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = -1;
  try {
    size_t idx = 0;
    port = std::stoi(address.substr(colon + 1), &idx);
    if (idx != address.size() - colon - 1) port = -1;
  } catch (...) {
  }
  if (port < 0 || port > 65535)
    return MakeError("InvalidArgument", "listen address \"" + address + "\" has a bad port");
  return std::make_pair(host, port);
}

}  // namespace coco::kbs
