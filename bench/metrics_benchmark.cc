// Benchmarks of the self-metrics path: the per-event counter update and a full scrape.
#include <string>

#include "benchmark/benchmark.h"
#include "src/export/prometheus/exposition.h"
#include "src/metrics/registry.h"

namespace loupe {
namespace {

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

// Collect + render N series in the Prometheus text format (one scrape).
void BM_ScrapeText(benchmark::State& state) {
  metrics::Registry registry;
  auto& family =
      registry.AddCounter("bench_requests_total", "help", {"service", "method", "status"});
  const int64_t series = state.range(0);
  for (int64_t i = 0; i < series; ++i) {
    family.WithLabels({"svc" + std::to_string(i % 100), "GET", std::to_string(i)})->Inc(i);
  }
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

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
