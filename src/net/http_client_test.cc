#include "net/http_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace coco::net {
namespace {

// A loopback server that answers each request with what a test scripts, byte for byte.
class ScriptedServer {
 public:
  // Gets the request (header and body as read) and the connection; writes the answer. Returns
  // false to close the connection.
  using Handler = std::function<bool(const std::string& request, int fd)>;

  explicit ScriptedServer(Handler h) : handler_(std::move(h)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] {
      while (true) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        ++connections_;
        std::lock_guard<std::mutex> lock(mu_);
        workers_.emplace_back([this, c] { Serve(c); });
      }
    });
  }
  ~ScriptedServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    acceptor_.join();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : workers_) w.join();
  }

  std::string Url(const std::string& path = "/") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int port() const { return port_; }
  int connections() const { return connections_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  static bool Write(int fd, const std::string& s) {
    return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }

 private:
  void Serve(int c) {
    std::string pending;
    char buf[4096];
    while (true) {
      size_t end;
      while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return (void)::close(c);
        pending.append(buf, static_cast<size_t>(n));
      }
      size_t body = 0;
      auto cl = pending.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) body = std::stoul(pending.substr(cl + 16));
      while (pending.size() < end + 4 + body) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return (void)::close(c);
        pending.append(buf, static_cast<size_t>(n));
      }
      std::string request = pending.substr(0, end + 4 + body);
      pending.erase(0, end + 4 + body);
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(request);
      }
      if (!handler_(request, c)) break;
    }
    ::close(c);
  }

  Handler handler_;
  int fd_ = -1, port_ = 0;
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<std::string> requests_;
};

std::string Answer(const std::string& body, const std::string& extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra +
         "\r\n" + body;
}

TEST(HttpClient, KeepsBodyAndHeadersAndReusesTheConnection) {
  ScriptedServer server([](const std::string&, int fd) {
    return ScriptedServer::Write(fd, Answer("hello", "X-Thing: One\r\n"));
  });
  HttpClient client({});
  for (int i = 0; i < 3; ++i) {
    HttpCall call;
    call.url = server.Url("/a?b=c");
    auto r = client.Send(call);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello");
    EXPECT_EQ(r->headers.Get("x-thing"), "One");
  }
  EXPECT_EQ(server.connections(), 1);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[0].rfind("GET /a?b=c HTTP/1.1\r\n", 0), 0u) << reqs[0];
  EXPECT_NE(reqs[0].find("Host: 127.0.0.1:" + std::to_string(server.port())), std::string::npos);
}

TEST(HttpClient, ReadsChunkedBodiesAndStreamsThemToTheCaller) {
  ScriptedServer server([](const std::string&, int fd) {
    return ScriptedServer::Write(fd,
                                 "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                                 "chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  });
  HttpClient client({});
  HttpCall call;
  call.url = server.Url();
  std::string got;
  int heads = 0;
  call.on_head = [&](int status, const HttpHeaders&) {
    ++heads;
    return status == 200;
  };
  call.on_body = [&](const char* d, size_t n) {
    got.append(d, n);
    return true;
  };
  auto r = client.Send(call);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(got, "hello world");
  EXPECT_EQ(heads, 1);
  EXPECT_TRUE(r->body.empty());
}

// A large body of known length, sent with its header in one write and then in uneven pieces,
// arrives whole and in order, and nothing of the next answer on the connection is taken for it.
TEST(HttpClient, ALongBodyArrivesWholeAndTheConnectionStaysUsable) {
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131 + i / 4096) & 0xff);
  ScriptedServer server([&](const std::string& req, int fd) {
    if (req.rfind("GET /small", 0) == 0) return ScriptedServer::Write(fd, Answer("next"));
    std::string all = Answer(big);
    size_t first = all.find("\r\n\r\n") + 4 + 1000;  // the header and a bit of the body
    if (!ScriptedServer::Write(fd, all.substr(0, first))) return false;
    for (size_t pos = first, step = 1; pos < all.size(); pos += step, step = step * 3 + 7) {
      if (!ScriptedServer::Write(fd, all.substr(pos, step))) return false;
    }
    return true;
  });
  HttpClient client({});
  HttpCall streamed;
  streamed.url = server.Url("/big");
  std::string got;
  streamed.on_body = [&](const char* d, size_t n) {
    got.append(d, n);
    return true;
  };
  auto r = client.Send(streamed);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(got == big) << "got " << got.size() << " bytes of " << big.size();
  HttpCall kept;
  kept.url = server.Url("/big");
  kept.max_body = big.size();
  auto whole = client.Send(kept);
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_TRUE(whole->body == big);
  HttpCall small;
  small.url = server.Url("/small");
  auto s = client.Send(small);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->body, "next");
  EXPECT_EQ(server.connections(), 1);
  HttpCall bounded;
  bounded.url = server.Url("/big");
  bounded.max_body = big.size() - 1;
  auto over = client.Send(bounded);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, Code::kTooLarge);
}

