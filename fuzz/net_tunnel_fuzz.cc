// Tunnel frames as the host end reads them from the guest (src/net/tunnel.h): any byte stream is
// consumed without a crash, and an OPEN for a port the host was not given connects nowhere.
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "net/tunnel.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 32768) return 0;
  int sp[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
  FUZZ_CHECK(write(sp[0], data, size) == static_cast<ssize_t>(size));
  shutdown(sp[0], SHUT_WR);
  {
    // Port 1 is allowed but nothing listens there: an OPEN for it fails to connect.
    coco::net::TunnelEndpoint host(coco::net::TunnelEndpoint::Role::kHost, sp[1], {{1, 0}});
    FUZZ_CHECK(host.Start().ok());
    // Wait until the host end has read the whole stream, then stop it (Stop is safe at any
    // point). Its answers (CLOSE frames) stay in our receive buffer.
    for (int i = 0; i < 2000; ++i) {
      int pending = 0;
      ioctl(sp[1], FIONREAD, &pending);
      if (pending == 0) break;
      usleep(1000);
    }
    host.Stop();
    FUZZ_CHECK(host.connections() == 0);
  }
  close(sp[0]);
  close(sp[1]);
  return 0;
}
