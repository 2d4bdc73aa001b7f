/* /init of the pod benchmark's "boot + crun" VM: a lower bound for any pod that runs its
 * container with crun. It does only what every such pod must do after the kernel hands over:
 * mount what crun needs, run one container (a bundle already on the root image, no pull, no
 * attestation, no agent) with crun started from a sealed memfd as coco-agent does, and power
 * off. Built static, so its own start costs no dynamic loading.
 *
 *   cc -static -O2 -o init bench/crun_floor_init.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char* msg) {
  int fd = open("/dev/console", O_WRONLY);
  if (fd >= 0) {
    (void)write(fd, msg, strlen(msg));
    close(fd);
  }
}

static void off(void) {
  sync();
  reboot(RB_AUTOBOOT); /* QEMU runs with -no-reboot: this ends the VM */
}

int main(void) {
  mount("proc", "/proc", "proc", 0, NULL);
  mount("sysfs", "/sys", "sysfs", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  mount("tmpfs", "/run", "tmpfs", 0, "mode=0755");
  mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, NULL);

  int in = open("/usr/bin/crun", O_RDONLY);
  struct stat st;
  if (in < 0 || fstat(in, &st) != 0) {
    say("crun-floor: no /usr/bin/crun\n");
    off();
  }
  int fd = memfd_create("crun", MFD_ALLOW_SEALING);
  off_t pos = 0;
  while (pos < st.st_size)
    if (sendfile(fd, in, &pos, (size_t)(st.st_size - pos)) <= 0) break;
  fchmod(fd, 0555);
  fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);

  pid_t pid = fork();
  if (pid == 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    char* argv[] = {"crun", "run", "--bundle", "/bundle", "floor", NULL};
    char* envp[] = {"PATH=/usr/bin:/bin", NULL};
    execve(path, argv, envp);
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  say(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "crun-floor: ok\n" : "crun-floor: FAILED\n");
  off();
  return 0;
}
