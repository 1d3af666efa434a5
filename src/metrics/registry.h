// Metrics registry: labelled counter, gauge and histogram families, plus collectors that produce
// samples at scrape time (values read from BPF maps, uptime).
//
// Two ways to reach a cell:
//  - WithLabels(): for label sets fixed at setup. Returns a pointer the caller keeps; the per-event
//    path is then an atomic add. Such "pinned" series never expire and are not limited.
//  - Update(): for label sets derived from events (paths, peers, status codes). Looks the series up
//    by label values without allocating when it exists, creates it when new. These series are
//    subject to the family's FamilyOptions: a cardinality limit with one overflow series, and a
//    TTL after which idle series are dropped at Collect().
//
// Thread expectations: everything is thread-safe. Update() takes a shared lock on one of the
// family's shards (exclusive only to insert); cell updates are lock-free; Collect() may run
// concurrently with updates and takes each shard's lock shared, exclusive only to remove expired
// series. Registration (Add*) validates names and aborts on invalid ones: it is start-up code.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "src/base/clock.h"

namespace loupe::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

using Labels = std::vector<std::pair<std::string, std::string>>;

// An exemplar as given to Histogram::Observe: hex trace and span ids (32 and 16 chars).
struct ExemplarRef {
  std::string_view trace_id;
  std::string_view span_id;
};

// An exemplar as kept for exposition: the last one observed per bucket.
struct StoredExemplar {
  std::string trace_id;
  std::string span_id;
  double value = 0;
  double timestamp = 0;  // seconds since the epoch
};

// The label names an exemplar is exposed with (OpenMetrics). Dashboards and Grafana's
// exemplarTraceIdDestinations look an exemplar's trace up by label name, so each family keeps the
// names of the system it is compatible with.
enum class ExemplarLabels : uint8_t {
  kTraceIdSpanId,  // {trace_id, span_id}: the OpenTelemetry Prometheus exporter's, Beyla's
  kHubble,         // {traceID}: Hubble's (the trace id only)
};

// Limits of a family whose label values come from events (see Family::Update).
struct FamilyOptions {
  size_t max_series = 0;        // 0 = unlimited; past it updates go to the overflow series
  std::chrono::seconds ttl{0};  // 0 = never expire; series idle this long are dropped
};

struct Sample {
  Labels labels;
  double value = 0;  // counters and gauges
  // Histograms: per-bucket (not cumulative) counts for `bounds` plus the +Inf bucket last.
  std::vector<double> bounds;
  std::vector<uint64_t> bucket_counts;
  double sum = 0;
  uint64_t count = 0;
  // Histograms: one entry per bucket (same order as bucket_counts); empty when none was seen.
  std::vector<std::optional<StoredExemplar>> exemplars;
};

struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<Sample> samples;
  ExemplarLabels exemplar_labels = ExemplarLabels::kTraceIdSpanId;
};

// The registry-owned counter of updates redirected to a family's overflow series.
inline constexpr char kSeriesOverflowMetric[] = "loupe_metrics_series_overflow_total";
// The label value of every label of a family's overflow series.
inline constexpr char kOverflowLabelValue[] = "overflow";
// Exemplar ids are hex; longer ones are not kept (OpenMetrics caps an exemplar's label set).
inline constexpr size_t kMaxExemplarTraceIdSize = 32;
inline constexpr size_t kMaxExemplarSpanIdSize = 16;

// Name rules of the Prometheus data model: metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
// [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__" (reserved).
bool IsValidMetricName(std::string_view name);
bool IsValidLabelName(std::string_view name);

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) {
    double current = value_.load(std::memory_order_relaxed);
    while (!value_.compare_exchange_weak(current, current + v, std::memory_order_relaxed)) {
    }
  }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A histogram with explicit upper bounds (le). Observe() is lock-free: a binary search and two
