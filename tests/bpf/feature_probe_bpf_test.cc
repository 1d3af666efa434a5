#include "src/bpf/feature_probe.h"

#include <dirent.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/bpf/bpf_test_util.h"

namespace loupe::bpf {
namespace {

using ::loupe::testing::Shell;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// The expectations below describe the machine these tests are written for (Debian 12, Linux 6.18
// with BTF, root): tracepoints, raw tracepoints, uprobes, TC, cgroup skb and ring buffers work;
// fentry programs are refused at load time with EPERM; the kernel has no kprobe support at all
// (no kprobe PMU, no kprobe_events), so a kprobe program loads but attaching fails with ENOENT.

// Every qdisc line of the host (root network namespace): the TC probe must never add one.
std::set<std::string> HostQdiscs() {
  std::string out;
  Shell("tc qdisc show", &out);
  std::set<std::string> lines;
  std::istringstream stream(out);
  std::string line;
  while (std::getline(stream, line)) lines.insert(line);
  return lines;
}

std::vector<std::string> LeftoverProbeCgroups() {
  std::vector<std::string> leftovers;
  const CgroupMounts mounts = ReadCgroupMounts();
  if (mounts.cgroup2_path.empty()) return leftovers;
  DIR* dir = opendir(mounts.cgroup2_path.c_str());
  if (dir == nullptr) return leftovers;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.rfind(kProbeCgroupPrefix, 0) == 0) leftovers.push_back(name);
  }
  closedir(dir);
  return leftovers;
}

void ExpectAvailableAndFired(const HookProbeResult& result) {
  EXPECT_TRUE(result.available) << HookName(result.hook) << ": " << result.error;
  EXPECT_EQ(result.err, 0);
  EXPECT_EQ(result.error, "");
  ASSERT_TRUE(result.fired.has_value()) << HookName(result.hook);
  EXPECT_TRUE(*result.fired) << HookName(result.hook) << ": " << result.detail;
  EXPECT_THAT(result.detail, HasSubstr("and fired"));
}

TEST(FeatureProbeBpfTest, RingBufferMapCanBeCreated) {
  LOUPE_REQUIRE_ROOT();
  const HookProbeResult result = ProbeHook(Hook::kRingBuffer);
  EXPECT_TRUE(result.available) << result.error;
  EXPECT_EQ(result.err, 0);
  EXPECT_FALSE(result.fired.has_value());
  EXPECT_THAT(result.detail, HasSubstr("BPF_MAP_TYPE_RINGBUF"));
}

TEST(FeatureProbeBpfTest, TracepointAttachesAndFires) {
  LOUPE_REQUIRE_ROOT();
  const HookProbeResult result = ProbeHook(Hook::kTracepoint);
  ExpectAvailableAndFired(result);
  EXPECT_THAT(result.detail, HasSubstr("syscalls/sys_enter_getppid"));
}

TEST(FeatureProbeBpfTest, RawTracepointAttachesAndFires) {
  LOUPE_REQUIRE_ROOT();
  const HookProbeResult result = ProbeHook(Hook::kRawTracepoint);
  ExpectAvailableAndFired(result);
  EXPECT_THAT(result.detail, HasSubstr("sys_enter"));
}

TEST(FeatureProbeBpfTest, UprobeOnOwnBinaryAttachesAndFires) {
  LOUPE_REQUIRE_ROOT();
  const HookProbeResult result = ProbeHook(Hook::kUprobe);
  ExpectAvailableAndFired(result);
  EXPECT_THAT(result.detail, HasSubstr("loupe_preflight_uprobe_target"));
}

TEST(FeatureProbeBpfTest, TcFiresInPrivateNamespaceAndLeavesHostQdiscsAlone) {
  LOUPE_REQUIRE_ROOT();
  const std::set<std::string> before = HostQdiscs();
  const HookProbeResult result = ProbeHook(Hook::kTc);
  ExpectAvailableAndFired(result);
  EXPECT_THAT(result.detail, HasSubstr("private network namespace"));
  std::vector<std::string> added;
  for (const std::string& line : HostQdiscs()) {
    if (before.count(line) == 0) added.push_back(line);
  }
  EXPECT_EQ(added, std::vector<std::string>{}) << "the TC probe changed the host's qdiscs";
  std::string lo_filters;
  Shell("tc filter show dev lo ingress", &lo_filters);
  EXPECT_THAT(lo_filters, Not(HasSubstr("tc__probe")));
}

