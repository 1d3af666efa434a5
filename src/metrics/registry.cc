#include "src/metrics/registry.h"

#include <algorithm>

namespace loupe::metrics {

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  counters_.push_back(std::make_unique<Family<Counter>>(name, help, std::move(label_names)));
  return *counters_.back();
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  gauges_.push_back(std::make_unique<Family<Gauge>>(name, help, std::move(label_names)));
  return *gauges_.back();
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> bounds) {
  std::lock_guard<std::mutex> lock(mu_);
  histograms_.push_back(
      std::make_unique<Family<Histogram>>(name, help, std::move(label_names), std::move(bounds)));
  return *histograms_.back();
}

void Histogram::Observe(double v) {
  const size_t i =
      static_cast<size_t>(std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double current = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(current, current + v, std::memory_order_relaxed)) {
  }
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::Observe(double v, const ExemplarRef& exemplar) {
  // Contract implementation: the metrics-core work replaces this with per-bucket storage.
  Observe(v);
  (void)exemplar;
}

void Histogram::Read(Sample* out) const {
  out->bounds = *bounds_;
  out->bucket_counts.resize(buckets_.size());
  uint64_t total = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    out->bucket_counts[i] = buckets_[i].load(std::memory_order_relaxed);
    total += out->bucket_counts[i];
  }
  out->sum = sum_.load(std::memory_order_relaxed);
  // Derive count from the buckets so a scrape racing an Observe() stays self-consistent.
  out->count = total;
}

int Registry::AddCollector(Collector collector) {
  std::lock_guard<std::mutex> lock(mu_);
  const int id = next_collector_id_++;
  collectors_.emplace(id, std::move(collector));
  return id;
}

void Registry::RemoveCollector(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  collectors_.erase(id);
}

std::vector<FamilySnapshot> Registry::Collect() const {
  std::vector<FamilySnapshot> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& family : counters_) out.push_back(family->Snapshot(MetricType::kCounter));
    for (const auto& family : gauges_) out.push_back(family->Snapshot(MetricType::kGauge));
    for (const auto& family : histograms_) {
      out.push_back(family->Snapshot(MetricType::kHistogram));
    }
    for (const auto& [id, collector] : collectors_) collector(&out);
  }
  std::stable_sort(out.begin(), out.end(), [](const FamilySnapshot& a, const FamilySnapshot& b) {
    return a.name < b.name;
  });
  // Merge families that share a name (e.g. one per sensor) so each name is exposed once.
  std::vector<FamilySnapshot> merged;
  for (auto& family : out) {
    if (!merged.empty() && merged.back().name == family.name) {
      auto& samples = merged.back().samples;
      samples.insert(samples.end(), std::make_move_iterator(family.samples.begin()),
                     std::make_move_iterator(family.samples.end()));
    } else {
      merged.push_back(std::move(family));
    }
  }
  return merged;
}

}  // namespace loupe::metrics
