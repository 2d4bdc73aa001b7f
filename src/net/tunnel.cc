#include "net/tunnel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "net/fd_io.h"

namespace coco::net {
namespace {

constexpr uint8_t kOpen = 1, kData = 2, kClose = 3;
constexpr uint32_t kMaxFrame = 256 * 1024;
constexpr size_t kFrameHeader = 9;

// Reads exactly n bytes from the stream, waking up for `wake` (Stop). False at EOF/error/stop.
bool ReadExact(int fd, int wake, uint8_t* p, size_t n) {
  while (n > 0) {
    pollfd pfd[2] = {{fd, POLLIN, 0}, {wake, POLLIN, 0}};
    int r = poll(pfd, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (pfd[1].revents & POLLIN)) return false;
    if (pfd[0].revents & POLLHUP && !(pfd[0].revents & POLLIN)) {
      // A virtio-serial port reports HUP while the host side is not connected: wait for it.
      pollfd w{wake, POLLIN, 0};
      if (poll(&w, 1, 50) > 0) return false;
      continue;
    }
    ssize_t got = read(fd, p, n);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return false;
    p += got;
    n -= static_cast<size_t>(got);
  }
  return true;
}

}  // namespace

struct TunnelEndpoint::Conn {
  uint32_t id = 0;
  int sock = -1;
  std::mutex mu;
  bool closed = false;
};

TunnelEndpoint::TunnelEndpoint(Role role, int stream_fd, std::vector<TunnelPort> ports)
    : role_(role), fd_(stream_fd), ports_(std::move(ports)) {}

TunnelEndpoint::~TunnelEndpoint() { Stop(); }

Status TunnelEndpoint::Start() {
  if (pipe2(wake_, O_CLOEXEC) != 0) {
    return MakeError(Code::kIo, std::string("pipe: ") + std::strerror(errno));
  }
  if (role_ == Role::kGuest) {
    for (const TunnelPort& tp : ports_) {
      uint16_t port = tp.listen != 0 ? tp.listen : tp.port;
      int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int one = 1;
      setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(s, 64) != 0) {
        int e = errno;
        if (s >= 0) close(s);
        return MakeError(Code::kIo, "tunnel: cannot listen on 127.0.0.1:" + std::to_string(port) +
                                        ": " + std::strerror(e));
      }
      listeners_.push_back(s);
    }
    for (size_t i = 0; i < listeners_.size(); ++i) {
      threads_.emplace_back([this, i] { AcceptLoop(listeners_[i], ports_[i].port); });
    }
  }
  threads_.emplace_back([this] { StreamLoop(); });
  return Status::Ok();
}

void TunnelEndpoint::Stop() {
  if (stopping_.exchange(true)) return;
  if (wake_[1] >= 0) (void)!write(wake_[1], "x", 1);
  for (int s : listeners_) shutdown(s, SHUT_RDWR);
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, c] : conns_) {
      std::lock_guard<std::mutex> cl(c->mu);
      if (c->sock >= 0) shutdown(c->sock, SHUT_RDWR);
    }
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (int s : listeners_) close(s);
  listeners_.clear();
  std::lock_guard<std::mutex> l(mu_);
  for (auto& [id, c] : conns_) {
    if (c->sock >= 0) close(c->sock);
    c->sock = -1;
  }
  conns_.clear();
  for (int& w : wake_) {
    if (w >= 0) close(w);
    w = -1;
  }
}

Status TunnelEndpoint::SendFrame(uint32_t conn, uint8_t type, const uint8_t* p, uint32_t n) {
  uint8_t hdr[kFrameHeader];
  PutBe32(conn, hdr);
  hdr[4] = type;
  PutBe32(n, hdr + 5);
  std::lock_guard<std::mutex> l(write_mu_);
  if (!WriteAll(fd_, hdr, sizeof hdr) || (n > 0 && !WriteAll(fd_, p, n))) {
    return MakeError(Code::kIo, std::string("tunnel: writing the stream: ") + std::strerror(errno));
  }
  return Status::Ok();
}

