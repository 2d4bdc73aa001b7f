// What coco-agent does as PID 1 of the pod VM before it serves anything: mount the kernel
// filesystems, enable cgroup controllers, bring up loopback, find its virtio-serial ports, and
// keep crun in a sealed in-memory copy. Also the zombie reaper every PID 1 needs.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "base/result.h"

namespace coco::agent {

// Mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /dev/mqueue, /run, /tmp and cgroup2 at
// /sys/fs/cgroup, enables the cpu, memory, pids and cpuset controllers, brings up `lo` and sets
// the hostname. Idempotent enough for a restart: an already mounted target is left as is.
Status SetUpGuest(const std::string& hostname);

// Brings up `lo` in the calling thread's network namespace.
Status BringUpLoopback();

// Copies the program at `path` into a memfd sealed against any change and returns a path that
// executes it ("/proc/self/fd/N"; the descriptor stays open for the agent's life). crun run
// from such a copy skips its own copy-and-re-exec (its defence against a container overwriting
// the runtime binary through /proc/self/exe): a sealed memfd cannot be written. Under emulation
// each crun start is then one program load instead of two or three.
Result<std::string> SealedProgramCopy(const std::string& path);

// "/dev/vportNpM" of the virtio-serial port named `name`, waiting up to `timeout_ms` for it.
Result<std::string> FindVirtioPort(const std::string& name, int timeout_ms);

// Central child reaping for PID 1: one thread calls waitpid(-1). The agent starts its children
// through Track, and their statuses are kept until Wait collects them; every other status (an
// orphan reparented to PID 1) is dropped at once, so nothing accumulates and a reused pid never
// gets an old process's status.
class Reaper {
 public:
  static void Start();
  // Runs `spawn` (which starts one child) so that the child's exit is kept for Wait, even if it
  // exits before Wait is called.
  static Result<pid_t> Track(const std::function<Result<pid_t>()>& spawn);
  // Blocks until the tracked `pid` exits; returns its wait status.
  static int Wait(pid_t pid);
  // Tracked children not yet collected by Wait (exited or running).
  static size_t Tracked();
};

}  // namespace coco::agent
