// Benchmark of discovery's process scan with listening-port lookup (what BEYLA_OPEN_PORT and
// `open_ports` selectors cost every scan interval): without and with the ListenerOwners cache
// that skips the /proc reads of processes that did not change (exe, comm, namespace, fds). `procs`
// extra idle processes (forked, each holding 64 extra fds and an inherited listener, like the
// workers of a prefork server) make the host look busier than this VM.
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "benchmark/benchmark.h"
#include "src/discovery/discovery.h"

namespace loupe::discovery {
namespace {

struct Children {
  std::vector<pid_t> pids;
  ~Children() {
    for (pid_t pid : pids) kill(pid, SIGKILL);
    for (pid_t pid : pids) waitpid(pid, nullptr, 0);
  }
};

void BM_ScanProcesses(benchmark::State& state) {
  const bool cached = state.range(0) != 0;
  const int extra = static_cast<int>(state.range(1));
  const bool listen_ports = state.range(2) != 0;
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener, 1) != 0) {
    state.SkipWithError("cannot listen");
    return;
  }
  std::vector<int> fds;
  for (int i = 0; i < 64; ++i) fds.push_back(dup(listener));
  Children children;
  for (int i = 0; i < extra; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    if (pid > 0) children.pids.push_back(pid);
  }
  ScanCache owners;
  size_t processes = 0;
  size_t walks = 0;
  size_t reads = 0;
  for (auto _ : state) {
    const auto scan = ScanProcesses(listen_ports, cached ? &owners : nullptr);
    processes = scan.size();
    walks += cached ? owners.last_walked().size() : (listen_ports ? processes : 0);
    reads += cached ? owners.last_read().size() : processes;
    benchmark::DoNotOptimize(scan.data());
  }
  state.counters["processes"] = static_cast<double>(processes);
  // Processes whose fds were read, per scan (without the cache: every process of the namespace).
  state.counters["walks/scan"] =
      static_cast<double>(walks) / static_cast<double>(state.iterations());
  // Processes whose exe, comm and namespace were read, per scan (kernel threads included).
  state.counters["reads/scan"] =
      static_cast<double>(reads) / static_cast<double>(state.iterations());
  for (int fd : fds) close(fd);
  close(listener);
}
BENCHMARK(BM_ScanProcesses)
    ->ArgNames({"cached", "procs", "ports"})
    ->Args({0, 0, 1})
    ->Args({1, 0, 1})
    ->Args({0, 200, 1})
    ->Args({1, 200, 1})
    ->Args({0, 200, 0})
    ->Args({1, 200, 0})
    ->Unit(benchmark::kMillisecond);

// The listening-socket dumps of `namespaces` other network namespaces (one listening child in
// each, like pod sandboxes), as a scan does them: every namespace from one shared helper thread
// (`shared`, what ScanProcesses does) or each from a thread of its own (what it did before).
void BM_DumpForeignNamespaces(benchmark::State& state) {
  const bool shared = state.range(0) != 0;
  const int namespaces = static_cast<int>(state.range(1));
  Children children;
  for (int i = 0; i < namespaces; ++i) {
    int ready[2];
    if (pipe(ready) != 0) break;
    const pid_t pid = fork();
    if (pid == 0) {
      close(ready[0]);
      if (unshare(CLONE_NEWNET) != 0) _exit(1);
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in any{};
      any.sin_family = AF_INET;
      if (bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof(any)) != 0 || listen(fd, 1) != 0) {
        _exit(1);
      }
      if (write(ready[1], "x", 1) != 1) _exit(1);
      pause();
      _exit(0);
    }
    close(ready[1]);
    char c = 0;
    const bool ok = pid > 0 && read(ready[0], &c, 1) == 1;
    close(ready[0]);
    if (pid > 0) children.pids.push_back(pid);
    if (!ok) {
      state.SkipWithError("a child could not listen in a new network namespace (needs root)");
      return;
    }
  }
  size_t dumped = 0;
  for (auto _ : state) {
    internal::ForeignNetnsDumper dumper;
    for (pid_t pid : children.pids) {
      const auto sockets = internal::ListeningSocketsNetlink(
          static_cast<uint32_t>(pid), /*same_netns=*/false, shared ? &dumper : nullptr);
      dumped += sockets ? sockets->size() : 0;
    }
  }
  if (dumped != static_cast<size_t>(namespaces) * state.iterations()) {
    state.SkipWithError("a dump missed its namespace's listener");
  }
}
BENCHMARK(BM_DumpForeignNamespaces)
    ->ArgNames({"shared", "namespaces"})
    ->Args({0, 50})
    ->Args({1, 50})
    ->MeasureProcessCPUTime()  // the helper threads' CPU too
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe::discovery
