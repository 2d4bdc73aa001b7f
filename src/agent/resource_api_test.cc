#include "agent/resource_api.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

namespace coco::agent {
namespace {

// A port unlikely to be in use, different per test run.
int TestPort() { return 20000 + static_cast<int>(getpid() % 20000); }

// Runs `fn` on a thread inside the network namespace pinned at `path`.
template <typename Fn>
void InNamespace(const std::string& path, Fn fn) {
  std::thread t([&] {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(setns(fd, CLONE_NEWNET), 0);
    close(fd);
    fn();
  });
  t.join();
}

TEST(PodNetwork, ServesResourcesOnlyInsideThePodNamespace) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
  char dir[] = "/tmp/coco-podnet-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string asked;
  auto net = PodNetwork::Create(std::string(dir) + "/netns/pod", TestPort(),
                                [&](const std::string& uri) -> Result<SecretBytes> {
                                  asked = uri;
                                  if (uri == "kbs:///default/app/missing") {
                                    return MakeError(Code::kPolicyDenied, "the broker said no");
                                  }
                                  return SecretBytes(ToBytes("s3cret"));
                                });
  if (!net.ok() && net.error().message.find("Operation not permitted") != std::string::npos) {
    GTEST_SKIP() << net.error().message;
  }
  ASSERT_TRUE(net.ok()) << net.error().message;

  InNamespace((*net)->ns_path(), [&] {
    httplib::Client c("127.0.0.1", TestPort());
    auto ok = c.Get("/cdh/resource/default/app/key");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->body, "s3cret");
    EXPECT_EQ(ok->get_header_value("Content-Type"), "application/octet-stream");
    EXPECT_EQ(asked, "kbs:///default/app/key");

    auto denied = c.Get("/cdh/resource/default/app/missing");
    ASSERT_TRUE(denied);
    EXPECT_EQ(denied->status, 500);
    EXPECT_NE(denied->body.find("the broker said no"), std::string::npos);

    auto dots = c.Get("/cdh/resource/../app/key");
    ASSERT_TRUE(dots);
    EXPECT_NE(dots->status, 200);

    auto unknown = c.Get("/cdh/nothing");
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 404);
    EXPECT_EQ(unknown->body, "URL NOT FOUND");

    auto post = c.Post("/cdh/resource/default/app/key", "x", "text/plain");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 405);

    auto info = c.Get("/info");
    ASSERT_TRUE(info);
    EXPECT_NE(info->body.find("\"feature\":\"resource\""), std::string::npos);
  });

  // Not reachable from the namespace the agent runs in.
  httplib::Client outside("127.0.0.1", TestPort());
  outside.set_connection_timeout(1, 0);
  EXPECT_FALSE(outside.Get("/info"));

  std::string path = (*net)->ns_path();
  net->reset();
  EXPECT_NE(access(path.c_str(), F_OK), 0);  // unpinned and removed
  std::string cleanup = std::string("rm -rf ") + dir;
  ASSERT_EQ(std::system(cleanup.c_str()), 0);
}

}  // namespace
}  // namespace coco::agent
