// Benchmark of the agent's user-space path for one traced HTTP/1.1 request, end to end: the
// socket events the sensor hands over for one keep-alive request to nginx (request read, response
// header write, sendfile of the body) through the connection tracker and HTTP/1 parser, the
// Request record, its two L7 flows, the Hubble handlers and the RED metrics of the default
// configuration, and the flow buffer. This is the work `loupe agent` does per wrk request in
// bench/wrk_overhead.py with only nginx traced; `allocs/request` counts heap allocations.
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/counting_new.h"
#include "benchmark/benchmark.h"
#include "src/agent/flow_pipeline.h"
#include "src/agent/metrics_setup.h"
#include "src/config/config.h"
#include "src/flow/flow_buffer.h"
#include "src/identity/identity_cache.h"
#include "src/ingest/conn_manager.h"
#include "src/metrics/app/app_metrics.h"
#include "src/metrics/hubble/hubble_metrics.h"

namespace loupe::agent {
namespace {

class Hubble final : public FlowObserver {
 public:
  explicit Hubble(metrics::hubble::HubbleMetrics& m) : m_(m) {}
  void OnFlow(const flow::Flow& flow, const FlowTrace* /*trace*/) override { m_.OnFlow(flow); }

 private:
  metrics::hubble::HubbleMetrics& m_;
};

class App final : public FlowObserver {
 public:
  explicit App(metrics::app::AppMetrics& m) : m_(m) {}
  void OnFlow(const flow::Flow& flow, const FlowTrace* /*trace*/) override { m_.OnFlow(flow); }
  void OnRequest(const telemetry::Request& request, const FlowTrace* /*trace*/) override {
    m_.OnRequest(request);
  }

 private:
  metrics::app::AppMetrics& m_;
};

constexpr char kRequest[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n\r\n";
constexpr char kResponse[] =
    "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Fri, 27 Nov 2026 03:29:01 GMT\r\n"
    "Content-Type: text/html\r\nContent-Length: 9\r\n"
    "Last-Modified: Thu, 26 Nov 2026 17:50:00 GMT\r\nConnection: keep-alive\r\n"
    "ETag: \"6727f2b8-9\"\r\nAccept-Ranges: bytes\r\n\r\n";

void BM_AgentPathPerRequest(benchmark::State& state) {
  auto config = config::Config::LoadFromString(
      "", "bench", [](const std::string&) { return std::optional<std::string>(); });
  if (!config.ok()) {
    state.SkipWithError(std::string(config.status().message()).c_str());
    return;
  }
  metrics::Registry registry;
  auto hubble = metrics::hubble::HubbleMetrics::Create(registry, HubbleMetricEntries(*config));
  auto app_options = AppMetricsOptionsFromConfig(*config);
  if (!hubble.ok() || !app_options.ok()) {
    state.SkipWithError("metrics setup");
    return;
  }
  app_options->host_name = "bench-host";
  auto app = metrics::app::AppMetrics::Create(registry, *std::move(app_options));
  if (!app.ok()) {
    state.SkipWithError("app metrics");
    return;
  }
  flow::FlowBuffer buffer(65535);
  identity::IdentityCache identity;
  FlowPipeline pipeline(buffer, registry, identity, FlowPipeline::TracePrinter::kDisabled,
                        std::chrono::milliseconds(0));
  Hubble hubble_observer(**hubble);
  App app_observer(**app);
  pipeline.AddObserver(&hubble_observer);
  pipeline.AddObserver(&app_observer);
  ingest::ConnManager conns({}, pipeline, registry);

  sensors::SocketOpenEvent open;
  open.id = {static_cast<uint32_t>(getpid()), 6, 1};
  open.time_ns = 1'000'000'000;
  open.role = sensors::ConnRole::kServer;
  flow::IpAddress::Parse("127.0.0.1", &open.tuple.local_ip);
  flow::IpAddress::Parse("127.0.0.1", &open.tuple.remote_ip);
  open.tuple.local_port = 18080;
  open.tuple.remote_port = 40000;
  open.comm = "nginx";
  conns.OnOpen(open);

  sensors::SocketDataEvent in;
  in.id = open.id;
  in.role = open.role;
  in.tuple = open.tuple;
  in.direction = sensors::DataDirection::kIngress;
  in.data = {reinterpret_cast<const uint8_t*>(kRequest), sizeof(kRequest) - 1};
  in.original_size = sizeof(kRequest) - 1;
  in.comm = "nginx";
  sensors::SocketDataEvent out = in;
  out.direction = sensors::DataDirection::kEgress;
  out.data = {reinterpret_cast<const uint8_t*>(kResponse), sizeof(kResponse) - 1};
  out.original_size = sizeof(kResponse) - 1;
  sensors::SocketDataEvent body = out;  // sendfile: metadata only
  body.data = {};
  body.original_size = 9;

  int64_t now = open.time_ns;
  uint64_t in_pos = 0, out_pos = 0;
  const auto one = [&] {
    in.time_ns = now += 20'000;
    in.position = in_pos;
    in_pos += in.original_size;
    conns.OnData(in);
    out.time_ns = now += 8'000;
    out.position = out_pos;
    out_pos += out.original_size;
    conns.OnData(out);
    body.time_ns = now += 2'000;
    body.position = out_pos;
    out_pos += body.original_size;
    conns.OnData(body);
  };
  for (int i = 0; i < 70000; ++i) one();  // series exist, the flow buffer is full
  const uint64_t seen = buffer.seen_flows();
  const uint64_t allocs_before = bench::Allocations();
  for (auto _ : state) one();
  const uint64_t allocs = bench::Allocations() - allocs_before;
  if (buffer.seen_flows() - seen != 2 * static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("not every request became two flows");
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["allocs/request"] =
      static_cast<double>(allocs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_AgentPathPerRequest);

}  // namespace
}  // namespace loupe::agent

BENCHMARK_MAIN();
