// Metrics registry: labelled counter and gauge families, plus collectors that produce samples at
// scrape time (values read from BPF maps, uptime). Label sets are interned when first used, so
// the per-event path is an atomic add on a cell pointer the caller keeps.
//
// Thread expectations: WithLabels() takes a family mutex (call it at setup, keep the pointer);
// cell updates are lock-free; Collect() may run concurrently with updates.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace loupe::metrics {

enum class MetricType { kCounter, kGauge };

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  Labels labels;
  double value = 0;
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

template <typename Cell>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

  // Returns the cell for these label values (in label-name order), creating it on first use.
  // The pointer stays valid for the registry's lifetime.
  Cell* WithLabels(const std::vector<std::string>& values) {
    std::lock_guard<std::mutex> lock(mu_);
    auto& cell = cells_[values];
    if (!cell) cell = std::make_unique<Cell>();
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
      sample.value = static_cast<double>(cell->Value());
      snap.samples.push_back(std::move(sample));
    }
    return snap;
  }

  const std::string& name() const { return name_; }

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
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
  // A collector appends families computed at scrape time. Returns an id for RemoveCollector.
  int AddCollector(Collector collector);
  void RemoveCollector(int id);

  // All families, sorted by name; families with the same name from several collectors merge.
  std::vector<FamilySnapshot> Collect() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::map<int, Collector> collectors_;
  int next_collector_id_ = 1;
};

}  // namespace loupe::metrics
