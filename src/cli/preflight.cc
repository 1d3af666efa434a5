#include "src/cli/preflight.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "src/base/errno_string.h"
#include "src/bpf/feature_probe.h"
#include "src/bpf/tracefs.h"

namespace loupe::cli {
namespace {

// Ring buffers and CAP_BPF arrived in 5.8.
constexpr int kMinKernelMajor = 5;
constexpr int kMinKernelMinor = 8;

// Spelled out: older <linux/capability.h> headers lack CAP_PERFMON and CAP_BPF (Linux 5.8).
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

struct CapabilityInfo {
  const char* name;
  int number;
};
constexpr CapabilityInfo kReportedCapabilities[] = {
    {"CAP_BPF", kCapBpf},
    {"CAP_PERFMON", kCapPerfmon},
    {"CAP_NET_ADMIN", CAP_NET_ADMIN},
    {"CAP_SYS_PTRACE", CAP_SYS_PTRACE},
    {"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
    {"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
};
constexpr int kCapSysResource = CAP_SYS_RESOURCE;

// What a missing capability costs, for the capabilities check's "disables".
const char* CapabilityUse(const std::string& name) {
  if (name == "CAP_BPF") return "loading BPF programs and maps";
  if (name == "CAP_PERFMON") return "attaching tracepoints and uprobes";
  if (name == "CAP_NET_ADMIN") return "attaching TC programs (network flow metrics)";
  if (name == "CAP_SYS_PTRACE") return "reading other processes' /proc entries and binaries";
  if (name == "CAP_DAC_READ_SEARCH") return "reading binaries and /proc files of other users";
  return "";
}

struct Capabilities {
  bool read_ok = false;
  int err = 0;
  uint32_t effective[2] = {0, 0};

  bool Has(int cap) const {
    return cap >= 0 && cap < 64 && (effective[cap / 32] & (1u << (cap % 32))) != 0;
  }
};

Capabilities ReadCapabilities() {
  Capabilities caps;
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) {
    caps.err = errno;
    return caps;
  }
  caps.read_ok = true;
  caps.effective[0] = data[0].effective;
  caps.effective[1] = data[1].effective;
  return caps;
}

// Kernels before 5.8 do not know CAP_BPF and CAP_PERFMON; there only CAP_SYS_ADMIN works.
bool KernelKnowsCapBpf() {
  std::ifstream file("/proc/sys/kernel/cap_last_cap");
  int last = 0;
  if (!(file >> last)) return true;
  return last >= kCapBpf;
}

std::string FormatKiB(rlim_t bytes) {
  return absl::StrCat(static_cast<unsigned long long>(bytes / 1024), " KiB");
}

PreflightCheck KernelCheck(std::string* release) {
  PreflightCheck check{.name = "kernel", .kind = "system", .required = true};
  utsname uts{};
  if (uname(&uts) != 0) {
    check.status = CheckStatus::kMissing;
    check.err = errno;
    check.error = absl::StrCat("uname: ", ErrnoDescription(errno));
    check.detail = check.error;
    check.fix = "report this: uname(2) should never fail";
    return check;
  }
  *release = uts.release;
  int major = 0;
  int minor = 0;
  std::sscanf(uts.release, "%d.%d", &major, &minor);
  check.detail = absl::StrCat("Linux ", uts.release, " ", uts.machine);
  if (major > kMinKernelMajor || (major == kMinKernelMajor && minor >= kMinKernelMinor)) {
    check.available = true;
    return check;
  }
  check.status = CheckStatus::kMissing;
  check.error = absl::StrCat("Linux ", major, ".", minor, " is older than ", kMinKernelMajor, ".",
                             kMinKernelMinor);
  check.detail = absl::StrCat(check.detail, ": older than ", kMinKernelMajor, ".", kMinKernelMinor);
  check.disables = "everything: BPF ring buffers and CAP_BPF need Linux 5.8";
  check.fix = "run Loupe on nodes with Linux 5.8 or newer (5.15+ recommended)";
  return check;
}

PreflightCheck BtfCheck() {
  PreflightCheck check{.name = "btf", .kind = "system", .required = true};
  const char* path = "/sys/kernel/btf/vmlinux";
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || fstat(fd, &st) != 0) {
    check.status = CheckStatus::kMissing;
    check.err = errno;
    check.error = absl::StrCat("opening ", path, ": ", ErrnoDescription(errno));
    check.detail = check.error;
    check.disables = "everything: Loupe's programs are CO-RE and relocate against the kernel's BTF";
    check.fix =
        check.err == ENOENT
            ? "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (the default of most "
              "distribution kernels: Debian 11+, Ubuntu 20.10+, RHEL 8.2+)"
            : "make /sys/kernel/btf/vmlinux readable (in a container, mount the host's /sys)";
    if (fd >= 0) close(fd);
    return check;
  }
  close(fd);
  check.available = true;
  check.detail = absl::StrCat(path, " (", FormatKiB(static_cast<rlim_t>(st.st_size)), ")");
  return check;
}

PreflightCheck TracefsCheck() {
  PreflightCheck check{.name = "tracefs", .kind = "system", .required = true};
  check.disables =
      "syscall tracing: libbpf resolves tracepoint ids through tracefs, so "
      "tracepoints cannot attach";
  // Mounts it when it is missing, as the agent does before attaching anything.
  const bpf::TracefsState tracefs = bpf::EnsureTracefs();
  if (tracefs.available) {
    check.available = true;
    check.detail =
        tracefs.mounted_now
            ? absl::StrCat(tracefs.path, " (was not mounted: preflight mounted tracefs there)")
            : absl::StrCat(tracefs.path, " (events/ present)");
    return check;
  }
  const int err = tracefs.err;
  check.status = CheckStatus::kMissing;
  check.err = err;
  check.error = tracefs.mount_failed
                    ? absl::StrCat(bpf::kTracefsPath,
                                   ": not mounted, and mounting it failed: ", ErrnoDescription(err))
                    : absl::StrCat(bpf::kTracefsPath, "/events: ", ErrnoDescription(err));
  check.detail = check.error;
  check.fix = err == EACCES
                  ? "tracefs is mounted but not readable by this user: run as root (or grant "
                    "CAP_DAC_READ_SEARCH)"
                  : "mount tracefs: `mount -t tracefs nodev /sys/kernel/tracing` (in a container, "
                    "mount the host's /sys/kernel/tracing, e.g. a hostPath volume)";
  return check;
}

PreflightCheck CapabilitiesCheck(const Capabilities& caps,
                                 std::vector<std::pair<std::string, bool>>* reported) {
  PreflightCheck check{.name = "capabilities", .kind = "privilege", .required = true};
  if (!caps.read_ok) {
    check.status = CheckStatus::kMissing;
    check.err = caps.err;
    check.error = absl::StrCat("capget: ", ErrnoDescription(caps.err));
    check.detail = check.error;
    check.fix = "report this: capget(2) should not fail";
    return check;
  }
  std::vector<std::string> have;
  for (const CapabilityInfo& cap : kReportedCapabilities) {
    const bool present = caps.Has(cap.number);
    reported->emplace_back(cap.name, present);
    if (present) have.push_back(cap.name);
  }
  const bool sys_admin = caps.Has(CAP_SYS_ADMIN);
  const bool bpf_perfmon = KernelKnowsCapBpf() && caps.Has(kCapBpf) && caps.Has(kCapPerfmon);
  std::vector<std::string> missing;
  if (!bpf_perfmon && !sys_admin) {
    if (!caps.Has(kCapBpf)) missing.push_back("CAP_BPF");
    if (!caps.Has(kCapPerfmon)) missing.push_back("CAP_PERFMON");
    if (missing.empty()) missing.push_back("CAP_SYS_ADMIN");  // kernel without CAP_BPF
  }
  for (int cap : {CAP_NET_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH}) {
    if (!caps.Has(cap)) {
      for (const CapabilityInfo& info : kReportedCapabilities) {
        if (info.number == cap) missing.push_back(info.name);
      }
    }
  }
  const std::string have_text = have.empty() ? "none" : absl::StrJoin(have, " ");
  if (missing.empty()) {
    check.available = true;
    check.detail = absl::StrCat("effective: ", have_text);
    return check;
  }
  check.status = CheckStatus::kMissing;
  check.err = EPERM;
  check.error = absl::StrCat("missing ", absl::StrJoin(missing, ", "));
  const bool bpf_missing = !bpf_perfmon && !sys_admin;
  check.detail =
      absl::StrCat("missing ", absl::StrJoin(missing, ", "),
                   bpf_missing ? " (or CAP_SYS_ADMIN instead of CAP_BPF+CAP_PERFMON)" : "",
                   "; effective: ", have_text);
  std::vector<std::string> uses;
  for (const std::string& name : missing) {
    const std::string use = CapabilityUse(name);
    if (!use.empty()) uses.push_back(absl::StrCat(use, " (", name, ")"));
  }
  check.disables = absl::StrJoin(uses, "; ");
  check.fix = absl::StrCat(
      "run as root or grant ", absl::StrJoin(missing, ", "),
      " (Kubernetes: securityContext.capabilities.add; Docker: --cap-add; systemd: "
      "AmbientCapabilities=)",
      KernelKnowsCapBpf() ? "" : "; this kernel predates CAP_BPF: grant CAP_SYS_ADMIN");
  return check;
}

PreflightCheck MemlockCheck(const rlimit& limit, const Capabilities& caps) {
  PreflightCheck check{.name = "memlock", .kind = "limit", .required = true};
  if (limit.rlim_cur == RLIM_INFINITY) {
    check.available = true;
    check.detail = "RLIMIT_MEMLOCK unlimited";
    return check;
  }
  const std::string limit_text = absl::StrCat("RLIMIT_MEMLOCK ", FormatKiB(limit.rlim_cur));
  const bpf::MemlockProbeResult probe = bpf::ProbeMemlockAccounting();
  switch (probe.accounting) {
    case bpf::MemlockAccounting::kMemcg:
      check.available = true;
      check.detail = absl::StrCat(limit_text, " does not apply: the kernel charges BPF memory to ",
                                  "the memory cgroup (a child with limit 0 created a map)");
      return check;
    case bpf::MemlockAccounting::kRlimit:
      if (limit.rlim_max == RLIM_INFINITY || caps.Has(kCapSysResource)) {
        check.available = true;
        check.detail =
            absl::StrCat(limit_text, " applies to BPF memory; libbpf raises it to ",
                         "unlimited at start-up (hard limit unlimited or ", "CAP_SYS_RESOURCE)");
        return check;
      }
      check.status = CheckStatus::kMissing;
      check.err = probe.err;
      check.error = absl::StrCat(limit_text, " applies to BPF memory (a child with limit 0 ",
                                 "could not create a map: ", ErrnoName(probe.err), ")");
      check.detail = check.error;
      check.disables = "loading Loupe's maps fails once they exceed the limit";
      check.fix =
          "raise the limit: `ulimit -l unlimited`, systemd LimitMEMLOCK=infinity, Docker "
          "--ulimit memlock=-1:-1, or grant CAP_SYS_RESOURCE; kernels 5.11+ do not need it";
      return check;
    case bpf::MemlockAccounting::kUndetermined:
      break;
  }
  check.status = CheckStatus::kWarn;
  check.err = probe.err;
  check.error = absl::StrCat("creating a BPF map failed: ", ErrnoDescription(probe.err));
  check.detail =
      absl::StrCat(limit_text, "; cannot tell whether it applies to BPF memory: ", check.error);
  check.fix = "fix the capabilities check first, then run preflight again";
  return check;
}

PreflightCheck CgroupV2Check() {
  PreflightCheck check{.name = "cgroup_v2", .kind = "system", .required = false};
  const bpf::CgroupMounts mounts = bpf::ReadCgroupMounts();
  if (mounts.cgroup2_path.empty()) {
    check.status = CheckStatus::kUnavailable;
    check.err = ENOENT;
    check.error = "no cgroup2 mount in /proc/self/mounts";
    check.detail = mounts.has_cgroup1 ? "cgroup v1 only; no cgroup2 mount" : "no cgroup2 mount";
    check.disables =
        "container and pod identity from cgroup paths (no container/pod labels), and cgroup_skb";
    check.fix =
        "boot with systemd.unified_cgroup_hierarchy=1, or mount cgroup v2: "
        "`mount -t cgroup2 none /sys/fs/cgroup/unified`";
    return check;
  }
  check.available = true;
  check.detail =
      mounts.has_cgroup1
          ? absl::StrCat(mounts.cgroup2_path, " (hybrid: cgroup v1 controllers are mounted too)")
          : absl::StrCat(mounts.cgroup2_path, " (unified)");
  return check;
}

struct HookPolicy {
  bool required;
  const char* disables;
  const char* fix;
};

HookPolicy PolicyFor(bpf::Hook hook) {
  switch (hook) {
    case bpf::Hook::kRingBuffer:
      return {true, "every sensor: events reach user space through BPF ring buffers",
              "Linux 5.8 or newer, and CAP_BPF (or CAP_SYS_ADMIN)"};
    case bpf::Hook::kTracepoint:
      return {true, "syscall tracing (application protocol capture) and process tracking",
              "mount tracefs and grant CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN); a seccomp "
              "profile must allow bpf and perf_event_open"};
    case bpf::Hook::kRawTracepoint:
      return {false, "raw syscall tracepoints (lower-overhead syscall entry/exit hooks)",
              "grant CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN)"};
    case bpf::Hook::kTc:
      return {true, "network flow metrics (TC programs on each interface)",
              "grant CAP_NET_ADMIN and CAP_BPF; the kernel needs CONFIG_NET_CLS_BPF, "
              "CONFIG_NET_SCH_INGRESS (clsact)"};
    case bpf::Hook::kCgroupSkb:
      return {false, "per-cgroup (per-container) traffic accounting",
              "mount cgroup v2 and grant CAP_NET_ADMIN and CAP_BPF; the kernel needs "
              "CONFIG_CGROUP_BPF"};
    case bpf::Hook::kUprobe:
      return {false,
              "TLS capture (OpenSSL uprobes) and Go-specific tracing (net/http, gRPC, "
              "crypto/tls)",
              "grant CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN) and CAP_SYS_PTRACE; a seccomp "
              "profile must allow perf_event_open; the kernel needs CONFIG_UPROBE_EVENTS"};
    case bpf::Hook::kKprobe:
      return {false, "nothing Loupe needs (kprobes are an optional extra)",
              "none needed; to have kprobes, use a kernel with CONFIG_KPROBES and "
              "CONFIG_KPROBE_EVENTS, without lockdown"};
    case bpf::Hook::kFentry:
      return {false, "nothing Loupe needs (fentry/fexit trampolines are an optional extra)",
              "none needed; to have fentry, use Linux 5.5+ with BTF on an architecture with BPF "
              "trampolines, without lockdown"};
  }
  return {false, "", ""};
}

PreflightCheck HookCheck(const bpf::HookProbeResult& result, bool caps_ok) {
  const HookPolicy policy = PolicyFor(result.hook);
  PreflightCheck check{
      .name = bpf::HookName(result.hook), .kind = "hook", .required = policy.required};
  check.available = result.available;
  check.fired = result.fired;
  check.err = result.err;
  check.error = result.error;
  if (result.available) {
    check.detail = result.detail;
    if (result.fired.has_value() && !*result.fired) {
      check.status = CheckStatus::kWarn;
      check.fix =
          "the hook attached but its program did not run when triggered; report this "
          "with the kernel version";
    }
    return check;
  }
  check.status = policy.required ? CheckStatus::kMissing : CheckStatus::kUnavailable;
  check.detail = result.error;
  check.disables = policy.disables;
  const bool denied = result.err == EPERM || result.err == EACCES;
  if (denied && !caps_ok) {
    check.fix = "grant the capabilities the capabilities check lists as missing";
  } else if (denied) {
    check.fix = absl::StrCat(policy.fix,
                             " (likely cause: the kernel refuses this program type although the "
                             "capabilities are present: lockdown, an LSM policy such as SELinux, "
                             "AppArmor or BPF LSM, or a sandboxed VM)");
  } else {
    check.fix = policy.fix;
    std::string hint = result.hint;
    const size_t self_reference = hint.find("run `loupe preflight`");
    if (self_reference != std::string::npos) hint.resize(self_reference);
    while (!hint.empty() && (hint.back() == ' ' || hint.back() == ';')) hint.pop_back();
    // A hint the probe already put into the error is not repeated.
    if (!hint.empty() && result.error.find(hint) == std::string::npos) {
      absl::StrAppend(&check.fix, " (likely cause: ", hint, ")");
    }
  }
  return check;
}

std::string Pad(const std::string& text, size_t width) {
  return text.size() >= width ? text + " " : text + std::string(width - text.size(), ' ');
}

}  // namespace

const char* CheckStatusName(CheckStatus status) {
  switch (status) {
    case CheckStatus::kOk:
      return "ok";
    case CheckStatus::kMissing:
      return "MISSING";
    case CheckStatus::kUnavailable:
      return "unavailable";
    case CheckStatus::kWarn:
      return "warn";
  }
  return "unknown";
}

bool PreflightReport::ok() const {
  for (const PreflightCheck& check : checks) {
    if (check.required && check.status == CheckStatus::kMissing) return false;
  }
  return true;
}

PreflightReport RunPreflightChecks() {
  // Read before any libbpf call: libbpf raises RLIMIT_MEMLOCK itself when it can.
  rlimit memlock{};
  if (getrlimit(RLIMIT_MEMLOCK, &memlock) != 0) memlock = {RLIM_INFINITY, RLIM_INFINITY};

  PreflightReport report;
  const Capabilities caps = ReadCapabilities();
  report.checks.push_back(KernelCheck(&report.kernel));
  report.checks.push_back(BtfCheck());
  report.checks.push_back(TracefsCheck());
  report.checks.push_back(CapabilitiesCheck(caps, &report.capabilities));
  const bool caps_ok = report.checks.back().status == CheckStatus::kOk;
  report.checks.push_back(MemlockCheck(memlock, caps));
  report.checks.push_back(CgroupV2Check());
  for (bpf::Hook hook : bpf::AllHooks()) {
    report.checks.push_back(HookCheck(bpf::ProbeHook(hook), caps_ok));
  }
  return report;
}

std::string FormatPreflightTable(const PreflightReport& report) {
  constexpr size_t kNameWidth = 16;
  constexpr size_t kStatusWidth = 13;
  const std::string indent(kNameWidth + kStatusWidth, ' ');
  std::string out = absl::StrCat(Pad("CHECK", kNameWidth), Pad("STATUS", kStatusWidth), "DETAIL\n");
  std::vector<std::string> failed;
  int unavailable = 0;
  for (const PreflightCheck& check : report.checks) {
    absl::StrAppend(&out, Pad(check.name, kNameWidth),
                    Pad(CheckStatusName(check.status), kStatusWidth), check.detail, "\n");
    switch (check.status) {
      case CheckStatus::kMissing:
        failed.push_back(check.name);
        if (!check.disables.empty())
          absl::StrAppend(&out, indent, "disables: ", check.disables, "\n");
        absl::StrAppend(&out, indent, "fix: ", check.fix, "\n");
        break;
      case CheckStatus::kUnavailable:
        ++unavailable;
        absl::StrAppend(&out, indent, "disables: ", check.disables, "\n");
        break;
      case CheckStatus::kWarn:
        if (!check.fix.empty()) absl::StrAppend(&out, indent, "note: ", check.fix, "\n");
        break;
      case CheckStatus::kOk:
        break;
    }
  }
  if (failed.empty()) {
    absl::StrAppend(&out, "\nREADY: every required check passed",
                    unavailable > 0
                        ? absl::StrCat(" (", unavailable, " optional feature(s) unavailable)")
                        : std::string(),
                    "\n");
  } else {
    absl::StrAppend(&out, "\nNOT READY: ", failed.size(),
                    " required check(s) failed: ", absl::StrJoin(failed, ", "), "\n");
  }
  return out;
}

std::string FormatPreflightJson(const PreflightReport& report) {
  nlohmann::ordered_json doc;
  doc["ok"] = report.ok();
  doc["kernel"] = report.kernel;
  nlohmann::ordered_json caps = nlohmann::ordered_json::object();
  for (const auto& [name, present] : report.capabilities) caps[name] = present;
  doc["capabilities"] = caps;
  nlohmann::ordered_json checks = nlohmann::ordered_json::array();
  for (const PreflightCheck& check : report.checks) {
    nlohmann::ordered_json item;
    item["name"] = check.name;
    item["kind"] = check.kind;
    item["required"] = check.required;
    item["status"] = CheckStatusName(check.status);
    item["available"] = check.available;
    item["fired"] = check.fired.has_value() ? nlohmann::ordered_json(*check.fired) : nullptr;
    item["errno"] = check.err != 0 ? nlohmann::ordered_json(ErrnoName(check.err)) : nullptr;
    item["error"] = check.error;
    item["detail"] = check.detail;
    item["disables"] = check.disables;
    item["fix"] = check.fix;
    checks.push_back(std::move(item));
  }
  doc["checks"] = std::move(checks);
  // Replace rather than throw on invalid UTF-8 (paths come from the system).
  return doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

int RunPreflight(const PreflightOptions& opts) {
  // stdout carries the report (and must stay valid JSON with -o json): log to stderr.
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "preflight", std::make_shared<spdlog::sinks::stderr_color_sink_mt>()));
  const PreflightReport report = RunPreflightChecks();
  const std::string text =
      opts.output == "json" ? FormatPreflightJson(report) : FormatPreflightTable(report);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  return report.ok() ? 0 : 1;
}

}  // namespace loupe::cli
