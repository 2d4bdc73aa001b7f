#include "agent/guest_init.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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

// In a child process of its own (a death test): the reaper collects every child of the process.
void ReaperScenario() {
  Reaper::Start();
  // A tracked child that exits long before anyone waits still gives its status.
  auto early = Reaper::Track([] { return Spawn({"/bin/sh", "-c", "exit 7"}); });
  if (!early.ok()) _exit(10);
  // Children nobody tracks (as orphans reparented to PID 1 are) are reaped and not kept.
  for (int i = 0; i < 200; ++i) {
    if (!Spawn({"/bin/true"}).ok()) _exit(11);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  if (Reaper::Tracked() != 1) _exit(12);
  if (ExitCodeOf(Reaper::Wait(*early)) != 7) _exit(13);
  if (Reaper::Tracked() != 0) _exit(14);
  // Many tracked children, waited in any order, each get their own status.
  std::vector<std::pair<pid_t, int>> kids;
  for (int i = 0; i < 20; ++i) {
    auto pid = Reaper::Track([i] { return Spawn({"/bin/sh", "-c", "exit " + std::to_string(i)}); });
    if (!pid.ok()) _exit(15);
    kids.emplace_back(*pid, i);
  }
  for (auto it = kids.rbegin(); it != kids.rend(); ++it) {
    if (ExitCodeOf(Reaper::Wait(it->first)) != it->second) _exit(16);
  }
  if (Reaper::Wait(1) != 0) _exit(17);  // not ours: answers at once instead of blocking
  _exit(0);
}

TEST(Reaper, KeepsTrackedStatusesOnlyAndNeverLosesOne) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(ReaperScenario(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace coco::agent