TEST(HttpClient, AnEndlessHeaderStopsAtTheLimit) {
  ScriptedServer server([](const std::string&, int fd) {
    ScriptedServer::Write(fd, "HTTP/1.1 200 OK\r\n");
    std::string line = "X-Flood: " + std::string(100, 'a') + "\r\n";
    std::string block;
    for (int i = 0; i < 100; ++i) block += line;
    while (ScriptedServer::Write(fd, block)) {
    }
    return false;
  });
  HttpClientOptions o;
  o.max_header_bytes = 16 * 1024;
  HttpClient client(o);
  HttpCall call;
  call.url = server.Url();
  auto r = client.Send(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kTooLarge);
  EXPECT_NE(r.error().message.find("exceeds 16384 bytes"), std::string::npos) << r.error().message;
}

TEST(HttpClient, AnEndlessBodyStopsAtMaxBody) {
  ScriptedServer server([](const std::string&, int fd) {
    ScriptedServer::Write(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
    while (ScriptedServer::Write(fd, chunk)) {
    }
    return false;
  });
  HttpClient client({});
  HttpCall call;
  call.url = server.Url();
  call.max_body = 1 << 20;
  auto r = client.Send(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kTooLarge);
  EXPECT_NE(r.error().message.find("more than 1048576 bytes"), std::string::npos);
}

TEST(HttpClient, ATrickleCannotOutlastTheTotalDeadline) {
  ScriptedServer server([](const std::string&, int fd) {
    ScriptedServer::Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    for (int i = 0; i < 1000; ++i) {
      if (!ScriptedServer::Write(fd, "x")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  });
  HttpClientOptions o;
  o.total_timeout_secs = 1;
  HttpClient client(o);
  HttpCall call;
  call.url = server.Url();
  auto started = std::chrono::steady_clock::now();
  auto r = client.Send(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find("within 1 s"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST(HttpClient, ATrickleBelowTheLowSpeedBoundFailsWithoutATotalDeadline) {
  ScriptedServer server([](const std::string&, int fd) {
    ScriptedServer::Write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
    for (int i = 0; i < 400; ++i) {
      if (!ScriptedServer::Write(fd, "x")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  });
  HttpClientOptions o;
  o.io_timeout_secs = 1;  // each byte comes well within it
  o.low_speed_bytes_per_sec = 1024;
  HttpClient client(o);
  HttpCall call;
  call.url = server.Url();
  call.on_body = [](const char*, size_t) { return true; };
  auto started = std::chrono::steady_clock::now();
  auto r = client.Send(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find("below 1024"), std::string::npos) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST(HttpClient, ASilentServerTimesOut) {
  ScriptedServer server([](const std::string&, int) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    return false;
  });
  HttpClientOptions o;
  o.io_timeout_secs = 1;
  HttpClient client(o);
  HttpCall call;
  call.url = server.Url();
  auto r = client.Send(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find("timed out while reading the answer"), std::string::npos)
      << r.error().message;
}

TEST(HttpClient, FollowsRedirectsAndDropsCredentialsAcrossOrigins) {
  ScriptedServer other(
      [](const std::string&, int fd) { return ScriptedServer::Write(fd, Answer("there")); });
  std::string elsewhere = other.Url("/blob");
  ScriptedServer server([&](const std::string& req, int fd) {
    if (req.rfind("GET /start ", 0) == 0)
      return ScriptedServer::Write(fd,
                                   "HTTP/1.1 307 Temporary Redirect\r\nLocation: next\r\n"
                                   "Content-Length: 3\r\n\r\nbye");
    return ScriptedServer::Write(
        fd, "HTTP/1.1 302 Found\r\nLocation: " + elsewhere + "\r\nContent-Length: 0\r\n\r\n");
  });
  HttpClient client({});
  HttpCall call;
  call.url = server.Url("/start");
  call.headers = {{"Authorization", "Bearer secret"}};
  auto r = client.Send(call);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "there");
  EXPECT_EQ(r->url, "http://127.0.0.1:" + std::to_string(other.port()) + "/blob");
  auto first = server.requests();
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[1].rfind("GET /next ", 0), 0u) << first[1];
  EXPECT_NE(first[1].find("Authorization: Bearer secret"), std::string::npos);
  auto last = other.requests();
  ASSERT_EQ(last.size(), 1u);
  EXPECT_EQ(last[0].find("Authorization"), std::string::npos) << last[0];
}

TEST(HttpClient, StreamsARequestBodyAndSendsSmallOnes) {
  ScriptedServer server([](const std::string& req, int fd) {
    size_t body = req.find("\r\n\r\n") + 4;
    return ScriptedServer::Write(fd, Answer(std::to_string(req.size() - body)));
  });
  HttpClient client({});
  std::string big(1 << 20, 'b');
  MemoryReader reader(big);
  HttpCall put;
  put.method = "PUT";
  put.url = server.Url("/upload");
  put.body_reader = &reader;
  put.body_size = static_cast<int64_t>(big.size());
  auto r = client.Send(put);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, std::to_string(big.size()));
  HttpCall post;
  post.method = "POST";
  post.url = server.Url("/small");
  post.body = "{\"a\":1}";
  r = client.Send(post);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "7");
}

TEST(HttpClient, RetriesOnceWhenAKeptConnectionWasClosed) {
  std::atomic<int> answered{0};
  ScriptedServer server([&](const std::string&, int fd) {
    ++answered;
    ScriptedServer::Write(fd, Answer("ok"));
    return false;  // closes after each answer although it did not say so
  });
  HttpClient client({});
  for (int i = 0; i < 3; ++i) {
    HttpCall call;
    call.url = server.Url();
    auto r = client.Send(call);
    ASSERT_TRUE(r.ok()) << i << ": " << r.error().message;
    EXPECT_EQ(r->body, "ok");
  }
  EXPECT_EQ(answered, 3);
}

TEST(HttpClient, ARefusedConnectionIsUnavailable) {
  int port;
  {
    ScriptedServer gone([](const std::string&, int) { return false; });
    port = gone.port();
  }
  HttpClient client({});
  HttpCall call;
  call.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  auto r = client.Send(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find("connection refused"), std::string::npos) << r.error().message;
}

TEST(HttpClient, ThroughAnHttpProxyRequestsNameTheWholeUrlWithTheProxysCredentials) {
  ScriptedServer proxy(
      [](const std::string&, int fd) { return ScriptedServer::Write(fd, Answer("via proxy")); });
  HttpClientOptions o;
  // The target's name is never resolved here: the proxy does that.
  o.proxy.http = "http://user:p%40ss@127.0.0.1:" + std::to_string(proxy.port()) + "/";
  HttpClient client(o);
  for (int i = 0; i < 2; ++i) {
    HttpCall call;
    call.url = "http://registry.invalid:5000/v2/?n=1";
    auto r = client.Send(call);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->body, "via proxy");
  }
  EXPECT_EQ(proxy.connections(), 1);  // kept alive through the proxy too
  auto reqs = proxy.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].rfind("GET http://registry.invalid:5000/v2/?n=1 HTTP/1.1\r\n", 0), 0u)
      << reqs[0];
  EXPECT_NE(reqs[0].find("Host: registry.invalid:5000\r\n"), std::string::npos) << reqs[0];
  // user:p@ss
  EXPECT_NE(reqs[0].find("Proxy-Authorization: Basic dXNlcjpwQHNz\r\n"), std::string::npos)
      << reqs[0];
}

TEST(HttpClient, NoProxyNamesAddressesAndNetworksGoDirect) {
  ScriptedServer proxy(
      [](const std::string&, int fd) { return ScriptedServer::Write(fd, Answer("via proxy")); });
  ScriptedServer direct(
      [](const std::string&, int fd) { return ScriptedServer::Write(fd, Answer("direct")); });
  std::string port = std::to_string(direct.port());
  struct Case {
    std::string no_proxy, url, want;
  };
  std::vector<Case> cases = {
      {"", "http://127.0.0.1:" + port + "/", "via proxy"},
      {"*", "http://127.0.0.1:" + port + "/", "direct"},
      {"10.0.0.0/8, 127.0.0.0/8", "http://127.0.0.1:" + port + "/", "direct"},
      {"127.0.0.2", "http://127.0.0.1:" + port + "/", "via proxy"},
      {"example.com,127.0.0.1", "http://127.0.0.1:" + port + "/", "direct"},
      {".localhost", "http://localhost:" + port + "/", "direct"},
      {"host", "http://localhost:" + port + "/", "via proxy"},  // not a suffix at a dot
      {"::1,[::2]", "http://127.0.0.1:" + port + "/", "via proxy"},
  };
  for (const Case& c : cases) {
    HttpClientOptions o;
    o.proxy.http = "127.0.0.1:" + std::to_string(proxy.port());
    o.proxy.no_proxy = c.no_proxy;
    HttpClient client(o);
    HttpCall call;
    call.url = c.url;
    auto r = client.Send(call);
    ASSERT_TRUE(r.ok()) << c.no_proxy << ": " << r.error().message;
    EXPECT_EQ(r->body, c.want) << "no_proxy \"" << c.no_proxy << "\" for " << c.url;
  }
  // An https proxy setting does not apply to http targets.
  HttpClientOptions o;
  o.proxy.https = "127.0.0.1:" + std::to_string(proxy.port());
  HttpClient client(o);
  HttpCall call;
  call.url = "http://127.0.0.1:" + port + "/";
  auto r = client.Send(call);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "direct");
}

