#pragma once
/// \file dist/launch.hpp
/// Data-parallel on one machine without torchrun: `LocalLaunch` starts copies of the running
/// program as the other ranks of a run on this machine and makes the calling process rank 0,
/// setting the environment torchrun would (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR,
/// MASTER_PORT), so that `ssl::dist::from_env()` and `ssl::dist::Session` need nothing else:
///
///     int main(int argc, char** argv) {
///       ssl::dist::LocalLaunch launch(2, argv);   // before any other work: ranks 1.. start here
///       ssl::dist::Session session;               // every process joins the run
///       ... ssl::Trainer(...).fit(loader, ...)    // gradients all-reduced, loader sharded
///       return launch.wait(0);                    // rank 0 waits for the others' exit codes
///     }
///
/// Why on a CPU: a small model's step is a long chain of small operations that a second
/// intra-op thread barely shortens (the ViT of examples 05/06 trains at ~630 images/s on 1
/// thread and ~615 on 2 on the project's 2-core machine), while two single-thread processes
/// each run their own chain (~930 images/s together, gradients all-reduced by Gloo).
///
/// A process that already belongs to a run (RANK or WORLD_SIZE set: torchrun, or a copy started
/// here) launches nothing. The copies get the same arguments, their standard output goes to
/// /dev/null (rank 0 prints the progress) and their standard error is shared; on Linux they end
/// with rank 0 (PR_SET_PDEATHSIG), and rank 0 ending early (an exception) ends them too.
#include <torch/torch.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
/// 1 on POSIX systems, where `LocalLaunch` can start the other processes of a run (fork + exec).
#define SSL_HAS_LOCAL_LAUNCH 1
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#else
/// 1 on POSIX systems, where `LocalLaunch` can start the other processes of a run (fork + exec).
#define SSL_HAS_LOCAL_LAUNCH 0
#endif

namespace ssl::dist {

#if SSL_HAS_LOCAL_LAUNCH
/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's choice for port 0).
[[nodiscard]] inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  TORCH_CHECK(fd >= 0, "ssl::dist::free_port: socket() failed: ", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  const int err = errno;
  ::close(fd);
  TORCH_CHECK(ok, "ssl::dist::free_port: could not bind a port on 127.0.0.1: ", std::strerror(err));
  return ntohs(a.sin_port);
}
#endif

/// Runs this program on `procs` processes of this machine (see the file comment).
class LocalLaunch {
 public:
  /// Starts ranks 1 .. procs-1 as copies of this executable with `argv`; this process becomes
  /// rank 0. Does nothing for `procs` <= 1 or when this process already belongs to a run.
  LocalLaunch(int64_t procs, char** argv) {
    TORCH_CHECK(procs >= 1, "ssl::dist::LocalLaunch: expected procs >= 1, got ", procs);
    TORCH_CHECK(argv != nullptr && argv[0] != nullptr, "ssl::dist::LocalLaunch: expected main()'s argv");
    const bool in_run = std::getenv("RANK") != nullptr || std::getenv("WORLD_SIZE") != nullptr;
    if (in_run) {
      const char* w = std::getenv("SSL_LOCAL_LAUNCH");
      world_ = w != nullptr ? std::atoll(w) : 1;
      return;
    }
    if (procs == 1) return;
#if SSL_HAS_LOCAL_LAUNCH
    world_ = procs;
    const auto port = std::to_string(free_port());
    const auto set = [](const char* k, const std::string& v) { ::setenv(k, v.c_str(), 1); };
    set("WORLD_SIZE", std::to_string(procs));
    set("MASTER_ADDR", "127.0.0.1");
    set("MASTER_PORT", port);
    set("SSL_LOCAL_LAUNCH", std::to_string(procs));
    std::string exe = "/proc/self/exe";
#if !defined(__linux__)
    exe = argv[0];
#endif
    const pid_t parent = ::getpid();
    for (int64_t r = 1; r < procs; ++r) {
      set("RANK", std::to_string(r));
      set("LOCAL_RANK", std::to_string(r));
      const pid_t pid = ::fork();
      if (pid < 0) {  // end the copies already started before saying so
        const int err = errno;
        end_copies();
        TORCH_CHECK(false, "ssl::dist::LocalLaunch: fork() of rank ", r, " of ", procs, " failed: ", std::strerror(err));
      }
      if (pid == 0) {  // the copy: only async-signal-safe calls until execv
#if defined(__linux__)
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != parent) ::_exit(127);
#endif
        const int null = ::open("/dev/null", O_WRONLY);
        if (null >= 0) ::dup2(null, STDOUT_FILENO);
        ::execv(exe.c_str(), argv);
        ::_exit(127);
      }
      children_.push_back(pid);
    }
    set("RANK", "0");
    set("LOCAL_RANK", "0");
#else
    TORCH_CHECK(false, "ssl::dist::LocalLaunch: starting processes needs POSIX; asked for ", procs,
                " (start them with torchrun instead)");
#endif
  }

  LocalLaunch(const LocalLaunch&) = delete;
  LocalLaunch& operator=(const LocalLaunch&) = delete;

  /// The number of processes of a run this launch started (in rank 0 and in its copies); 1 when
  /// it started none (also under torchrun).
  [[nodiscard]] int64_t world_size() const { return world_; }

  /// Waits for the copies; returns `own` (rank 0's exit code) if it is non-zero, else the first
  /// non-zero exit code of a copy (128 + signal for one that was killed), else 0.
  int wait(int own = 0) {
    int code = own;
#if SSL_HAS_LOCAL_LAUNCH
    for (const pid_t pid : children_) {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      const int c = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (code == 0) code = c;
    }
#endif
    children_.clear();
    return code;
  }

  /// Rank 0 leaving without `wait()` (an exception) ends and reaps the copies.
  ~LocalLaunch() { end_copies(); }

 private:
  /// SIGTERM to every copy still held, then reap them.
  void end_copies() {
#if SSL_HAS_LOCAL_LAUNCH
    for (const pid_t pid : children_) ::kill(pid, SIGTERM);
    (void)wait();
#endif
  }

  int64_t world_ = 1;
#if SSL_HAS_LOCAL_LAUNCH
  std::vector<pid_t> children_;
#else
  std::vector<int> children_;
#endif
};

}  // namespace ssl::dist
