#include "base/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace coco {

Result<pid_t> Spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) return MakeError(Code::kInvalidArgument, "no program to start");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& e : options.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int err_pipe[2];
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    return MakeError(Code::kIo, std::string("pipe: ") + std::strerror(errno));
  }
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(err_pipe[0]);
    close(err_pipe[1]);
    return MakeError(Code::kIo, std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    auto fail = [&](int e) {
      (void)!write(err_pipe[1], &e, sizeof e);
      _exit(127);
    };
    if (options.die_with_parent) {
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(errno);
      if (getppid() != parent) _exit(127);
    }
    if (options.new_process_group && setpgid(0, 0) != 0) fail(errno);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    int in = options.stdin_fd;
    if (in < 0) {
      in = open("/dev/null", O_RDONLY);
      if (in < 0) fail(errno);
    }
    if (dup2(in, 0) < 0) fail(errno);
    if (options.stdout_fd >= 0 && dup2(options.stdout_fd, 1) < 0) fail(errno);
    if (options.stderr_fd >= 0 && dup2(options.stderr_fd, 2) < 0) fail(errno);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) fail(errno);
    if (options.env.empty()) {
      execvp(args[0], args.data());
    } else {
      execvpe(args[0], args.data(), envp.data());
    }
    fail(errno);
  }
  close(err_pipe[1]);
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(err_pipe[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int status;
    waitpid(pid, &status, 0);
    return MakeError(Code::kIo, "cannot start " + argv[0] + ": " + std::strerror(child_errno));
  }
  return pid;
}

int ExitCodeOf(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return 255;
}

std::string DescribeWaitStatus(int st) {
  if (WIFEXITED(st)) return "exited with " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    return "killed by signal " + std::to_string(WTERMSIG(st)) + " (" + strsignal(WTERMSIG(st)) +
           ")";
  }
  return "stopped";
}

}  // namespace coco
