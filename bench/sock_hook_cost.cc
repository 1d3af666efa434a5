// Kernel-side cost of capturing socket data from the sock:sock_send_length /
// sock:sock_recv_length raw tracepoints instead of the syscall exit tracepoints the agent uses
// (bpf/progs/testing/sock_length_capture.bpf.c says what the program does and leaves out). Loads
// the program, traces the given processes, reads the ring buffer as the agent's reader does (5 ms
// polls, records dropped as with LOUPE_BENCH_DISCARD_SOCKET_EVENTS=1), and prints what it saw when
// stopped. bench/wrk_overhead.py --agent-cmd runs it in place of `loupe agent`;
// docs/performance.md has the numbers.
//
// Usage: sock_hook_cost [--pid-of COMM]... [--pid PID]...   (stop with SIGINT or SIGTERM)
#include <bpf/libbpf.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/intf/socket_trace.h"
#include "bpf/lib/protocol_inference.h"
#include "sock_length_capture.skel.h"
#include "src/base/read_file.h"

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int /*sig*/) { g_stop = true; }

struct Totals {
  uint64_t records = 0;
  uint64_t bytes = 0;
  uint64_t malformed = 0;  // not a data event, or copied > original_size or > the record
  uint64_t requests = 0;   // data that begins with an HTTP/1 request line ("GET ", "POST ")
  uint64_t responses = 0;  // data that begins with an HTTP/1 status line
};

// Checks each record and counts HTTP/1 heads, so a run shows that the program captured what the
// agent would get: one request and one response head per wrk request.
int OnRecord(void* ctx, void* data, size_t size) {
  auto* totals = static_cast<Totals*>(ctx);
  totals->records += 1;
  totals->bytes += size;
  const auto* ev = static_cast<const loupe_sock_data_event*>(data);
  if (size < sizeof(*ev) || ev->hdr.kind != LOUPE_SOCK_DATA || ev->copied > ev->original_size ||
      sizeof(*ev) + ev->copied > size) {
    totals->malformed += 1;
    return 0;
  }
  const std::string_view bytes(reinterpret_cast<const char*>(ev + 1), ev->copied);
  if (ev->hdr.protocol == LOUPE_PROTOCOL_HTTP1) {
    if (bytes.starts_with("GET ") || bytes.starts_with("POST ")) totals->requests += 1;
    if (bytes.starts_with("HTTP/1.")) totals->responses += 1;
  }
  return 0;
}

// tgids whose main thread's comm is `comm` (/proc/<pid>/comm).
std::vector<uint32_t> PidsOf(const std::string& comm) {
  std::vector<uint32_t> pids;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string text = loupe::ReadFileOrEmpty(entry.path() / "comm");
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (text == comm)
      pids.push_back(static_cast<uint32_t>(std::strtoul(name.c_str(), nullptr, 10)));
  }
  return pids;
}

uint64_t SumCounter(const sock_length_capture* skel, uint32_t slot) {
  const int cpus = libbpf_num_possible_cpus();
  std::vector<uint64_t> values(cpus > 0 ? cpus : 1);
  if (bpf_map__lookup_elem(skel->maps.counters, &slot, sizeof(slot), values.data(),
                           values.size() * sizeof(uint64_t), 0) != 0) {
    return 0;
  }
  uint64_t sum = 0;
  for (uint64_t v : values) sum += v;
  return sum;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<uint32_t> pids;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--pid" || arg == "--pid-of") && i + 1 < argc) {
      const std::string value = argv[++i];
      if (arg == "--pid") {
        pids.push_back(static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 10)));
      } else {
        for (uint32_t pid : PidsOf(value)) pids.push_back(pid);
      }
    } else {
      std::fprintf(stderr, "usage: sock_hook_cost [--pid-of COMM]... [--pid PID]...\n");
      return 2;
    }
  }
  if (pids.empty()) {
    std::fprintf(stderr, "sock_hook_cost: no process to trace\n");
    return 2;
  }
  sock_length_capture* skel = sock_length_capture__open();
  if (skel == nullptr) {
    std::fprintf(stderr, "sock_hook_cost: open failed: %s\n", std::strerror(errno));
    return 1;
  }
  skel->rodata->wakeup_bytes = 8u * 1024 * 1024 / 8;  // as the agent: an eighth of the ring
  if (int err = sock_length_capture__load(skel); err != 0) {
    std::fprintf(stderr, "sock_hook_cost: load failed: %s\n", std::strerror(-err));
    sock_length_capture__destroy(skel);
    return 1;
  }
  const size_t bits_bytes = LOUPE_PID_BITS_WORDS * sizeof(uint64_t);
  void* bits = mmap(nullptr, bits_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                    bpf_map__fd(skel->maps.pid_bits_map), 0);
  if (bits == MAP_FAILED) {
    std::fprintf(stderr, "sock_hook_cost: mmap failed: %s\n", std::strerror(errno));
    sock_length_capture__destroy(skel);
    return 1;
  }
  for (uint32_t pid : pids) {
    if (pid < LOUPE_PID_BITS_WORDS * 64) {
      static_cast<uint64_t*>(bits)[pid / 64] |= uint64_t{1} << (pid % 64);
    }
  }
  if (int err = sock_length_capture__attach(skel); err != 0) {
    std::fprintf(stderr, "sock_hook_cost: attach failed: %s\n", std::strerror(-err));
    munmap(bits, bits_bytes);
    sock_length_capture__destroy(skel);
    return 1;
  }
  Totals totals;
  ring_buffer* ring =
      ring_buffer__new(bpf_map__fd(skel->maps.socket_events), OnRecord, &totals, nullptr);
  if (ring == nullptr) {
    std::fprintf(stderr, "sock_hook_cost: ring buffer: %s\n", std::strerror(errno));
    munmap(bits, bits_bytes);
    sock_length_capture__destroy(skel);
    return 1;
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  std::printf("ready: tracing %zu process(es)\n", pids.size());
  std::fflush(stdout);
  while (!g_stop.load()) {
    ring_buffer__poll(ring, 5);
    ring_buffer__consume(ring);
  }
  ring_buffer__consume(ring);
  std::printf(
      "records %llu bytes %llu malformed %llu http-requests %llu http-responses %llu lost %llu "
      "calls-without-buffer %llu\n",
      static_cast<unsigned long long>(totals.records),
      static_cast<unsigned long long>(totals.bytes),
      static_cast<unsigned long long>(totals.malformed),
      static_cast<unsigned long long>(totals.requests),
      static_cast<unsigned long long>(totals.responses),
      static_cast<unsigned long long>(SumCounter(skel, 0)),
      static_cast<unsigned long long>(SumCounter(skel, 1)));
  ring_buffer__free(ring);
  munmap(bits, bits_bytes);
  sock_length_capture__destroy(skel);
  return 0;
}
