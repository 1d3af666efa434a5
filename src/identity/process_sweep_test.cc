// The process cache's expiry without BPF: start times from /proc/<pid>/stat and the sweep.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "src/identity/identity_cache.h"

namespace loupe::identity {
namespace {

std::string StatLine(const std::string& comm, uint64_t start_time) {
  // pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime
  // stime cutime cstime priority nice num_threads itrealvalue starttime vsize ...
  return "1234 (" + comm + ") S 1 1234 1234 0 -1 4194304 97 0 0 0 0 0 0 0 20 0 1 0 " +
         std::to_string(start_time) + " 8417280 229 18446744073709551615 1 1 0 0 0 0 0 0 0\n";
}

TEST(ProcStatTest, StartTimeIsField22) {
  EXPECT_EQ(ParseProcStatStartTime(StatLine("sleep", 5511223)), 5511223u);
  EXPECT_EQ(ParseProcStatStartTime(StatLine("sleep", 0)), 0u);
  // The command may hold spaces and parentheses: fields count from the last ')'.
  EXPECT_EQ(ParseProcStatStartTime(StatLine("a) b (c", 77)), 77u);
  EXPECT_EQ(ParseProcStatStartTime(StatLine("x y z 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", 9)),
            9u);
  // Nothing after the start time is needed.
  EXPECT_EQ(ParseProcStatStartTime("1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42"), 42u);
}

TEST(ProcStatTest, MalformedLinesHaveNoStartTime) {
  EXPECT_FALSE(ParseProcStatStartTime("").has_value());
  EXPECT_FALSE(ParseProcStatStartTime("1234 (sleep S 1 2 3").has_value());  // no ')'
  EXPECT_FALSE(ParseProcStatStartTime("1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0").has_value());
  EXPECT_FALSE(
      ParseProcStatStartTime("1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 12x 5").has_value());
  EXPECT_FALSE(
      ParseProcStatStartTime("1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -4 5").has_value());
  EXPECT_FALSE(ParseProcStatStartTime(
                   "1 (c) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99999999999999999999999 5")
                   .has_value());
}

// A real child: cached with its start time, kept while it lives, dropped once it has exited.
TEST(ProcessSweepTest, ExitedChildIsDropped) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl("/bin/sleep", "sleep", "30", nullptr);
    _exit(127);
  }
  const auto pid = static_cast<uint32_t>(child);
  IdentityCache cache;
  // Wait for the exec (comm is "sleep" after it).
  std::shared_ptr<const ProcessMetadata> meta;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    cache.ForgetProcess(pid);
    meta = cache.Process(pid);
    if (meta && meta->comm == "sleep") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(meta && meta->comm == "sleep");
  std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto start = ParseProcStatStartTime(line);
  ASSERT_TRUE(start.has_value());
  EXPECT_EQ(meta->start_time, *start);
  EXPECT_GT(meta->start_time, 0u);

  EXPECT_EQ(cache.SweepProcesses(), 0u);
  EXPECT_EQ(cache.process_count(), 1u);
  EXPECT_EQ(cache.Process(pid), meta);  // still the cached entry

  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(cache.SweepProcesses(), 1u);
  EXPECT_EQ(cache.process_count(), 0u);
  EXPECT_EQ(cache.Process(pid), nullptr);
  EXPECT_EQ(cache.SweepProcesses(), 0u);
}

// A fake /proc: the same pid with another start time is another process (pid reuse).
class FakeProcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/loupe-proc-XXXXXX";
    ASSERT_NE(mkdtemp(templ), nullptr);
    root_ = templ;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void WriteProcess(uint32_t pid, const std::string& comm, const std::string& stat) {
    const std::string dir = root_ + "/" + std::to_string(pid);
    std::filesystem::create_directories(dir);
    std::ofstream(dir + "/comm") << comm << "\n";
    std::ofstream(dir + "/stat") << stat;
  }
  IdentityCache::Options Options() const {
    IdentityCache::Options options;
    options.proc_root = root_;
    return options;
  }

  std::string root_;
};

TEST_F(FakeProcTest, ReusedPidIsDropped) {
  IdentityCache cache(Options());
  WriteProcess(100, "nginx", StatLine("nginx", 1000));
  WriteProcess(200, "redis", StatLine("redis", 2000));
  ASSERT_NE(cache.Process(100), nullptr);
  ASSERT_NE(cache.Process(200), nullptr);
  EXPECT_EQ(cache.Process(100)->start_time, 1000u);
  EXPECT_EQ(cache.SweepProcesses(), 0u);

  WriteProcess(100, "curl", StatLine("curl", 1500));  // pid 100 reused
  EXPECT_EQ(cache.Process(100)->comm, "nginx");       // stale until the sweep
  EXPECT_EQ(cache.SweepProcesses(), 1u);
  EXPECT_EQ(cache.process_count(), 1u);
  EXPECT_EQ(cache.Process(100)->comm, "curl");
  EXPECT_EQ(cache.Process(100)->start_time, 1500u);
  EXPECT_EQ(cache.Process(200)->comm, "redis");
}

TEST_F(FakeProcTest, GoneOrUnreadableStatIsDropped) {
  IdentityCache cache(Options());
  WriteProcess(100, "nginx", StatLine("nginx", 1000));
  WriteProcess(300, "odd", "garbage without a command\n");
  ASSERT_NE(cache.Process(100), nullptr);
  // A stat line that cannot be parsed: cached with an unknown start time...
  ASSERT_NE(cache.Process(300), nullptr);
  EXPECT_EQ(cache.Process(300)->start_time, 0u);
  // ...and dropped at the sweep like a process whose stat is gone.
  std::filesystem::remove_all(root_ + "/100");
  EXPECT_EQ(cache.SweepProcesses(), 2u);
  EXPECT_EQ(cache.process_count(), 0u);
}

// A process cached without a known start time (stat unreadable then, readable now) is kept while
// /proc/<pid> exists: there is nothing to compare.
TEST_F(FakeProcTest, UnknownStartTimeIsKeptWhileAlive) {
  IdentityCache cache(Options());
  WriteProcess(400, "app", "");
  ASSERT_NE(cache.Process(400), nullptr);
  EXPECT_EQ(cache.Process(400)->start_time, 0u);
  std::ofstream(root_ + "/400/stat") << StatLine("app", 4000);
  EXPECT_EQ(cache.SweepProcesses(), 0u);
  EXPECT_EQ(cache.process_count(), 1u);
}

}  // namespace
}  // namespace loupe::identity
