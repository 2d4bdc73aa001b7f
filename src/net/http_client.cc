#include "net/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>

#include "base/bytes.h"

namespace coco::net {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;
using Clock = std::chrono::steady_clock;

std::string HttpHeaders::Get(const std::string& lower_name) const {
  auto it = fields.upper_bound(lower_name);
  if (it == fields.begin()) return "";
  --it;
  return it->first == lower_name ? it->second : std::string();
}

std::string ParsedUrl::Origin() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(tls ? "https://" : "http://") + h + ":" + std::to_string(port);
}

Result<ParsedUrl> ParseHttpUrl(const std::string& url) {
  ParsedUrl u;
  size_t rest;
  if (url.rfind("http://", 0) == 0) {
    rest = 7;
  } else if (url.rfind("https://", 0) == 0) {
    u.tls = true;
    rest = 8;
  } else {
    return MakeError(Code::kInvalidArgument,
                     "URL \"" + url + "\" must start with http:// or https://");
  }
  size_t path = url.find_first_of("/?#", rest);
  std::string authority = url.substr(rest, path == std::string::npos ? path : path - rest);
  if (authority.find('@') != std::string::npos)
    return MakeError(Code::kInvalidArgument,
                     "URL \"" + url + "\": credentials in URLs are refused");
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos)
      return MakeError(Code::kInvalidArgument, "URL \"" + url + "\": unclosed [ in the host");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':')
        return MakeError(Code::kInvalidArgument, "URL \"" + url + "\": junk after the host");
      port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return MakeError(Code::kInvalidArgument, "URL \"" + url + "\" has no host");
  u.port = u.tls ? 443 : 80;
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) < 1 || std::stoi(port) > 65535)
      return MakeError(Code::kInvalidArgument, "URL \"" + url + "\": bad port \"" + port + "\"");
    u.port = std::stoi(port);
  }
  u.target = path == std::string::npos ? "/" : url.substr(path);
  if (u.target.empty() || u.target[0] != '/') u.target = "/" + u.target;
  size_t hash = u.target.find('#');
  if (hash != std::string::npos) u.target.resize(hash);
  return u;
}

std::string ResolveLocation(const ParsedUrl& base, const std::string& location) {
  if (location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0) return location;
  std::string origin =
      std::string(base.tls ? "https://" : "http://") +
      (base.host.find(':') != std::string::npos ? "[" + base.host + "]" : base.host) + ":" +
      std::to_string(base.port);
  if (location.rfind("//", 0) == 0) return std::string(base.tls ? "https:" : "http:") + location;
  if (!location.empty() && location[0] == '/') return origin + location;
  std::string dir = base.target.substr(0, base.target.find('?'));
  dir = dir.substr(0, dir.rfind('/') + 1);
  return origin + dir + location;
}

namespace {

// One connection with its own I/O context: every operation runs async with a deadline, and the
// calling thread runs the context until it completes.
struct Connection {
  asio::io_context ioc;
  std::optional<beast::tcp_stream> tcp;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool reused = false;
  // Through an http proxy to an http target: requests name the whole URL, with the proxy's
  // credentials.
  bool absolute_form = false;
  std::string proxy_authorization;

  beast::tcp_stream& Lowest() { return tls ? beast::get_lowest_layer(*tls) : *tcp; }

