#include "kbs/http_server.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/log.h"

namespace coco::kbs {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using ErrorCode = boost::system::error_code;

// A fixed set of threads running broker handlers from a bounded queue.
class WorkerPool {
 public:
  WorkerPool(int threads, size_t max_queue) : max_queue_(max_queue) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Stop(); }

  // False when the queue is full (the caller answers 503) or the pool has stopped.
  bool TrySubmit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_ || queue_.size() >= max_queue_) return false;
      queue_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
  }

  // Finishes the jobs running now, drops the queued ones, joins the threads. Idempotent.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopped_ = true;
      queue_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  void Run() {
    while (true) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return stopped_ || !queue_.empty(); });
        if (stopped_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job();
    }
  }

  const size_t max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
};

// What every connection shares; kept alive by the connections themselves.
struct ServerState {
  ServerState(const HttpOptions& o, Broker* b)
      : options(o), broker(b), pool(std::max(1, o.worker_threads), o.max_pending_requests) {}

  // Counts a new connection from `client`; false if a limit is reached (`why` says which).
  bool Admit(const std::string& client, std::string* why) {
    std::lock_guard<std::mutex> lock(mu);
    if (connections >= options.max_connections) {
      *why =
          "too many connections (max_connections " + std::to_string(options.max_connections) + ")";
      return false;
    }
    size_t& mine = per_client[client];
    if (mine >= options.max_connections_per_client) {
      *why = "too many connections from " + client + " (max_connections_per_client " +
             std::to_string(options.max_connections_per_client) + ")";
      return false;
    }
    ++mine;
    ++connections;
    broker->metrics().SetConnections(connections);
    return true;
  }
  void Release(const std::string& client) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = per_client.find(client);
    if (it != per_client.end() && --it->second == 0) per_client.erase(it);
    --connections;
    broker->metrics().SetConnections(connections);
  }

  const HttpOptions options;
  Broker* const broker;
  WorkerPool pool;
  // Requests read and not yet answered; a stopping server waits for them.
  std::atomic<size_t> in_flight{0};
  std::atomic<bool> draining{false};
  std::mutex mu;
  size_t connections = 0;
  std::map<std::string, size_t> per_client;
};

std::string PercentDecode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

using Parser = http::request_parser<http::string_body>;

void ApplyLimits(Parser& parser, const HttpOptions& o) {
  parser.header_limit(static_cast<std::uint32_t>(o.max_header_bytes));
  parser.body_limit(o.max_body_bytes);
}

// The broker's view of a request: percent-decoded path without the query, lower-case header
// names (the last of repeated headers wins).
Request ToBrokerRequest(http::request<http::string_body>&& req) {
  Request r;
  r.method = std::string(req.method_string());
  std::string target(req.target());
  r.path = PercentDecode(target.substr(0, target.find('?')));
  for (const auto& field : req) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    r.headers[name] = std::string(field.value());
  }
  r.body = std::move(req.body());
  return r;
}

