#include "src/bpf/tracefs.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>

#include "src/base/errno_string.h"
#include "src/base/logging.h"

namespace loupe::bpf {
namespace {

// 0 when `dir`/events is a directory, else the errno of stat (ENOTDIR for a non-directory).
int EventsError(const std::string& dir) {
  struct stat st {};
  const std::string events = dir + "/events";
  if (stat(events.c_str(), &st) != 0) return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

}  // namespace

TracefsState EnsureTracefs() {
  TracefsState state;
  int err = EventsError(kTracefsPath);
  if (err == 0) {
    state.available = true;
    state.path = kTracefsPath;
    return state;
  }
  if (EventsError(kDebugfsTracingPath) == 0) {
    state.available = true;
    state.path = kDebugfsTracingPath;
    return state;
  }
  if (err == ENOENT) {
    // The events/ directory is missing: tracefs is not mounted there. Mount it.
    if (mount("nodev", kTracefsPath, "tracefs", 0, nullptr) != 0) {
      state.err = errno;
      state.mount_failed = true;
      return state;
    }
    state.mounted_now = true;
    err = EventsError(kTracefsPath);
    if (err == 0) {
      state.available = true;
      state.path = kTracefsPath;
      return state;
    }
  }
  state.err = err;
  return state;
}

const TracefsState& EnsureTracefsOnce() {
  static const TracefsState state = [] {
    TracefsState s = EnsureTracefs();
    if (s.mounted_now && s.available) {
      LOG_INFO("tracefs was not mounted: mounted it at {} (tracepoints attach through it)",
               kTracefsPath);
    } else if (!s.available) {
      LOG_WARN(
          "tracefs is not available at {} or {} ({}{}): tracepoint programs cannot attach; mount "
          "it with `mount -t tracefs nodev {}`",
          kTracefsPath, kDebugfsTracingPath, s.mount_failed ? "mounting it failed: " : "",
          ErrnoDescription(s.err), kTracefsPath);
    }
    return s;
  }();
  return state;
}

}  // namespace loupe::bpf