  // Runs the operation started by `start(handler)` to completion within `limit`.
  template <class Start>
  ErrorCode Run(std::chrono::milliseconds limit, Start&& start) {
    ErrorCode result = asio::error::would_block;
    Lowest().expires_after(limit);
    start([&result](ErrorCode ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }
};

std::string Describe(const ErrorCode& ec, const char* during) {
  if (ec == beast::error::timeout) return std::string("timed out ") + during;
  if (ec == asio::error::connection_refused) return "connection refused";
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated)
    return std::string("the connection closed ") + during;
  return std::string(during) + ": " + ec.message();
}

bool IsRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  auto hex = [](char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// An http proxy: where to connect, and the credentials to present.
struct Proxy {
  std::string host;
  int port = 0;
  std::string authorization;  // "Basic ..." or empty
  std::string display;        // http://host:port, without credentials (for messages)
};

Result<Proxy> ParseProxy(const std::string& text) {
  std::string url = text;
  while (!url.empty() && url.back() == '/') url.pop_back();
  size_t scheme = url.find("://");
  if (scheme != std::string::npos) {
    std::string name = Lower(url.substr(0, scheme));
    if (name != "http")
      return MakeError(
          Code::kInvalidArgument,
          "proxy \"" + text + "\": only http:// proxies are supported (" + name + ":// is not)");
    url = url.substr(scheme + 3);
  }
  Proxy p;
  size_t at = url.rfind('@');
  if (at != std::string::npos) {
    std::string userinfo = url.substr(0, at);
    size_t colon = userinfo.find(':');
    std::string user = PercentDecode(userinfo.substr(0, colon));
    std::string pass = colon == std::string::npos ? "" : PercentDecode(userinfo.substr(colon + 1));
    p.authorization = "Basic " + Base64Encode(ToBytes(user + ":" + pass));
    url = url.substr(at + 1);
  }
  if (url.find('/') != std::string::npos)
    return MakeError(Code::kInvalidArgument, "proxy \"" + text + "\": a proxy URL has no path");
  // The port defaults to 1080, as for libcurl.
  auto parsed = ParseHttpUrl(
      "http://" + url +
      (url.find(':') == std::string::npos || (url[0] == '[' && url.back() == ']') ? ":1080" : ""));
  if (!parsed.ok())
    return MakeError(Code::kInvalidArgument, "proxy \"" + text + "\": " + parsed.error().message);
  p.host = parsed->host;
  p.port = parsed->port;
  p.display = parsed->Origin();
  return p;
}

// Whether `host` (a name, or an address without brackets) is exempt from the proxy by a
// no_proxy list: "*", a name matching itself and its subdomains, an address, or a CIDR.
bool NoProxyMatches(const std::string& list, const std::string& raw_host) {
  std::string host = Lower(raw_host);
  while (!host.empty() && host.back() == '.') host.pop_back();
  ErrorCode ec;
  auto host_ip = asio::ip::make_address(host, ec);
  bool is_ip = !ec;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string entry = list.substr(start, comma == std::string::npos ? comma : comma - start);
    start = comma == std::string::npos ? list.size() + 1 : comma + 1;
    entry.erase(0, entry.find_first_not_of(" \t"));
    entry.erase(entry.find_last_not_of(" \t") + 1);
    entry = Lower(entry);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry.front() == '[' && entry.find(']') != std::string::npos)
      entry = entry.substr(1, entry.find(']') - 1);
    size_t slash = entry.find('/');
    if (slash != std::string::npos) {
      if (!is_ip) continue;
      auto net = asio::ip::make_address(entry.substr(0, slash), ec);
      if (ec || net.is_v4() != host_ip.is_v4()) continue;
      int bits = std::atoi(entry.c_str() + slash + 1);
      std::vector<unsigned char> a, b;
      if (net.is_v4()) {
        auto x = net.to_v4().to_bytes(), y = host_ip.to_v4().to_bytes();
        a.assign(x.begin(), x.end());
        b.assign(y.begin(), y.end());
      } else {
        auto x = net.to_v6().to_bytes(), y = host_ip.to_v6().to_bytes();
        a.assign(x.begin(), x.end());
        b.assign(y.begin(), y.end());
      }
      bits = std::clamp(bits, 0, static_cast<int>(a.size() * 8));
      bool same = true;
      for (int i = 0; i < bits && same; ++i)
        same = ((a[i / 8] >> (7 - i % 8)) & 1) == ((b[i / 8] >> (7 - i % 8)) & 1);
      if (same) return true;
      continue;
    }
    if (is_ip) {
      auto addr = asio::ip::make_address(entry, ec);
      if (!ec && addr == host_ip) return true;
      continue;
    }
    while (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (host == entry || (host.size() > entry.size() &&
                          host.compare(host.size() - entry.size(), entry.size(), entry) == 0 &&
                          host[host.size() - entry.size() - 1] == '.'))
      return true;
  }
  return false;
}

}  // namespace

ProxyConfig ProxyConfigFromEnvironment() {
  auto env = [](const char* lower, const char* upper) -> std::string {
    const char* v = std::getenv(lower);
    if ((v == nullptr || *v == '\0') && upper != nullptr) v = std::getenv(upper);
    return v == nullptr ? "" : v;
  };
  ProxyConfig p;
  std::string all = env("all_proxy", "ALL_PROXY");
  p.https = env("https_proxy", "HTTPS_PROXY");
  if (p.https.empty()) p.https = all;
  p.http = env("http_proxy", nullptr);
  if (p.http.empty()) p.http = all;
  p.no_proxy = env("no_proxy", "NO_PROXY");
  return p;
}

struct HttpClient::Impl {
  explicit Impl(HttpClientOptions o) : options(std::move(o)) {}