Response TransportError(int status, Variant variant, const std::string& detail) {
  Response r;
  r.status = status;
  r.body = ErrorBody(variant, detail);
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

template <class Stream>
class Connection : public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  Connection(Stream stream, std::shared_ptr<ServerState> state, std::string client)
      : stream_(std::move(stream)), state_(std::move(state)), client_(std::move(client)) {}
  ~Connection() {
    Answered();
    state_->Release(client_);
  }

  void Start() {
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::seconds(Opt().header_timeout_secs));
      stream_.async_handshake(net::ssl::stream_base::server,
                              [self = this->shared_from_this()](ErrorCode ec) {
                                if (ec) return self->Refused("other", "tls_handshake");
                                self->ReadHeader();
                              });
    } else {
      ReadHeader();
    }
  }

 private:
  const HttpOptions& Opt() const { return state_->options; }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void ReadHeader() {
    parser_.emplace();
    ApplyLimits(*parser_, Opt());
    // One deadline for the whole header, set once: a byte every few seconds does not extend it.
    Lowest().expires_after(std::chrono::seconds(Opt().header_timeout_secs));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](ErrorCode ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(ErrorCode ec) {
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::connection_reset)
      return;  // the client closed between requests
    if (ec == beast::error::timeout) {
      // An idle keep-alive connection is closed quietly; a header that did not finish is a
      // refusal worth counting.
      if (buffer_.size() > 0 || parser_->got_some()) Refused("other", "header_timeout");
      return;
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      Refused("other", "header_too_large");
      return Reply(TransportError(431, Variant::kHttpFailed,
                                  "request header exceeds " +
                                      std::to_string(Opt().max_header_bytes) + " bytes"),
                   true);
    }
    if (ec == http::error::body_limit) return TooLarge();
    if (ec) {
      Refused("other", "bad_request");
      return Reply(
          TransportError(400, Variant::kHttpFailed, "malformed HTTP request: " + ec.message()),
          true);
    }
    auto& req = parser_->get();
    route_ = RouteLabel(std::string(req.target().substr(0, req.target().find('?'))));
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      continue_ = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      Lowest().expires_after(std::chrono::seconds(Opt().write_timeout_secs));
      return http::async_write(stream_, *continue_,
                               [self = this->shared_from_this()](ErrorCode ec, size_t) {
                                 if (!ec) self->ReadBody();
                               });
    }
    ReadBody();
  }

  void ReadBody() {
    Lowest().expires_after(std::chrono::seconds(Opt().body_timeout_secs));
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](ErrorCode ec, size_t) { self->OnBody(ec); });
  }

  void TooLarge() {
    Refused(route_.empty() ? "other" : route_, "body_too_large");
    Reply(
        TransportError(413, Variant::kPayloadTooLarge,
                       "request body exceeds the limit of " + std::to_string(Opt().max_body_bytes) +
                           " bytes (max_body_bytes / --max-body)"),
        true);
  }

  void OnBody(ErrorCode ec) {
    if (ec == http::error::body_limit) return TooLarge();
    if (ec == beast::error::timeout) return Refused(route_, "body_timeout");
    if (ec) return;  // the client went away
    Lowest().expires_never();
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    Request r = ToBrokerRequest(std::move(req));
    auto self = this->shared_from_this();
    auto start = std::chrono::steady_clock::now();
    ++state_->in_flight;
    answering_ = true;
    bool queued = state_->pool.TrySubmit([self, r = std::move(r), start]() mutable {
      Response out = self->state_->broker->Handle(r);
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", ms);
      log::Write(log::Level::kInfo, "request",
                 {{"method", r.method},
                  {"path", r.path},
                  {"status", std::to_string(out.status)},
                  {"ms", buf},
                  {"remote", self->client_}});
      net::post(self->stream_.get_executor(),
                [self, out = std::move(out)]() mutable { self->Reply(std::move(out), false); });
    });
    if (!queued) {
      Refused(route_, "overload");
      Reply(TransportError(503, Variant::kHttpFailed,
                           "the broker is busy (" + std::to_string(Opt().max_pending_requests) +
                               " requests queued); retry after 1 s"),
            false);
    }
  }

  void Reply(Response out, bool close) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(out.status), 11);
    res->set(http::field::server, "coco-kbs");
    res->set(http::field::content_type, out.content_type);
    for (const auto& [k, v] : out.headers) res->insert(k, v);
    res->body() = std::move(out.body);
    close = close || !keep_alive_ || state_->draining;
    res->keep_alive(!close);
    res->prepare_payload();
    response_ = res;
    Lowest().expires_after(std::chrono::seconds(Opt().write_timeout_secs));
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), close](ErrorCode ec, size_t) {
                        self->response_.reset();
                        self->Answered();
                        if (ec) return;
                        if (close) return self->Shutdown();
                        self->ReadHeader();
                      });
  }

  // The request read last has its answer written (or could not have it).
  void Answered() {
    if (answering_) {
      answering_ = false;
      --state_->in_flight;
    }
  }

  void Shutdown() {
    if constexpr (kTls) {
      Lowest().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](ErrorCode) {});
    } else {
      ErrorCode ignored;
      Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  void Refused(const std::string& route, const std::string& reason) {
    state_->broker->metrics().Refused(route, reason);
    log::Debug("request refused", {{"remote", client_}, {"reason", reason}});
  }

  Stream stream_;
  std::shared_ptr<ServerState> state_;
  std::string client_;
  beast::flat_buffer buffer_{64 * 1024};
  std::optional<Parser> parser_;
  std::shared_ptr<void> response_;
  std::shared_ptr<http::response<http::empty_body>> continue_;
  std::string route_;
  bool keep_alive_ = true;
  bool answering_ = false;  // counted in state_->in_flight
};

