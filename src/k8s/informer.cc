#include "src/k8s/informer.h"

#include <algorithm>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "src/base/logging.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace loupe::k8s {
namespace {

// A watch that ends this soon without delivering anything counts as a failure (backoff), so a
// server that closes streams at once cannot make the informer spin.
constexpr auto kMinHealthyWatch = std::chrono::seconds(1);
// Client-side margin over the server-side watch timeout.
constexpr auto kWatchTimeoutSlack = std::chrono::seconds(30);

std::string BasePath(const ResourceInfo& resource, const std::string& ns) {
  if (resource.namespaced && !ns.empty()) {
    return absl::StrCat(std::string(resource.api_path), "/namespaces/", QueryEscape(ns), "/",
                        std::string(resource.plural));
  }
  return absl::StrCat(std::string(resource.api_path), "/", std::string(resource.plural));
}

}  // namespace

std::string QueryEscape(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

InformerBase::InformerBase(const ResourceInfo& resource, ClientConfig config,
                           InformerOptions options)
    : resource_(resource),
      options_(std::move(options)),
      client_(std::move(config)),
      backoff_(options_.initial_backoff),
      rng_(std::random_device{}()) {
  status_.kind = std::string(resource_.kind);
}

InformerBase::~InformerBase() { Stop(); }

void InformerBase::Start() {
  if (thread_.joinable()) return;
  stopping_.store(false);
  client_.Reset();
  thread_ = std::thread([this] { Run(); });
}

void InformerBase::Stop() {
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
    stopping_.store(true);
  }
  sleep_cv_.notify_all();
  client_.Cancel();
  if (thread_.joinable()) thread_.join();
}

bool InformerBase::WaitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(sync_mu_);
  return sync_cv_.wait_for(lock, timeout, [this] { return synced_.load(); });
}

InformerStatus InformerBase::Status() const {
  std::lock_guard<std::mutex> lock(status_mu_);
  InformerStatus status = status_;
  status.synced = synced_.load();
  status.objects = CachedObjects();
  return status;
}

std::string InformerBase::ListPath(const std::string& continue_token) const {
  std::string path = BasePath(resource_, options_.namespace_);
  std::vector<std::string> params;
  if (options_.page_size > 0) params.push_back(absl::StrCat("limit=", options_.page_size));
  if (!continue_token.empty()) params.push_back("continue=" + QueryEscape(continue_token));
  if (!options_.field_selector.empty()) {
    params.push_back("fieldSelector=" + QueryEscape(options_.field_selector));
  }
  if (!options_.label_selector.empty()) {
    params.push_back("labelSelector=" + QueryEscape(options_.label_selector));
  }
  if (!params.empty()) path += "?" + Join(params, "&");
  return path;
}

std::string InformerBase::WatchPath(const std::string& resource_version,
                                    int64_t timeout_seconds) const {
  std::string path = BasePath(resource_, options_.namespace_);
  path += "?watch=1&allowWatchBookmarks=true";
  path += "&resourceVersion=" + QueryEscape(resource_version);
  path += absl::StrCat("&timeoutSeconds=", timeout_seconds);
  if (!options_.field_selector.empty()) {
    path += "&fieldSelector=" + QueryEscape(options_.field_selector);
  }
  if (!options_.label_selector.empty()) {
    path += "&labelSelector=" + QueryEscape(options_.label_selector);
  }
  return path;
}

void InformerBase::RecordError(const absl::Status& status) {
  const std::string message = std::string(status.message());
  LOG_EVERY_SECONDS(warn, 10, "kubernetes {} informer: {}", std::string(resource_.kind), message);
  std::lock_guard<std::mutex> lock(status_mu_);
  status_.connected = false;
  status_.last_error = message;
  status_.last_error_unix_s = static_cast<int64_t>(std::time(nullptr));
  ++status_.errors;
}

bool InformerBase::SleepFor(std::chrono::milliseconds duration) {
  std::unique_lock<std::mutex> lock(sleep_mu_);
  return !sleep_cv_.wait_for(lock, duration, [this] { return stopping_.load(); });
}

