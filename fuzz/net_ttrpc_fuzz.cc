// ttrpc frames as coco-agent reads them from the host (src/net/ttrpc.h): any byte stream is
// served to its end without a crash; every answer the server writes is a well-formed frame.
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "fuzz_util.h"
#include "net/ttrpc.h"

namespace ttrpc = coco::net::ttrpc;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 32768) return 0;  // fits the socket buffer: the writer never blocks
  int sp[2];
  FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0);
  FUZZ_CHECK(write(sp[0], data, size) == static_cast<ssize_t>(size));
  shutdown(sp[0], SHUT_WR);
  // Read back whatever the server answers, frame by frame.
  std::thread reader([fd = sp[0]] {
    ttrpc::FrameStream s(fd, false);
    for (;;) {
      auto f = s.Read();
      if (!f.ok()) break;
      FUZZ_CHECK(f->first.type == ttrpc::kTypeResponse);
    }
  });
  ttrpc::Server server;
  server.Register(
      "coco.agent.v1.Agent", "Echo",
      [](const std::string& p, const ttrpc::Metadata&) -> coco::Result<std::string> { return p; });
  server.Register("coco.agent.v1.Agent", "Fail",
                  [](const std::string&, const ttrpc::Metadata&) -> coco::Result<std::string> {
                    return coco::MakeError(coco::Code::kPermissionDenied, "no");
                  });
  {
    ttrpc::FrameStream stream(sp[1], false);
    coco::Error end = server.Serve(stream);
    FUZZ_CHECK(!end.message.empty());
  }
  shutdown(sp[1], SHUT_RDWR);
  reader.join();
  close(sp[0]);
  close(sp[1]);
  return 0;
}