  Result<asio::ssl::context*> TlsContext(bool verify) {
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = verify ? verifying : trusting;
    if (slot) return slot.get();
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    ErrorCode ec;
    if (verify) {
      ctx->set_verify_mode(asio::ssl::verify_peer, ec);
      if (options.system_trust || options.ca_files.empty()) ctx->set_default_verify_paths(ec);
      for (const auto& f : options.ca_files) {
        ctx->load_verify_file(f, ec);
        if (ec) return MakeError(Code::kInvalidArgument, "CA file " + f + ": " + ec.message());
      }
    } else {
      ctx->set_verify_mode(asio::ssl::verify_none, ec);
    }
    slot = std::move(ctx);
    return slot.get();
  }

  std::unique_ptr<Connection> TakeIdle(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = idle.find(key);
    if (it == idle.end() || it->second.empty()) return nullptr;
    auto c = std::move(it->second.back());
    it->second.pop_back();
    c->reused = true;
    return c;
  }

  void GiveIdle(const std::string& key, std::unique_ptr<Connection> c) {
    std::lock_guard<std::mutex> lock(mu);
    auto& pool = idle[key];
    if (pool.size() < options.max_idle_per_origin) pool.push_back(std::move(c));
  }

  // The proxy for `u`, or null for a direct connection.
  Result<const Proxy*> ProxyFor(const ParsedUrl& u) {
    const std::string& text = u.tls ? options.proxy.https : options.proxy.http;
    if (text.empty() || NoProxyMatches(options.proxy.no_proxy, u.host)) return nullptr;
    std::lock_guard<std::mutex> lock(mu);
    auto it = proxies.find(text);
    if (it == proxies.end()) {
      COCO_ASSIGN_OR_RETURN(Proxy p, ParseProxy(text));
      it = proxies.emplace(text, std::move(p)).first;
    }
    return &it->second;
  }

  // Asks the proxy on `c` for a tunnel to `u`.
  Status OpenTunnel(Connection& c, const Proxy& px, const ParsedUrl& u, Clock::time_point end) {
    std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    std::string authority = host + ":" + std::to_string(u.port);
    http::request<http::empty_body> req(http::verb::connect, authority, 11);
    req.set(http::field::host, authority);
    req.set(http::field::user_agent, options.user_agent);
    if (!px.authorization.empty()) req.set(http::field::proxy_authorization, px.authorization);
    auto limit = [&] { return Limit(std::chrono::seconds(options.connect_timeout_secs), end); };
    ErrorCode ec = c.Run(limit(), [&](auto h) { http::async_write(*c.tcp, req, h); });
    http::response_parser<http::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.skip(true);  // a tunnel's answer has no body
    if (!ec)
      ec = c.Run(limit(), [&](auto h) { http::async_read_header(*c.tcp, c.buffer, parser, h); });
    if (ec)
      return MakeError(Code::kUnavailable,
                       "proxy " + px.display + ": " +
                           Describe(ec, ("asking for a tunnel to " + authority).c_str()));
    int status = static_cast<int>(parser.get().result_int());
    if (status / 100 != 2)
      return MakeError(Code::kUnavailable, "proxy " + px.display + " refused a tunnel to " +
                                               authority + ": " + std::to_string(status) + " " +
                                               std::string(parser.get().reason()));
    return Status::Ok();
  }

