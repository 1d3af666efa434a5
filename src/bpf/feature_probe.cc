#include "src/bpf/feature_probe.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/types.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <thread>
#include <type_traits>

// clang-format off: the ABI header needs the __u* types first.
#include "bpf/intf/probes.h"
// clang-format on
#include "probes.skel.h"

#include "absl/strings/str_cat.h"
#include "src/base/errno_string.h"
#include "src/base/read_file.h"
#include "src/bpf/libbpf_log.h"
#include "src/bpf/load_error.h"
#include "src/bpf/skeleton.h"
#include "src/bpf/tc_attachment.h"

extern "C" __attribute__((noinline, used)) int loupe_preflight_uprobe_target(int value) {
  // The empty asm keeps the compiler from folding calls to this function away.
  asm volatile("" : "+r"(value));
  return value + 1;
}

namespace loupe::bpf {
namespace {

using ProbesSkeleton = Skeleton<struct probes>;
using Clock = std::chrono::steady_clock;
// The .bss layout of the skeleton (a struct nested in `struct probes` in C++).
using ProbesBss = std::remove_pointer_t<decltype(probes::bss)>;

// How long a probe waits for its program to run after triggering it. The hooks fire
// synchronously in the triggering syscall; the deadline only covers a slow machine.
constexpr auto kFireDeadline = std::chrono::seconds(1);

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  int fd_;
};

struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;

void Fail(HookProbeResult* result, const std::string& step, int err,
          const std::vector<std::string>& log) {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;  // libbpf failed without an errno; never report success
  result->available = false;
  result->err = err;
  result->error = absl::StrCat(step, ": ", ErrnoDescription(err));
  result->hint = HintForError(err, log);
}

// BpfError (used by TcAttachment) renders the errno as "NAME (description)"; recover it so the
// probe can report the number.
int ErrnoFromStatus(const absl::Status& status) {
  const std::string message(status.message());
  for (int err = 1; err < 134; ++err) {
    if (message.find(absl::StrCat(": ", ErrnoDescription(err))) != std::string::npos) return err;
  }
  switch (status.code()) {
    case absl::StatusCode::kPermissionDenied:
      return EPERM;
    case absl::StatusCode::kNotFound:
      return ENOENT;
    case absl::StatusCode::kUnimplemented:
      return EOPNOTSUPP;
    default:
      return EINVAL;
  }
}

bpf_program* ProgramFor(struct probes* skel, Hook hook) {
  switch (hook) {
    case Hook::kTracepoint:
      return skel->progs.tracepoint__probe;
    case Hook::kRawTracepoint:
      return skel->progs.raw_tracepoint__probe;
    case Hook::kTc:
      return skel->progs.tc__probe;
    case Hook::kCgroupSkb:
      return skel->progs.cgroup_skb__probe;
    case Hook::kUprobe:
      return skel->progs.uprobe__probe;
    case Hook::kKprobe:
      return skel->progs.kprobe__probe;
    case Hook::kFentry:
      return skel->progs.fentry__probe;
    case Hook::kRingBuffer:
      break;
  }
  return nullptr;
}

int ProbeId(Hook hook) {
  switch (hook) {
    case Hook::kTracepoint:
      return LOUPE_PROBE_TRACEPOINT;
    case Hook::kRawTracepoint:
      return LOUPE_PROBE_RAW_TRACEPOINT;
    case Hook::kTc:
      return LOUPE_PROBE_TC;
    case Hook::kCgroupSkb:
      return LOUPE_PROBE_CGROUP_SKB;
    case Hook::kUprobe:
      return LOUPE_PROBE_UPROBE;
    case Hook::kKprobe:
      return LOUPE_PROBE_KPROBE;
    case Hook::kFentry:
      return LOUPE_PROBE_FENTRY;
    case Hook::kRingBuffer:
      break;
  }
  return -1;
}

// Opens the probes object with only the program of `hook` set to load, and loads it.
std::unique_ptr<ProbesSkeleton> OpenAndLoad(Hook hook, HookProbeResult* result) {
  auto opened = ProbesSkeleton::Open(LOUPE_SKELETON_OPS(probes));
  if (!opened.ok()) {
    Fail(result, "opening the probes object", ErrnoFromStatus(opened.status()), {});
    return nullptr;
  }
  std::unique_ptr<ProbesSkeleton> skel = std::move(opened).value();
  bpf_program* wanted = ProgramFor(skel->get(), hook);
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel->get()->obj) {
    bpf_program__set_autoload(prog, prog == wanted);
  }
  skel->get()->rodata->target_tgid = static_cast<__u32>(getpid());
  // Loaded here rather than through Skeleton::Load() because the probe reports the errno itself.
  LibbpfLogCapture capture;
  const int err = probes__load(skel->get());
  if (err != 0) {
    Fail(result, "loading the program", err, capture.Tail(kVerifierTailLines));
    return nullptr;
  }
  return skel;
}

