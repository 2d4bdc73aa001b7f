#include "net/tunnel.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace coco::net {
namespace {

// A loopback listener on an ephemeral port; returns {fd, port}.
std::pair<int, uint16_t> Listen() {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(listen(s, 16), 0);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  return {s, ntohs(a.sin_port)};
}

uint16_t FreePort() {
  auto [s, port] = Listen();
  close(s);
  return port;
}

int Connect(uint16_t port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// A server that reads a 3 MiB request, answers "got:<n>" plus 2 MiB and closes: both directions
// carry more than one frame, and the close reaches the guest's client.
TEST(Tunnel, CarriesConnectionsBothWays) {
  auto [server, server_port] = Listen();
  std::thread srv([server = server] {
    for (int i = 0; i < 2; ++i) {
      int c = accept(server, nullptr, nullptr);
      if (c < 0) return;
      std::string got;
      char buf[65536];
      ssize_t n;
      while (got.size() < 3u << 20 && (n = read(c, buf, sizeof buf)) > 0) got.append(buf, n);
      std::string answer = "got:" + std::to_string(got.size());
      answer += std::string(2 << 20, 'z');  // a large answer, larger than one frame
      ASSERT_EQ(write(c, answer.data(), answer.size()), static_cast<ssize_t>(answer.size()));
      close(c);
    }
  });
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  uint16_t guest_port = FreePort();
  TunnelEndpoint host(TunnelEndpoint::Role::kHost, sp[1], {{server_port, 0}});
  TunnelEndpoint guest(TunnelEndpoint::Role::kGuest, sp[0], {{server_port, guest_port}});
  ASSERT_TRUE(host.Start().ok());
  ASSERT_TRUE(guest.Start().ok());

  for (int round = 0; round < 2; ++round) {
    int c = Connect(guest_port);
    ASSERT_GE(c, 0);
    std::string req(3u << 20, 'a');
    ASSERT_EQ(write(c, req.data(), req.size()), static_cast<ssize_t>(req.size()));
    std::string answer = ReadAll(c);
    close(c);
    ASSERT_EQ(answer.substr(0, 12), "got:3145728z");
    EXPECT_EQ(answer.size(), 11 + (2u << 20));
  }
  srv.join();
  EXPECT_EQ(host.connections(), 2u);
  guest.Stop();
  host.Stop();
  close(sp[0]);
  close(sp[1]);
  close(server);
}

TEST(Tunnel, HostRefusesPortsItWasNotGiven) {
  auto [server, server_port] = Listen();
  int sp[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
  uint16_t guest_port = FreePort();
  // The guest announces server_port, but the host only allows another port.
  TunnelEndpoint host(TunnelEndpoint::Role::kHost, sp[1], {{static_cast<uint16_t>(1), 0}});
  TunnelEndpoint guest(TunnelEndpoint::Role::kGuest, sp[0], {{server_port, guest_port}});
  ASSERT_TRUE(host.Start().ok());
  ASSERT_TRUE(guest.Start().ok());
  int c = Connect(guest_port);
  ASSERT_GE(c, 0);
  EXPECT_EQ(ReadAll(c), "");  // closed without data
  close(c);
  // Nothing reached the real server.
  timeval tv{0, 100000};
  setsockopt(server, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  EXPECT_LT(accept(server, nullptr, nullptr), 0);
  EXPECT_EQ(host.connections(), 0u);
  guest.Stop();
  host.Stop();
  close(sp[0]);
  close(sp[1]);
  close(server);
}

}  // namespace
}  // namespace coco::net
