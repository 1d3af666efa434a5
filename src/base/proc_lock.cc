#include "src/base/proc_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "src/base/errno_string.h"
#include "src/base/strings.h"

namespace loupe {

absl::StatusOr<std::unique_ptr<ProcessLock>> ProcessLock::Acquire(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open lock file ", path, ": ", ErrnoDescription(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    if (err == EWOULDBLOCK) {
      int64_t pid = 0;
      std::string_view text = n > 0 ? StripWhitespace(std::string_view(buf, n)) : "";
      const std::string who =
          ParseInt(text, &pid) ? absl::StrCat(" (pid ", pid, ")") : std::string();
      return absl::FailedPreconditionError(absl::StrCat(
          "another loupe agent", who, " is already running on this host (it holds ", path,
          "); one agent per host observes everything: stop the other one first"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("cannot lock ", path, ": ", ErrnoDescription(err)));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock itself is what matters; the pid is only for the error message of a second agent.
  }
  return std::unique_ptr<ProcessLock>(new ProcessLock(path, fd));
}

ProcessLock::~ProcessLock() {
  // Truncate rather than unlink: unlinking a flock'ed file races with a new agent opening it.
  if (ftruncate(fd_, 0) != 0) {
  }
  close(fd_);
}

}  // namespace loupe
