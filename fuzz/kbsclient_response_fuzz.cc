// The guest client's handling of what a broker answers (src/kbsclient/): a server on 127.0.0.1
// answers every request of a KbsClient with the input bytes as a raw HTTP response (status line,
// headers, body), then closes. The first byte picks the call: Attest or GetResource.
// Invariants: no crash, no hang (the client's deadline holds), no more memory than the client's
// response limit, and an answer that is not a valid exchange ends in an error, never a secret.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "attestation/attester.h"
#include "fuzz_util.h"
#include "kbsclient/kbs_client.h"

namespace {

class CannedServer {
 public:
  CannedServer() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    std::thread([this] { Serve(); }).detach();
  }
  int port() const { return port_; }
  void Set(std::string answer) {
    std::lock_guard<std::mutex> lock(mu_);
    answer_ = std::move(answer);
  }

 private:
  void Serve() {
    while (true) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      // Read the request up to the end of its header (its body, if any, is small and ignored).
      std::string got;
      char buf[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
      std::string answer;
      {
        std::lock_guard<std::mutex> lock(mu_);
        answer = answer_;
      }
      size_t off = 0;
      while (off < answer.size()) {
        ssize_t n = write(c, answer.data() + off, answer.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      shutdown(c, SHUT_WR);
      while (read(c, buf, sizeof buf) > 0) {
      }
      close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  std::string answer_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static CannedServer server;
  if (size == 0) return 0;
  server.Set(std::string(coco::fuzz::AsString(data + 1, size - 1)));
  coco::kbsclient::KbsClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(server.port());
  o.max_attempts = 1;
  o.timeout_secs = 2;
  auto client = coco::kbsclient::KbsClient::Create(o, coco::attestation::NewSampleAttester());
  FUZZ_CHECK(client.ok());
  if (data[0] % 2 == 0) {
    (void)(*client)->Attest();
  } else {
    // The same canned bytes answer /auth, /attest and the resource request: the JWE cannot be
    // one sealed to this client's fresh key, so no secret may come out.
    auto secret = (*client)->GetResource("default/key/1");
    FUZZ_CHECK(!secret.ok());
  }
  return 0;
}
