#include "src/sensors/socket_trace_sensor.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/types.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
// clang-format off: the ABI header needs the __u* types first.
#include "bpf/intf/socket_trace.h"
// clang-format on
#include "socket_trace.skel.h"

#include "absl/strings/str_cat.h"
#include "src/base/clock.h"
#include "src/base/logging.h"
#include "src/base/status.h"
#include "src/bpf/feature_probe.h"
#include "src/bpf/links.h"
#include "src/bpf/ringbuf_reader.h"
#include "src/sensors/decode.h"

namespace loupe::sensors {
namespace {

// The BPF side wakes the reader only when the pending data crosses an eighth of the ring
// (wakeup_bytes); otherwise the reader picks events up on its own every kSocketPollMs, which bounds
// the added latency.
constexpr int kSocketPollMs = 5;
// An idle reader backs off to this (RingReaderThread): 20 wake-ups a second instead of 200.
constexpr int kSocketIdlePollMs = 50;

constexpr size_t kPidBitsWords = LOUPE_PID_BITS_WORDS;
constexpr size_t kPidBitsBytes = kPidBitsWords * sizeof(uint64_t);

}  // namespace
namespace {

static_assert(SocketTraceOptions::kMaxDataLimit == LOUPE_SOCK_MAX_DATA);

// LossTracker reports to a FlowSink; socket-event losses go to the SocketEventSink.
class LostForwarder final : public FlowSink {
 public:
  explicit LostForwarder(SocketEventSink& sink) : sink_(sink) {}
  void OnFlow(flow::Flow&&) override {}
  void OnTcpEvent(const TcpEvent&) override {}
  void OnLost(const flow::LostEvent& lost) override { sink_.OnLost(lost); }

