// What coco-agent does as PID 1 of the pod VM before it serves anything: move the root off the
// initramfs (so crun can pivot_root), mount the kernel filesystems, enable cgroup controllers,
// bring up loopback, and find its virtio-serial ports. Also the zombie reaper every PID 1 needs.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "base/result.h"

namespace coco::agent {

// When running as PID 1 on the initramfs: makes a bind mount of the rootfs the root of this
// process (and of everything it starts), so that crun can pivot_root. Does nothing when not
// PID 1 or when done already.
Status EnterBindMountedRoot();

// Mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /dev/mqueue, /run, /tmp and cgroup2 at
// /sys/fs/cgroup, enables the cpu, memory, pids and cpuset controllers, brings up `lo` and sets
// the hostname. Idempotent enough for a restart: an already mounted target is left as is.
Status SetUpGuest(const std::string& hostname);

// "/dev/vportNpM" of the virtio-serial port named `name`, waiting up to `timeout_ms` for it.
Result<std::string> FindVirtioPort(const std::string& name, int timeout_ms);

// Central child reaping for PID 1: one thread calls waitpid(-1) and hands each status to
// whoever asked for that pid; statuses of pids nobody asked for (orphans) are dropped after a
// while. Use Reaper::Wait instead of waitpid anywhere in the agent.
class Reaper {
 public:
  static void Start();
  // Blocks until `pid` exits; returns its wait status.
  static int Wait(pid_t pid);
  // Non-blocking: true and `status` set if `pid` has exited.
  static bool Poll(pid_t pid, int* status);
};

}  // namespace coco::agent
