#include "src/agent/line_printer.h"

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
  // A failed write (a closed stream) drops the lines: the printer is a debugging aid and must not
  // stop the pipeline. A full pipe blocks here, as it did when each line was flushed.
  std::fwrite(pending_.data(), 1, pending_.size(), out_);
  std::fflush(out_);
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
