#include "src/k8s/watch.h"

#include <array>

#include "absl/strings/str_cat.h"

namespace loupe::k8s {
namespace {

// Keys dropped inside an object's metadata/spec/status (never elsewhere, so a label or annotation
// named "volumes" survives). Their subtrees are the bulk of real objects and Loupe reads none of
// them.
constexpr std::array<std::string_view, 9> kDroppedKeys = {
    "managedFields", "containers",  "initContainers", "ephemeralContainers", "volumes",
    "template",      "jobTemplate", "affinity",       "tolerations"};

// Parses `text`, dropping kDroppedKeys at `drop_depth` (the depth of keys directly inside an
// object's metadata/spec/status; it depends on where the objects sit in the document).
Json ParseDropping(std::string_view text, int drop_depth) {
  auto filter = [drop_depth](int depth, Json::parse_event_t event, Json& parsed) {
    if (event != Json::parse_event_t::key || depth != drop_depth) return true;
    const auto& key = parsed.get_ref<const std::string&>();
    for (std::string_view dropped : kDroppedKeys) {
      if (key == dropped) return false;
    }
    return true;
  };
  return Json::parse(text.begin(), text.end(), filter, /*allow_exceptions=*/false);
}

// Depths of keys inside metadata/spec/status for {"type":..,"object":{"metadata":{HERE}}} and
// {"items":[{"metadata":{HERE}}]}.
constexpr int kWatchDropDepth = 3;
constexpr int kListDropDepth = 4;

std::string ResourceVersionOf(const Json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || !rv->is_string()) return "";
  return rv->get<std::string>();
}

}  // namespace

bool LineSplitter::Feed(std::string_view data,
                        const std::function<bool(std::string_view)>& on_line) {
  if (overflowed_) return false;
  while (!data.empty()) {
    const size_t newline = data.find('\n');
    if (newline == std::string_view::npos) {
      if (partial_.size() + data.size() > max_line_bytes_) {
        overflowed_ = true;
        partial_.clear();
        partial_.shrink_to_fit();
        return false;
      }
      partial_.append(data.data(), data.size());
      return true;
    }
    std::string_view line;
    if (partial_.empty()) {
      line = data.substr(0, newline);
    } else {
      if (partial_.size() + newline > max_line_bytes_) {
        overflowed_ = true;
        partial_.clear();
        partial_.shrink_to_fit();
        return false;
      }
      partial_.append(data.data(), newline);
      line = partial_;
    }
    data.remove_prefix(newline + 1);
    if (line.size() > max_line_bytes_) {
      overflowed_ = true;
      partial_.clear();
      return false;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool keep_going = true;
    if (!line.empty()) keep_going = on_line(line);
    partial_.clear();
    if (!keep_going) return false;
  }
  // Keep the buffer's capacity bounded by what a typical event needs.
  if (partial_.empty() && partial_.capacity() > 64 * 1024) partial_.shrink_to_fit();
  return true;
}

void LineSplitter::Reset() {
  partial_.clear();
  partial_.shrink_to_fit();
  overflowed_ = false;
}

std::string_view WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "?";
}

absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view line) {
  Json doc = ParseDropping(line, kWatchDropDepth);
  if (doc.is_discarded()) return absl::InvalidArgumentError("watch event: malformed JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("watch event: not a JSON object");
  auto type_it = doc.find("type");
  if (type_it == doc.end() || !type_it->is_string()) {
    return absl::InvalidArgumentError("watch event: no type");
  }
  const auto& type = type_it->get_ref<const std::string&>();
  WatchEvent event;
  if (type == "ADDED") {
    event.type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    event.type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    event.type = WatchEventType::kDeleted;
  } else if (type == "BOOKMARK") {
    event.type = WatchEventType::kBookmark;
  } else if (type == "ERROR") {
    event.type = WatchEventType::kError;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("watch event: unknown type '", type, "'"));
  }
  auto object_it = doc.find("object");
  if (object_it == doc.end() || !object_it->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("watch event ", type, ": no object"));
  }
  event.object = std::move(*object_it);
  event.resource_version = ResourceVersionOf(event.object);
  if (event.type == WatchEventType::kError) {
    auto code = event.object.find("code");
    if (code != event.object.end() && code->is_number_integer()) {
      event.error_code = code->get<int>();
    }
    auto message = event.object.find("message");
    if (message != event.object.end() && message->is_string()) {
      event.error_message = message->get<std::string>();
    }
  }
  return event;
}

absl::StatusOr<ListBody> ParseListBody(std::string_view body) {
  Json doc = ParseDropping(body, kListDropDepth);
  if (doc.is_discarded()) return absl::InvalidArgumentError("list: malformed JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("list: not a JSON object");
  ListBody list;
  auto items = doc.find("items");
  if (items != doc.end() && !items->is_null()) {
    if (!items->is_array()) return absl::InvalidArgumentError("list: items is not an array");
    list.items = std::move(*items);
  } else {
    list.items = Json::array();
  }
  auto meta = doc.find("metadata");
  if (meta != doc.end() && meta->is_object()) {
    auto rv = meta->find("resourceVersion");
    if (rv != meta->end() && rv->is_string()) list.resource_version = rv->get<std::string>();
    auto cont = meta->find("continue");
    if (cont != meta->end() && cont->is_string()) list.continue_token = cont->get<std::string>();
  }
  if (list.resource_version.empty()) {
    return absl::InvalidArgumentError("list: no metadata.resourceVersion");
  }
  return list;
}

std::string StatusMessage(std::string_view body) {
  Json doc = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_object()) {
    auto message = doc.find("message");
    if (message != doc.end() && message->is_string()) return message->get<std::string>();
  }
  constexpr size_t kMaxRaw = 200;
  std::string raw(body.substr(0, kMaxRaw));
  for (char& c : raw) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return raw;
}

}  // namespace loupe::k8s
