// Bridges libbpf's print callback into our logging, and captures libbpf output (which carries the
// verifier log of a failed load) for the thread that is loading a skeleton.
#pragma once

#include <string>
#include <vector>

namespace loupe::bpf {

// Installs the libbpf print callback once per process. Thread-safe, idempotent.
void InstallLibbpfLogger();

// Appends libbpf output to the calling thread's active capture, if any. Internal to libbpf_log.cc.
void AppendCapturedLine(const char* text);

// While alive, every libbpf message printed on this thread is also appended to lines().
// Not thread-safe by design: one capture per thread (nesting keeps the innermost).
class LibbpfLogCapture {
 public:
  LibbpfLogCapture();
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;

  const std::vector<std::string>& lines() const { return lines_; }
  // The last `n` non-empty lines.
  std::vector<std::string> Tail(size_t n) const;

 private:
  friend void AppendCapturedLine(const char* text);
  LibbpfLogCapture* previous_;
  std::vector<std::string> lines_;
};

}  // namespace loupe::bpf
