#include "src/bpf/load_error.h"

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/base/errno_string.h"
#include "src/base/strings.h"

namespace loupe::bpf {
namespace {

bool LogContains(const std::vector<std::string>& log, std::string_view needle) {
  for (const auto& line : log) {
    if (Contains(line, needle)) return true;
  }
  return false;
}

}  // namespace

std::string HintForError(int err, const std::vector<std::string>& log_tail) {
  if (err < 0) err = -err;
  if (LogContains(log_tail, "failed to find valid kernel BTF") ||
      LogContains(log_tail, "vmlinux BTF")) {
    return "the kernel has no BTF (/sys/kernel/btf/vmlinux); use a kernel built with "
           "CONFIG_DEBUG_INFO_BTF=y";
  }
  if (LogContains(log_tail, "failed to resolve CO-RE relocation") ||
      LogContains(log_tail, "<invalid CO-RE relocation>")) {
    return "a kernel structure field this program reads does not exist on this kernel; "
           "report the kernel version and the log above";
  }
  if (LogContains(log_tail, "unknown func") || LogContains(log_tail, "invalid func")) {
    return "the kernel lacks a BPF helper this program calls; run `loupe preflight` to see which "
           "features this kernel supports";
  }
  if (LogContains(log_tail, "BPF program is too large") ||
      LogContains(log_tail, "processed 1000001 insns")) {
    return "the program exceeds the verifier's complexity limit on this kernel";
  }
  switch (err) {
    case EPERM:
    case EACCES:
      if (LogContains(log_tail, "processed ") || LogContains(log_tail, "R0 ") ||
          LogContains(log_tail, "invalid")) {
        return "the verifier rejected the program (see the log lines above)";
      }
      return "missing privileges (CAP_BPF + CAP_PERFMON, or CAP_SYS_ADMIN), or this kernel forbids "
             "this program type (e.g. kprobe/fentry under lockdown); run `loupe preflight`";
    case EINVAL:
      return "the verifier or the kernel rejected the program or its attach target (see the log "
             "lines above); run `loupe preflight`";
    case ENOENT:
      if (LogContains(log_tail, "tracing/events/")) {
        return "a tracepoint's id could not be read from tracefs: tracefs is not mounted (`mount "
               "-t tracefs nodev /sys/kernel/tracing`) or this kernel lacks the tracepoint; run "
               "`loupe preflight`";
      }
      return "the attach target does not exist on this kernel (tracepoint, function or interface)";
    case ENOMEM:
    case E2BIG:
      return "not enough locked memory for BPF maps: raise RLIMIT_MEMLOCK (ulimit -l unlimited) or "
             "use a kernel with memcg-based BPF accounting (5.11+)";
    case EBUSY:
    case EEXIST:
      return "another program already occupies this hook (another Loupe agent?)";
    case EOPNOTSUPP:
      return "this kernel does not support the hook type";
    default:
      return "run `loupe preflight` to check what this kernel supports";
  }
}

absl::Status BpfError(const std::string& what, int err, const std::vector<std::string>& log_tail) {
  std::string message = absl::StrCat(what, ": ", ErrnoDescription(err));
  // Keep only the tail: the verifier's verdict is at the end of its log.
  const size_t start =
      log_tail.size() > kVerifierTailLines ? log_tail.size() - kVerifierTailLines : 0;
  if (start < log_tail.size()) {
    absl::StrAppend(&message, "\n  last log lines:\n    ",
                    absl::StrJoin(log_tail.begin() + start, log_tail.end(), "\n    "));
  }
  absl::StrAppend(&message, "\n  hint: ", HintForError(err, log_tail));
  const int abs_err = err < 0 ? -err : err;
  if (abs_err == EPERM || abs_err == EACCES) return absl::PermissionDeniedError(message);
  if (abs_err == ENOENT) return absl::NotFoundError(message);
  if (abs_err == EOPNOTSUPP) return absl::UnimplementedError(message);
  return absl::InternalError(message);
}

}  // namespace loupe::bpf