// relaxed atomic adds. With an exemplar it also stores the exemplar in the bucket's slot under a
// per-slot try-lock: a writer never waits (when another writer or a scrape holds the slot, this
// exemplar is skipped), so the per-event path never blocks.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  // `clock` stamps exemplars with wall time; it must outlive the histogram.
  Histogram(const std::vector<double>* bounds, const Clock* clock);
  ~Histogram();
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double v);
  // Observe and keep `exemplar` as the bucket's latest exemplar. The exemplar is not kept when
  // trace_id is empty, an id is longer than kMaxExemplar*IdSize or not hex.
  void Observe(double v, const ExemplarRef& exemplar);
  // Per-bucket counts (the last one is +Inf), sum, count and exemplars, read without blocking
  // writers.
  void Read(Sample* out) const;

 private:
  struct ExemplarSlot;
  size_t BucketIndex(double v) const;
  void Record(size_t bucket, double v);
  ExemplarSlot* ExemplarSlots();

  const std::vector<double>* bounds_;
  const Clock* clock_;
  std::vector<std::atomic<uint64_t>> buckets_;
  std::atomic<double> sum_{0};
  // One slot per bucket, allocated with the first exemplar (most histograms never get one).
  std::atomic<ExemplarSlot*> exemplars_{nullptr};
};

template <typename Cell>
class Family;
class Registry;

namespace internal {

// State a registry shares with its families: the clock, the collection epoch that Update() stamps
// on a series (the cheap "last touched" mark TTL expiry reads), and registry-wide defaults.
struct RegistryState {
  explicit RegistryState(const Clock* c) : clock(c) {}
  const Clock* clock;
  std::atomic<uint64_t> epoch{1};
  std::atomic<size_t> default_max_series{0};
  std::atomic<int64_t> default_ttl_ns{0};
  Family<Counter>* overflow_family = nullptr;  // loupe_metrics_series_overflow_total{family}
  Family<Counter>* internal_errors = nullptr;  // loupe_internal_errors_total{site}
  // The state of families constructed outside a registry: real clock, no defaults.
  static RegistryState& Standalone();
};

// Label values packed into one byte string (per value a LEB128 length, then the bytes) and its
// hash: the key a series is stored under. A lookup packs into inline storage, so Update() does
// not allocate for label sets up to kInlineBytes packed; the hash and the comparison then each
// run once over contiguous bytes.
class PackedKey {
 public:
  static constexpr size_t kInlineBytes = 1024;
  explicit PackedKey(std::span<const std::string_view> values);
  PackedKey(const PackedKey&) = delete;
  PackedKey& operator=(const PackedKey&) = delete;
  std::string_view bytes() const { return {data_, size_}; }
  size_t hash() const { return hash_; }

 private:
  char inline_[kInlineBytes];
  std::string heap_;  // only for larger label sets
  const char* data_ = inline_;
  size_t size_ = 0;
  size_t hash_ = 0;
};

// A lookup key: packed label values and their hash.
struct LabelValuesRef {
  size_t hash;
  std::string_view packed;
};

std::vector<std::string_view> UnpackLabelValues(const std::string& packed);
bool IsOverflowKey(std::span<const std::string_view> values);

}  // namespace internal

