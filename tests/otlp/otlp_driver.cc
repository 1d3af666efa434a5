// Test driver for the OTLP end-to-end tests (tests/otlp/test_otlp.py): feeds synthetic Request
// records through Tracer -> sampler -> TraceExporter, and a metrics registry through
// MetricsExporter, against the test receiver. Prints one JSON object on stdout.
//
//   otlp_driver traces  --endpoint URL [--protocol P] --requests N [--sampler S --arg A]
//   otlp_driver ratio   --endpoint URL --requests N --sampled-parents M --sampler S --arg A
//   otlp_driver outage  --endpoint URL --seconds S --rate R [--queue Q]
//   otlp_driver ingest  --endpoint URL[,URL...] --requests N --rounds K
//   otlp_driver metrics --endpoint URL [--protocol P] --requests N --interval-ms I
//                       [--temporality cumulative|delta]
#include <time.h>

#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/export/otlp/metrics_exporter.h"
#include "src/export/otlp/trace_exporter.h"
#include "src/export/prometheus/exposition.h"
#include "src/telemetry/tracing/ids.h"
#include "src/telemetry/tracing/tracer.h"

namespace {

using loupe::otlp::OtlpOptions;
using loupe::telemetry::Request;
using loupe::telemetry::Role;
using nlohmann::json;

constexpr int64_t kMs = 1'000'000;

struct Args {
  std::string mode;
  std::map<std::string, std::string> kv;
  std::string Get(const std::string& k, const std::string& def = "") const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  int64_t Int(const std::string& k, int64_t def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::stoll(it->second);
  }
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

OtlpOptions BaseOptions(const Args& a, const std::string& endpoint) {
  OtlpOptions o;
  o.traces.endpoint = endpoint;
  o.metrics.endpoint = endpoint;
  if (a.Get("protocol") == "grpc") {
    o.traces.protocol = o.metrics.protocol = loupe::otlp::Protocol::kGrpc;
  } else if (a.Get("protocol") == "http/protobuf") {
    o.traces.protocol = o.metrics.protocol = loupe::otlp::Protocol::kHttpProtobuf;
  }
  o.traces.timeout = o.metrics.timeout = std::chrono::milliseconds(a.Int("timeout-ms", 2000));
  o.traces.headers = {{"x-test-header", "loupe"}};
  o.metrics.headers = o.traces.headers;
  o.sampler = a.Get("sampler", "parentbased_always_on");
  o.sampler_arg = a.Get("arg", "");
  o.queue_size = static_cast<size_t>(a.Int("queue", 16384));
  o.batch_size = static_cast<size_t>(a.Int("batch", 512));
  o.batch_timeout = std::chrono::milliseconds(a.Int("batch-timeout-ms", 200));
  o.backoff_initial = std::chrono::milliseconds(a.Int("backoff-initial-ms", 200));
  o.backoff_max = std::chrono::milliseconds(a.Int("backoff-max-ms", 2000));
  o.backoff_max_elapsed = std::chrono::milliseconds(a.Int("backoff-max-elapsed-ms", 10000));
  o.interval = std::chrono::milliseconds(a.Int("interval-ms", 500));
  o.temporality = a.Get("temporality") == "delta" ? loupe::otlp::Temporality::kDelta
                                                  : loupe::otlp::Temporality::kCumulative;
  // The OTEL_* variables win over the "config" above, as in the agent.
  auto with_env = loupe::otlp::OtlpOptionsFromEnv(o, loupe::otlp::ProcessEnv());
  if (!with_env.ok()) {
    std::cerr << "invalid OTLP options: " << with_env.status().message() << "\n";
    std::exit(2);
  }
  return *with_env;
}

std::shared_ptr<loupe::tracing::Resource> ShopResource() {
  auto r = std::make_shared<loupe::tracing::Resource>();
  r->Add("service.name", std::string("shop"));
  r->Add("service.namespace", std::string("prod"));
  r->Add("k8s.namespace.name", std::string("prod"));
  r->Add("k8s.pod.name", std::string("shop-0"));
  loupe::tracing::AddSdkAttributes(r.get(), "test-node");
  return r;
}

std::string Hex32(uint64_t hi, uint64_t lo) {
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return buf;
}

Request ServerRequest(int i, int64_t base_ns) {
  Request r;
  r.pid = 4242;
  r.tid = 1000 + static_cast<uint32_t>(i % 8);
  r.process = "shop";
  r.role = Role::kServer;
  r.protocol = loupe::telemetry::Protocol::kHttp1;
  r.method = "GET";
  r.path = "/items/" + std::to_string(i);
  r.version = "HTTP/1.1";
  r.host = "shop:8080";
  r.status = i % 10 == 9 ? 503 : 200;
  r.start_ns = base_ns + i * 10 * kMs;
  r.end_ns = r.start_ns + 5 * kMs;
  loupe::flow::IpAddress::Parse("10.1.0.2", &r.local_ip);
  loupe::flow::IpAddress::Parse("10.1.0.1", &r.remote_ip);
  r.local_port = 8080;
  r.remote_port = 40000;
  r.response_body_bytes = 42;
  if (i % 5 == 4) {
    r.protocol = loupe::telemetry::Protocol::kGrpc;
    r.method = "POST";
    r.path = "/shop.Inventory/Check";
    r.version = "HTTP/2";
    r.status = 200;
    r.grpc_status = 0;
  }
  return r;
}

Request ClientRequest(const Request& server, int i) {
  Request c;
  c.pid = server.pid;
  c.tid = server.tid;
  c.process = "shop";
  c.role = Role::kClient;
  c.protocol = loupe::telemetry::Protocol::kHttp1;
  c.method = "GET";
  c.path = "/stock/" + std::to_string(i);
  c.host = "backend:9000";
  c.status = 200;
  c.start_ns = server.start_ns + 1 * kMs;
  c.end_ns = server.start_ns + 3 * kMs;
  loupe::flow::IpAddress::Parse("10.1.0.2", &c.local_ip);
  loupe::flow::IpAddress::Parse("10.1.0.9", &c.remote_ip);
  c.local_port = 50000;
  c.remote_port = 9000;
  return c;
}

json SelfMetrics(const loupe::metrics::Registry& registry) {
  json out = json::object();
  for (const auto& f : registry.Collect()) {
    if (f.name.rfind("loupe_otlp_", 0) != 0) continue;
    for (const auto& s : f.samples) {
      std::string key = f.name;
      for (const auto& [k, v] : s.labels) key.append("|").append(k).append("=").append(v);
      out[key] = s.value;
    }
  }
  return out;
}

json SpanJson(const loupe::tracing::Span& s) {
  return {{"trace_id", loupe::tracing::ToHex(s.trace_id)},
          {"span_id", loupe::tracing::ToHex(s.span_id)},
          {"parent_span_id", s.has_parent() ? loupe::tracing::ToHex(s.parent_span_id) : ""},
          {"name", s.name},
          {"kind", static_cast<int>(s.kind)}};
}

std::unique_ptr<loupe::otlp::TraceExporter> MakeTraceExporter(const OtlpOptions& o,
                                                              loupe::otlp::SelfMetrics* self) {
  auto transport = loupe::otlp::MakeTransport(o.traces, loupe::otlp::Signal::kTraces);
  if (!transport.ok()) {
    std::cerr << transport.status().ToString() << "\n";
    std::exit(2);
  }
  return std::make_unique<loupe::otlp::TraceExporter>(o, std::move(*transport), self);
}

// N server requests (every third with a sampled traceparent, every third with an unsampled
// one), each with one client call made on the same thread while it ran.
int RunTraces(const Args& a) {
  const OtlpOptions o = BaseOptions(a, a.Get("endpoint"));
  loupe::metrics::Registry registry;
  loupe::otlp::SelfMetrics self(&registry);
  auto exporter = MakeTraceExporter(o, &self);
  exporter->Start();
  json handed = json::array();
  loupe::tracing::Tracer tracer(loupe::tracing::Sampler::Create(o.sampler, o.sampler_arg).value(),
                                {}, [&](loupe::tracing::Span&& s) {
                                  handed.push_back(SpanJson(s));
                                  exporter->Enqueue(std::move(s));
                                });
  auto resource = ShopResource();
  const int n = static_cast<int>(a.Int("requests", 60));
  const int64_t base = NowNs() - n * 10 * kMs;
  for (int i = 0; i < n; ++i) {
    Request server = ServerRequest(i, base);
    if (i % 3 == 1 || i % 3 == 2) {
      server.trace.trace_id = Hex32(0xabc00000 + static_cast<uint64_t>(i), 0x1234567 + i);
      server.trace.parent_span_id = Hex32(0, 0xfeed0000 + static_cast<uint64_t>(i)).substr(16);
      server.trace.flags = i % 3 == 1 ? 1 : 0;
    }
    const std::string route = server.protocol == loupe::telemetry::Protocol::kGrpc
                                  ? std::string()
                                  : std::string("/items/{id}");
    tracer.Process(ClientRequest(server, i), "", resource);
    tracer.Process(server, route, resource);
  }
  tracer.Flush(INT64_MAX);
  exporter->Stop(std::chrono::seconds(10));
  json out = {{"handed", handed}, {"self", SelfMetrics(registry)}};
  out["linked_clients"] = tracer.stats().linked_clients;
  std::cout << out.dump() << std::endl;
  return 0;
}

// N root server requests with the configured sampler, then M requests whose traceparent says
// "sampled" (which a parentbased sampler must always continue).
int RunRatio(const Args& a) {
  const OtlpOptions o = BaseOptions(a, a.Get("endpoint"));
  loupe::metrics::Registry registry;
  loupe::otlp::SelfMetrics self(&registry);
  auto exporter = MakeTraceExporter(o, &self);
  exporter->Start();
  uint64_t handed = 0;
  loupe::tracing::Tracer tracer(loupe::tracing::Sampler::Create(o.sampler, o.sampler_arg).value(),
                                {}, [&](loupe::tracing::Span&& s) {
                                  ++handed;
                                  exporter->Enqueue(std::move(s));
                                });
  auto resource = ShopResource();
  const int n = static_cast<int>(a.Int("requests", 10000));
  const int m = static_cast<int>(a.Int("sampled-parents", 0));
  const int64_t base = NowNs() - (n + m) * 10 * kMs;
  for (int i = 0; i < n + m; ++i) {
    Request r = ServerRequest(i, base);
    r.tid = 0;
    if (i >= n) {
      const auto id = loupe::tracing::NewTraceId();
      r.trace.trace_id = loupe::tracing::ToHex(id);
      r.trace.parent_span_id = loupe::tracing::ToHex(loupe::tracing::NewSpanId());
      r.trace.flags = 1;
    }
    tracer.Process(r, "/items/{id}", resource);
  }
  exporter->Stop(std::chrono::seconds(20));
  std::cout << json{{"handed", handed}, {"self", SelfMetrics(registry)}}.dump() << std::endl;
  return 0;
}

// Requests at `rate` per second for `seconds`, RSS sampled every second; the test takes the
// receiver down and up meanwhile.
int RunOutage(const Args& a) {
  const OtlpOptions o = BaseOptions(a, a.Get("endpoint"));
  loupe::metrics::Registry registry;
  loupe::otlp::SelfMetrics self(&registry);
  auto exporter = MakeTraceExporter(o, &self);
  exporter->Start();
  uint64_t handed = 0;
  loupe::tracing::Tracer tracer(loupe::tracing::Sampler::Create("always_on", "").value(), {},
                                [&](loupe::tracing::Span&& s) {
                                  ++handed;
                                  exporter->Enqueue(std::move(s));
                                });
  auto resource = ShopResource();
  const int64_t seconds = a.Int("seconds", 80);
  const int64_t rate = a.Int("rate", 2000);
  json rss = json::array();
  json queue = json::array();
  json dropped = json::array();
  const auto start = std::chrono::steady_clock::now();
  int i = 0;
  for (int64_t s = 0; s < seconds; ++s) {
    const auto second_start = start + std::chrono::seconds(s);
    for (int64_t k = 0; k < rate; ++k) {
      // Spread the second's requests over 10 slices of 100 ms.
      if (k % (rate / 10 == 0 ? 1 : rate / 10) == 0) {
        std::this_thread::sleep_until(second_start +
                                      std::chrono::milliseconds(100 * k * 10 / rate));
      }
      Request r = ServerRequest(i++, 0);
      r.tid = 0;
      r.start_ns = NowNs();
      r.end_ns = r.start_ns + kMs;
      tracer.Process(r, "/items/{id}", resource);
    }
    rss.push_back(RssKb());
    queue.push_back(exporter->QueueLength());
    dropped.push_back(self.For(loupe::otlp::Signal::kTraces).dropped_queue_full->Value());
  }
  exporter->Stop(std::chrono::seconds(15));
  std::cout << json{{"handed", handed},
                    {"rss_kb", rss},
                    {"queue", queue},
                    {"dropped", dropped},
                    {"self", SelfMetrics(registry)}}
                   .dump()
            << std::endl;
  return 0;
}

// Ingest-path rate (Tracer::Process + Enqueue) with one exporter per endpoint, rounds
// interleaved across endpoints so the machine's noise hits all alike.
int RunIngest(const Args& a) {
  std::vector<std::string> endpoints;
  {
    std::string list = a.Get("endpoint");
    size_t pos = 0;
    while (pos <= list.size()) {
      size_t comma = list.find(',', pos);
      if (comma == std::string::npos) comma = list.size();
      endpoints.push_back(list.substr(pos, comma - pos));
      pos = comma + 1;
    }
  }
  const int n = static_cast<int>(a.Int("requests", 100000));
  const int rounds = static_cast<int>(a.Int("rounds", 5));
  struct Target {
    loupe::metrics::Registry registry;
    std::unique_ptr<loupe::otlp::SelfMetrics> self;
    std::unique_ptr<loupe::otlp::TraceExporter> exporter;
    std::unique_ptr<loupe::tracing::Tracer> tracer;
    std::vector<double> rates;      // requests per wall-clock second
    std::vector<double> cpu_rates;  // requests per second of the ingest thread's CPU time
  };
  std::vector<std::unique_ptr<Target>> targets;
  for (const auto& ep : endpoints) {
    auto t = std::make_unique<Target>();
    OtlpOptions o = BaseOptions(a, ep);
    t->self = std::make_unique<loupe::otlp::SelfMetrics>(&t->registry);
    t->exporter = MakeTraceExporter(o, t->self.get());
    t->exporter->Start();
    auto* exporter = t->exporter.get();
    t->tracer = std::make_unique<loupe::tracing::Tracer>(
        loupe::tracing::Sampler::Create("always_on", "").value(), loupe::tracing::TracerOptions{},
        [exporter](loupe::tracing::Span&& s) { exporter->Enqueue(std::move(s)); });
    targets.push_back(std::move(t));
  }
  auto resource = ShopResource();
  std::vector<Request> requests;
  for (int i = 0; i < n; ++i) {
    requests.push_back(ServerRequest(i, NowNs()));
    requests.back().tid = 0;
  }
  for (int round = 0; round < rounds; ++round) {
    for (auto& t : targets) {
      const auto t0 = std::chrono::steady_clock::now();
      const double cpu0 = ThreadCpuSeconds();
      for (const auto& r : requests) t->tracer->Process(r, "/items/{id}", resource);
      const double cpu = ThreadCpuSeconds() - cpu0;
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      t->rates.push_back(n / secs);
      t->cpu_rates.push_back(n / cpu);
      // Let this exporter (and a healthy receiver, which parses in the test process) finish
      // before the next round, so their CPU use does not land in another target's round.
      const auto drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (t->exporter->QueueLength() > 0 && std::chrono::steady_clock::now() < drain_until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  json out = json::array();
  for (auto& t : targets) {
    t->exporter->Stop(std::chrono::milliseconds(0));
    out.push_back(
        {{"rates", t->rates}, {"cpu_rates", t->cpu_rates}, {"self", SelfMetrics(t->registry)}});
  }
  std::cout << json{{"targets", out}}.dump() << std::endl;
  return 0;
}

// A registry like the agent's (a semantic-convention histogram with exemplars, a counter, a
// gauge), fed while the metrics exporter runs; prints the final Prometheus exposition.
int RunMetrics(const Args& a) {
  const OtlpOptions o = BaseOptions(a, a.Get("endpoint"));
  loupe::metrics::Registry registry;
  loupe::otlp::SelfMetrics self(&registry);
  auto& duration = registry.AddHistogram(
      "http_server_request_duration_seconds", "Duration of HTTP server requests",
      {"service_name", "service_namespace", "http_request_method", "http_response_status_code",
       "http_route"},
      {0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10});
  auto& requests_total =
      registry.AddCounter("loupe_test_requests_total", "Requests seen by the driver", {"route"});
  auto& inflight = registry.AddGauge("loupe_test_inflight", "A gauge", {});
  auto transport = loupe::otlp::MakeTransport(o.metrics, loupe::otlp::Signal::kMetrics);
  if (!transport.ok()) {
    std::cerr << transport.status().ToString() << "\n";
    return 2;
  }
  auto agent = std::make_shared<loupe::tracing::Resource>();
  agent->Add("service.name", std::string("loupe"));
  loupe::tracing::AddSdkAttributes(agent.get(), "test-node");
  loupe::otlp::MetricsExporter exporter(o, std::move(*transport), &registry, &self, agent);
  exporter.Start();

  json sampled = json::array();
  loupe::tracing::Tracer tracer(
      loupe::tracing::Sampler::Create(a.Get("sampler", "traceidratio"), a.Get("arg", "0.5"))
          .value(),
      {}, [](loupe::tracing::Span&&) {});
  auto resource = ShopResource();
  const int n = static_cast<int>(a.Int("requests", 400));
  const int64_t spread_ms = a.Int("spread-ms", 2000);
  for (int i = 0; i < n; ++i) {
    Request r = ServerRequest(i, NowNs());
    r.tid = 0;
    r.protocol = loupe::telemetry::Protocol::kHttp1;
    r.method = i % 4 == 0 ? "POST" : "GET";
    r.status = i % 10 == 9 ? 503 : 200;
    r.end_ns = r.start_ns + (i % 7) * 3 * kMs;
    auto ids = tracer.Process(r, "/items/{id}", resource);
    const double seconds = static_cast<double>(r.end_ns - r.start_ns) / 1e9;
    const std::string status = std::to_string(r.status);
    const std::string_view label_values[] = {"shop", "prod", r.method, status, "/items/{id}"};
    duration.Update(std::span<const std::string_view>(label_values), [&](auto& h) {
      if (ids) {
        h.Observe(seconds, loupe::metrics::ExemplarRef{ids->trace_id, ids->span_id});
        sampled.push_back({{"trace_id", ids->trace_id}, {"span_id", ids->span_id}});
      } else {
        h.Observe(seconds);
      }
    });
    requests_total.WithLabels({"/items/{id}"})->Inc();
    inflight.WithLabels({})->Set(i % 13);
    std::this_thread::sleep_for(std::chrono::microseconds(spread_ms * 1000 / n));
  }
  exporter.Stop(std::chrono::seconds(10));
  const auto families = registry.Collect();
  std::cout << json{{"prometheus", loupe::prometheus::RenderText(families)},
                    {"openmetrics", loupe::prometheus::RenderOpenMetrics(families)},
                    {"sampled", sampled},
                    {"self", SelfMetrics(registry)}}
                   .dump()
            << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: otlp_driver MODE [--key value]...\n";
    return 2;
  }
  Args a;
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string key = argv[i];
    if (key.rfind("--", 0) != 0) {
      std::cerr << "bad argument " << key << "\n";
      return 2;
    }
    a.kv[key.substr(2)] = argv[i + 1];
  }
  if (a.mode == "traces") return RunTraces(a);
  if (a.mode == "ratio") return RunRatio(a);
  if (a.mode == "outage") return RunOutage(a);
  if (a.mode == "ingest") return RunIngest(a);
  if (a.mode == "metrics") return RunMetrics(a);
  std::cerr << "unknown mode " << a.mode << "\n";
  return 2;
}
