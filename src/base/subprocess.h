// Starting child processes (fork + exec) with chosen stdio, and waiting for them.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"

namespace coco {

struct SpawnOptions {
  int stdin_fd = -1;               // -1: /dev/null
  int stdout_fd = -1;              // -1: inherit
  int stderr_fd = -1;              // -1: inherit
  std::string cwd;                 // "" = ours
  bool new_process_group = false;  // so the whole group can be signalled
  bool die_with_parent = false;    // PR_SET_PDEATHSIG SIGKILL: no orphan if we die
  std::vector<std::string> env;    // empty = ours; else exactly these KEY=VALUE
};

// Starts argv[0] (looked up in PATH when it has no '/'). The child gets the given fds as 0/1/2
// and no other inherited descriptor stays open unless it lacks O_CLOEXEC. Fails with kind "Io"
// when the program cannot be started (the exec error is reported, not a silent exit 127).
Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options = {});

// Decodes a waitpid status: the exit code, or 128 + signal number.
int ExitCodeOf(int wait_status);

// Describes a waitpid status for people: "exited with 3", "killed by signal 9 (Killed)".
std::string DescribeWaitStatus(int wait_status);

}  // namespace coco