// Reads the hit counter through the map rather than the mmap-ed .bss so that kernels without
// mmap-able array maps are handled too.
uint64_t ReadHits(const ProbesSkeleton& skel, int id) {
  const bpf_map* bss = skel->maps.bss;
  std::vector<unsigned char> value(bpf_map__value_size(bss));
  const __u32 key = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(bss), &key, value.data()) != 0) return 0;
  uint64_t hits = 0;
  const size_t offset = offsetof(ProbesBss, probe_hits) + id * sizeof(hits);
  if (offset + sizeof(hits) > value.size()) return 0;
  std::memcpy(&hits, value.data() + offset, sizeof(hits));
  return hits;
}

std::string DescribeAttachment(const std::string& target, bool fired) {
  return fired ? absl::StrCat("attached to ", target, " and fired")
               : absl::StrCat("attached to ", target, " but it did not fire when triggered");
}

bool WaitForHit(const ProbesSkeleton& skel, int id) {
  const auto deadline = Clock::now() + kFireDeadline;
  while (true) {
    if (ReadHits(skel, id) > 0) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Reads from a file so that vfs_read runs in this process.
void TriggerVfsRead() {
  Fd fd(open("/proc/self/stat", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return;
  char buf[256];
  [[maybe_unused]] ssize_t n = read(fd.get(), buf, sizeof(buf));
}

// libbpf attaches kprobes through the kprobe PMU, or through tracefs kprobe_events on kernels
// before 4.17; when neither exists the attach fails with ENOENT.
bool KernelHasKprobes() {
  return access("/sys/bus/event_source/devices/kprobe/type", F_OK) == 0 ||
         access("/sys/kernel/tracing/kprobe_events", F_OK) == 0 ||
         access("/sys/kernel/debug/tracing/kprobe_events", F_OK) == 0;
}

void TriggerUprobe() {
  int (*volatile target)(int) = &loupe_preflight_uprobe_target;
  target(1);
}

// Path of the running binary for the uprobe. /proc/self/exe itself works too (the kernel resolves
// it in the attaching process), and is the fallback when the binary was replaced on disk.
std::string SelfExePath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "/proc/self/exe";
  std::string path(buf, static_cast<size_t>(n));
  if (path.size() > 10 && path.compare(path.size() - 10, 10, " (deleted)") == 0) {
    return "/proc/self/exe";
  }
  return path;
}

void ProbeRingBuffer(HookProbeResult* result) {
  LibbpfLogCapture capture;
  const long page = sysconf(_SC_PAGESIZE);
  const __u32 size = static_cast<__u32>(page > 0 ? page : 4096);
  Fd fd(bpf_map_create(BPF_MAP_TYPE_RINGBUF, "loupe_probe_rb", 0, 0, size, nullptr));
  if (!fd.valid()) {
    Fail(result, "creating a BPF_MAP_TYPE_RINGBUF map", errno, capture.lines());
    return;
  }
  result->available = true;
  result->detail = absl::StrCat("created a ", size, "-byte BPF_MAP_TYPE_RINGBUF map");
}

// Tracepoint, raw tracepoint, uprobe, kprobe and fentry: attach in this process, trigger from
// this thread, read the counter.
void ProbeTracing(Hook hook, HookProbeResult* result) {
  std::unique_ptr<ProbesSkeleton> skel = OpenAndLoad(hook, result);
  if (skel == nullptr) return;
  bpf_program* prog = ProgramFor(skel->get(), hook);
  LibbpfLogCapture capture;
  Link link;
  std::string target;
  std::string uprobe_path;
  switch (hook) {
    case Hook::kTracepoint:
      target = "syscalls/sys_enter_getppid";
      link.reset(bpf_program__attach(prog));
      break;
    case Hook::kRawTracepoint:
      target = "sys_enter";
      link.reset(bpf_program__attach(prog));
      break;
    case Hook::kUprobe: {
      uprobe_path = SelfExePath();
      target = absl::StrCat("loupe_preflight_uprobe_target in ", uprobe_path);
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = "loupe_preflight_uprobe_target");
      // pid 0: this process only; the probe triggers it from this thread.
      link.reset(bpf_program__attach_uprobe_opts(prog, 0, uprobe_path.c_str(), 0, &opts));
      break;
    }
    case Hook::kKprobe:
      target = "vfs_read";
      link.reset(bpf_program__attach_kprobe(prog, false, "vfs_read"));
      break;
    case Hook::kFentry:
      target = "vfs_read";
      link.reset(bpf_program__attach(prog));
      break;
    default:
      Fail(result, "internal: not a tracing hook", EINVAL, {});
      return;
  }
  if (link == nullptr) {
    const int err = errno;
    Fail(result, absl::StrCat("attaching to ", target), err, capture.lines());
    if (hook == Hook::kKprobe && err == ENOENT && !KernelHasKprobes()) {
      result->hint =
          "this kernel has no kprobe support: no kprobe PMU and no kprobe_events in "
          "tracefs (built without CONFIG_KPROBES / CONFIG_KPROBE_EVENTS)";
      absl::StrAppend(&result->error, "; ", result->hint);
    }
    return;
  }
  result->available = true;
  switch (hook) {
    case Hook::kTracepoint:
    case Hook::kRawTracepoint:
      (void)getppid();
      break;
    case Hook::kUprobe:
      TriggerUprobe();
      break;
    default:
      TriggerVfsRead();
      break;
  }
  result->fired = WaitForHit(*skel, ProbeId(hook));
  result->detail = DescribeAttachment(target, *result->fired);
}

// Sends one UDP datagram to a socket bound on 127.0.0.1 and waits until it arrives. Returns 0 or
// the errno of the failing step.
int SendLoopbackDatagram() {
  Fd receiver(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!receiver.valid()) return errno;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(receiver.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return errno;
  if (getsockname(receiver.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return errno;
  timeval timeout{.tv_sec = 1, .tv_usec = 0};
  setsockopt(receiver.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  Fd sender(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sender.valid()) return errno;
  const char payload[] = "loupe-preflight";
  if (sendto(sender.get(), payload, sizeof(payload), 0, reinterpret_cast<sockaddr*>(&addr),
             sizeof(addr)) < 0) {
    return errno;
  }
  char buf[64];
  if (recv(receiver.get(), buf, sizeof(buf), 0) < 0) return errno;
  return 0;
}

// Runs on a dedicated thread: the private network namespace belongs to this thread alone and
// disappears when it exits, so the host's interfaces are never touched.
void TcInPrivateNamespace(const ProbesSkeleton& skel, HookProbeResult* result) {
  if (unshare(CLONE_NEWNET) != 0) {
    Fail(result, "creating a private network namespace (unshare CLONE_NEWNET)", errno, {});
    return;
  }
  {
    Fd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (!sock.valid() || ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) {
      Fail(result, "reading the flags of lo in the private namespace", errno, {});
      return;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) {
      Fail(result, "bringing lo up in the private namespace", errno, {});
      return;
    }
  }
  const int ifindex = static_cast<int>(if_nametoindex("lo"));
  if (ifindex == 0) {
    Fail(result, "finding lo in the private namespace", errno, {});
    return;
  }
  bool created_qdisc = false;
  {
    auto attachment = TcAttachment::Attach(ifindex, TcDirection::kIngress,
                                           bpf_program__fd(skel->progs.tc__probe), &created_qdisc);
    if (!attachment.ok()) {
      Fail(result, "attaching to lo ingress (tcx or clsact) in a private network namespace",
           ErrnoFromStatus(attachment.status()), {});
    } else {
      result->available = true;
      const int send_err = SendLoopbackDatagram();
      result->fired = send_err == 0 && WaitForHit(skel, LOUPE_PROBE_TC);
      // The way the network sensor will attach too (TcHook::kAuto).
      result->detail = DescribeAttachment(
          absl::StrCat("lo ingress (",
                       (*attachment)->hook() == TcHook::kTcx ? "tcx link" : "clsact",
                       ") in a private network namespace"),
          *result->fired);
      if (send_err != 0) {
        absl::StrAppend(&result->detail, "; sending a datagram failed: ", ErrnoName(send_err));
      }
    }
  }
  if (created_qdisc) TcAttachment::DestroyQdisc(ifindex);
}

void ProbeTc(HookProbeResult* result) {
  std::unique_ptr<ProbesSkeleton> skel = OpenAndLoad(Hook::kTc, result);
  if (skel == nullptr) return;
  std::thread worker([&skel, result] { TcInPrivateNamespace(*skel, result); });
  worker.join();
}

// Removes the temporary cgroup. The child that lived in it has been reaped, but the kernel may
// release the cgroup's last reference a moment later (EBUSY until then).
void RemoveCgroupDir(const std::string& dir) {
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  while (rmdir(dir.c_str()) != 0 && errno == EBUSY && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// What the cgroup probe's child reports through its pipe.
struct ChildReport {
  int step;  // 0: done, 1: joining the cgroup, 2: sending
  int err;
};

// In the forked child: only async-signal-safe calls.
[[noreturn]] void CgroupChild(const char* procs_path, const sockaddr_in& addr, int report_fd) {
  ChildReport report{0, 0};
  const int procs = open(procs_path, O_WRONLY | O_CLOEXEC);
  if (procs < 0 || write(procs, "0", 1) != 1) {
    report = {1, errno};
  } else {
    const int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const char payload[] = "loupe-preflight";
    if (sock < 0 || sendto(sock, payload, sizeof(payload), 0,
                           reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0) {
      report = {2, errno};
    }
  }
  [[maybe_unused]] ssize_t n = write(report_fd, &report, sizeof(report));
  _exit(0);
}

void ProbeCgroupSkb(HookProbeResult* result) {
  const CgroupMounts mounts = ReadCgroupMounts();
  if (mounts.cgroup2_path.empty()) {
    Fail(result, "finding a cgroup2 mount in /proc/self/mounts", ENOENT, {});
    return;
  }
  std::unique_ptr<ProbesSkeleton> skel = OpenAndLoad(Hook::kCgroupSkb, result);
  if (skel == nullptr) return;

  const std::string dir =
      absl::StrCat(mounts.cgroup2_path, "/", kProbeCgroupPrefix, static_cast<int>(getpid()));
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    Fail(result, absl::StrCat("creating the temporary cgroup ", dir), errno, {});
    return;
  }
  struct DirGuard {
    const std::string& dir;
    ~DirGuard() { RemoveCgroupDir(dir); }
  } dir_guard{dir};

  Fd cgroup(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup.valid()) {
    Fail(result, absl::StrCat("opening the temporary cgroup ", dir), errno, {});
    return;
  }
  LibbpfLogCapture capture;
  Link link(bpf_program__attach_cgroup(skel->get()->progs.cgroup_skb__probe, cgroup.get()));
  if (link == nullptr) {
    Fail(result, "attaching to the egress hook of a temporary cgroup", errno, capture.lines());
    return;
  }
  result->available = true;
  const std::string target =
      absl::StrCat("egress of a temporary cgroup under ", mounts.cgroup2_path);
  result->detail = DescribeAttachment(target, false);

  // A bound receiver, so the child's datagram is delivered rather than answered with ICMP.
  Fd receiver(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int pipe_fds[2];
  if (!receiver.valid() ||
      bind(receiver.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(receiver.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      pipe2(pipe_fds, O_CLOEXEC) != 0) {
    result->detail =
        absl::StrCat(result->detail, "; preparing the trigger failed: ", ErrnoName(errno));
    result->fired = false;
    return;
  }
  Fd report_read(pipe_fds[0]);
  Fd report_write(pipe_fds[1]);
  const std::string procs_path = dir + "/cgroup.procs";
  const pid_t child = fork();
  if (child == 0) CgroupChild(procs_path.c_str(), addr, report_write.get());
  if (child < 0) {
    result->detail = absl::StrCat(result->detail, "; fork failed: ", ErrnoName(errno));
    result->fired = false;
    return;
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  ChildReport report{-1, 0};
  if (read(report_read.get(), &report, sizeof(report)) != sizeof(report)) report = {-1, EIO};
  result->fired = report.step == 0 && WaitForHit(*skel, LOUPE_PROBE_CGROUP_SKB);
  result->detail = DescribeAttachment(target, *result->fired);
  if (report.step == 1) {
    result->detail =
        absl::StrCat(result->detail, "; moving a child into it failed: ", ErrnoName(report.err));
  } else if (report.step != 0) {
    result->detail = absl::StrCat(result->detail,
                                  "; the child could not send a datagram: ", ErrnoName(report.err));
  }
}

// Mount points in /proc/self/mounts escape space, tab, newline and backslash as \ooo.
std::string UnescapeMountField(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    const bool octal = field[i] == '\\' && i + 3 < field.size() && field[i + 1] >= '0' &&
                       field[i + 1] <= '3' && field[i + 2] >= '0' && field[i + 2] <= '7' &&
                       field[i + 3] >= '0' && field[i + 3] <= '7';
    if (octal) {
      out.push_back(static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 +
                                      (field[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(field[i]);
    }
  }
  return out;
}

// Creates a one-entry array map with the raw syscall: libbpf's bpf_map_create() would first raise
// RLIMIT_MEMLOCK itself on kernels without memcg accounting, which is what we try to detect.
int CreateSmallMap() {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 8;
  attr.max_entries = 1;
  const long fd = syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
  if (fd < 0) return errno;
  close(static_cast<int>(fd));
  return 0;
}

}  // namespace

const std::vector<Hook>& AllHooks() {
  static const std::vector<Hook> hooks = {
      Hook::kRingBuffer, Hook::kTracepoint, Hook::kRawTracepoint, Hook::kTc,
      Hook::kCgroupSkb,  Hook::kUprobe,     Hook::kKprobe,        Hook::kFentry};
  return hooks;
}

const char* HookName(Hook hook) {
  switch (hook) {
    case Hook::kRingBuffer:
      return "ringbuf";
    case Hook::kTracepoint:
      return "tracepoint";
    case Hook::kRawTracepoint:
      return "raw_tracepoint";
    case Hook::kTc:
      return "tc";
    case Hook::kCgroupSkb:
      return "cgroup_skb";
    case Hook::kUprobe:
      return "uprobe";
    case Hook::kKprobe:
      return "kprobe";
    case Hook::kFentry:
      return "fentry";
  }
  return "unknown";
}

HookProbeResult ProbeHook(Hook hook) {
  HookProbeResult result;
  result.hook = hook;
  switch (hook) {
    case Hook::kRingBuffer:
      ProbeRingBuffer(&result);
      break;
    case Hook::kTc:
      ProbeTc(&result);
      break;
    case Hook::kCgroupSkb:
      ProbeCgroupSkb(&result);
      break;
    case Hook::kTracepoint:
    case Hook::kRawTracepoint:
    case Hook::kUprobe:
    case Hook::kKprobe:
    case Hook::kFentry:
      ProbeTracing(hook, &result);
      break;
  }
  if (result.available) {
    result.err = 0;
    result.error.clear();
    result.hint.clear();
  }
  return result;
}

CgroupMounts ParseCgroupMounts(const std::string& mounts_table) {
  CgroupMounts mounts;
  std::istringstream lines(mounts_table);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string device, mount_point, fs_type;
    if (!(fields >> device >> mount_point >> fs_type)) continue;
    if (fs_type == "cgroup2" && mounts.cgroup2_path.empty()) {
      mounts.cgroup2_path = UnescapeMountField(mount_point);
    } else if (fs_type == "cgroup") {
      mounts.has_cgroup1 = true;
    }
  }
  return mounts;
}

CgroupMounts ReadCgroupMounts() {
  std::string table;
  if (ReadFileTo("/proc/self/mounts", &table) != 0) return {};
  return ParseCgroupMounts(table);
}

MemlockProbeResult ProbeMemlockAccounting() {
  MemlockProbeResult result;
  const int err = CreateSmallMap();
  if (err != 0) {
    result.err = err;
    return result;
  }
  const pid_t child = fork();
  if (child < 0) {
    result.err = errno;
    return result;
  }
  if (child == 0) {
    const rlimit zero{0, 0};
    setrlimit(RLIMIT_MEMLOCK, &zero);
    _exit(CreateSmallMap() & 0xff);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status)) {
    result.err = EINTR;
    return result;
  }
  if (WEXITSTATUS(status) == 0) {
    result.accounting = MemlockAccounting::kMemcg;
  } else {
    result.accounting = MemlockAccounting::kRlimit;
    result.err = WEXITSTATUS(status);
  }
  return result;
}

bool KernelAtLeast(int major, int minor) {
  utsname uts{};
  int have_major = 0, have_minor = 0;
  if (uname(&uts) != 0 || std::sscanf(uts.release, "%d.%d", &have_major, &have_minor) != 2) {
    return false;
  }
  return have_major > major || (have_major == major && have_minor >= minor);
}

}  // namespace loupe::bpf
