#include "agent/resource_api.h"

#include <fcntl.h>
#include <httplib.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <thread>

#include "agent/guest_init.h"
#include "base/file.h"

namespace coco::agent {
namespace {

Error Errno(const std::string& what) {
  return MakeError(Code::kIo, what + ": " + std::strerror(errno));
}

bool SafeSegment(const std::string& s) { return !s.empty() && s != "." && s != ".."; }

}  // namespace

struct PodNetwork::Impl {
  std::string ns_path;
  ResourceGetter get;
  httplib::Server server;
  std::thread thread;
  bool pinned = false;

  void Routes() {
    server.Get(R"(/cdh/resource/([^/]+)/([^/]+)/([^/]+))",
               [this](const httplib::Request& req, httplib::Response& res) {
                 for (int i = 1; i <= 3; ++i) {
                   if (!SafeSegment(req.matches[i])) {
                     res.status = 400;
                     res.set_content("BAD REQUEST", "text/plain");
                     return;
                   }
                 }
                 std::string uri = "kbs:///" + std::string(req.matches[1]) + "/" +
                                   std::string(req.matches[2]) + "/" + std::string(req.matches[3]);
                 auto r = get(uri);
                 if (!r.ok()) {
                   res.status = 500;
                   res.set_content(r.error().message, "text/plain");
                   return;
                 }
                 const auto& b = r->bytes();
                 res.set_content(std::string(b.begin(), b.end()), "application/octet-stream");
               });
    server.Get("/info", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"version":"coco-agent","feature":"resource"})", "application/json");
    });
    auto not_allowed = [](const httplib::Request&, httplib::Response& res) {
      res.status = 405;
      res.set_content("Method Not Allowed", "text/plain");
    };
    server.Post(".*", not_allowed);
    server.Put(".*", not_allowed);
    server.Delete(".*", not_allowed);
    server.Patch(".*", not_allowed);
    server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.status == 404 && res.body.empty()) res.set_content("URL NOT FOUND", "text/plain");
    });
  }

  // Runs on its own thread: moves that thread into a new network namespace, pins it, binds the
  // API there, then moves the thread back so that the API's own calls (to the broker, through
  // the tunnel on the agent's loopback) leave from the agent's namespace. A socket stays in
  // the namespace it was made in, so the API keeps listening inside the pod's.
  void Serve(int port, std::promise<Status>* ready) {
    int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) {
      ready->set_value(Errno("open the agent's network namespace"));
      return;
    }
    auto give_up = [&](Error e) {
      (void)setns(home, CLONE_NEWNET);
      close(home);
      ready->set_value(std::move(e));
    };
    if (unshare(CLONE_NEWNET) != 0) return give_up(Errno("create the pod's network namespace"));
    if (Status st = BringUpLoopback(); !st.ok()) return give_up(st.error());
    if (mount("/proc/thread-self/ns/net", ns_path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return give_up(Errno("pin the pod's network namespace at " + ns_path));
    }
    pinned = true;
    if (!server.bind_to_port("127.0.0.1", port)) {
      return give_up(MakeError(Code::kIo, "cannot listen on 127.0.0.1:" + std::to_string(port) +
                                              " in the pod's network namespace"));
    }
    if (setns(home, CLONE_NEWNET) != 0) {
      return give_up(Errno("return to the agent's network namespace"));
    }
    close(home);
    ready->set_value(Status::Ok());
    server.listen_after_bind();
  }
};

PodNetwork::PodNetwork(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PodNetwork::~PodNetwork() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->pinned) umount2(impl_->ns_path.c_str(), MNT_DETACH);
  unlink(impl_->ns_path.c_str());
}

const std::string& PodNetwork::ns_path() const { return impl_->ns_path; }

Result<std::unique_ptr<PodNetwork>> PodNetwork::Create(const std::string& ns_path, int port,
                                                       ResourceGetter get) {
  auto impl = std::make_unique<Impl>();
  impl->ns_path = ns_path;
  impl->get = std::move(get);
  impl->Routes();
  COCO_RETURN_IF_ERROR(MakeDirs(ns_path.substr(0, ns_path.rfind('/')), 0700));
  int f = open(ns_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);  // the bind mount target
  if (f < 0) return Errno("create " + ns_path);
  close(f);
  std::promise<Status> ready;
  auto done = ready.get_future();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw, port, &ready] { raw->Serve(port, &ready); });
  Status st = done.get();
  std::unique_ptr<PodNetwork> net(new PodNetwork(std::move(impl)));
  if (!st.ok()) return st.error();  // the destructor joins the thread and unpins
  return net;
}

}  // namespace coco::agent
