// Per-process resource usage read from /proc, for Beyla's `application_process` metrics.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace loupe::metrics::app {

struct ProcessStats {
  uint32_t pid = 0;
  uint32_t ppid = 0;
  uid_t uid = 0;
  std::string command;          // /proc/<pid>/comm
  std::string command_line;     // /proc/<pid>/cmdline, arguments joined by spaces
  std::string command_args;     // the arguments after argv[0], joined by spaces
  std::string executable_path;  // /proc/<pid>/exe
  double user_seconds = 0;      // utime
  double system_seconds = 0;    // stime
  double wait_seconds = 0;      // delayacct_blkio_ticks (time waiting for block I/O)
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  // /proc/<pid>/io (absent when not permitted): bytes read from / written to storage.
  std::optional<uint64_t> disk_read_bytes;
  std::optional<uint64_t> disk_write_bytes;
  // /proc/<pid>/net/dev summed over interfaces: the process's network namespace, as Beyla
  // (gopsutil) reports it.
  std::optional<uint64_t> net_receive_bytes;
  std::optional<uint64_t> net_transmit_bytes;
};

// NotFound when the process does not exist (any more).
absl::StatusOr<ProcessStats> ReadProcessStats(const std::string& proc_root, uint32_t pid);

// Parses the text of /proc/<pid>/stat into `out` (ppid, times, sizes). False when malformed.
bool ParseProcStat(std::string_view stat, long ticks_per_second, long page_size, ProcessStats* out);

}  // namespace loupe::metrics::app
