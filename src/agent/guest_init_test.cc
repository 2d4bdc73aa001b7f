#include "agent/guest_init.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "base/subprocess.h"

namespace coco::agent {
namespace {

TEST(SealedProgramCopy, RunsAndCannotBeWritten) {
  auto path = SealedProgramCopy("/bin/true");
  ASSERT_TRUE(path.ok()) << path.error().message;
  ASSERT_EQ(path->rfind("/proc/self/fd/", 0), 0u) << *path;
  int fd = std::stoi(path->substr(14));
  // Exactly the seals crun checks for before it skips its own copy.
  EXPECT_EQ(fcntl(fd, F_GET_SEALS), F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
  EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_LT(pwrite(fd, "x", 1, 0), 0);
  auto pid = Spawn({*path});
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  int st = 0;
  ASSERT_EQ(waitpid(*pid, &st, 0), *pid);
  EXPECT_EQ(ExitCodeOf(st), 0);
  close(fd);
}

TEST(SealedProgramCopy, MissingProgramIsAnError) {
  auto path = SealedProgramCopy("/nonexistent/crun");
  ASSERT_FALSE(path.ok());
  EXPECT_NE(path.error().message.find("/nonexistent/crun"), std::string::npos);
}

}  // namespace
}  // namespace coco::agent
