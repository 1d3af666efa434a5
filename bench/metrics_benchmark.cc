// Benchmarks of the metrics path: per-event updates (pinned cells and Family::Update lookups),
// scrapes (Collect + render, both formats, gzip) and memory per series.
#include <malloc.h>

#include <atomic>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "src/export/prometheus/exposition.h"
#include "src/metrics/registry.h"

namespace loupe {
namespace {

// Beyla's default duration buckets (seconds).
const std::vector<double> kDurationBuckets = {0,   0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                              0.5, 0.75,  1,    2.5,   5,    7.5,   10};
const std::vector<std::string> kRedLabels = {"http_request_method", "http_response_status_code",
                                             "http_route",          "service_name",
                                             "service_namespace",   "server_address"};

// Label sets the update benchmarks cycle through, so the lookup is not one hot cache line.
struct RedLabelSets {
  explicit RedLabelSets(int n) {
    for (int i = 0; i < n; ++i) {
      owned.push_back({i % 2 ? "GET" : "POST", i % 5 ? "200" : "503",
                       "/api/v1/users/{id}/orders/" + std::to_string(i), "checkout-service",
                       "shop-production", "checkout.shop.svc.cluster.local"});
    }
    for (const auto& set : owned) views.emplace_back(set.begin(), set.end());
  }
  std::vector<std::vector<std::string>> owned;
  std::vector<std::vector<std::string_view>> views;
};

// The per-event cost a sensor pays: an atomic add on a cell looked up once at setup.
void BM_CounterInc(benchmark::State& state) {
  metrics::Registry registry;
  metrics::Counter* counter =
      registry.AddCounter("bench_total", "help", {"program"}).WithLabels({"netflow"});
  for (auto _ : state) counter->Inc();
  benchmark::DoNotOptimize(counter->Value());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterInc);

// Label-set interning cost (done at setup, never per event).
void BM_WithLabelsLookup(benchmark::State& state) {
  metrics::Registry registry;
  auto& family = registry.AddCounter("bench_total", "help", {"a", "b"});
  for (int i = 0; i < 1000; ++i) family.WithLabels({std::to_string(i), "x"});
  const std::vector<std::string> labels = {"500", "x"};
  for (auto _ : state) benchmark::DoNotOptimize(family.WithLabels(labels));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WithLabelsLookup);

// Counter Inc through Update() with 3 label values; the series exist (the steady state).
void BM_UpdateCounter3Labels(benchmark::State& state) {
  static metrics::Registry* registry = nullptr;
  static metrics::Family<metrics::Counter>* family = nullptr;
  if (state.thread_index() == 0) {
    registry = new metrics::Registry();
    family = &registry->AddCounter("bench_total", "help", {"method", "status", "route"});
  }
  std::vector<std::vector<std::string>> owned;
  for (int i = 0; i < 256; ++i) {
    owned.push_back(
        {i % 2 ? "GET" : "POST", i % 5 ? "200" : "503", "/api/users/" + std::to_string(i)});
  }
  std::vector<std::vector<std::string_view>> views;
  for (const auto& set : owned) views.emplace_back(set.begin(), set.end());
  size_t i = static_cast<size_t>(state.thread_index()) * 17;
  for (auto _ : state) {
    family->Update(views[i++ & 255], [](metrics::Counter& c) { c.Inc(); });
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete registry;
    registry = nullptr;
  }
}
BENCHMARK(BM_UpdateCounter3Labels)->Threads(1)->Threads(2);

// A RED histogram Observe through Update() with 6 label values (Beyla's request duration).
template <bool kExemplar>
void BM_UpdateHistogram6Labels(benchmark::State& state) {
  static metrics::Registry* registry = nullptr;
  static metrics::Family<metrics::Histogram>* family = nullptr;
  if (state.thread_index() == 0) {
    registry = new metrics::Registry();
    family = &registry->AddHistogram("http_server_request_duration_seconds", "help", kRedLabels,
                                     kDurationBuckets);
  }
  const RedLabelSets sets(256);
  const metrics::ExemplarRef exemplar{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"};
  size_t i = static_cast<size_t>(state.thread_index()) * 17;
  double v = 0.001;
  for (auto _ : state) {
    const double value = v;
    v = v > 8 ? 0.001 : v * 1.7;
    family->Update(sets.views[i++ & 255], [&](metrics::Histogram& h) {
      if constexpr (kExemplar) {
        h.Observe(value, exemplar);
      } else {
        h.Observe(value);
      }
    });
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete registry;
    registry = nullptr;
  }
}
BENCHMARK(BM_UpdateHistogram6Labels<false>)->Threads(1)->Threads(2);
BENCHMARK(BM_UpdateHistogram6Labels<true>)->Threads(1)->Threads(2);

// Update() while another thread scrapes the same registry in a loop (the hit path's shared locks
// meet the collector's).
void BM_UpdateHistogramDuringScrapes(benchmark::State& state) {
  metrics::Registry registry;
  auto& family = registry.AddHistogram("http_server_request_duration_seconds", "help", kRedLabels,
                                       kDurationBuckets);
  const RedLabelSets sets(256);
  for (const auto& values : sets.views) {
    family.Update(values, [](metrics::Histogram& h) { h.Observe(0.02); });
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> scrapes{0};
  std::thread scraper([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      benchmark::DoNotOptimize(prometheus::RenderText(registry.Collect()));
      scrapes.fetch_add(1, std::memory_order_relaxed);
    }
  });
  size_t i = 0;
  for (auto _ : state) {
    family.Update(sets.views[i++ & 255], [](metrics::Histogram& h) { h.Observe(0.02); });
  }
  stop = true;
  scraper.join();
  state.SetItemsProcessed(state.iterations());
  state.counters["scrapes"] = static_cast<double>(scrapes.load());
}
BENCHMARK(BM_UpdateHistogramDuringScrapes);

// Creating a series through Update() (a label set seen for the first time).
void BM_UpdateInsert(benchmark::State& state) {
  metrics::Registry registry;
  auto& family = registry.AddCounter("bench_total", "help", {"method", "status", "route"});
  int64_t n = 0;
  std::string route;
  for (auto _ : state) {
    route = "/api/users/" + std::to_string(n++);
    family.Update({"GET", "200", route}, [](metrics::Counter& c) { c.Inc(); });
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UpdateInsert);

void FillCounters(metrics::Registry* registry, int64_t series) {
  auto& family =
      registry->AddCounter("bench_requests_total", "help", {"service", "method", "status"});
  for (int64_t i = 0; i < series; ++i) {
    family.WithLabels({"svc" + std::to_string(i % 100), "GET", std::to_string(i)})->Inc(i);
  }
}

// Collect + render N counter series in the Prometheus text format (one scrape).
void BM_ScrapeText(benchmark::State& state) {
  metrics::Registry registry;
  const int64_t series = state.range(0);
  FillCounters(&registry, series);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = prometheus::RenderText(registry.Collect());
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["series"] = static_cast<double>(series);
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetItemsProcessed(state.iterations() * series);
}
BENCHMARK(BM_ScrapeText)->Arg(100)->Arg(10000)->Unit(benchmark::kMillisecond);

// One scrape of N series as the endpoint serves it: Collect, render in `format`, optionally gzip.
// A series is one exposed sample line, as Prometheus counts them: half the series are counters
// (3 labels), half come from RED histograms (6 labels, 15 buckets + +Inf, _sum, _count: 18
// series each; every bucket with an exemplar): the mix of an application-view node.
void BM_Scrape(benchmark::State& state) {
  const auto format = static_cast<prometheus::Format>(state.range(1));
  const bool gzip = state.range(2) != 0;
  metrics::Registry registry;
  const int64_t series = state.range(0);
  FillCounters(&registry, series / 2);
  auto& histograms = registry.AddHistogram("http_server_request_duration_seconds", "help",
                                           kRedLabels, kDurationBuckets);
  const int64_t histogram_count = series / 2 / static_cast<int64_t>(kDurationBuckets.size() + 3);
  const RedLabelSets sets(static_cast<int>(histogram_count));
  const metrics::ExemplarRef exemplar{"0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"};
  for (const auto& values : sets.views) {
    histograms.Update(values, [&](metrics::Histogram& h) {
      for (double v : kDurationBuckets) h.Observe(v, exemplar);
      h.Observe(20, exemplar);
    });
  }
  size_t bytes = 0;
  for (auto _ : state) {
    std::string body = prometheus::Render(format, registry.Collect());
    if (gzip) body = prometheus::GzipCompress(body).value();
    bytes = body.size();
    benchmark::DoNotOptimize(body);
  }
  const int64_t exposed =
      series / 2 + histogram_count * static_cast<int64_t>(kDurationBuckets.size() + 3);
  state.counters["series"] = static_cast<double>(exposed);
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Scrape)
    ->ArgNames({"series", "openmetrics", "gzip"})
    ->Args({10000, 0, 0})
    ->Args({10000, 0, 1})
    ->Args({10000, 1, 0})
    ->Args({10000, 1, 1})
    ->Unit(benchmark::kMillisecond);

// Heap bytes per series created through Update() (mallinfo2 delta over N series).
void BM_MemoryPerSeries(benchmark::State& state) {
  const bool histogram = state.range(0) != 0;
  constexpr int kSeries = 10000;
  for (auto _ : state) {
    metrics::Registry registry;
    auto& counters = registry.AddCounter("bench_total", "help", {"method", "status", "route"});
    auto& histograms = registry.AddHistogram("http_server_request_duration_seconds", "help",
                                             kRedLabels, kDurationBuckets);
    const RedLabelSets sets(kSeries);
    std::vector<std::string> routes;
    for (int i = 0; i < kSeries; ++i)
      routes.push_back("/api/v1/users/{id}/orders/" + std::to_string(i));
    const size_t before = mallinfo2().uordblks;
    for (int i = 0; i < kSeries; ++i) {
      if (histogram) {
        histograms.Update(sets.views[i], [](metrics::Histogram& h) { h.Observe(0.02); });
      } else {
        counters.Update({"GET", "200", routes[i]}, [](metrics::Counter& c) { c.Inc(); });
      }
    }
    const size_t after = mallinfo2().uordblks;
    state.counters["bytes_per_series"] =
        static_cast<double>(after - before) / static_cast<double>(kSeries);
  }
}
BENCHMARK(BM_MemoryPerSeries)
    ->ArgName("histogram")
    ->Arg(0)
    ->Arg(1)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