class BeastServer final : public HttpServer {
 public:
  BeastServer(const HttpOptions& o, Broker* broker)
      : state_(std::make_shared<ServerState>(o, broker)),
        acceptor_(ioc_),
        retry_(ioc_),
        drain_timer_(ioc_) {}

  ~BeastServer() override {
    state_->pool.Stop();  // no handler runs while the connections are torn down with the context
  }

  Status SetUpTls() {
    const auto& o = state_->options;
    if (o.tls_cert.empty()) return Status::Ok();
    tls_.emplace(net::ssl::context::tls_server);
    ErrorCode ec;
    tls_->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                      net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                      net::ssl::context::no_tlsv1_1);
    tls_->use_certificate_chain_file(o.tls_cert, ec);
    if (ec)
      return MakeError(Code::kInvalidArgument,
                       "TLS certificate " + o.tls_cert + ": " + ec.message());
    tls_->use_private_key_file(o.tls_key, net::ssl::context::pem, ec);
    if (ec) return MakeError(Code::kInvalidArgument, "TLS key " + o.tls_key + ": " + ec.message());
    return Status::Ok();
  }

  Result<int> Bind() override {
    const auto& o = state_->options;
    ErrorCode ec;
    tcp::endpoint ep;
    auto address = net::ip::make_address(o.host, ec);
    if (!ec) {
      ep = tcp::endpoint(address, static_cast<unsigned short>(o.port));
    } else {  // a host name: its first address
      tcp::resolver resolver(ioc_);
      auto found = resolver.resolve(o.host, std::to_string(o.port), ec);
      if (ec || found.empty())
        return MakeError(Code::kInvalidArgument, "listen host \"" + o.host + "\" does not resolve");
      ep = found.begin()->endpoint();
    }
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec)
      return MakeError(Code::kIo, "cannot bind " + o.host + ":" + std::to_string(o.port) + " (" +
                                      ec.message() + ")");
    return static_cast<int>(acceptor_.local_endpoint().port());
  }

  Status Serve() override {
    Accept();
    std::vector<std::thread> extra;
    for (int i = 1; i < std::max(1, state_->options.io_threads); ++i)
      extra.emplace_back([this] { ioc_.run(); });
    ioc_.run();
    for (auto& t : extra) t.join();
    return Status::Ok();
  }

  // Stops accepting, lets the requests read so far be answered (for at most kDrainLimit), then
  // ends Serve. Connections answered while draining are closed.
  void Stop() override {
    net::post(ioc_, [this] {
      if (state_->draining.exchange(true)) return;
      ErrorCode ignored;
      acceptor_.close(ignored);
      drain_deadline_ = std::chrono::steady_clock::now() + kDrainLimit;
      WaitForDrain();
    });
  }

 private:
  static constexpr auto kDrainLimit = std::chrono::seconds(5);

  void WaitForDrain() {
    if (state_->in_flight == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
      if (state_->in_flight != 0)
        log::Warn("stopping with requests unanswered",
                  {{"requests", std::to_string(state_->in_flight.load())}});
      return ioc_.stop();
    }
    drain_timer_.expires_after(std::chrono::milliseconds(10));
    drain_timer_.async_wait([this](ErrorCode) { WaitForDrain(); });
  }

  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](ErrorCode ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || state_->draining) return;
      if (ec) {
        // Out of descriptors (EMFILE) and the like: pause instead of spinning, then go on.
        log::Warn("accept failed", {{"reason", ec.message()}});
        retry_.expires_after(std::chrono::milliseconds(100));
        retry_.async_wait([this](ErrorCode) { Accept(); });
        return;
      }
      OnAccept(std::move(socket));
      Accept();
    });
  }

  void OnAccept(tcp::socket socket) {
    ErrorCode ec;
    auto remote = socket.remote_endpoint(ec);
    if (ec) return;
    std::string client = remote.address().to_string();
    std::string why;
    if (!state_->Admit(client, &why)) {
      state_->broker->metrics().Refused("connection", "too_many_connections");
      // A short canned answer, written without waiting: a client that does not read it loses it.
      std::string body = ErrorBody(Variant::kHttpFailed, why + "; retry later");
      std::string answer =
          "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
          "Content-Type: application/json\r\nConnection: close\r\n"
          "Content-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body;
      socket.non_blocking(true, ec);
      socket.send(net::buffer(answer), 0, ec);
      socket.close(ec);
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (tls_) {
      std::make_shared<Connection<beast::ssl_stream<beast::tcp_stream>>>(
          beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *tls_), state_,
          client)
          ->Start();
    } else {
      std::make_shared<Connection<beast::tcp_stream>>(beast::tcp_stream(std::move(socket)), state_,
                                                      client)
          ->Start();
    }
  }

  net::io_context ioc_;
  std::shared_ptr<ServerState> state_;
  std::optional<net::ssl::context> tls_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_;
  net::steady_timer drain_timer_;
  std::chrono::steady_clock::time_point drain_deadline_;
};

