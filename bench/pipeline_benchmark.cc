// Benchmarks of the agent's per-request pipeline leftovers (src/agent/flow_pipeline): DNS
// de-duplication at its 1024-message capacity (hash set, against the linear scan it replaced),
// the route matched once per request instead of once per stage, the process-cache sweep, and the
// JSON trace printer's line (written directly, against the nlohmann::json object it replaced).
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "src/agent/flow_pipeline.h"
#include "src/identity/identity_cache.h"
#include "src/metrics/app/routes.h"
#include "src/telemetry/request_flows.h"
#include "src/telemetry/request_json_reference.h"

namespace loupe::agent {
namespace {

// The de-duplication as it was before the hash set: a deque scanned front to back under the DNS
// lock. Kept here only to measure against.
class LinearRecentDns {
 public:
  bool SeenOrAdd(uint64_t key, int64_t time_ns) {
    while (!recent_.empty() && time_ns - recent_.front().second > kWindowNs) recent_.pop_front();
    for (const auto& [k, t] : recent_) {
      if (k == key) return true;
    }
    if (recent_.size() >= RecentDnsMessages::kCapacity) recent_.pop_front();
    recent_.emplace_back(key, time_ns);
    return false;
  }

 private:
  static constexpr int64_t kWindowNs = 200'000'000;
  std::deque<std::pair<uint64_t, int64_t>> recent_;
};

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  return x;
}

// Steady state at capacity: 1024 messages within the window, every packet a new message (the
// linear scan's worst case, and the common one: most messages are seen once per interface).
template <typename Recent>
void BM_DnsDedupNewMessage(benchmark::State& state) {
  Recent recent;
  uint64_t i = 0;
  for (; i < RecentDnsMessages::kCapacity; ++i) recent.SeenOrAdd(Mix(i), 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(recent.SeenOrAdd(Mix(i), 1));
    ++i;
  }
}
BENCHMARK_TEMPLATE(BM_DnsDedupNewMessage, LinearRecentDns)->Name("BM_DnsDedupNewMessage/linear");
BENCHMARK_TEMPLATE(BM_DnsDedupNewMessage, RecentDnsMessages)->Name("BM_DnsDedupNewMessage/hash");

// At capacity, each message seen twice (sender's and receiver's interface): a new message, then
// its duplicate found half-way through the linear scan on average.
template <typename Recent>
void BM_DnsDedupPairs(benchmark::State& state) {
  Recent recent;
  uint64_t i = 0;
  for (; i < RecentDnsMessages::kCapacity; ++i) recent.SeenOrAdd(Mix(i), 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(recent.SeenOrAdd(Mix(i), 1));
    benchmark::DoNotOptimize(recent.SeenOrAdd(Mix(i - RecentDnsMessages::kCapacity / 2), 1));
    ++i;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * 2);
}
BENCHMARK_TEMPLATE(BM_DnsDedupPairs, LinearRecentDns)->Name("BM_DnsDedupPairs/linear");
BENCHMARK_TEMPLATE(BM_DnsDedupPairs, RecentDnsMessages)->Name("BM_DnsDedupPairs/hash");

std::unique_ptr<metrics::app::RouteMatcher> Matcher(bool with_patterns) {
  metrics::app::RoutesOptions options;
  if (with_patterns) options.patterns = {"/api/v1/users/{id}/orders", "/api/v1/items/{id}"};
  auto matcher = metrics::app::RouteMatcher::Create(options);
  if (!matcher.ok()) std::abort();
  return *std::move(matcher);
}

// Before: the span stage and the RED metrics each matched the request's route.
void BM_RoutePerRequestTwoPasses(benchmark::State& state) {
  const auto matcher = Matcher(state.range(0) != 0);
  const std::string path = "/api/v2/accounts/5f3a9c2e11b04d7a/invoices/2024-01-05";
  for (auto _ : state) {
    metrics::app::RouteBuffer span_buffer;
    metrics::app::RouteBuffer metrics_buffer;
    benchmark::DoNotOptimize(matcher->Match(path, &span_buffer).route.data());
    benchmark::DoNotOptimize(matcher->Match(path, &metrics_buffer).route.data());
  }
}
BENCHMARK(BM_RoutePerRequestTwoPasses)->Arg(0)->Arg(1);

// After: one RouteScope per request; the second stage's MatchOnce answers from it.
void BM_RoutePerRequestScope(benchmark::State& state) {
  const auto matcher = Matcher(state.range(0) != 0);
  const std::string path = "/api/v2/accounts/5f3a9c2e11b04d7a/invoices/2024-01-05";
  const uint64_t before = metrics::app::RouteMatcher::MatchesOnThisThread();
  for (auto _ : state) {
    const metrics::app::RouteScope scope;
    metrics::app::RouteBuffer span_buffer;
    metrics::app::RouteBuffer metrics_buffer;
    benchmark::DoNotOptimize(matcher->MatchOnce(path, &span_buffer).route.data());
    benchmark::DoNotOptimize(matcher->MatchOnce(path, &metrics_buffer).route.data());
  }
  state.counters["matches_per_request"] =
      static_cast<double>(metrics::app::RouteMatcher::MatchesOnThisThread() - before) /
      static_cast<double>(state.iterations());
}
BENCHMARK(BM_RoutePerRequestScope)->Arg(0)->Arg(1);

// One sweep of the process cache with up to `n` of this machine's processes cached (all of them
// when there are fewer): one /proc/<pid>/stat read per cached process.
void BM_ProcessSweep(benchmark::State& state) {
  identity::IdentityCache cache;
  const auto limit = static_cast<size_t>(state.range(0));
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    if (cache.process_count() >= limit) break;
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    cache.Process(static_cast<uint32_t>(std::stoul(name)));
  }
  const size_t cached = cache.process_count();
  for (auto _ : state) benchmark::DoNotOptimize(cache.SweepProcesses());
  state.counters["cached"] = static_cast<double>(cached);
  state.counters["per_process"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * static_cast<double>(cached),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ProcessSweep)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

telemetry::Request PrinterRequest() {
  telemetry::Request r;
  r.pid = 12032;
  r.tid = 12032;
  r.process = "nginx";
  r.role = telemetry::Role::kServer;
  flow::IpAddress::Parse("127.0.0.1", &r.local_ip);
  flow::IpAddress::Parse("127.0.0.1", &r.remote_ip);
  r.local_port = 80;
  r.remote_port = 50702;
  r.protocol = telemetry::Protocol::kHttp1;
  r.method = "GET";
  r.path = "/api/v1/orders/12345";
  r.version = "HTTP/1.1";
  r.host = "127.0.0.1";
  r.status = 200;
  r.start_ns = 1'795'871'976'306'128'005;
  r.end_ns = r.start_ns + 196'181;
  r.request_header_bytes = 81;
  r.response_header_bytes = 122;
  r.response_body_bytes = 612;
  return r;
}

// One `trace_printer: json` line. Arg 0: as written before (an nlohmann::json object of the same
// keys, dumped); arg 1: AppendRequestJson into a reused buffer, as the printer does now.
void BM_TracePrinterJsonLine(benchmark::State& state) {
  const telemetry::Request r = PrinterRequest();
  std::string line;
  for (auto _ : state) {
    line.clear();
    if (state.range(0) == 0) {
      line = telemetry::NlohmannRequestLine(r, "127.0.0.1:80", "127.0.0.1:50702");
    } else {
      telemetry::AppendRequestJson(r, &line);
    }
    benchmark::DoNotOptimize(line.data());
  }
}
BENCHMARK(BM_TracePrinterJsonLine)->Arg(0)->Arg(1);

}  // namespace
}  // namespace loupe::agent

BENCHMARK_MAIN();