  Result<std::unique_ptr<Connection>> Connect(const ParsedUrl& u, bool verify,
                                              Clock::time_point end) {
    COCO_ASSIGN_OR_RETURN(const Proxy* px, ProxyFor(u));
    const std::string& peer_host = px != nullptr ? px->host : u.host;
    int peer_port = px != nullptr ? px->port : u.port;
    std::string peer = px != nullptr ? "proxy " + px->display : u.Origin();
    auto c = std::make_unique<Connection>();
    tcp::resolver resolver(c->ioc);
    ErrorCode ec;
    auto found = resolver.resolve(peer_host, std::to_string(peer_port), ec);
    if (ec)
      return MakeError(Code::kUnavailable, "cannot resolve " + peer_host + ": " + ec.message());
    c->tcp.emplace(c->ioc);
    auto limit = Limit(std::chrono::seconds(options.connect_timeout_secs), end);
    ec = c->Run(limit, [&](auto handler) { c->tcp->async_connect(found, handler); });
    if (ec) return MakeError(Code::kUnavailable, peer + ": " + Describe(ec, "connecting"));
    c->tcp->socket().set_option(tcp::no_delay(true), ec);
    if (px != nullptr && !u.tls) {
      c->absolute_form = true;
      c->proxy_authorization = px->authorization;
      return c;
    }
    if (px != nullptr) COCO_RETURN_IF_ERROR(OpenTunnel(*c, *px, u, end));
    if (!u.tls) return c;
    COCO_ASSIGN_OR_RETURN(asio::ssl::context * ctx, TlsContext(verify));
    beast::tcp_stream plain = std::move(*c->tcp);
    c->tcp.reset();
    c->tls.emplace(std::move(plain), *ctx);
    SSL* ssl = c->tls->native_handle();
    ErrorCode addr_ec;
    auto ip = asio::ip::make_address(u.host, addr_ec);
    if (addr_ec) SSL_set_tlsext_host_name(ssl, u.host.c_str());  // SNI for names only
    if (verify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (!addr_ec)
        X509_VERIFY_PARAM_set1_ip_asc(param, ip.to_string().c_str());
      else
        X509_VERIFY_PARAM_set1_host(param, u.host.c_str(), 0);
    }
    ec = c->Run(Limit(std::chrono::seconds(options.connect_timeout_secs), end),
                [&](auto h) { c->tls->async_handshake(asio::ssl::stream_base::client, h); });
    if (ec) {
      long verdict = SSL_get_verify_result(ssl);  // NOLINT(runtime/int): OpenSSL's type
      std::string why = verdict != X509_V_OK ? std::string("certificate not trusted: ") +
                                                   X509_verify_cert_error_string(verdict)
                                             : ec.message();
      return MakeError(Code::kUnavailable, u.Origin() + ": TLS handshake failed (" + why + ")");
    }
    return c;
  }

  std::chrono::milliseconds Limit(std::chrono::seconds step, Clock::time_point end) const {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(step);
    if (end == Clock::time_point::max()) return ms;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(end - Clock::now());
    return std::max(std::chrono::milliseconds(1), std::min(ms, left));
  }

