// Single-instance lock: an exclusive flock on a file that also records the holder's pid. The lock
// dies with the process, so a crashed agent never blocks the next one.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace loupe {

class ProcessLock {
 public:
  // Creates the parent directory when missing. Returns FailedPrecondition naming the holder's pid
  // when another live process holds the lock.
  static absl::StatusOr<std::unique_ptr<ProcessLock>> Acquire(const std::string& path);
  ~ProcessLock();
  ProcessLock(const ProcessLock&) = delete;
  ProcessLock& operator=(const ProcessLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  ProcessLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

}  // namespace loupe