bool InformerBase::SleepBackoff() {
  // "Equal jitter": half the backoff fixed, half random, so retries from many agents spread out.
  const int64_t base = backoff_.count();
  std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(base / 2, 0));
  const auto sleep = std::chrono::milliseconds(base - base / 2 + jitter(rng_));
  backoff_ = std::min(options_.max_backoff, backoff_ * 2);
  return SleepFor(sleep);
}

absl::Status InformerBase::List() {
  BeginList();
  std::string continue_token;
  std::string list_version;
  bool restarted = false;
  HttpRequestOptions request;
  request.connect_timeout = options_.connect_timeout;
  request.total_timeout = options_.list_timeout;
  uint64_t rejected = 0;
  while (true) {
    std::string body;
    bool too_big = false;
    HttpResponse response;
    RETURN_IF_ERROR(client_.Get(
        ListPath(continue_token), request,
        [&](std::string_view data) {
          if (body.size() + data.size() > options_.max_list_bytes) {
            too_big = true;
            return false;
          }
          body.append(data.data(), data.size());
          return true;
        },
        &response));
    if (too_big) {
      return absl::ResourceExhaustedError(
          absl::StrCat("list page larger than ", options_.max_list_bytes, " bytes"));
    }
    if (response.status == 410 && !continue_token.empty() && !restarted) {
      // The continue token expired between pages: start over once from a fresh snapshot.
      BeginList();
      continue_token.clear();
      restarted = true;
      continue;
    }
    if (response.status != 200) {
      return absl::UnavailableError(absl::StrCat("list ", std::string(resource_.plural), ": HTTP ",
                                                 response.status, ": ",
                                                 StatusMessage(response.error_body)));
    }
    ASSIGN_OR_RETURN(ListBody list, ParseListBody(body));
    body.clear();
    body.shrink_to_fit();
    for (const Json& item : list.items) {
      absl::Status status = StageListItem(item);
      if (!status.ok()) {
        ++rejected;
        LOG_EVERY_SECONDS(warn, 10, "kubernetes {} list: object rejected: {}",
                          std::string(resource_.kind), std::string(status.message()));
      }
    }
    // Every page of a paginated list is served from the first page's snapshot.
    if (list_version.empty()) list_version = list.resource_version;
    if (list.continue_token.empty()) break;
    continue_token = std::move(list.continue_token);
  }
  CommitList();
  resource_version_ = list_version;
  {
    std::lock_guard<std::mutex> lock(status_mu_);
    ++status_.lists;
    status_.decode_errors += rejected;
    status_.connected = true;
    status_.resource_version = resource_version_;
  }
  return absl::OkStatus();
}