  // One request on `c`; `got_bytes` says whether any of the response arrived (a reused
  // connection that the server closed meanwhile fails before that, and may be retried).
  Result<HttpReply> Exchange(Connection& c, const ParsedUrl& u, const std::string& method,
                             HttpCall& call, bool send_body, Clock::time_point end, bool* got_bytes,
                             bool* keep) {
    *got_bytes = false;
    *keep = false;
    auto io = [&] { return Limit(std::chrono::seconds(options.io_timeout_secs), end); };
    auto timed_out = [&] { return end != Clock::time_point::max() && Clock::now() >= end; };
    auto overall = [&] {
      return MakeError(Code::kUnavailable, method + " " + u.Origin() + u.target +
                                               ": no complete answer within " +
                                               std::to_string(options.total_timeout_secs) + " s");
    };

    http::request<http::string_body> req;
    req.method_string(method);
    req.version(11);
    bool default_port = u.port == (u.tls ? 443 : 80);
    std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    std::string authority = default_port ? host : host + ":" + std::to_string(u.port);
    req.target(c.absolute_form ? "http://" + authority + u.target : u.target);
    req.set(http::field::host, authority);
    if (c.absolute_form && !c.proxy_authorization.empty())
      req.set(http::field::proxy_authorization, c.proxy_authorization);
    req.set(http::field::user_agent, options.user_agent);
    for (const auto& [k, v] : call.headers) req.insert(k, v);
    bool streamed = send_body && call.body_reader != nullptr;
    if (send_body && !streamed) {
      req.body() = call.body;
      req.prepare_payload();
    } else if (streamed) {
      req.content_length(static_cast<uint64_t>(std::max<int64_t>(call.body_size, 0)));
    } else if (method == "POST" || method == "PUT") {
      req.content_length(0);
    }
    req.keep_alive(true);

    ErrorCode ec;
    auto write_all = [&](auto& stream) {
      if (!streamed) {
        http::request_serializer<http::string_body> sr(req);
        return c.Run(io(), [&](auto h) { http::async_write(stream, sr, h); });
      }
      http::request_serializer<http::string_body> sr(req);
      ErrorCode e = c.Run(io(), [&](auto h) { http::async_write_header(stream, sr, h); });
      std::vector<uint8_t> chunk(256 << 10);
      uint64_t left = static_cast<uint64_t>(std::max<int64_t>(call.body_size, 0));
      while (!e && left > 0) {
        auto got = call.body_reader->Read(chunk.data(), std::min<uint64_t>(chunk.size(), left));
        if (!got.ok()) return ErrorCode(asio::error::operation_aborted);
        if (*got == 0) return ErrorCode(asio::error::eof);
        left -= *got;
        e = c.Run(io(),
                  [&](auto h) { asio::async_write(stream, asio::buffer(chunk.data(), *got), h); });
        if (timed_out()) return ErrorCode(beast::error::timeout);
      }
      return e;
    };
    if (c.tls)
      ec = write_all(*c.tls);
    else
      ec = write_all(*c.tcp);
    if (ec == asio::error::operation_aborted)
      return MakeError(Code::kAborted, "the request body could not be read");
    if (ec == asio::error::eof && streamed)
      return MakeError(Code::kAborted, "the request body ended before its " +
                                           std::to_string(call.body_size) + " bytes");
    if (ec == beast::error::timeout && timed_out()) return overall();
    if (ec)
      return MakeError(Code::kUnavailable, method + " " + u.Origin() + u.target + ": " +
                                               Describe(ec, "while sending the request"));

    http::response_parser<http::buffer_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    // No limit of the parser's own (the caller bounds the body); not boost::none, which
    // Boost 1.74 compares as smaller than any Content-Length.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (method == "HEAD") parser.skip(true);
    auto read_some = [&](auto& stream) {
      return c.Run(io(), [&](auto h) { http::async_read_some(stream, c.buffer, parser, h); });
    };
    auto read = [&] { return c.tls ? read_some(*c.tls) : read_some(*c.tcp); };
    while (!parser.is_header_done()) {
      size_t before = c.buffer.size();
      ec = read();
      if (c.buffer.size() != before || parser.got_some()) *got_bytes = true;
      if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
        return MakeError(Code::kTooLarge, method + " " + u.Origin() + u.target +
                                              ": the response header exceeds " +
                                              std::to_string(options.max_header_bytes) + " bytes");
      if (ec == beast::error::timeout && timed_out()) return overall();
      if (ec)
        return MakeError(Code::kUnavailable, method + " " + u.Origin() + u.target + ": " +
                                                 Describe(ec, "while reading the answer"));
      if (timed_out() && !parser.is_header_done()) return overall();
    }
    *got_bytes = true;
    HttpReply reply;
    reply.status = static_cast<int>(parser.get().result_int());
    for (const auto& f : parser.get()) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      reply.headers.fields.emplace(std::move(name), std::string(f.value()));
    }
    // A redirect that will be followed is not the answer: its body is not handed on.
    bool deliver = !(call.follow_redirects && IsRedirect(reply.status));
    if (deliver && call.on_head && !call.on_head(reply.status, reply.headers))
      return MakeError(Code::kAborted, "the response was refused by its reader");

