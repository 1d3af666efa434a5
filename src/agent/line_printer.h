// Lines for a stream, from a hot path (the trace printer): kept in memory and written by a
// background thread every `interval`, or at once when kFlushBytes are pending, so printing a line
// costs no system call. Writing and flushing stdout per line cost the agent a write per request,
// which under load was more than the rest of its work per request (docs/performance.md).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace loupe::agent {

class LinePrinter {
 public:
  static constexpr std::chrono::milliseconds kDefaultInterval{100};
  static constexpr size_t kFlushBytes = 64 * 1024;

  // `out` must outlive the printer.
  explicit LinePrinter(std::FILE* out, std::chrono::milliseconds interval = kDefaultInterval);
  // Writes what is pending.
  ~LinePrinter();
  LinePrinter(const LinePrinter&) = delete;
  LinePrinter& operator=(const LinePrinter&) = delete;

  // Adds one line: `append(std::string*)` appends its text, without the newline. Nothing once a
  // write failed.
  template <typename Append>
  void PrintWith(const Append& append) {
    std::lock_guard<std::mutex> lock(mu_);
    if (failed_) return;
    append(&pending_);
    pending_.push_back('\n');
    if (pending_.size() >= kFlushBytes) WriteLocked();
  }
  void Print(std::string_view line) {
    PrintWith([line](std::string* out) { out->append(line); });
  }

 private:
  void WriteLocked();
  void Loop(std::chrono::milliseconds interval);

  std::FILE* out_;
  std::mutex mu_;
  std::string pending_;    // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  bool failed_ = false;    // guarded by mu_: a write failed, lines are dropped from then on
  std::condition_variable cv_;
  std::thread writer_;
};

}  // namespace loupe::agent