 private:
  SocketEventSink& sink_;
};

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, dual-stack sockets) becomes the IPv4 address.
flow::IpAddress Address(const __u8 (&bytes)[16], uint8_t version) {
  flow::IpAddress addr;
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (version == 6 && std::memcmp(bytes, kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
    addr.version = 4;
    std::copy(bytes + 12, bytes + 16, addr.bytes.begin());
  } else if (version == 4) {
    addr.version = 4;
    std::copy(bytes, bytes + 4, addr.bytes.begin());
  } else if (version == 6) {
    addr.version = 6;
    std::copy(bytes, bytes + 16, addr.bytes.begin());
  }
  return addr;
}

ConnTuple Tuple(const loupe_sock_tuple& t) {
  ConnTuple tuple;
  tuple.local_ip = Address(t.local_addr, t.ip_version);
  tuple.remote_ip = Address(t.remote_addr, t.ip_version);
  tuple.local_port = t.local_port;
  tuple.remote_port = t.remote_port;
  return tuple;
}

ConnId Id(const loupe_sock_header& hdr) { return ConnId{hdr.tgid, hdr.fd, hdr.tsid}; }

ConnRole Role(uint8_t role) {
  return role <= LOUPE_ROLE_SERVER ? static_cast<ConnRole>(role) : ConnRole::kUnknown;
}

std::string CString(const char* text, size_t max) { return std::string(text, strnlen(text, max)); }

}  // namespace

SocketTraceSensor::SocketTraceSensor(SocketEventSink& sink, ProcessEventSink* process_sink,
                                     metrics::Registry& registry, SocketTraceOptions options)
    : sink_(sink), process_sink_(process_sink), registry_(registry), options_(std::move(options)) {
  auto& events = registry_.AddCounter(
      "loupe_bpf_events_total", "Events received from BPF programs, by program.", {"program"});
  auto& malformed = registry_.AddCounter(
      "loupe_bpf_events_malformed_total",
      "Events from BPF programs rejected for a wrong size, by program.", {"program"});
  events_total_ = events.WithLabels({name_});
  malformed_total_ = malformed.WithLabels({name_});
  process_events_total_ = events.WithLabels({"process_events"});
  process_malformed_total_ = malformed.WithLabels({"process_events"});
}

SocketTraceSensor::~SocketTraceSensor() { Stop(); }

std::string SocketTraceSensor::status_detail() const {
  std::lock_guard<std::mutex> lock(pids_mu_);
  return status_detail_;
}

absl::Status SocketTraceSensor::Start() {
  auto opened = bpf::Skeleton<struct socket_trace>::Open(LOUPE_SKELETON_OPS(socket_trace));
  if (!opened.ok()) return opened.status();
  skel_ = std::move(opened).value();
  auto* raw = skel_->get();
  raw->rodata->data_limit = std::min(options_.data_limit, SocketTraceOptions::kMaxDataLimit);
  raw->rodata->trace_all_pids = options_.trace_all_pids ? 1 : 0;
  raw->rodata->inference_attempts = options_.inference_attempts;
  raw->rodata->wakeup_bytes = options_.ring_buffer_bytes / 8;
  absl::Status status;
  // Tracing every process, no process has its own start. Otherwise the map holds one entry per
  // traced process: preallocated, its 32768 entries would take 2.6 MB of kernel memory whatever
  // discovery selects. Linux 6.1 allows tracing programs hash maps that allocate on update.
  if (options_.trace_all_pids && bpf_map__set_max_entries(raw->maps.pid_since_map, 1) != 0) {
    status = absl::InternalError("socket_trace: cannot size pid_since_map");
  }
  if (!options_.trace_all_pids && bpf::KernelAtLeast(6, 1) &&
      bpf_map__set_map_flags(raw->maps.pid_since_map, bpf_map__map_flags(raw->maps.pid_since_map) |
                                                          BPF_F_NO_PREALLOC) != 0) {
    status = absl::InternalError("socket_trace: cannot set pid_since_map's flags");
  }
  if (bpf_map__set_max_entries(raw->maps.socket_events, options_.ring_buffer_bytes) != 0) {
    status = absl::InvalidArgumentError(
        absl::StrCat("socket_trace: ring buffer size ", options_.ring_buffer_bytes,
                     " is not a power of two of at least one page"));
  }
  if (status.ok()) status = skel_->Load();
  if (status.ok()) {
    std::lock_guard<std::mutex> lock(pids_mu_);
    void* bits = mmap(nullptr, kPidBitsBytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                      bpf_map__fd(raw->maps.pid_bits_map), 0);
    if (bits == MAP_FAILED) {
      status = absl::InternalError(
          absl::StrCat("socket_trace: cannot map the pid bitmap: ", std::strerror(errno)));
    } else {
      pid_bits_ = static_cast<uint64_t*>(bits);
    }
    if (options_.exclude_self) excluded_.insert(static_cast<uint32_t>(getpid()));
    for (uint32_t pid : excluded_) {
      if (status.ok()) status = SyncPidLocked(pid);
    }
    for (uint32_t pid : traced_) {
      if (status.ok()) status = SyncPidLocked(pid);
    }
  }
  // Attach last: the pid maps are complete when the first syscall is seen. The data programs are
  // attached by hand (AttachDataHooks), the rest by the skeleton.
  if (status.ok()) {
    bpf_program__set_autoattach(raw->progs.tracepoint__sys_exit_socket_call, false);
    bpf_program__set_autoattach(raw->progs.raw_tp__sock_send_length, false);
    bpf_program__set_autoattach(raw->progs.raw_tp__sock_recv_length, false);
    bpf_program__set_autoattach(raw->progs.raw_tp__inet_sock_set_state, false);
    bpf_program__set_autoattach(raw->progs.raw_tp__tcp_destroy_sock, false);
    bpf_program__set_autoattach(raw->progs.tracepoint__sys_enter_close, false);
    status = skel_->Attach();
  }
  if (status.ok()) status = AttachDataHooks();
  // Every call of a traced process is seen from here on (docs/design/socket-capture.md, Open).
  if (status.ok())
    raw->data->traced_since_floor_ns = static_cast<uint64_t>(RealClock::Get().NowMonotonicNs());
  if (!status.ok()) {
    Stop();
    std::lock_guard<std::mutex> lock(pids_mu_);
    status_detail_ = std::string(status.message());
    return status;
  }
  realtime_offset_ns_ = MonotonicToRealtimeOffsetNs();
  const int lost_fd = bpf_map__fd(raw->maps.socket_lost_map);
  const int process_lost_fd = bpf_map__fd(raw->maps.process_lost_map);
  lost_forwarder_ = std::make_unique<LostForwarder>(sink_);
  losses_ = std::make_unique<LossTracker>(lost_fd, *lost_forwarder_);
  const int ncpus = libbpf_num_possible_cpus();
  process_lost_last_.assign(ncpus > 0 ? static_cast<size_t>(ncpus) : 0, 0);
  collector_id_ = registry_.AddCollector(
      [this, lost_fd, process_lost_fd](std::vector<metrics::FamilySnapshot>* out) {
        auto lost = bpf::SumPerCpuCounter(lost_fd, 0);
        auto process_lost = bpf::SumPerCpuCounter(process_lost_fd, 0);
        out->push_back({"loupe_bpf_events_lost_total",
                        "Events BPF programs could not deliver because their ring buffer was full.",
                        metrics::MetricType::kCounter,
                        {{{{"program", name_}}, static_cast<double>(lost.ok() ? *lost : 0)},
                         {{{"program", "process_events"}},
                          static_cast<double>(process_lost.ok() ? *process_lost : 0)}}});
      });
  // Benchmarks only (docs/performance.md): the kernel side's cost alone, events read and dropped.
  if (const char* discard = std::getenv("LOUPE_BENCH_DISCARD_SOCKET_EVENTS")) {
    discard_events_ = std::string_view(discard) == "1";
    if (discard_events_)
      LOG_WARN("socket_trace: LOUPE_BENCH_DISCARD_SOCKET_EVENTS=1, events are dropped");
  }
  status = socket_reader_.Start(
      name_, bpf_map__fd(raw->maps.socket_events),
      [this](std::span<const uint8_t> record) { OnSocketRecord(record); },
      [this] {
        losses_->Poll();
        realtime_offset_ns_ = MonotonicToRealtimeOffsetNs();
        sink_.OnTick();
      },
      kSocketPollMs, kSocketIdlePollMs);
  if (status.ok()) {
    status = process_reader_.Start(
        "process_events", bpf_map__fd(raw->maps.process_events),
        [this](std::span<const uint8_t> record) { OnProcessRecord(record); },
        [this] { PollProcessLosses(); });
  }
  if (!status.ok()) {
    Stop();
    return status;
  }
  {
    std::lock_guard<std::mutex> lock(pids_mu_);
    status_detail_.clear();
  }
  up_ = true;
  return absl::OkStatus();
}

absl::Status SocketTraceSensor::AttachDataHooks() {
  using DataHook = SocketTraceOptions::DataHook;
  auto* raw = skel_->get();
  bool sock = false;
  if (options_.data_hook != DataHook::kSyscallTracepoints) {
    // Data, then roles (sock:inet_sock_set_state) and ends (tcp:tcp_destroy_sock).
    struct RawTracepoint {
      struct bpf_program* prog;
      const char* category;
      const char* name;
    };
    const RawTracepoint raw_tracepoints[] = {
        {raw->progs.raw_tp__sock_send_length, "sock", "sock_send_length"},
        {raw->progs.raw_tp__sock_recv_length, "sock", "sock_recv_length"},
        {raw->progs.raw_tp__inet_sock_set_state, "sock", "inet_sock_set_state"},
        {raw->progs.raw_tp__tcp_destroy_sock, "tcp", "tcp_destroy_sock"}};
    long err = 0;
    std::string failed;  // "category:name" of the tracepoint that could not be attached
    for (const RawTracepoint& tp : raw_tracepoints) {
      struct bpf_link* link = nullptr;
      if (options_.unavailable_raw_tracepoint == tp.name) {
        errno = ENOENT;  // libbpf's way of failing: null and errno
      } else {
        link = bpf_program__attach_raw_tracepoint(tp.prog, tp.name);
      }
      err = libbpf_get_error(link);
      if (err != 0) {
        failed = absl::StrCat(tp.category, ":", tp.name);
        break;
      }
      hook_links_.push_back({link, absl::StrCat(tp.category, "/", tp.name)});
    }
    if (err == 0) {
      sock = true;
    } else {
      if (options_.data_hook == DataHook::kSockTracepoints) {
        // Links attached so far are destroyed by Stop() with the rest.
        return absl::FailedPreconditionError(absl::StrCat(
            "socket_trace: loupe.app.socket_data_hook is sock_tracepoints, but attaching to "
            "the raw tracepoint ",
            failed, " failed (", std::strerror(static_cast<int>(-err)),
            "; the sock hook needs sock:sock_send_length/sock_recv_length, "
            "sock:inet_sock_set_state and tcp:tcp_destroy_sock: Linux 6.3 or later)"));
      }
      LOG_INFO(
          "socket_trace: raw tracepoint {} not available ({}); data calls are seen at the "
          "syscalls' exits",
          failed, std::strerror(static_cast<int>(-err)));
      for (const HookLink& hook : hook_links_) bpf_link__destroy(hook.link);
      hook_links_.clear();
    }
  }
  if (!sock) {
    // The syscall hook: accept/connect give the connection's role, close() its end, and the data
    // calls are seen at their exits (one program for all the exits).
    struct bpf_program* prog = raw->progs.tracepoint__sys_exit_socket_call;
    std::vector<std::pair<struct bpf_program*, const char*>> tracepoints;
    for (const char* tp :
         {"sys_exit_accept", "sys_exit_accept4", "sys_exit_connect", "sys_exit_sendmmsg",
          "sys_exit_recvmmsg", "sys_exit_read", "sys_exit_write", "sys_exit_readv",
          "sys_exit_writev", "sys_exit_sendfile64", "sys_exit_sendto", "sys_exit_recvfrom",
          "sys_exit_sendmsg", "sys_exit_recvmsg"}) {
      tracepoints.emplace_back(prog, tp);
    }
    tracepoints.emplace_back(raw->progs.tracepoint__sys_enter_close, "sys_enter_close");
    for (auto [p, tp] : tracepoints) {
      struct bpf_link* link = bpf_program__attach_tracepoint(p, "syscalls", tp);
      const long err = libbpf_get_error(link);
      if (err != 0) {
        return absl::InternalError(absl::StrCat("socket_trace: attaching to tracepoint syscalls/",
                                                tp, ": ", std::strerror(static_cast<int>(-err))));
      }
      hook_links_.push_back({link, absl::StrCat("syscalls/", tp)});
    }
  }
  data_hook_ = sock ? DataHook::kSockTracepoints : DataHook::kSyscallTracepoints;
  LOG_INFO("socket_trace: hook {}",
           sock ? "sock_tracepoints: connections and data calls seen at the raw tracepoints "
                  "sock:sock_send_length/sock_recv_length, sock:inet_sock_set_state and "
                  "tcp:tcp_destroy_sock (no syscall tracepoint)"
                : "syscall_tracepoints: data calls seen at the data syscalls' exits, "
                  "connections at accept/connect and close()");
  return absl::OkStatus();
}

std::vector<std::string> SocketTraceSensor::data_hook_tracepoints() const {
  std::vector<std::string> out;
  for (const HookLink& hook : hook_links_) out.push_back(hook.tracepoint);
  return out;
}

void SocketTraceSensor::Stop() {
  // All tracepoints at once: each detach waits for RCU grace periods, which concurrent ones share.
  std::vector<struct bpf_link*> links;
  for (const HookLink& hook : hook_links_) links.push_back(hook.link);
  hook_links_.clear();
  if (skel_ != nullptr) {
    for (struct bpf_link* link : bpf::TakeSkeletonLinks(skel_->get()->skeleton)) {
      links.push_back(link);
    }
  }
  bpf::DestroyLinksConcurrently(links);
  socket_reader_.Stop();
  process_reader_.Stop();
  if (collector_id_ != 0) {
    registry_.RemoveCollector(collector_id_);
    collector_id_ = 0;
  }
  {
    std::lock_guard<std::mutex> lock(pids_mu_);
    if (pid_bits_ != nullptr) munmap(pid_bits_, kPidBitsBytes);
    pid_bits_ = nullptr;
  }
  losses_.reset();
  lost_forwarder_.reset();
  skel_.reset();
  up_ = false;
}

namespace {

absl::Status CheckPidInRange(uint32_t pid) {
  if (pid >= kPidBitsWords * 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("socket_trace: pid ", pid, " is above the kernel's pid limit"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SocketTraceSensor::SyncPidLocked(uint32_t pid) {
  RETURN_IF_ERROR(CheckPidInRange(pid));
  if (pid_bits_ == nullptr) return absl::OkStatus();  // applied at Start
  const bool set = options_.trace_all_pids ? excluded_.contains(pid)
                                           : traced_.contains(pid) && !excluded_.contains(pid);
  // The kernel clears bits of exiting processes in the same words: atomic read-modify-writes.
  std::atomic_ref<uint64_t> word(pid_bits_[pid / 64]);
  const uint64_t bit = uint64_t{1} << (pid % 64);
  // With discovery, when a process became traced (the sock hook's test for new connections): set
  // before the bit, removed after it. A failed update (map full) only makes that test fall back to
  // what was read before the first call.
  const int since_fd = options_.trace_all_pids ? -1 : bpf_map__fd(skel_->get()->maps.pid_since_map);
  if (set) {
    if (since_fd >= 0 && (word.load(std::memory_order_relaxed) & bit) == 0) {
      const uint64_t now = static_cast<uint64_t>(RealClock::Get().NowMonotonicNs());
      bpf_map_update_elem(since_fd, &pid, &now, BPF_ANY);
    }
    word.fetch_or(bit, std::memory_order_seq_cst);
  } else {
    word.fetch_and(~bit, std::memory_order_relaxed);
    if (since_fd >= 0) bpf_map_delete_elem(since_fd, &pid);
  }
  return absl::OkStatus();
}

absl::Status SocketTraceSensor::SetTracedPids(const std::vector<uint32_t>& pids) {
  std::lock_guard<std::mutex> lock(pids_mu_);
  std::unordered_set<uint32_t> wanted;
  absl::Status status;
  for (uint32_t pid : pids) {
    if (wanted.size() >= kMaxTracedPids) {
      status = absl::ResourceExhaustedError(
          absl::StrCat("socket_trace: more than ", kMaxTracedPids, " traced pids"));
      break;
    }
    if (absl::Status range = CheckPidInRange(pid); !range.ok()) {
      if (status.ok()) status = range;
      continue;
    }
    wanted.insert(pid);
  }
  std::swap(traced_, wanted);  // `wanted` holds the previous set now
  for (uint32_t pid : wanted) {
    if (!traced_.contains(pid)) SyncPidLocked(pid).IgnoreError();  // in range: cannot fail
  }
  for (uint32_t pid : traced_) {
    if (!wanted.contains(pid)) SyncPidLocked(pid).IgnoreError();
  }
  return status;
}

absl::Status SocketTraceSensor::AddPid(uint32_t pid) {
  std::lock_guard<std::mutex> lock(pids_mu_);
  if (traced_.contains(pid)) return absl::OkStatus();
  if (traced_.size() >= kMaxTracedPids) {
    return absl::ResourceExhaustedError(
        absl::StrCat("socket_trace: more than ", kMaxTracedPids, " traced pids"));
  }
  traced_.insert(pid);
  absl::Status status = SyncPidLocked(pid);
  if (!status.ok()) traced_.erase(pid);
  return status;
}

void SocketTraceSensor::RemovePid(uint32_t pid) {
  std::lock_guard<std::mutex> lock(pids_mu_);
  if (traced_.erase(pid) > 0) SyncPidLocked(pid).IgnoreError();
}

absl::Status SocketTraceSensor::ExcludePid(uint32_t pid) {
  std::lock_guard<std::mutex> lock(pids_mu_);
  if (excluded_.contains(pid)) return absl::OkStatus();
  if (excluded_.size() >= kMaxExcludedPids) {
    return absl::ResourceExhaustedError(
        absl::StrCat("socket_trace: more than ", kMaxExcludedPids, " excluded pids"));
  }
  excluded_.insert(pid);
  absl::Status status = SyncPidLocked(pid);
  if (!status.ok()) excluded_.erase(pid);
  return status;
}

std::vector<uint32_t> SocketTraceSensor::traced_pids() const {
  std::lock_guard<std::mutex> lock(pids_mu_);
  std::vector<uint32_t> pids(traced_.begin(), traced_.end());
  std::sort(pids.begin(), pids.end());
  return pids;
}

// Declared in decode.h with the other record decoders; here because bpf/intf/socket_trace.h and
// netflow.h, which decode.cc includes, both define the direction enumerators.
size_t SplitSocketData(std::span<const uint8_t> payload, uint32_t copied, uint32_t segments,
                       uint32_t original_size,
                       std::array<SocketDataPiece, kMaxSocketDataPieces>* out) {
  static_assert(kMaxSocketDataPieces == 1 + LOUPE_SOCK_MAX_SEGMENTS);
  if (copied > original_size || payload.size() < copied || segments > LOUPE_SOCK_MAX_SEGMENTS) {
    return 0;
  }
  (*out)[0] = {0, original_size, payload.first(copied)};
  size_t at = copied;
  uint64_t end = copied;  // of the previous piece's bytes
  for (uint32_t i = 1; i <= segments; ++i) {
    loupe_sock_segment seg;
    if (payload.size() - at < sizeof(seg)) return 0;
    std::memcpy(&seg, payload.data() + at, sizeof(seg));
    at += sizeof(seg);
    if (seg.length == 0 || seg.offset < end || uint64_t{seg.offset} + seg.length > original_size ||
        payload.size() - at < seg.length) {
      return 0;
    }
    (*out)[i - 1].span = seg.offset - (*out)[i - 1].offset;
    (*out)[i] = {seg.offset, original_size - seg.offset, payload.subspan(at, seg.length)};
    at += seg.length;
    end = uint64_t{seg.offset} + seg.length;
  }
  if (at != payload.size()) return 0;
  return segments + 1;
}

void SocketTraceSensor::OnSocketRecord(std::span<const uint8_t> record) {
  events_total_->Inc();
  if (discard_events_) [[unlikely]]
    return;
  loupe_sock_header hdr;
  if (record.size() < sizeof(hdr)) {
    malformed_total_->Inc();
    return;
  }
  std::memcpy(&hdr, record.data(), sizeof(hdr));
  const int64_t offset = realtime_offset_ns_.load(std::memory_order_relaxed);
  const int64_t time_ns = static_cast<int64_t>(hdr.ts_ns) + offset;
  switch (hdr.kind) {
    case LOUPE_SOCK_OPEN: {
      loupe_sock_open_event ev;
      if (record.size() != sizeof(ev)) break;
      std::memcpy(&ev, record.data(), sizeof(ev));
      SocketOpenEvent out;
      out.id = Id(hdr);
      out.time_ns = time_ns;
      out.role = Role(hdr.role);
      out.tuple = Tuple(ev.tuple);
      out.tid = hdr.tid;
      out.comm = CString(ev.comm, sizeof(ev.comm));
      sink_.OnOpen(out);
      return;
    }
    case LOUPE_SOCK_DATA: {
      loupe_sock_data_event ev;
      if (record.size() < sizeof(ev)) break;
      std::memcpy(&ev, record.data(), sizeof(ev));
      if (record.size() != sizeof(ev) + uint64_t{ev.copied} + ev.extra ||
          ev.direction > LOUPE_DIR_INGRESS) {
        break;
      }
      const size_t count = SplitSocketData(record.subspan(sizeof(ev)), ev.copied, ev.segments,
                                           ev.original_size, &pieces_);
      if (count == 0) break;
      SocketDataEvent out;
      out.id = Id(hdr);
      out.time_ns = time_ns;
      out.direction = static_cast<DataDirection>(ev.direction);
      out.role = Role(hdr.role);
      out.tuple = Tuple(ev.tuple);
      out.tid = hdr.tid;
      out.comm = CString(ev.comm, sizeof(ev.comm));
      out.protocol = hdr.protocol;
      out.preexisting = hdr.preexisting != 0;
      // HTTP/2 frames beyond the head come as more pieces of the call: one event each, the bytes
      // between them gaps. A continuation event (the rest of a call whose segments did not fit
      // one event) has no head: its empty first piece is skipped when a segment starts there.
      for (size_t i = 0; i < count; ++i) {
        if (pieces_[i].span == 0) continue;
        out.position = ev.position + pieces_[i].offset;
        out.original_size = pieces_[i].span;
        out.data = pieces_[i].bytes;
        sink_.OnData(out);
      }
      return;
    }
    case LOUPE_SOCK_CLOSE: {
      loupe_sock_close_event ev;
      if (record.size() != sizeof(ev)) break;
      std::memcpy(&ev, record.data(), sizeof(ev));
      SocketCloseEvent out;
      out.id = Id(hdr);
      out.time_ns = time_ns;
      out.bytes_sent = ev.bytes_sent;
      out.bytes_received = ev.bytes_received;
      sink_.OnClose(out);
      return;
    }
    default:
      break;
  }
  malformed_total_->Inc();
}

void SocketTraceSensor::OnProcessRecord(std::span<const uint8_t> record) {
  process_events_total_->Inc();
  loupe_proc_event ev;
  if (record.size() != sizeof(ev)) {
    process_malformed_total_->Inc();
    return;
  }
  std::memcpy(&ev, record.data(), sizeof(ev));
  const int64_t time_ns =
      static_cast<int64_t>(ev.ts_ns) + realtime_offset_ns_.load(std::memory_order_relaxed);
  if (ev.kind == LOUPE_PROC_EXEC) {
    if (process_sink_ == nullptr) return;
    ProcessExecEvent out;
    out.pid = ev.pid;
    out.ppid = ev.ppid;
    out.time_ns = time_ns;
    out.comm = CString(ev.comm, sizeof(ev.comm));
    out.filename = CString(ev.filename, sizeof(ev.filename));
    process_sink_->OnExec(out);
  } else if (ev.kind == LOUPE_PROC_EXIT) {
    {
      // The kernel already cleared the pid's bit; forget it here too.
      std::lock_guard<std::mutex> lock(pids_mu_);
      traced_.erase(ev.pid);
    }
    if (process_sink_ == nullptr) return;
    ProcessExitEvent out;
    out.pid = ev.pid;
    out.time_ns = time_ns;
    out.exit_code = ev.exit_code;
    out.comm = CString(ev.comm, sizeof(ev.comm));
    process_sink_->OnExit(out);
  } else {
    process_malformed_total_->Inc();
  }
}

void SocketTraceSensor::PollProcessLosses() {
  if (process_lost_last_.empty() || !skel_) return;
  std::vector<uint64_t> now(process_lost_last_.size(), 0);
  const uint32_t key = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->get()->maps.process_lost_map), &key, now.data()) !=
      0) {
    return;
  }
  uint64_t delta = 0;
  for (size_t cpu = 0; cpu < now.size(); ++cpu) {
    if (now[cpu] > process_lost_last_[cpu]) delta += now[cpu] - process_lost_last_[cpu];
  }
  process_lost_last_ = std::move(now);
  if (delta > 0 && process_sink_ != nullptr) process_sink_->OnProcessEventsLost(delta);
}

}  // namespace loupe::sensors
