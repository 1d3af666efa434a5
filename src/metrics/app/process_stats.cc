#include "src/metrics/app/process_stats.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/base/read_file.h"
#include "src/base/strings.h"

namespace loupe::metrics::app {
namespace {

// /proc files of a process that exits while being read fail with ESRCH; that is reported, not
// thrown (see src/base/read_file.h).
bool ReadFile(const std::string& path, std::string* out) { return ReadFileTo(path, out) == 0; }

// "read_bytes: 123" -> 123 for `key`.
std::optional<uint64_t> FindKeyValue(std::string_view text, std::string_view key) {
  for (std::string_view line : SplitSkipEmpty(text, '\n')) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || line.substr(0, colon) != key) continue;
    uint64_t v = 0;
    if (ParseInt(StripWhitespace(line.substr(colon + 1)), &v)) return v;
  }
  return std::nullopt;
}

}  // namespace

bool ParseProcStat(std::string_view stat, long ticks_per_second, long page_size,
                   ProcessStats* out) {
  // "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so split after the last ')'.
  stat = StripWhitespace(stat);
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos || ticks_per_second <= 0) return false;
  const std::vector<std::string_view> f = SplitSkipEmpty(stat.substr(close + 1), ' ');
  // f[0] is field 3 (state); field k is f[k - 3].
  constexpr size_t kPpid = 4 - 3;
  constexpr size_t kUtime = 14 - 3;
  constexpr size_t kStime = 15 - 3;
  constexpr size_t kVsize = 23 - 3;
  constexpr size_t kRss = 24 - 3;
  constexpr size_t kBlkio = 42 - 3;
  if (f.size() <= kRss) return false;
  uint64_t ppid = 0;
  uint64_t utime = 0;
  uint64_t stime = 0;
  uint64_t vsize = 0;
  int64_t rss = 0;
  if (!ParseInt(f[kPpid], &ppid) || !ParseInt(f[kUtime], &utime) || !ParseInt(f[kStime], &stime) ||
      !ParseInt(f[kVsize], &vsize) || !ParseInt(f[kRss], &rss)) {
    return false;
  }
  uint64_t blkio = 0;
  if (f.size() > kBlkio && !ParseInt(f[kBlkio], &blkio)) blkio = 0;
  const auto ticks = static_cast<double>(ticks_per_second);
  out->ppid = static_cast<uint32_t>(ppid);
  out->user_seconds = static_cast<double>(utime) / ticks;
  out->system_seconds = static_cast<double>(stime) / ticks;
  out->wait_seconds = static_cast<double>(blkio) / ticks;
  out->virtual_bytes = vsize;
  out->resident_bytes = rss > 0 ? static_cast<uint64_t>(rss) * static_cast<uint64_t>(page_size) : 0;
  return true;
}

absl::StatusOr<ProcessStats> ReadProcessStats(const std::string& proc_root, uint32_t pid) {
  ProcessStats stats;
  stats.pid = pid;
  const std::string dir = absl::StrCat(proc_root, "/", pid);
  std::string text;
  if (!ReadFile(dir + "/stat", &text) || text.empty()) {
    return absl::NotFoundError(absl::StrCat("process ", pid, " not found"));
  }
  if (!ParseProcStat(text, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), &stats)) {
    return absl::DataLossError(absl::StrCat("malformed ", dir, "/stat"));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) stats.uid = st.st_uid;
  if (ReadFile(dir + "/comm", &text)) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    stats.command = text;
  }
  if (ReadFile(dir + "/cmdline", &text)) {
    while (!text.empty() && text.back() == '\0') text.pop_back();
    const size_t first_nul = text.find('\0');
    if (first_nul != std::string::npos) {
      stats.command_args = text.substr(first_nul + 1);
      std::replace(stats.command_args.begin(), stats.command_args.end(), '\0', ' ');
    }
    std::replace(text.begin(), text.end(), '\0', ' ');
    stats.command_line = text;
  }
  std::array<char, 4096> link{};
  const ssize_t n = readlink((dir + "/exe").c_str(), link.data(), link.size() - 1);
  if (n > 0) stats.executable_path.assign(link.data(), static_cast<size_t>(n));
  if (ReadFile(dir + "/io", &text)) {
    stats.disk_read_bytes = FindKeyValue(text, "read_bytes");
    stats.disk_write_bytes = FindKeyValue(text, "write_bytes");
  }
  if (ReadFile(dir + "/net/dev", &text)) {
    uint64_t rx = 0;
    uint64_t tx = 0;
    bool any = false;
    for (std::string_view line : SplitSkipEmpty(text, '\n')) {
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;  // the two header lines
      const std::vector<std::string_view> f = SplitSkipEmpty(line.substr(colon + 1), ' ');
      uint64_t r = 0;
      uint64_t t = 0;
      if (f.size() < 9 || !ParseInt(f[0], &r) || !ParseInt(f[8], &t)) continue;
      rx += r;
      tx += t;
      any = true;
    }
    if (any) {
      stats.net_receive_bytes = rx;
      stats.net_transmit_bytes = tx;
    }
  }
  return stats;
}

}  // namespace loupe::metrics::app
