// Benchmarks of the application metrics (src/metrics/app): the per-request cost of OnRequest,
// its RED histogram update alone, route matching, OnFlow, and the memory a series costs.
#include <malloc.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "src/metrics/app/app_metrics.h"

namespace loupe::metrics::app {
namespace {

flow::IpAddress Ip(const char* text) {
  flow::IpAddress ip;
  flow::IpAddress::Parse(text, &ip);
  return ip;
}

telemetry::Request ServerRequest() {
  telemetry::Request r;
  r.pid = static_cast<uint32_t>(getpid());
  r.process = "bench";
  r.role = telemetry::Role::kServer;
  r.protocol = telemetry::Protocol::kHttp1;
  r.method = "GET";
  r.path = "/api/v1/users/12345/orders?page=2";
  r.status = 200;
  r.start_ns = 1'000'000'000;
  r.end_ns = r.start_ns + 3'000'000;
  r.local_ip = Ip("10.0.0.1");
  r.local_port = 8080;
  r.remote_ip = Ip("10.0.0.2");
  r.remote_port = 40000;
  r.request_body_bytes = 120;
  r.response_body_bytes = 2400;
  r.trace.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  return r;
}

std::unique_ptr<AppMetrics> Make(Registry& registry, std::vector<std::string> features) {
  AppMetricsOptions options;
  options.features = std::move(features);
  options.host_name = "bench-host";
  auto metrics = AppMetrics::Create(registry, options);
  if (!metrics.ok()) std::abort();
  return *std::move(metrics);
}

// The RED part alone: one histogram update with Beyla's 10 default HTTP server labels (values
// already formatted) and an exemplar, on an existing series.
void BM_RedHistogramUpdate(benchmark::State& state) {
  Registry registry;
  auto& family = registry.AddHistogram(
      "http_server_request_duration_seconds", "help",
      {"service_name", "service_namespace", "instance", "job", "http_request_method",
       "http_response_status_code", "url_scheme", "http_route", "server_address", "server_port"},
      DefaultDurationBuckets());
  const std::string_view values[] = {"bench", "",     "bench-host:1234", "bench",    "GET",
                                     "200",   "http", "/api/v1/users/*", "10.0.0.1", "8080"};
  const ExemplarRef exemplar{"4bf92f3577b34da6a3ce929d0e0e4736", {}};
  for (auto _ : state) {
    family.Update(values, [&](Histogram& h) { h.Observe(0.003, exemplar); });
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RedHistogramUpdate);

// Whole OnRequest with the default feature (application): service lookup, heuristic route,
// label formatting and three histogram updates (duration, request and response body size).
void BM_OnRequestHttpServer(benchmark::State& state) {
  Registry registry;
  auto metrics = Make(registry, {"application"});
  const telemetry::Request r = ServerRequest();
  metrics->OnRequest(r);
  for (auto _ : state) metrics->OnRequest(r);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OnRequestHttpServer);

// The seed's features: application + application_service_graph (+ span metrics).
void BM_OnRequestAllRequestFeatures(benchmark::State& state) {
  Registry registry;
  auto metrics = Make(registry, {"application", "application_service_graph", "application_span"});
  const telemetry::Request r = ServerRequest();
  metrics->OnRequest(r);
  for (auto _ : state) metrics->OnRequest(r);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OnRequestAllRequestFeatures);

void BM_OnRequestGrpcServer(benchmark::State& state) {
  Registry registry;
  auto metrics = Make(registry, {"application"});
  telemetry::Request r = ServerRequest();
  r.protocol = telemetry::Protocol::kGrpc;
  r.path = "/shop.Catalog/GetItem";
  r.grpc_status = 0;
  metrics->OnRequest(r);
  for (auto _ : state) metrics->OnRequest(r);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OnRequestGrpcServer);

// Four threads on the same series (contention on the cells and the family's shard lock).
void BM_OnRequestHttpServerThreads(benchmark::State& state) {
  static Registry* registry = nullptr;
  static std::unique_ptr<AppMetrics> metrics;
  if (state.thread_index() == 0) {
    registry = new Registry();
    metrics = Make(*registry, {"application"});
  }
  const telemetry::Request r = ServerRequest();
  for (auto _ : state) metrics->OnRequest(r);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    metrics.reset();
    delete registry;
  }
}
BENCHMARK(BM_OnRequestHttpServerThreads)->Threads(4)->UseRealTime();

void BM_RouteHeuristic(benchmark::State& state) {
  auto matcher = RouteMatcher::Create({});
  RouteBuffer buffer;
  const std::string path = "/api/v1/users/12345/orders/550e8400-e29b-41d4-a716-446655440000";
  for (auto _ : state) benchmark::DoNotOptimize((*matcher)->Route(path, &buffer));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RouteHeuristic);

void BM_RoutePatterns(benchmark::State& state) {
  RoutesOptions options;
  for (int i = 0; i < 50; ++i) options.patterns.push_back("/svc" + std::to_string(i) + "/{id}");
  options.patterns.push_back("/api/v1/users/{id}/orders/{order}");
  auto matcher = RouteMatcher::Create(options);
  RouteBuffer buffer;
  const std::string path = "/api/v1/users/12345/orders/77";
  for (auto _ : state) benchmark::DoNotOptimize((*matcher)->Route(path, &buffer));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RoutePatterns);

void BM_OnFlow(benchmark::State& state) {
  Registry registry;
  AppMetricsOptions options;
  options.features = {"network"};
  options.network_cidrs = {{"10.0.0.0/8", ""}, {"172.16.0.0/12", ""}};
  auto metrics = *AppMetrics::Create(registry, options);
  flow::Flow f;
  f.type = flow::FlowType::kL3L4;
  f.src_ip = Ip("10.0.0.5");
  f.dst_ip = Ip("172.16.1.1");
  f.l4 = flow::L4Protocol::kTcp;
  f.src_port = 40000;
  f.dst_port = 80;
  f.bytes = 1500;
  f.is_reply = 0;
  auto src = std::make_shared<flow::PeerInfo>();
  src->endpoint.namespace_name = "web";
  src->endpoint.pod_name = "web-1";
  src->endpoint.workloads.push_back({"web", "Deployment"});
  f.src_info = src;
  metrics->OnFlow(f);
  for (auto _ : state) metrics->OnFlow(f);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OnFlow);

// Heap bytes per new label set reaching OnRequest (default features: three histogram series —
// duration with 15 buckets, request and response size with 10 — plus the label strings), and per
// duration-histogram series alone. Measured with mallinfo2 around N distinct routes.
void BM_MemoryPerSeries(benchmark::State& state) {
  const int64_t n = state.range(0);
  double per_request_set = 0;
  double per_histogram = 0;
  for (auto _ : state) {
    state.PauseTiming();
    {
      Registry registry;
      AppMetricsOptions options;
      options.routes.unmatched = UnmatchedRoutes::kPath;
      options.host_name = "bench-host";
      auto metrics = *AppMetrics::Create(registry, options);
      telemetry::Request r = ServerRequest();
      metrics->OnRequest(r);
      std::vector<telemetry::Request> requests(static_cast<size_t>(n), r);
      for (int64_t i = 0; i < n; ++i) requests[i].path = "/route/number/" + std::to_string(i);
      const size_t before = mallinfo2().uordblks;
      state.ResumeTiming();
      for (const auto& req : requests) metrics->OnRequest(req);
      state.PauseTiming();
      per_request_set = static_cast<double>(mallinfo2().uordblks - before) / static_cast<double>(n);
    }
    {
      Registry registry;
      auto& family = registry.AddHistogram("h_seconds", "help", {"service_name", "http_route"},
                                           DefaultDurationBuckets());
      std::vector<std::string> routes;
      for (int64_t i = 0; i < n; ++i) routes.push_back("/route/number/" + std::to_string(i));
      const size_t before = mallinfo2().uordblks;
      for (const auto& route : routes) {
        const std::string_view values[] = {"bench", route};
        family.Update(values, [](Histogram& h) { h.Observe(0.003); });
      }
      per_histogram = static_cast<double>(mallinfo2().uordblks - before) / static_cast<double>(n);
    }
    state.ResumeTiming();
  }
  state.counters["bytes_per_request_label_set"] = per_request_set;
  state.counters["bytes_per_duration_series"] = per_histogram;
}
BENCHMARK(BM_MemoryPerSeries)->Arg(10000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe::metrics::app

BENCHMARK_MAIN();
