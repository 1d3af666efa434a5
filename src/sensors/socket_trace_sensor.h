// Socket data sensor: the user-space side of bpf/progs/socket_trace.bpf.c. Tracepoints report TCP
// connections of traced processes (with the sock hook: open at the first data call of a connection
// established while the sensor ran, close when the application closes it, both from
// sock:inet_sock_set_state and sock:sock_{send,recv}_length; with the syscall hook: open at
// accept/connect, close at close()), and for
// connections whose first bytes look like HTTP/1.x or HTTP/2 a copied prefix of every read and
// write with its byte position in the direction's stream. Delivered as SocketOpenEvent /
// SocketDataEvent / SocketCloseEvent to a SocketEventSink, and process exec/exit to an optional
// ProcessEventSink (process_events.h).
//
// Which processes are traced: the pids given by discovery (SetTracedPids/AddPid/RemovePid, which
// may be called before or after Start), or every process when `trace_all_pids` is set. The
// agent's own pid and the pids given to ExcludePid are never traced.
//
// Threads: Start/Stop on the control thread; the pid setters from any thread (they take a mutex
// and write the kernel map directly). Two reader threads call the sinks: one for socket events,
// one for process events.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "src/bpf/skeleton.h"
#include "src/metrics/registry.h"
#include "src/sensors/decode.h"
#include "src/sensors/process_events.h"
#include "src/sensors/ring_reader.h"
#include "src/sensors/sensor.h"
#include "src/sensors/socket_events.h"

struct socket_trace;

namespace loupe::sensors {

struct SocketTraceOptions {
  // Bytes copied per syscall (the rest is counted in positions and original_size); at most
  // kMaxDataLimit.
  uint32_t data_limit = 4096;
  // Trace every process (tests, standalone without discovery) instead of the discovery set.
  bool trace_all_pids = false;
  // Never trace this process (turned off only by tests that generate traffic themselves).
  bool exclude_self = true;
  // Data calls of a connection inspected for a protocol before it is left to counters only.
  uint32_t inference_attempts = 4;
  // Size of the socket event ring buffer (a power of two, at least one page).
  uint32_t ring_buffer_bytes = 8u << 20;
  // Where data calls are seen (loupe.app.socket_data_hook): the sock:sock_send_length /
  // sock:sock_recv_length raw tracepoints (kernel >= 6.3; no syscall slow path for the data
  // syscalls' callers, no program for calls on pipes and files), or the exit tracepoints of the
  // data syscalls. kAuto takes the sock tracepoints where the kernel has them.
  enum class DataHook { kAuto, kSockTracepoints, kSyscallTracepoints };
  DataHook data_hook = DataHook::kAuto;
  // Tests only: attaching the raw tracepoint of this name (e.g. "tcp_destroy_sock") fails with
  // ENOENT, as on a kernel that lacks it, so the fallback of kAuto and the error of
  // kSockTracepoints can be exercised on a kernel that has them all.
  std::string unavailable_raw_tracepoint;

  static constexpr uint32_t kMaxDataLimit = 8192;
};

class SocketTraceSensor final : public Sensor {
 public:
  // `process_sink` may be null (no exec/exit delivery).
  SocketTraceSensor(SocketEventSink& sink, ProcessEventSink* process_sink,
                    metrics::Registry& registry, SocketTraceOptions options = {});
  ~SocketTraceSensor() override;

  const std::string& name() const override { return name_; }
  // The hook in use after Start(): kSockTracepoints or kSyscallTracepoints.
  SocketTraceOptions::DataHook data_hook() const { return data_hook_.load(); }
  // The tracepoints the data hook attached after Start() ("sock/sock_send_length",
  // "syscalls/sys_exit_read", ...), beside sched/sched_process_exec and _exit. With the sock hook
  // no "syscalls/" one is among them. Control thread only.
  std::vector<std::string> data_hook_tracepoints() const;
  absl::Status Start() override;
  void Stop() override;
  bool up() const override { return up_.load(); }
  std::string status_detail() const override;

  // Replaces the set of traced processes (tgids). At most kMaxTracedPids; extra pids are
  // refused with ResourceExhausted (the others are applied).
  absl::Status SetTracedPids(const std::vector<uint32_t>& pids);
  absl::Status AddPid(uint32_t pid);
  void RemovePid(uint32_t pid);
  // Never trace `pid` (e.g. the agent's exporters running as separate processes).
  absl::Status ExcludePid(uint32_t pid);
  std::vector<uint32_t> traced_pids() const;

  // Bounds of the user-space sets (the kernel's pid bitmap holds every possible pid).
  static constexpr size_t kMaxTracedPids = 16384;
  static constexpr size_t kMaxExcludedPids = 256;

 private:
  void OnSocketRecord(std::span<const uint8_t> record);
  void OnProcessRecord(std::span<const uint8_t> record);
  void PollProcessLosses();
  // Attaches the data hooks (sock raw tracepoints or data syscall exits) and the accept/connect
  // and *mmsg exits, per options_.data_hook.
  absl::Status AttachDataHooks();
  // Sets or clears `pid`'s bit in the kernel's pid bitmap from traced_ and excluded_.
  absl::Status SyncPidLocked(uint32_t pid);

  const std::string name_ = "socket_trace";
  SocketEventSink& sink_;
  ProcessEventSink* process_sink_;
  metrics::Registry& registry_;
  const SocketTraceOptions options_;
  metrics::Counter* events_total_;
  metrics::Counter* malformed_total_;
  metrics::Counter* process_events_total_;
  metrics::Counter* process_malformed_total_;
  int collector_id_ = 0;

  mutable std::mutex pids_mu_;
  std::unordered_set<uint32_t> traced_;    // guarded by pids_mu_
  std::unordered_set<uint32_t> excluded_;  // guarded by pids_mu_
  // pid_bits_map mapped into the agent (LOUPE_PID_BITS_WORDS words); null when not started.
  uint64_t* pid_bits_ = nullptr;  // guarded by pids_mu_ (the words are shared with the kernel)

  std::unique_ptr<bpf::Skeleton<struct socket_trace>> skel_;
  struct HookLink {
    struct bpf_link* link;
    std::string tracepoint;  // category/name
  };
  std::vector<HookLink> hook_links_;  // attached by hand (AttachDataHooks)
  std::atomic<SocketTraceOptions::DataHook> data_hook_{SocketTraceOptions::DataHook::kAuto};
  std::unique_ptr<FlowSink> lost_forwarder_;
  std::unique_ptr<LossTracker> losses_;
  std::vector<uint64_t> process_lost_last_;  // reader thread of process events
  // The pieces of the data event being decoded (reader thread of socket events): kept here, as
  // initializing 129 of them for every event would cost more than decoding most events.
  std::array<SocketDataPiece, kMaxSocketDataPieces> pieces_;
  bool discard_events_ = false;  // LOUPE_BENCH_DISCARD_SOCKET_EVENTS=1: read and drop (benchmarks)
  RingReaderThread socket_reader_;
  RingReaderThread process_reader_;
  std::atomic<int64_t> realtime_offset_ns_{0};
  std::atomic<bool> up_{false};
  std::string status_detail_;
};

}  // namespace loupe::sensors