// Raises the soft descriptor limit to the hard one: every open connection is a descriptor.
void RaiseDescriptorLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

}  // namespace

Result<Request> ParseRequestBytes(std::string_view bytes, const HttpOptions& options) {
  Parser parser;
  ApplyLimits(parser, options);
  parser.eager(true);
  ErrorCode ec;
  size_t used = parser.put(net::buffer(bytes.data(), bytes.size()), ec);
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec) return MakeError(Code::kInvalidArgument, "HTTP request: " + ec.message());
  if (!parser.is_done() || used == 0)
    return MakeError(Code::kInvalidArgument, "HTTP request: incomplete");
  return ToBrokerRequest(parser.release());
}

std::string RouteLabel(const std::string& path) {
  if (path == "/healthz") return "healthz";
  if (path == "/metrics") return "metrics";
  if (path == "/.well-known/jwks.json") return "jwks";
  const std::string prefix = "/kbs/v0/";
  if (path.rfind(prefix, 0) != 0) return "other";
  std::string rest = path.substr(prefix.size());
  std::string first = rest.substr(0, rest.find('/'));
  if (first == "auth" || first == "attest" || first == "resource") return first;
  if (first == "resource-policy" || first == "attestation-policy" || first == "reference-value")
    return "admin";
  return "other";
}

Result<std::unique_ptr<HttpServer>> NewHttpServer(const HttpOptions& options, Broker* broker) {
  if (options.tls_cert.empty() != options.tls_key.empty())
    return MakeError(Code::kInvalidArgument, "HTTPS needs both a certificate and a key");
  RaiseDescriptorLimit();
  auto s = std::make_unique<BeastServer>(options, broker);
  COCO_RETURN_IF_ERROR(s->SetUpTls());
  return std::unique_ptr<HttpServer>(std::move(s));
}

Result<std::pair<std::string, int>> ParseListenAddress(const std::string& address) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return MakeError(Code::kInvalidArgument, "listen address \"" + address + "\" is not HOST:PORT");
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
    return MakeError(Code::kInvalidArgument, "listen address \"" + address + "\" has a bad port");
  return std::make_pair(host, port);
}

}  // namespace coco::kbs
