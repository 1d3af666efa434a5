#include "src/base/proc_lock.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace loupe {
namespace {

std::string TempLockPath() {
  return (std::filesystem::temp_directory_path() / ("loupe-lock-test-" + std::to_string(getpid())) /
          "agent.lock")
      .string();
}

TEST(ProcessLockTest, SecondHolderInAnotherProcessGetsClearError) {
  const std::string path = TempLockPath();
  auto lock = ProcessLock::Acquire(path);
  ASSERT_TRUE(lock.ok()) << lock.status();

  // flock is per open file description: a child process opening the file must be refused.
  const pid_t child = fork();
  if (child == 0) {
    auto second = ProcessLock::Acquire(path);
    const bool refused = !second.ok() && second.status().message().find(
                                             "another loupe agent (pid " +
                                             std::to_string(getppid()) + ")") != std::string::npos;
    _exit(refused ? 0 : 1);
  }
  int wstatus = 0;
  waitpid(child, &wstatus, 0);
  EXPECT_TRUE(WIFEXITED(wstatus));
  EXPECT_EQ(WEXITSTATUS(wstatus), 0);

  lock->reset();
  auto again = ProcessLock::Acquire(path);
  EXPECT_TRUE(again.ok()) << again.status();
  again->reset();
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

}  // namespace
}  // namespace loupe