template <typename Cell>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {});
  ~Family();
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // Per-event path for label sets derived from events (paths, peers, ...). Finds the cell for
  // `values` (label-name order; no allocation when it exists), creates it when new, and calls
  // fn(cell) while the cell cannot be expired concurrently. Subject to the family's options:
  // past max_series new label sets go to one overflow series (every label value "overflow")
  // and loupe_metrics_series_overflow_total{family} counts them; series not updated for `ttl`
  // are removed at collection. Never keep the cell reference beyond fn, and do not call into
  // the same family from fn. A wrong number of values drops the update and counts
  // loupe_internal_errors_total{site="metrics_label_values"} (debug builds abort).
  template <typename Fn>
  void Update(std::span<const std::string_view> values, Fn&& fn) {
    if (values.size() != label_names_.size()) [[unlikely]] {
      ReportBadLabelCount(values.size());
      return;
    }
    const internal::PackedKey key(values);
    UpdatePacked(key, values, std::forward<Fn>(fn));
  }
  // As Update(values, fn) with `key` = internal::PackedKey(values) built by the caller: families
  // updated with the same label values per event (a request's duration and body sizes) pack and
  // hash them once.
  template <typename Fn>
  void Update(const internal::PackedKey& key, std::span<const std::string_view> values, Fn&& fn) {
    if (values.size() != label_names_.size()) [[unlikely]] {
      ReportBadLabelCount(values.size());
      return;
    }
    UpdatePacked(key, values, std::forward<Fn>(fn));
  }
  void Update(std::initializer_list<std::string_view> values, auto&& fn) {
    Update(std::span<const std::string_view>(values.begin(), values.size()),
           std::forward<decltype(fn)>(fn));
  }

  // Overrides the registry's default options for this family. Takes effect for new label sets
  // (limit) and at the next Collect() (TTL); existing series are not dropped to meet a lower
  // limit, they expire.
  void SetOptions(const FamilyOptions& options);
  // The options in force: the family's own, else the registry's default.
  FamilyOptions EffectiveOptions() const;
  // How this family's exemplars are labelled in OpenMetrics (default {trace_id, span_id}).
  void SetExemplarLabels(ExemplarLabels labels) {
    exemplar_labels_.store(labels, std::memory_order_relaxed);
  }
  ExemplarLabels exemplar_labels() const {
    return exemplar_labels_.load(std::memory_order_relaxed);
  }

  // Returns the cell for these label values (in label-name order), creating it on first use.
  // The pointer stays valid for the registry's lifetime (such "pinned" series never expire and
  // do not count against max_series). For fixed label sets chosen at setup.
  Cell* WithLabels(const std::vector<std::string>& values);

  // All series, sorted by label values. Does not expire anything (Registry::Collect does).
  FamilySnapshot Snapshot(MetricType type) const;

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Series created through Update() and alive now (the ones max_series limits).
  size_t dynamic_series() const { return dynamic_series_.load(std::memory_order_relaxed); }

 private:
  friend class Registry;

  struct Entry {
    template <typename... Args>
    Entry(size_t h, std::string k, bool p, Args&&... args)
        : hash(h), key(std::move(k)), pinned(p), cell(std::forward<Args>(args)...) {}
    const size_t hash;
    const std::string key;  // internal::PackedKey::bytes()
    // Registry epoch of the last Update (relaxed; read by the collector).
    std::atomic<uint64_t> last_epoch{0};
    // Monotonic time of the last collection that saw an update; collector only.
    int64_t last_seen_ns = 0;
    bool pinned;  // written under the shard's exclusive lock
    Cell cell;
  };
  struct EntryHash {
    using is_transparent = void;
    size_t operator()(const std::unique_ptr<Entry>& e) const { return e->hash; }
    size_t operator()(const Entry* e) const { return e->hash; }
    size_t operator()(const internal::LabelValuesRef& r) const { return r.hash; }
  };
  struct EntryEq {
    using is_transparent = void;
    bool operator()(const std::unique_ptr<Entry>& a, const std::unique_ptr<Entry>& b) const {
      return a == b;
    }
    bool operator()(const std::unique_ptr<Entry>& a, const Entry* b) const { return a.get() == b; }
    bool operator()(const Entry* b, const std::unique_ptr<Entry>& a) const { return a.get() == b; }
    bool operator()(const std::unique_ptr<Entry>& a, const internal::LabelValuesRef& r) const {
      return a->hash == r.hash && std::string_view(a->key) == r.packed;
    }
    bool operator()(const internal::LabelValuesRef& r, const std::unique_ptr<Entry>& a) const {
      return (*this)(a, r);
    }
  };
  static constexpr int kShardBits = 4;
  static constexpr int kShardShift = 64 - kShardBits;
  struct alignas(64) Shard {
    mutable std::shared_mutex mu;
    absl::flat_hash_set<std::unique_ptr<Entry>, EntryHash, EntryEq> entries;
  };

  template <typename Fn>
  void UpdatePacked(const internal::PackedKey& key, std::span<const std::string_view> values,
                    Fn&& fn) {
    Shard& shard = shards_[key.hash() >> kShardShift];
    {
      std::shared_lock<std::shared_mutex> lock(shard.mu);
      auto it = shard.entries.find(internal::LabelValuesRef{key.hash(), key.bytes()});
      if (it != shard.entries.end()) [[likely]] {
        Entry& entry = **it;
        Touch(entry);
        fn(entry.cell);
        return;
      }
    }
    {
      std::unique_lock<std::shared_mutex> lock(shard.mu);
      if (Entry* entry = FindOrInsertDynamicLocked(shard, key, values)) {
        Touch(*entry);
        fn(entry->cell);
        return;
      }
    }
    // Over the limit (or the overflow label set itself): the overflow series is never removed.
    fn(OverflowEntry().cell);
  }
  void Touch(Entry& entry) const {
    const uint64_t epoch = state_->epoch.load(std::memory_order_relaxed);
    if (entry.last_epoch.load(std::memory_order_relaxed) != epoch) {
      entry.last_epoch.store(epoch, std::memory_order_relaxed);
    }
  }
  // Called by the registry that owns the family.
  void Attach(internal::RegistryState* state, bool registry_owned);
  std::unique_ptr<Entry> NewEntry(const internal::PackedKey& key, bool pinned) const;
  // Finds or creates a dynamic series; nullptr when it must go to the overflow series.
  Entry* FindOrInsertDynamicLocked(Shard& shard, const internal::PackedKey& key,
                                   std::span<const std::string_view> values);
  Entry& OverflowEntry();
  Counter* OverflowCounter();
  void ReportBadLabelCount(size_t got);
  // Snapshot that also refreshes "last seen" of series updated since `previous_epoch` and
  // removes dynamic series idle for the TTL. Registry::Collect calls it, one at a time.
  FamilySnapshot CollectAndExpire(MetricType type, uint64_t previous_epoch, int64_t now_ns);
  void AppendSample(const Entry& entry, std::vector<Sample>* out) const;
  static void SortSamples(std::vector<Sample>* samples);

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only, ascending
  internal::RegistryState* state_;
  bool registry_owned_ = false;
  std::atomic<bool> has_own_options_{false};
  std::atomic<size_t> max_series_{0};
  std::atomic<int64_t> ttl_ns_{0};
  std::atomic<size_t> dynamic_series_{0};
  std::atomic<ExemplarLabels> exemplar_labels_{ExemplarLabels::kTraceIdSpanId};
  Shard shards_[1 << kShardBits];
  std::mutex overflow_mu_;
  std::unique_ptr<Entry> overflow_owner_;
  std::atomic<Entry*> overflow_{nullptr};
  std::atomic<Counter*> overflow_counter_{nullptr};
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class Registry {
 public:
  using Collector = std::function<void(std::vector<FamilySnapshot>*)>;

  Registry();
  // `clock` drives TTL expiry and exemplar timestamps; it must outlive the registry.
  explicit Registry(const Clock& clock);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Names must match the Prometheus name rules, label names be unique (histograms: not "le"),
  // histogram bounds finite and strictly ascending, and a name not be registered with another
  // type; otherwise registration logs and aborts (it is start-up code). The same name registered
  // twice with the same type is allowed (e.g. one family per sensor); Collect() merges them.
  // `options` overrides the registry default for the family (as Family::SetOptions).
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {},
                              std::optional<FamilyOptions> options = std::nullopt);
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {},
                          std::optional<FamilyOptions> options = std::nullopt);
  // `bounds` are the buckets' upper bounds, ascending; +Inf is implicit.
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names, std::vector<double> bounds,
                                  std::optional<FamilyOptions> options = std::nullopt);
  // A collector appends families computed at scrape time. Returns an id for RemoveCollector.
  int AddCollector(Collector collector);
  void RemoveCollector(int id);

  // Options of every family that has none of its own (Beyla: prometheus_export.ttl; the agent
  // sets the cardinality limit), including families registered before the call.
  void SetDefaultFamilyOptions(const FamilyOptions& options);
  FamilyOptions DefaultFamilyOptions() const;

  // All families, sorted by name; families with the same name from several collectors merge.
  // Also the collection point of TTL expiry. Registry-owned families (overflow and internal
  // error counters) appear once they have a series.
  std::vector<FamilySnapshot> Collect() const;

 private:
  void CheckRegistration(const std::string& name, MetricType type,
                         const std::vector<std::string>& label_names);
  template <typename Cell>
  Family<Cell>& Register(std::vector<std::unique_ptr<Family<Cell>>>* families, MetricType type,
                         std::unique_ptr<Family<Cell>> family,
                         const std::optional<FamilyOptions>& options);

  std::unique_ptr<internal::RegistryState> state_;
  mutable std::mutex mu_;
  std::map<std::string, MetricType> types_;
  std::unique_ptr<Family<Counter>> overflow_family_;
  std::unique_ptr<Family<Counter>> internal_errors_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::map<int, Collector> collectors_;
  int next_collector_id_ = 1;
};

}  // namespace loupe::metrics
