// Informer: keeps an ObjectCache of one kind in step with the API server. It lists (paginated
// with limit/continue), then watches from the list's resourceVersion with bookmarks and a
// server-side timeout, tracking the resourceVersion of every event and bookmark. A dropped
// connection resumes the watch from the last resourceVersion; 410 Gone (an HTTP 410 or an ERROR
// event with code 410) relists and replaces the cache, emitting deletes for objects that vanished.
// Failures back off exponentially (capped, jittered) while the cache keeps serving the last known
// state.
//
// Thread expectations: one thread per informer (started by Start, joined by Stop); the cache and
// Status() are safe from any thread; handlers run on the informer thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "src/k8s/client_config.h"
#include "src/k8s/http_client.h"
#include "src/k8s/object_cache.h"
#include "src/k8s/objects.h"
#include "src/k8s/watch.h"

namespace loupe::k8s {

struct InformerOptions {
  std::string namespace_;      // empty: all namespaces
  std::string field_selector;  // e.g. "spec.nodeName=node-1"
  std::string label_selector;  // e.g. "app=web"
  int64_t page_size = 500;     // list `limit`; 0 = unpaginated
  // Watches ask the server to end after a random timeoutSeconds in [min, 2*min) (as client-go),
  // so connections are renewed and a stuck one cannot last; the client gives up 30 s later.
  std::chrono::seconds min_watch_timeout{300};
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30'000};
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds list_timeout{60'000};  // per page
  size_t max_event_bytes = 16 * 1024 * 1024;       // one watch line
  size_t max_list_bytes = 256 * 1024 * 1024;       // one list page
  DecodeOptions decode;
};

struct InformerStatus {
  std::string kind;
  bool synced = false;     // the first list completed (the cache is usable)
  bool connected = false;  // the last request succeeded / a watch stream is open
  std::string resource_version;
  std::string last_error;  // empty when none yet
  int64_t last_error_unix_s = 0;
  size_t objects = 0;
  uint64_t lists = 0;         // completed lists (initial + relists)
  uint64_t relists_gone = 0;  // relists caused by 410 Gone
  uint64_t watches = 0;       // watch requests answered with 200
  uint64_t events = 0;        // ADDED/MODIFIED/DELETED events applied
  uint64_t bookmarks = 0;
  uint64_t errors = 0;         // failed requests and streams
  uint64_t decode_errors = 0;  // objects or lines rejected
};

// The kind-independent part: HTTP, list/watch state machine, backoff, status.
class InformerBase {
 public:
  InformerBase(const ResourceInfo& resource, ClientConfig config, InformerOptions options);
  virtual ~InformerBase();
  InformerBase(const InformerBase&) = delete;
  InformerBase& operator=(const InformerBase&) = delete;

  void Start();
  // Stops the thread (a running request is cancelled); idempotent.
  void Stop();
  bool HasSynced() const { return synced_.load(); }
  bool WaitForSync(std::chrono::milliseconds timeout) const;
  InformerStatus Status() const;
  const ResourceInfo& resource() const { return resource_; }

  // The request path for a list page or a watch (exposed for tests).
  std::string ListPath(const std::string& continue_token) const;
  std::string WatchPath(const std::string& resource_version, int64_t timeout_seconds) const;

 protected:
  // Typed hooks, called on the informer thread.
  virtual void BeginList() = 0;
  virtual absl::Status StageListItem(const Json& object) = 0;
  virtual void CommitList() = 0;
  virtual absl::Status ApplyEvent(WatchEventType type, const Json& object) = 0;
  virtual size_t CachedObjects() const = 0;

  const InformerOptions& options() const { return options_; }

 private:
  enum class WatchOutcome { kEnded, kGone, kFailed, kResync, kStopped };

  void Run();
  absl::Status List();
  WatchOutcome Watch();
  void RecordError(const absl::Status& status);
  // Sleeps for the current backoff (jittered) and doubles it; returns false when stopping.
  bool SleepBackoff();
  bool SleepFor(std::chrono::milliseconds duration);

  const ResourceInfo resource_;
  const InformerOptions options_;
  HttpClient client_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> synced_{false};
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  mutable std::mutex sync_mu_;
  mutable std::condition_variable sync_cv_;
  std::chrono::milliseconds backoff_;
  std::mt19937_64 rng_;
  std::string resource_version_;  // informer thread only

  mutable std::mutex status_mu_;
  InformerStatus status_;
};

template <typename T>
class Informer final : public InformerBase {
 public:
  Informer(ClientConfig config, InformerOptions options)
      : InformerBase(T::kResource, std::move(config), std::move(options)) {}
  ~Informer() override { Stop(); }

  ObjectCache<T>& cache() { return cache_; }
  const ObjectCache<T>& cache() const { return cache_; }

 protected:
  void BeginList() override { staged_.clear(); }

  absl::Status StageListItem(const Json& object) override {
    auto decoded = std::make_shared<T>();
    absl::Status status = Decode(object, options().decode, decoded.get());
    if (!status.ok()) return status;
    staged_.push_back(std::move(decoded));
    return absl::OkStatus();
  }

  void CommitList() override {
    cache_.Replace(std::move(staged_));
    staged_.clear();
    staged_.shrink_to_fit();
  }

  absl::Status ApplyEvent(WatchEventType type, const Json& object) override {
    if (type == WatchEventType::kDeleted) {
      ObjectMeta meta;
      absl::Status status = DecodeMeta(object, options().decode, &meta);
      if (!status.ok()) return status;
      cache_.Remove(meta.Key());
      return absl::OkStatus();
    }
    auto decoded = std::make_shared<T>();
    absl::Status status = Decode(object, options().decode, decoded.get());
    if (!status.ok()) return status;
    cache_.Upsert(std::move(decoded));
    return absl::OkStatus();
  }

  size_t CachedObjects() const override { return cache_.Size(); }

 private:
  ObjectCache<T> cache_;
  std::vector<typename ObjectCache<T>::Ptr> staged_;
};

// Percent-encodes a query parameter value (RFC 3986 unreserved characters pass through).
std::string QueryEscape(std::string_view value);

}  // namespace loupe::k8s