TEST(HttpClient, AnHttpsTargetAsksTheProxyForATunnelAndARefusalIsNamed) {
  ScriptedServer proxy([](const std::string&, int fd) {
    return ScriptedServer::Write(
        fd, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
  });
  HttpClientOptions o;
  o.proxy.https = "http://u:pw@127.0.0.1:" + std::to_string(proxy.port());
  HttpClient client(o);
  HttpCall call;
  call.url = "https://secure.invalid/v2/";
  auto r = client.Send(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kUnavailable);
  EXPECT_NE(r.error().message.find(
                "refused a tunnel to secure.invalid:443: 407 Proxy Authentication Required"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("pw"), std::string::npos) << "credentials must not be printed";
  auto reqs = proxy.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].rfind("CONNECT secure.invalid:443 HTTP/1.1\r\n", 0), 0u) << reqs[0];
  EXPECT_NE(reqs[0].find("Proxy-Authorization: Basic dTpwdw==\r\n"), std::string::npos) << reqs[0];

  HttpClientOptions socks;
  socks.proxy.https = "socks5://127.0.0.1:1080";
  HttpClient bad(socks);
  auto refused = bad.Send(call);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Code::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("only http:// proxies"), std::string::npos)
      << refused.error().message;
}

TEST(HttpClient, ProxiesComeFromTheEnvironmentAsLibcurlReadsThem) {
  const char* names[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                         "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
  std::vector<std::pair<std::string, std::optional<std::string>>> saved;
  for (const char* n : names) {
    const char* v = std::getenv(n);
    saved.emplace_back(n, v ? std::optional<std::string>(v) : std::nullopt);
    ::unsetenv(n);
  }
  ::setenv("HTTP_PROXY", "http://cgi-injected:1", 1);  // ignored (a CGI request header)
  ::setenv("HTTPS_PROXY", "http://secure-proxy:3128", 1);
  ::setenv("NO_PROXY", "internal.example", 1);
  ProxyConfig p = ProxyConfigFromEnvironment();
  EXPECT_EQ(p.http, "");
  EXPECT_EQ(p.https, "http://secure-proxy:3128");
  EXPECT_EQ(p.no_proxy, "internal.example");
  ::setenv("all_proxy", "http://any:8080", 1);
  ::setenv("https_proxy", "http://lower:3128", 1);
  p = ProxyConfigFromEnvironment();
  EXPECT_EQ(p.http, "http://any:8080");
  EXPECT_EQ(p.https, "http://lower:3128");
  for (const auto& [n, v] : saved) {
    if (v)
      ::setenv(n.c_str(), v->c_str(), 1);
    else
      ::unsetenv(n.c_str());
  }
}

TEST(HttpUrl, ParsesAndResolves) {
  auto u = ParseHttpUrl("https://[::1]:8443/v2/x?y=1#frag");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/v2/x?y=1");
  EXPECT_EQ(u->Origin(), "https://[::1]:8443");
  auto plain = ParseHttpUrl("http://registry.local");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->port, 80);
  EXPECT_EQ(plain->target, "/");
  EXPECT_FALSE(ParseHttpUrl("ftp://x/").ok());
  EXPECT_FALSE(ParseHttpUrl("http://user:pw@x/").ok());
  EXPECT_FALSE(ParseHttpUrl("http://x:99999/").ok());
  EXPECT_FALSE(ParseHttpUrl("http:///path").ok());
  EXPECT_EQ(ResolveLocation(*plain, "/a/b"), "http://registry.local:80/a/b");
  auto deep = ParseHttpUrl("http://h:5000/v2/a/blobs/x?q");
  EXPECT_EQ(ResolveLocation(*deep, "y"), "http://h:5000/v2/a/blobs/y");
  EXPECT_EQ(ResolveLocation(*deep, "//cdn/z"), "http://cdn/z");
  EXPECT_EQ(ResolveLocation(*deep, "https://s3/z"), "https://s3/z");
}

}  // namespace
}  // namespace coco::net
