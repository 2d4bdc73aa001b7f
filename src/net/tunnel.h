// A TCP tunnel over one byte stream (the pod VM's virtio-serial port "coco.tunnel"): the guest
// listens on 127.0.0.1:PORT for each allowed port and carries each accepted connection over the
// stream; the host end connects to 127.0.0.1:PORT on its side. The guest thus reaches the key
// broker and registries at the same loopback addresses the host uses, with no network card.
//
// Frames: {u32 conn, u8 type, u32 length} big-endian, then `length` bytes (at most 256 KiB).
//   OPEN  (1): guest -> host, payload = u16 port; the host answers CLOSE if it cannot connect.
//   DATA  (2): either way.
//   CLOSE (3): either way; the connection is finished in both directions.
// The host end only connects to ports it was configured with; anything else is refused.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"

namespace coco::net {

// A carried port: the guest listens on 127.0.0.1:`listen` and the host connects to
// 127.0.0.1:`port` (the same number in a pod; tests on one machine use two).
struct TunnelPort {
  uint16_t port = 0;
  uint16_t listen = 0;  // 0 = `port`
};

class TunnelEndpoint {
 public:
  enum class Role { kGuest, kHost };
  // `stream_fd` is the tunnel's byte stream (not owned). Host: `ports` are the loopback ports it
  // may connect to. Guest: the ports to listen on at 127.0.0.1.
  TunnelEndpoint(Role role, int stream_fd, std::vector<TunnelPort> ports);
  ~TunnelEndpoint();  // Stop()
  // Guest: binds the listeners (fails if a port is taken). Both: starts the threads.
  Status Start();
  // Closes every connection and joins the threads. The stream fd is left open.
  void Stop();
  // Connections carried so far (information).
  uint64_t connections() const { return opened_.load(); }

 private:
  struct Conn;
  void StreamLoop();
  void AcceptLoop(int listen_fd, uint16_t port);
  void SocketLoop(std::shared_ptr<Conn> c);
  Status SendFrame(uint32_t conn, uint8_t type, const uint8_t* p, uint32_t n);
  void CloseConn(uint32_t id, bool tell_peer);

  Role role_;
  int fd_;
  std::vector<TunnelPort> ports_;
  std::vector<int> listeners_;
  std::mutex write_mu_;
  std::mutex mu_;
  std::map<uint32_t, std::shared_ptr<Conn>> conns_;
  std::vector<std::thread> threads_;
  uint32_t next_id_ = 1;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> opened_{0};
  int wake_[2] = {-1, -1};  // wakes the stream reader on Stop()
};

}  // namespace coco::net
