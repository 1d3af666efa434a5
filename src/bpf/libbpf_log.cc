#include "src/bpf/libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>

#include "src/base/logging.h"
#include "src/base/strings.h"

namespace loupe::bpf {
namespace {

thread_local LibbpfLogCapture* current_capture = nullptr;
// Captured output is bounded: a verifier log can be megabytes; the tail is what matters.
constexpr size_t kMaxCapturedLines = 4000;

int PrintCallback(enum libbpf_print_level level, const char* format, va_list args) {
  char buf[2048];
  vsnprintf(buf, sizeof(buf), format, args);
  AppendCapturedLine(buf);
  std::string_view text = StripTrailingWhitespace(buf);
  static const bool debug = std::getenv("LOUPE_LIBBPF_DEBUG") != nullptr;
  if (level == LIBBPF_WARN && current_capture == nullptr) {
    LOG_WARN("libbpf: {}", text);
  } else if (debug) {
    LOG_DEBUG("libbpf: {}", text);
  }
  return 0;
}

}  // namespace

void AppendCapturedLine(const char* text) {
  LibbpfLogCapture* capture = current_capture;
  if (capture == nullptr) return;
  for (std::string_view line : SplitSkipEmpty(text, '\n')) {
    line = StripTrailingWhitespace(line);
    if (line.empty()) continue;
    if (capture->lines_.size() >= kMaxCapturedLines) {
      capture->lines_.erase(capture->lines_.begin(),
                            capture->lines_.begin() + kMaxCapturedLines / 2);
    }
    capture->lines_.emplace_back(line);
  }
}

void InstallLibbpfLogger() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(PrintCallback); });
}

LibbpfLogCapture::LibbpfLogCapture() : previous_(current_capture) {
  InstallLibbpfLogger();
  current_capture = this;
}

LibbpfLogCapture::~LibbpfLogCapture() { current_capture = previous_; }

std::vector<std::string> LibbpfLogCapture::Tail(size_t n) const {
  const size_t start = lines_.size() > n ? lines_.size() - n : 0;
  return {lines_.begin() + start, lines_.end()};
}

}  // namespace loupe::bpf
