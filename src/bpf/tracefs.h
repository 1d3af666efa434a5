// Where tracefs is, and mounting it when it is missing. libbpf resolves a tracepoint's id through
// tracefs (<tracefs>/events/<category>/<name>/id), so without it no tracepoint program attaches.
// Many hosts mount it at boot; minimal VMs and some container images do not.
#pragma once

#include <string>

namespace loupe::bpf {

inline constexpr char kTracefsPath[] = "/sys/kernel/tracing";
inline constexpr char kDebugfsTracingPath[] = "/sys/kernel/debug/tracing";

struct TracefsState {
  bool available = false;     // an events/ directory was found (or is there after mounting)
  bool mounted_now = false;   // this call mounted tracefs at kTracefsPath
  std::string path;           // the tracefs directory in use, when available
  int err = 0;                // when not available: errno of the events/ lookup or of mount(2)
  bool mount_failed = false;  // when not available: mount(2) was tried and failed with `err`
};

// Looks for <dir>/events under kTracefsPath, then kDebugfsTracingPath. When neither exists and
// kTracefsPath itself does (a kernel with tracefs, not mounted), mounts tracefs there (needs
// CAP_SYS_ADMIN in the mount namespace's owner). Each call looks again.
TracefsState EnsureTracefs();

// EnsureTracefs() once per process; later calls return the first result. Thread-safe. The first
// call logs a line when it mounted tracefs or could not. Called before every skeleton attach.
const TracefsState& EnsureTracefsOnce();

}  // namespace loupe::bpf
