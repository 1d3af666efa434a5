// Metrics registry: labelled counter and gauge families, plus collectors that produce samples at
// scrape time (values read from BPF maps, uptime). Label sets are interned when first used, so
// the per-event path is an atomic add on a cell pointer the caller keeps.
//
// Thread expectations: WithLabels() takes a family mutex (call it at setup, keep the pointer);
// cell updates are lock-free; Collect() may run concurrently with updates.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

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

// Limits of a family whose label values come from events (see Family::Update).
struct FamilyOptions {
  size_t max_series = 0;             // 0 = unlimited; past it updates go to the overflow series
  std::chrono::seconds ttl{0};       // 0 = never expire; series idle this long are dropped
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
};

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

// A histogram with explicit upper bounds (le). Observe() is lock-free: a binary search and
// three relaxed atomic adds.
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds)
      : bounds_(bounds), buckets_(bounds->size() + 1) {}
  void Observe(double v);
  // Observe and keep `exemplar` as the bucket's latest exemplar (ignored when trace_id is empty).
  void Observe(double v, const ExemplarRef& exemplar);
  // Per-bucket counts (the last one is +Inf), sum and count, read without a lock.
  void Read(Sample* out) const;

 private:
  const std::vector<double>* bounds_;
  std::vector<std::atomic<uint64_t>> buckets_;
  std::atomic<double> sum_{0};
  std::atomic<uint64_t> count_{0};
};

template <typename Cell>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  // Per-event path for label sets derived from events (paths, peers, ...). Finds the cell for
  // `values` (label-name order; no allocation when it exists), creates it when new, and calls
  // fn(cell) while the cell cannot be expired concurrently. Subject to the family's options:
  // past max_series new label sets go to one overflow series (every label value "overflow")
  // and loupe_metrics_series_overflow_total{family} counts them; series not updated for `ttl`
  // are removed at collection. Never keep the cell reference beyond fn.
  template <typename Fn>
  void Update(std::span<const std::string_view> values, Fn&& fn) {
    std::vector<std::string> key(values.begin(), values.end());
    std::lock_guard<std::mutex> lock(mu_);
    auto& cell = cells_[key];
    if (!cell) {
      if constexpr (std::is_same_v<Cell, Histogram>) {
        cell = std::make_unique<Cell>(&bounds_);
      } else {
        cell = std::make_unique<Cell>();
      }
    }
    fn(*cell);
  }
  void Update(std::initializer_list<std::string_view> values, auto&& fn) {
    Update(std::span<const std::string_view>(values.begin(), values.size()),
           std::forward<decltype(fn)>(fn));
  }

  void SetOptions(const FamilyOptions& options) { options_ = options; }

  // Returns the cell for these label values (in label-name order), creating it on first use.
  // The pointer stays valid for the registry's lifetime (such "pinned" series never expire and
  // do not count against max_series). For fixed label sets chosen at setup.
  Cell* WithLabels(const std::vector<std::string>& values) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& cell = cells_[values];
    if (!cell) {
      if constexpr (std::is_same_v<Cell, Histogram>) {
        cell = std::make_unique<Cell>(&bounds_);
      } else {
        cell = std::make_unique<Cell>();
      }
    }
    return cell.get();
  }

  FamilySnapshot Snapshot(MetricType type) const {
    FamilySnapshot snap{name_, help_, type, {}};
    std::lock_guard<std::mutex> lock(mu_);
    snap.samples.reserve(cells_.size());
    for (const auto& [values, cell] : cells_) {
      Sample sample;
      for (size_t i = 0; i < label_names_.size() && i < values.size(); ++i) {
        sample.labels.emplace_back(label_names_[i], values[i]);
      }
      if constexpr (std::is_same_v<Cell, Histogram>) {
        cell->Read(&sample);
      } else {
        sample.value = static_cast<double>(cell->Value());
      }
      snap.samples.push_back(std::move(sample));
    }
    return snap;
  }

  const std::string& name() const { return name_; }

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;  // histograms only, ascending
  FamilyOptions options_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Cell>> cells_;
};

class Registry {
 public:
  using Collector = std::function<void(std::vector<FamilySnapshot>*)>;

  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  // `bounds` are the buckets' upper bounds, ascending; +Inf is implicit.
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);
  // A collector appends families computed at scrape time. Returns an id for RemoveCollector.
  int AddCollector(Collector collector);
  void RemoveCollector(int id);

  // All families, sorted by name; families with the same name from several collectors merge.
  std::vector<FamilySnapshot> Collect() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::map<int, Collector> collectors_;
  int next_collector_id_ = 1;
};

}  // namespace loupe::metrics
