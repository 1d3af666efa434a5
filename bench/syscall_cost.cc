// Cost of a syscall as every process on the machine sees it while the agent runs: a non-data call
// (getppid: no program of ours runs, but any attached syscall tracepoint puts every thread on the
// syscall slow path) and a write + read pair on a pipe (data calls on an fd that is not a TCP
// socket: the socket-data program resolves the fd and returns). Run it without and with
// `loupe agent` and compare; docs/performance.md "Application view overhead, fourth pass".
//
// Usage: syscall_cost [calls]   (default 2 000 000; pin it with taskset for steadier numbers)
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

int main(int argc, char** argv) {
  const long calls = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 2000000;
  if (calls <= 0) {
    std::fprintf(stderr, "usage: syscall_cost [calls > 0]\n");
    return 2;
  }
  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("pipe");
    return 1;
  }
  char buf[64] = {};
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < calls; ++i) syscall(SYS_getppid);
  const auto t1 = std::chrono::steady_clock::now();
  for (long i = 0; i < calls / 2; ++i) {
    if (write(fds[1], buf, sizeof(buf)) != sizeof(buf) || read(fds[0], buf, sizeof(buf)) <= 0) {
      std::perror("pipe I/O");
      return 1;
    }
  }
  const auto t2 = std::chrono::steady_clock::now();
  // The pipe loop made `calls` syscalls (calls / 2 writes and as many reads).
  std::printf("getppid %.1f ns/call, pipe write or read %.1f ns/call\n",
              Seconds(t0, t1) / static_cast<double>(calls) * 1e9,
              Seconds(t1, t2) / static_cast<double>(calls / 2 * 2) * 1e9);
  return 0;
}
