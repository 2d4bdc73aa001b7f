// ttrpc: containerd's small RPC protocol (unary calls), used between the host runtime and
// coco-agent over a virtio-serial port, and later by the containerd shim.
//
// Wire: each frame is a 10-byte big-endian header {u32 length, u32 stream_id, u8 type, u8 flags}
// and `length` bytes of protobuf (Request = type 1, Response = type 2). Payloads over 4 MiB are
// refused. Clients use odd stream ids; calls are multiplexed over one byte stream.
//
// Errors cross the wire as a google.rpc.Status {code, message, details}: the gRPC code of the
// Error's code (DigestMismatch travels as DataLoss, 15), and for a refined code one detail
// naming it, so a coco peer reads back exactly the code that was sent; a peer that sends a bare
// gRPC code (or a detail that does not refine it) is read as that gRPC code.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"

namespace coco::net::ttrpc {

constexpr size_t kHeaderSize = 10;
constexpr uint32_t kMaxPayload = 4u << 20;
constexpr uint8_t kTypeRequest = 1;
constexpr uint8_t kTypeResponse = 2;

struct FrameHeader {
  uint32_t length = 0;
  uint32_t stream_id = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
};

void EncodeHeader(const FrameHeader& h, uint8_t out[kHeaderSize]);
FrameHeader DecodeHeader(const uint8_t in[kHeaderSize]);

// The type URL of the status detail that carries an error's own code across the wire.
inline constexpr const char* kErrorCodeTypeUrl =
    "type.googleapis.com/coco.net.ttrpc.wire.ErrorCode";

using Metadata = std::map<std::string, std::string>;

// A full-duplex byte stream (a socket, a virtio-serial port) carrying frames. Reads come from
// one thread at a time; writes from any thread (serialised inside). Does not own the fd unless
// `owns` is set.
class FrameStream {
 public:
  FrameStream(int fd, bool owns) : fd_(fd), owns_(owns) {}
  ~FrameStream();
  FrameStream(const FrameStream&) = delete;
  FrameStream& operator=(const FrameStream&) = delete;

  // Reads the next frame. Returns an Error with code Eof at a clean end of stream (no partial
  // frame), "Io" on a read failure, "TooLarge" for a length over kMaxPayload (the stream is
  // then unusable: the caller should close it).
  Result<std::pair<FrameHeader, std::string>> Read();
  Status Write(uint32_t stream_id, uint8_t type, const std::string& payload);
  // Makes blocked and later reads/writes fail (shutdown(2) on sockets). Thread-safe.
  void Shutdown();
  int fd() const { return fd_; }

 private:
  Status ReadFull(uint8_t* p, size_t n, bool at_boundary);
  int fd_;
  bool owns_;
  std::mutex write_mu_;
  std::vector<uint8_t> buf_;
  size_t buf_pos_ = 0;
};

// A method handler: request payload bytes in, response payload bytes out (or an Error, which
// is sent as the call's status).
using Handler = std::function<Result<std::string>(const std::string& payload, const Metadata&)>;

// Serves registered methods on one stream. Each request runs on its own thread, so a blocking
// call (waiting for a process) does not hold up others. Thread-safe registration before Serve.
class Server {
 public:
  // `service` as in the protobuf package ("coco.agent.v1.Agent"), `method` the RPC name.
  void Register(const std::string& service, const std::string& method, Handler handler);
  // Reads requests until the stream ends or fails; then waits for running handlers and returns
  // the read error ("Eof" for a clean end). Unknown methods get Unimplemented.
  Error Serve(FrameStream& stream);
  // Calls in flight (information; for tests).
  int in_flight() const { return in_flight_.load(); }

 private:
  std::map<std::string, Handler> handlers_;  // "service/method"
  std::atomic<int> in_flight_{0};
};

// Calls methods over one stream. Thread-safe: calls from many threads are multiplexed; one
// background thread reads responses. When the stream fails, pending and later calls fail with
// kind "Unavailable".
class Client {
 public:
  explicit Client(std::unique_ptr<FrameStream> stream);
  ~Client();  // shuts the stream down and joins the reader
  // `timeout_ms` <= 0 waits without limit; a timeout fails with kind "DeadlineExceeded" (the
  // deadline is also sent to the server as timeout_nano).
  Result<std::string> Call(const std::string& service, const std::string& method,
                           const std::string& payload, int64_t timeout_ms = 0,
                           const Metadata& metadata = {});
  // Fails every pending and later call and stops the reader.
  void Close();

 private:
  struct Pending {
    bool done = false;
    Result<std::string> result = Error{};
  };
  void ReadLoop();
  std::unique_ptr<FrameStream> stream_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint32_t, std::shared_ptr<Pending>> pending_;
  uint32_t next_id_ = 1;
  bool closed_ = false;
  std::string close_reason_;
  std::thread reader_;
};

}  // namespace coco::net::ttrpc