void TunnelEndpoint::CloseConn(uint32_t id, bool tell_peer) {
  std::shared_ptr<Conn> c;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    c = it->second;
    conns_.erase(it);
  }
  {
    std::lock_guard<std::mutex> cl(c->mu);
    if (c->closed) return;
    c->closed = true;
    if (c->sock >= 0) shutdown(c->sock, SHUT_RDWR);
  }
  if (tell_peer) (void)SendFrame(id, kClose, nullptr, 0);
}

void TunnelEndpoint::AcceptLoop(int listen_fd, uint16_t port) {
  while (!stopping_) {
    int s = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (s < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_shared<Conn>();
    c->sock = s;
    {
      std::lock_guard<std::mutex> l(mu_);
      c->id = next_id_;
      next_id_ += 2;  // guest ids are odd
      conns_[c->id] = c;
    }
    opened_++;
    uint8_t p[2] = {static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port)};
    if (!SendFrame(c->id, kOpen, p, 2).ok()) {
      CloseConn(c->id, false);
      continue;
    }
    std::lock_guard<std::mutex> l(mu_);
    threads_.emplace_back([this, c] { SocketLoop(c); });
  }
}

void TunnelEndpoint::SocketLoop(std::shared_ptr<Conn> c) {
  std::vector<uint8_t> buf(kMaxFrame);
  for (;;) {
    ssize_t n = read(c->sock, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!SendFrame(c->id, kData, buf.data(), static_cast<uint32_t>(n)).ok()) break;
  }
  CloseConn(c->id, /*tell_peer=*/true);
  std::lock_guard<std::mutex> cl(c->mu);
  if (c->sock >= 0) close(c->sock);
  c->sock = -1;
}

void TunnelEndpoint::StreamLoop() {
  std::vector<uint8_t> payload;
  for (;;) {
    uint8_t hdr[kFrameHeader];
    if (!ReadExact(fd_, wake_[0], hdr, sizeof hdr)) break;
    uint32_t id = Be32(hdr), len = Be32(hdr + 5);
    uint8_t type = hdr[4];
    if (len > kMaxFrame) {
      log::Error("tunnel: oversized frame; closing the tunnel", {{"bytes", std::to_string(len)}});
      break;
    }
    payload.resize(len);
    if (len > 0 && !ReadExact(fd_, wake_[0], payload.data(), len)) break;
    if (type == kOpen && role_ == Role::kHost) {
      uint16_t port = len == 2 ? static_cast<uint16_t>(payload[0] << 8 | payload[1]) : 0;
      bool allowed = false;
      for (const TunnelPort& p : ports_) allowed |= (p.port == port && port != 0);
      int s = -1;
      if (allowed) {
        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (s >= 0 && connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
          close(s);
          s = -1;
        }
        if (s >= 0) {
          int one = 1;
          setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
      } else {
        log::Warn("tunnel: the guest asked for a port that is not allowed",
                  {{"port", std::to_string(port)}});
      }
      if (s < 0) {
        (void)SendFrame(id, kClose, nullptr, 0);
        continue;
      }
      auto c = std::make_shared<Conn>();
      c->id = id;
      c->sock = s;
      {
        std::lock_guard<std::mutex> l(mu_);
        conns_[id] = c;
        threads_.emplace_back([this, c] { SocketLoop(c); });
      }
      opened_++;
      continue;
    }
    std::shared_ptr<Conn> c;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = conns_.find(id);
      if (it != conns_.end()) c = it->second;
    }
    if (!c) continue;  // already closed on our side
    if (type == kData) {
      int sock;
      {
        std::lock_guard<std::mutex> cl(c->mu);
        sock = c->closed ? -1 : c->sock;
      }
      if (sock < 0 || !WriteAll(sock, payload.data(), payload.size())) CloseConn(id, true);
    } else if (type == kClose) {
      CloseConn(id, false);
    }
  }
  // The stream ended: every carried connection ends with it.
  std::vector<uint32_t> ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, c] : conns_) ids.push_back(id);
  }
  for (uint32_t id : ids) CloseConn(id, false);
}

}  // namespace coco::net
