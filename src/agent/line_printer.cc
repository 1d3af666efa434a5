#include "src/agent/line_printer.h"

#include <cerrno>

#include "src/base/errno_string.h"
#include "src/base/logging.h"

namespace loupe::agent {

LinePrinter::LinePrinter(std::FILE* out, std::chrono::milliseconds interval) : out_(out) {
  pending_.reserve(kFlushBytes + 4096);
  writer_ = std::thread([this, interval] { Loop(interval); });
}

LinePrinter::~LinePrinter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  writer_.join();
  std::lock_guard<std::mutex> lock(mu_);
  WriteLocked();
}

void LinePrinter::WriteLocked() {
  if (pending_.empty()) return;
  // A full pipe blocks here, as it did when each line was flushed. A failed write (the reader of
  // a pipe gone, a closed stream, a full disk) stops the printing, said once: the printer is a
  // debugging aid and must not stop the pipeline.
  if (!failed_) {
    errno = 0;
    const size_t written = std::fwrite(pending_.data(), 1, pending_.size(), out_);
    if (written != pending_.size() || std::fflush(out_) != 0) {
      failed_ = true;
      LOG_WARN(
          "trace_printer: writing to standard output failed ({}); no more requests are printed",
          ErrnoDescription(errno));
    }
  }
  pending_.clear();
}

void LinePrinter::Loop(std::chrono::milliseconds interval) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, interval, [this] { return stopping_; });
    WriteLocked();
  }
}

}  // namespace loupe::agent
