// Decoding of API server responses: watch streams (newline-delimited JSON events, split
// incrementally as bytes arrive) and list bodies. JSON is parsed with nlohmann's callback parser,
// which drops the subtrees Loupe never reads (managedFields, container specs, volumes, pod
// templates) while parsing, so big objects do not cost their full DOM.
//
// Thread expectations: LineSplitter is single-threaded; the functions are reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "src/k8s/objects.h"

namespace loupe::k8s {

// Splits a byte stream into lines ('\n'-terminated; a trailing '\r' is removed; empty lines are
// skipped). A line longer than `max_line_bytes` makes Feed fail: the stream is then unusable and
// the caller reconnects, so one huge event cannot grow memory without bound.
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  // Calls `on_line` for every complete line in `data`. Returns false (and stops) when a line is
  // too long or `on_line` returns false.
  bool Feed(std::string_view data, const std::function<bool(std::string_view)>& on_line);
  // Bytes of an incomplete line held.
  size_t pending() const { return partial_.size(); }
  bool overflowed() const { return overflowed_; }
  void Reset();

 private:
  size_t max_line_bytes_;
  std::string partial_;
  bool overflowed_ = false;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

std::string_view WatchEventTypeName(WatchEventType type);

// NOLINTNEXTLINE(bugprone-exception-escape): nlohmann::json's move can assert, not throw.
struct WatchEvent {
  WatchEventType type = WatchEventType::kError;
  Json object;  // the object (for kError: the Status)
  // For kError: the Status code (410 = Gone/Expired) and message.
  int error_code = 0;
  std::string error_message;
  // metadata.resourceVersion of the object (bookmarks carry only this).
  std::string resource_version;
};

// Parses one watch line: {"type": ..., "object": {...}}. InvalidArgument on malformed JSON, unknown
// type or a missing object.
absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line);

// NOLINTNEXTLINE(bugprone-exception-escape): as WatchEvent.
struct ListBody {
  Json items;  // array (possibly empty)
  std::string resource_version;
  std::string continue_token;
};

// Parses a list response ({"kind": "PodList", "metadata": {...}, "items": [...]}).
absl::StatusOr<ListBody> ParseListBody(std::string_view body);

// The Status returned with non-2xx answers ({"kind":"Status","code":...,"message":...}); returns
// the message, or a prefix of the raw body when it is not a Status.
std::string StatusMessage(std::string_view body);

}  // namespace loupe::k8s