InformerBase::WatchOutcome InformerBase::Watch() {
  const int64_t min_s = std::max<int64_t>(1, options_.min_watch_timeout.count());
  std::uniform_int_distribution<int64_t> pick(min_s, 2 * min_s - 1);
  const int64_t timeout_s = pick(rng_);
  HttpRequestOptions request;
  request.connect_timeout = options_.connect_timeout;
  request.total_timeout = std::chrono::seconds(timeout_s) + kWatchTimeoutSlack;

  LineSplitter splitter(options_.max_event_bytes);
  bool gone = false;
  bool resync = false;
  absl::Status stream_error;
  uint64_t delivered = 0;
  bool opened = false;
  auto on_line = [&](std::string_view line) {
    absl::StatusOr<WatchEvent> event = ParseWatchEvent(line);
    if (!event.ok()) {
      // A line that is not an event means the stream is corrupt: what it carried is unknown, so
      // only a relist restores a consistent cache.
      std::lock_guard<std::mutex> lock(status_mu_);
      ++status_.decode_errors;
      stream_error = event.status();
      resync = true;
      return false;
    }
    ++delivered;
    switch (event->type) {
      case WatchEventType::kBookmark: {
        if (!event->resource_version.empty()) resource_version_ = event->resource_version;
        std::lock_guard<std::mutex> lock(status_mu_);
        ++status_.bookmarks;
        status_.resource_version = resource_version_;
        return true;
      }
      case WatchEventType::kError:
        if (event->error_code == 410) {
          gone = true;
        } else {
          stream_error = absl::UnavailableError(
              absl::StrCat("watch ", std::string(resource_.plural), ": ERROR event code ",
                           event->error_code, ": ", event->error_message));
        }
        return false;
      default:
        break;
    }
    absl::Status applied = ApplyEvent(event->type, event->object);
    // The version advances even when the object was rejected: re-reading it would not help.
    if (!event->resource_version.empty()) resource_version_ = event->resource_version;
    std::lock_guard<std::mutex> lock(status_mu_);
    if (applied.ok()) {
      ++status_.events;
    } else {
      ++status_.decode_errors;
      LOG_EVERY_SECONDS(warn, 10, "kubernetes {} watch: object rejected: {}",
                        std::string(resource_.kind), std::string(applied.message()));
    }
    status_.resource_version = resource_version_;
    return true;
  };

  const auto started = std::chrono::steady_clock::now();
  HttpResponse response;
  absl::Status status = client_.Get(
      WatchPath(resource_version_, timeout_s), request,
      [&](std::string_view data) {
        if (!opened) {
          opened = true;
          std::lock_guard<std::mutex> lock(status_mu_);
          status_.connected = true;
        }
        const bool keep_going = splitter.Feed(data, on_line);
        if (splitter.overflowed()) {
          stream_error = absl::ResourceExhaustedError(
              absl::StrCat("watch event larger than ", options_.max_event_bytes, " bytes"));
          resync = true;
        }
        return keep_going;
      },
      &response);
  if (stopping_.load() || absl::IsCancelled(status)) return WatchOutcome::kStopped;
  // A stream that delivered events was healthy: a failure after it starts a fresh backoff.
  if (delivered > 0) backoff_ = options_.initial_backoff;
  if (response.status == 200) {
    std::lock_guard<std::mutex> lock(status_mu_);
    ++status_.watches;
  }
  if (gone) return WatchOutcome::kGone;
  if (response.status == 410) return WatchOutcome::kGone;
  if (resync) {
    RecordError(stream_error);
    return WatchOutcome::kResync;
  }
  if (!stream_error.ok()) {
    RecordError(stream_error);
    return WatchOutcome::kFailed;
  }
  if (!status.ok()) {
    // A dropped connection or a timeout: events received so far were applied; resume from there.
    RecordError(status);
    return WatchOutcome::kFailed;
  }
  if (response.status != 200) {
    RecordError(absl::UnavailableError(absl::StrCat("watch ", std::string(resource_.plural),
                                                    ": HTTP ", response.status, ": ",
                                                    StatusMessage(response.error_body))));
    return WatchOutcome::kFailed;
  }
  if (delivered == 0 && std::chrono::steady_clock::now() - started < kMinHealthyWatch) {
    RecordError(absl::UnavailableError(
        absl::StrCat("watch ", std::string(resource_.plural), ": stream closed at once")));
    return WatchOutcome::kFailed;
  }
  return WatchOutcome::kEnded;
}

void InformerBase::Run() {
  bool need_list = true;
  while (!stopping_.load()) {
    if (need_list) {
      absl::Status status = List();
      if (stopping_.load() || absl::IsCancelled(status)) break;
      if (!status.ok()) {
        RecordError(status);
        if (!SleepBackoff()) break;
        continue;
      }
      need_list = false;
      backoff_ = options_.initial_backoff;
      if (!synced_.exchange(true)) {
        std::lock_guard<std::mutex> lock(sync_mu_);
        sync_cv_.notify_all();
      }
    }
    switch (Watch()) {
      case WatchOutcome::kStopped:
        return;
      case WatchOutcome::kEnded:
        backoff_ = options_.initial_backoff;
        break;
      case WatchOutcome::kGone: {
        LOG_INFO("kubernetes {} informer: resourceVersion {} expired (410), relisting",
                 std::string(resource_.kind), resource_version_);
        std::lock_guard<std::mutex> lock(status_mu_);
        ++status_.relists_gone;
        need_list = true;
        break;
      }
      case WatchOutcome::kResync:
        need_list = true;
        if (!SleepBackoff()) return;
        break;
      case WatchOutcome::kFailed:
        if (!SleepBackoff()) return;
        break;
    }
  }
}

}  // namespace loupe::k8s