    auto window_start = Clock::now();
    uint64_t window_bytes = 0;
    // Hands `n` body bytes on (to the reader, the reply, or nowhere for a redirect) and
    // checks the download's pace.
    auto take = [&](const char* data, size_t n) -> Status {
      if (options.low_speed_bytes_per_sec > 0 && options.io_timeout_secs > 0) {
        window_bytes += n;
        auto now = Clock::now();
        double span = std::chrono::duration<double>(now - window_start).count();
        if (span >= options.io_timeout_secs) {
          if (static_cast<double>(window_bytes) < options.low_speed_bytes_per_sec * span)
            return MakeError(Code::kUnavailable,
                             method + " " + u.Origin() + u.target + ": the body arrived at " +
                                 std::to_string(static_cast<uint64_t>(window_bytes / span)) +
                                 " bytes/s for " + std::to_string(static_cast<int>(span)) +
                                 " s, below " + std::to_string(options.low_speed_bytes_per_sec));
          window_start = now;
          window_bytes = 0;
        }
      }
      if (n > 0 && deliver) {
        if (call.on_body) {
          if (!call.on_body(data, n))
            return MakeError(Code::kAborted, "the response body was refused by its reader");
        } else {
          if (reply.body.size() + n > call.max_body)
            return MakeError(Code::kTooLarge, method + " " + u.Origin() + u.target +
                                                  " answered with more than " +
                                                  std::to_string(call.max_body) + " bytes");
          reply.body.append(data, n);
        }
      } else if (n > 0 && !deliver && reply.body.size() + n <= 64 * 1024) {
        reply.body.append(data, n);  // a redirect's own body: small, then dropped
      }
      return Status::Ok();
    };
    auto body_error = [&](const ErrorCode& e) {
      if (e == beast::error::timeout && timed_out()) return overall();
      return MakeError(Code::kUnavailable, method + " " + u.Origin() + u.target + ": " +
                                               Describe(e, "while reading the body"));
    };
    if (!parser.is_done() && !parser.chunked() && parser.content_length_remaining()) {
      // A body of known length is read straight from the socket in large pieces: the
      // parser's own path would copy it through its buffer 512 bytes at a time.
      uint64_t left = *parser.content_length_remaining();
      size_t piece_size = static_cast<size_t>(std::min<uint64_t>(left, 1 << 20));
      std::unique_ptr<char[]> buf(new char[piece_size]);
      size_t buffered = static_cast<size_t>(std::min<uint64_t>(c.buffer.size(), left));
      if (buffered > 0) {
        COCO_RETURN_IF_ERROR(take(static_cast<const char*>(c.buffer.data().data()), buffered));
        c.buffer.consume(buffered);
        left -= buffered;
      }
      while (left > 0) {
        size_t got = 0;
        auto piece =
            asio::buffer(buf.get(), static_cast<size_t>(std::min<uint64_t>(piece_size, left)));
        auto read_piece = [&](auto& stream) {
          return c.Run(io(), [&](auto h) {
            stream.async_read_some(piece, [h, &got](ErrorCode e, size_t n) mutable {
              got = n;
              h(e);
            });
          });
        };
        ec = c.tls ? read_piece(*c.tls) : read_piece(*c.tcp);
        if (got > 0) {
          COCO_RETURN_IF_ERROR(take(buf.get(), got));
          left -= got;
        }
        if (ec && left > 0) return body_error(ec);
        if (left > 0 && timed_out()) return overall();
      }
      *keep = parser.keep_alive();
      return reply;
    }
    // Chunked or until-close bodies go through the parser; a roomy buffer keeps its reads
    // from being 512 bytes each.
    c.buffer.reserve(64 << 10);
    std::vector<char> buf(64 << 10);
    while (!parser.is_done()) {
      parser.get().body().data = buf.data();
      parser.get().body().size = buf.size();
      ec = read();
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return body_error(ec);
      COCO_RETURN_IF_ERROR(take(buf.data(), buf.size() - parser.get().body().size));
      if (timed_out() && !parser.is_done()) return overall();
    }
    *keep = parser.keep_alive();
    return reply;
  }

