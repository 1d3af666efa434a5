#include "src/metrics/app/process_stats.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace loupe::metrics::app {
namespace {

// Fields 1-44 of /proc/<pid>/stat; comm holds spaces and parentheses.
constexpr char kStat[] =
    "4242 (my (odd) app) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 3 0 "
    "12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 7 0 0\n";

TEST(ProcessStatsTest, ParsesStat) {
  ProcessStats s;
  ASSERT_TRUE(ParseProcStat(kStat, 100, 4096, &s));
  EXPECT_EQ(s.ppid, 17u);
  EXPECT_DOUBLE_EQ(s.user_seconds, 2.5);
  EXPECT_DOUBLE_EQ(s.system_seconds, 1.3);
  EXPECT_DOUBLE_EQ(s.wait_seconds, 0.07);
  EXPECT_EQ(s.virtual_bytes, 104857600u);
  EXPECT_EQ(s.resident_bytes, 2560u * 4096u);
}

TEST(ProcessStatsTest, RejectsMalformedStat) {
  ProcessStats s;
  EXPECT_FALSE(ParseProcStat("", 100, 4096, &s));
  EXPECT_FALSE(ParseProcStat("1 (x) S 0 0", 100, 4096, &s));
  EXPECT_FALSE(ParseProcStat("no parenthesis at all", 100, 4096, &s));
  EXPECT_FALSE(ParseProcStat(kStat, 0, 4096, &s));
}

TEST(ProcessStatsTest, ReadsFakeProcRoot) {
  const std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("am-stats-" + std::to_string(getpid()));
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root / "4242" / "net");
  std::ofstream(root / "4242" / "stat") << kStat;
  std::ofstream(root / "4242" / "comm") << "my (odd) app\n";
  std::ofstream(root / "4242" / "cmdline")
      << "/usr/bin/app" << '\0' << "--port" << '\0' << "8080" << '\0';
  std::ofstream(root / "4242" / "io") << "rchar: 1\nwchar: 2\nread_bytes: 4096\n"
                                         "write_bytes: 8192\ncancelled_write_bytes: 0\n";
  std::ofstream(root / "4242" / "net" / "dev")
      << "Inter-|   Receive                                                |  Transmit\n"
         " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
         "errs drop fifo colls carrier compressed\n"
         "    lo:    1000      10    0    0    0     0          0         0     1000      10    "
         "0    0    0     0       0          0\n"
         "  eth0:   50000     100    0    0    0     0          0         0    20000      90    "
         "0    0    0     0       0          0\n";
  auto stats = ReadProcessStats(root.string(), 4242);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->pid, 4242u);
  EXPECT_EQ(stats->ppid, 17u);
  EXPECT_EQ(stats->command, "my (odd) app");
  EXPECT_EQ(stats->command_line, "/usr/bin/app --port 8080");
  EXPECT_EQ(stats->command_args, "--port 8080");
  EXPECT_EQ(stats->disk_read_bytes, 4096u);
  EXPECT_EQ(stats->disk_write_bytes, 8192u);
  EXPECT_EQ(stats->net_receive_bytes, 51000u);
  EXPECT_EQ(stats->net_transmit_bytes, 21000u);
  EXPECT_TRUE(stats->executable_path.empty());
  EXPECT_EQ(ReadProcessStats(root.string(), 4243).status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(root);
}

TEST(ProcessStatsTest, ReadsOwnProcess) {
  auto stats = ReadProcessStats("/proc", static_cast<uint32_t>(getpid()));
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->ppid, static_cast<uint32_t>(getppid()));
  EXPECT_EQ(stats->uid, getuid());
  EXPECT_GT(stats->resident_bytes, 0u);
  EXPECT_GE(stats->virtual_bytes, stats->resident_bytes);
  EXPECT_EQ(stats->command, "app_metrics_tes");  // comm is cut at 15 characters
  EXPECT_TRUE(stats->disk_read_bytes.has_value());
  EXPECT_TRUE(stats->net_receive_bytes.has_value());
  EXPECT_EQ(ReadProcessStats("/proc", 0x7ffffff0).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace loupe::metrics::app