TEST(FeatureProbeBpfTest, CgroupSkbFiresAndRemovesItsCgroup) {
  LOUPE_REQUIRE_ROOT();
  ASSERT_EQ(LeftoverProbeCgroups(), std::vector<std::string>{}) << "leftover from an earlier run";
  const HookProbeResult result = ProbeHook(Hook::kCgroupSkb);
  ExpectAvailableAndFired(result);
  EXPECT_THAT(result.detail, HasSubstr(ReadCgroupMounts().cgroup2_path));
  EXPECT_EQ(LeftoverProbeCgroups(), std::vector<std::string>{});
}

TEST(FeatureProbeBpfTest, KprobeIsUnavailableOnKernelWithoutKprobes) {
  LOUPE_REQUIRE_ROOT();
  const HookProbeResult result = ProbeHook(Hook::kKprobe);
  EXPECT_FALSE(result.available);
  EXPECT_FALSE(result.fired.has_value());
  EXPECT_EQ(result.err, ENOENT) << result.error;
  EXPECT_THAT(result.error, StartsWith("attaching to vfs_read: ENOENT"));
  EXPECT_THAT(result.error, HasSubstr("no kprobe support"));
}

TEST(FeatureProbeBpfTest, FentryIsRefusedWithEperm) {
  LOUPE_REQUIRE_ROOT();
  const HookProbeResult result = ProbeHook(Hook::kFentry);
  EXPECT_FALSE(result.available);
  EXPECT_FALSE(result.fired.has_value());
  EXPECT_EQ(result.err, EPERM) << result.error;
  EXPECT_THAT(result.error, StartsWith("loading the program: EPERM"));
  EXPECT_NE(result.hint, "");
}

TEST(FeatureProbeBpfTest, MemlockLimitDoesNotApplyOnMemcgKernel) {
  LOUPE_REQUIRE_ROOT();
  const MemlockProbeResult result = ProbeMemlockAccounting();
  EXPECT_EQ(result.accounting, MemlockAccounting::kMemcg) << "errno " << result.err;
  EXPECT_EQ(result.err, 0);
}

// Without privileges every probe fails with its errno instead of crashing. Runs the probes in a
// forked child that drops to nobody (which clears every capability) and reports through a pipe.
TEST(FeatureProbeBpfTest, UnprivilegedProbesFailWithEperm) {
  LOUPE_REQUIRE_ROOT();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      _exit(2);
    }
    for (Hook hook : AllHooks()) {
      const HookProbeResult result = ProbeHook(hook);
      const int report[2] = {result.available ? 1 : 0, result.err};
      if (write(fds[1], report, sizeof(report)) != sizeof(report)) _exit(3);
    }
    _exit(0);
  }
  close(fds[1]);
  std::vector<std::pair<int, int>> reports;
  int report[2];
  while (read(fds[0], report, sizeof(report)) == sizeof(report)) {
    reports.emplace_back(report[0], report[1]);
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the unprivileged probes crashed, wait status " << status;
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(reports.size(), AllHooks().size());
  for (size_t i = 0; i < reports.size(); ++i) {
    EXPECT_EQ(reports[i].first, 0) << HookName(AllHooks()[i]);
    EXPECT_EQ(reports[i].second, EPERM) << HookName(AllHooks()[i]);
  }
  EXPECT_EQ(LeftoverProbeCgroups(), std::vector<std::string>{});
}

TEST(FeatureProbeTest, ParsesUnifiedCgroupLayout) {
  const CgroupMounts mounts = ParseCgroupMounts(
      "sysfs /sys sysfs rw 0 0\n"
      "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n");
  EXPECT_EQ(mounts.cgroup2_path, "/sys/fs/cgroup");
  EXPECT_FALSE(mounts.has_cgroup1);
}

TEST(FeatureProbeTest, ParsesHybridCgroupLayout) {
  const CgroupMounts mounts = ParseCgroupMounts(
      "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
      "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
      "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n"
      "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n");
  EXPECT_EQ(mounts.cgroup2_path, "/sys/fs/cgroup/unified");
  EXPECT_TRUE(mounts.has_cgroup1);
}

TEST(FeatureProbeTest, ParsesCgroupV1OnlyAndEscapedMountPoints) {
  EXPECT_EQ(ParseCgroupMounts("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n").cgroup2_path, "");
  EXPECT_TRUE(ParseCgroupMounts("cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n").has_cgroup1);
  EXPECT_EQ(ParseCgroupMounts("none /mnt/my\\040cgroup cgroup2 rw 0 0\n").cgroup2_path,
            "/mnt/my cgroup");
  EXPECT_EQ(ParseCgroupMounts("garbage\n\n").cgroup2_path, "");
}

}  // namespace
}  // namespace loupe::bpf