  Result<HttpReply> Send(HttpCall& call) {
    auto end = options.total_timeout_secs > 0
                   ? Clock::now() + std::chrono::seconds(options.total_timeout_secs)
                   : Clock::time_point::max();
    static const char* kMethods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"};
    if (std::none_of(std::begin(kMethods), std::end(kMethods),
                     [&](const char* m) { return call.method == m; }))
      return MakeError(Code::kInvalidArgument, "unsupported HTTP method " + call.method);
    COCO_ASSIGN_OR_RETURN(ParsedUrl u, ParseHttpUrl(call.url));
    std::string method = call.method;
    bool send_body = method != "GET" && method != "HEAD";
    std::string origin = u.Origin();
    for (int hop = 0;; ++hop) {
      std::string key = u.Origin() + (call.verify_tls ? " verify" : " trust");
      HttpReply reply;
      for (int attempt = 0;; ++attempt) {
        std::unique_ptr<Connection> c = attempt == 0 ? TakeIdle(key) : nullptr;
        if (!c) {
          COCO_ASSIGN_OR_RETURN(c, Connect(u, call.verify_tls, end));
        }
        bool got = false, keep = false;
        auto r = Exchange(*c, u, method, call, send_body, end, &got, &keep);
        if (!r.ok()) {
          // A kept-alive connection the server closed meanwhile: once more on a new one, if
          // nothing was received and the body can be sent again.
          bool replayable = !(send_body && call.body_reader != nullptr);
          if (c->reused && !got && replayable && r.error().code == Code::kUnavailable) continue;
          return r.error();
        }
        reply = std::move(r).value();
        if (keep) GiveIdle(key, std::move(c));
        break;
      }
      reply.url = u.Origin() + u.target;
      if (!call.follow_redirects || !IsRedirect(reply.status)) return reply;
      std::string location = reply.headers.Get("location");
      if (location.empty()) return reply;
      if (hop >= options.max_redirects)
        return MakeError(
            Code::kUnavailable,
            call.url + ": more than " + std::to_string(options.max_redirects) + " redirects");
      COCO_ASSIGN_OR_RETURN(ParsedUrl next, ParseHttpUrl(ResolveLocation(u, location)));
      if (reply.status == 303 ||
          ((reply.status == 301 || reply.status == 302) && method != "GET" && method != "HEAD")) {
        method = method == "HEAD" ? "HEAD" : "GET";
        send_body = false;
      } else if (send_body && call.body_reader != nullptr) {
        return MakeError(Code::kUnavailable, call.url + " redirected a streamed " + method + " (" +
                                                 std::to_string(reply.status) +
                                                 "), which cannot be sent again");
      }
      if (next.Origin() != origin) {
        // Credentials are for the origin they were given to, not wherever it redirects.
        call.headers.erase(std::remove_if(call.headers.begin(), call.headers.end(),
                                          [](const auto& h) {
                                            return beast::iequals(h.first, "authorization") ||
                                                   beast::iequals(h.first, "cookie");
                                          }),
                           call.headers.end());
      }
      u = std::move(next);
    }
  }

  HttpClientOptions options;
  std::mutex mu;
  std::unique_ptr<asio::ssl::context> verifying, trusting;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;
  std::map<std::string, Proxy> proxies;  // parsed proxy URLs
};

HttpClient::HttpClient(HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

Result<HttpReply> HttpClient::Send(HttpCall& call) { return impl_->Send(call); }

}  // namespace coco::net
