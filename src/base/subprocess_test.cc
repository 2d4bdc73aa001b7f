#include "base/subprocess.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace coco {
namespace {

TEST(Spawn, StdoutAndExitCode) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  SpawnOptions o;
  o.stdout_fd = p[1];
  auto pid = Spawn({"sh", "-c", "echo hi; exit 3"}, o);
  ASSERT_TRUE(pid.ok()) << pid.error().message;
  close(p[1]);
  char buf[16] = {};
  ASSERT_EQ(read(p[0], buf, sizeof buf), 3);
  EXPECT_STREQ(buf, "hi\n");
  close(p[0]);
  int st;
  ASSERT_EQ(waitpid(*pid, &st, 0), *pid);
  EXPECT_EQ(ExitCodeOf(st), 3);
  EXPECT_EQ(DescribeWaitStatus(st), "exited with 3");
}

TEST(Spawn, MissingProgramIsAnErrorNotExit127) {
  auto pid = Spawn({"/nonexistent/coco-no-such-program"});
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.error().message.find("No such file"), std::string::npos) << pid.error().message;
}

TEST(Spawn, SignalledChildIs128PlusSignal) {
  auto pid = Spawn({"sh", "-c", "kill -9 $$"});
  ASSERT_TRUE(pid.ok());
  int st;
  ASSERT_EQ(waitpid(*pid, &st, 0), *pid);
  EXPECT_EQ(ExitCodeOf(st), 137);
  EXPECT_NE(DescribeWaitStatus(st).find("signal 9"), std::string::npos);
}

}  // namespace
}  // namespace coco
