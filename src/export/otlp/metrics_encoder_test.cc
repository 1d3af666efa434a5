#include "src/export/otlp/metrics_encoder.h"

#include <gtest/gtest.h>

#include <map>

namespace loupe::otlp {
namespace {

using opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
namespace pm = opentelemetry::proto::metrics::v1;

constexpr int64_t kStart = 1'000'000'000;

std::vector<metrics::FamilySnapshot> Families(double counter, uint64_t b0, uint64_t b1,
                                              uint64_t b_inf) {
  metrics::FamilySnapshot c{"loupe_things_total", "things", metrics::MetricType::kCounter, {}};
  metrics::Sample cs;
  cs.labels = {{"kind", "x"}};
  cs.value = counter;
  c.samples.push_back(cs);
  metrics::FamilySnapshot g{"loupe_queue", "q", metrics::MetricType::kGauge, {}};
  metrics::Sample gs;
  gs.value = 7;
  g.samples.push_back(gs);
  metrics::FamilySnapshot h{
      "http_server_request_duration_seconds", "d", metrics::MetricType::kHistogram, {}};
  metrics::Sample hs;
  hs.labels = {{"http_request_method", "GET"},
               {"http_response_status_code", "200"},
               {"service_name", "shop"},
               {"service_namespace", "prod"}};
  hs.bounds = {0.1, 1};
  hs.bucket_counts = {b0, b1, b_inf};
  hs.count = b0 + b1 + b_inf;
  hs.sum = 0.05 * b0 + 0.5 * b1 + 2.0 * b_inf;
  hs.exemplars.resize(3);
  hs.exemplars[1] = metrics::StoredExemplar{"4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7",
                                            0.5, 1700000000.25};
  h.samples.push_back(hs);
  return {c, g, h};
}

const pm::Metric* Find(const ExportMetricsServiceRequest& req, const std::string& name,
                       const pm::ResourceMetrics** rm_out = nullptr) {
  for (const auto& rm : req.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) {
        if (m.name() == name) {
          if (rm_out != nullptr) *rm_out = &rm;
          return &m;
        }
      }
    }
  }
  return nullptr;
}

std::string ResourceAttr(const pm::ResourceMetrics& rm, const std::string& key) {
  for (const auto& kv : rm.resource().attributes()) {
    if (kv.key() == key) return kv.value().string_value();
  }
  return "<absent>";
}

TEST(MetricsEncoderTest, Cumulative) {
  auto agent = std::make_shared<tracing::Resource>();
  agent->Add("service.name", std::string("loupe"));
  agent->Add("host.name", std::string("node-1"));
  MetricsEncoder enc(Temporality::kCumulative, agent, kStart);
  ExportMetricsServiceRequest req;
  MetricsEncoder::Pending pending;
  EXPECT_EQ(enc.Encode(Families(5, 1, 2, 3), 2 * kStart, &req, &pending), 3u);
  EXPECT_EQ(req.resource_metrics_size(), 2);

  const pm::ResourceMetrics* rm = nullptr;
  const pm::Metric* c = Find(req, "loupe_things_total", &rm);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(ResourceAttr(*rm, "service.name"), "loupe");
  ASSERT_TRUE(c->has_sum());
  EXPECT_TRUE(c->sum().is_monotonic());
  EXPECT_EQ(c->sum().aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_CUMULATIVE);
  ASSERT_EQ(c->sum().data_points_size(), 1);
  EXPECT_EQ(c->sum().data_points(0).as_double(), 5);
  EXPECT_EQ(c->sum().data_points(0).start_time_unix_nano(), uint64_t{kStart});
  EXPECT_EQ(c->sum().data_points(0).time_unix_nano(), uint64_t{2 * kStart});
  EXPECT_EQ(c->sum().data_points(0).attributes(0).key(), "kind");

  const pm::Metric* g = Find(req, "loupe_queue");
  ASSERT_NE(g, nullptr);
  ASSERT_TRUE(g->has_gauge());
  EXPECT_EQ(g->gauge().data_points(0).as_double(), 7);

  const pm::Metric* h = Find(req, "http.server.request.duration", &rm);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->unit(), "s");
  EXPECT_EQ(ResourceAttr(*rm, "service.name"), "shop");
  EXPECT_EQ(ResourceAttr(*rm, "service.namespace"), "prod");
  EXPECT_EQ(ResourceAttr(*rm, "host.name"), "node-1");  // from the agent resource
  const auto& dp = h->histogram().data_points(0);
  ASSERT_EQ(dp.attributes_size(), 2);
  EXPECT_EQ(dp.attributes(0).key(), "http.request.method");
  EXPECT_EQ(dp.attributes(1).key(), "http.response.status_code");
  EXPECT_EQ(dp.count(), 6u);
  EXPECT_DOUBLE_EQ(dp.sum(), 7.05);
  ASSERT_EQ(dp.explicit_bounds_size(), 2);
  ASSERT_EQ(dp.bucket_counts_size(), 3);
  EXPECT_EQ(dp.bucket_counts(2), 3u);
  ASSERT_EQ(dp.exemplars_size(), 1);
  EXPECT_EQ(dp.exemplars(0).trace_id().size(), 16u);
  EXPECT_EQ(dp.exemplars(0).span_id().size(), 8u);
  EXPECT_EQ(dp.exemplars(0).as_double(), 0.5);
  EXPECT_EQ(dp.exemplars(0).time_unix_nano(), 1700000000250000000ULL);
}

// The service resource hook (attributes.kubernetes.resource_labels): its attributes are added
// to the service's resource, after the label-derived ones, which it never replaces; the agent's
// own resource does not get them.
TEST(MetricsEncoderTest, ServiceResourceHookAddsAttributes) {
  std::vector<std::string> seen;
  MetricsEncoder enc(
      Temporality::kCumulative, std::make_shared<tracing::Resource>(), kStart,
      [&seen](const std::vector<std::pair<std::string_view, std::string>>& resource) {
        for (const auto& [k, v] : resource) seen.push_back(std::string(k) + "=" + v);
        return std::vector<std::pair<std::string, std::string>>{{"service.version", "1.4.2"},
                                                                {"service.name", "not-this"}};
      });
  ExportMetricsServiceRequest req;
  MetricsEncoder::Pending pending;
  enc.Encode(Families(5, 1, 2, 3), 2 * kStart, &req, &pending);
  EXPECT_EQ(seen, (std::vector<std::string>{"service.name=shop", "service.namespace=prod"}));
  const pm::ResourceMetrics* rm = nullptr;
  ASSERT_NE(Find(req, "http.server.request.duration", &rm), nullptr);
  EXPECT_EQ(ResourceAttr(*rm, "service.version"), "1.4.2");
  EXPECT_EQ(ResourceAttr(*rm, "service.name"), "shop");
  int names = 0;
  for (const auto& kv : rm->resource().attributes()) names += kv.key() == "service.name" ? 1 : 0;
  EXPECT_EQ(names, 1);
  ASSERT_NE(Find(req, "loupe_things_total", &rm), nullptr);
  EXPECT_EQ(ResourceAttr(*rm, "service.version"), "<absent>");
}

// Beyla's OTLP metrics carry service.instance.id on the resource and no instance/job attributes
// (Prometheus derives both from the resource); other families keep their labels as they are.
TEST(MetricsEncoderTest, InstanceMovesToTheResourceAndJobIsLeftOut) {
  auto families = Families(5, 1, 2, 3);
  families[2].samples[0].labels.emplace_back("instance", "node-1:4242");
  families[2].samples[0].labels.emplace_back("job", "prod/shop");
  families[0].samples[0].labels.emplace_back("job", "kept");
  MetricsEncoder enc(Temporality::kCumulative, std::make_shared<tracing::Resource>(), kStart);
  ExportMetricsServiceRequest req;
  MetricsEncoder::Pending pending;
  enc.Encode(families, 2 * kStart, &req, &pending);
  const pm::ResourceMetrics* rm = nullptr;
  const pm::Metric* m = Find(req, "http.server.request.duration", &rm);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(ResourceAttr(*rm, "service.instance.id"), "node-1:4242");
  EXPECT_EQ(ResourceAttr(*rm, "job"), "<absent>");
  for (const auto& kv : m->histogram().data_points(0).attributes()) {
    EXPECT_NE(kv.key(), "instance");
    EXPECT_NE(kv.key(), "job");
    EXPECT_NE(kv.key(), "");
  }
  const pm::Metric* other = Find(req, "loupe_things_total");
  ASSERT_NE(other, nullptr);
  bool job = false;
  for (const auto& kv : other->sum().data_points(0).attributes()) job |= kv.key() == "job";
  EXPECT_TRUE(job);
}

TEST(MetricsEncoderTest, DeltaAgainstLastCommit) {
  MetricsEncoder enc(Temporality::kDelta, nullptr, kStart);
  ExportMetricsServiceRequest first;
  MetricsEncoder::Pending pending;
  enc.Encode(Families(5, 1, 2, 3), 2 * kStart, &first, &pending);
  const auto& c1 = Find(first, "loupe_things_total")->sum();
  EXPECT_EQ(c1.aggregation_temporality(), pm::AGGREGATION_TEMPORALITY_DELTA);
  EXPECT_EQ(c1.data_points(0).as_double(), 5);
  // Not committed (export failed): the next delta still counts from the start.
  ExportMetricsServiceRequest second;
  enc.Encode(Families(8, 1, 2, 4), 3 * kStart, &second, &pending);
  EXPECT_EQ(Find(second, "loupe_things_total")->sum().data_points(0).as_double(), 8);
  enc.Commit(std::move(pending));
  ExportMetricsServiceRequest third;
  enc.Encode(Families(10, 2, 2, 4), 4 * kStart, &third, &pending);
  const auto& dp = Find(third, "loupe_things_total")->sum().data_points(0);
  EXPECT_EQ(dp.as_double(), 2);
  EXPECT_EQ(dp.start_time_unix_nano(), uint64_t{3 * kStart});
  const auto& h = Find(third, "http.server.request.duration")->histogram().data_points(0);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.bucket_counts(0), 1u);
  EXPECT_EQ(h.bucket_counts(2), 0u);
  EXPECT_NEAR(h.sum(), 0.05, 1e-9);
  enc.Commit(std::move(pending));
  // A counter that went down was reset: the delta is its new value.
  ExportMetricsServiceRequest fourth;
  enc.Encode(Families(3, 2, 2, 4), 5 * kStart, &fourth, &pending);
  EXPECT_EQ(Find(fourth, "loupe_things_total")->sum().data_points(0).as_double(), 3);
}

TEST(MetricsEncoderTest, NameMapping) {
  EXPECT_EQ(LookupOtelName("rpc_server_call_duration_seconds")->name, "rpc.server.call.duration");
  EXPECT_EQ(LookupOtelName("http_client_request_body_size_bytes")->unit, "By");
  EXPECT_EQ(LookupOtelName("hubble_flows_processed_total"), nullptr);
  EXPECT_EQ(OtelAttributeName("rpc_response_status_code"), "rpc.response.status_code");
  EXPECT_EQ(OtelAttributeName("whatever"), "whatever");
}

// Beyla's process metrics leave under their OTel names (process.cpu.time with cpu.mode, ...),
// the process attributes as data-point attributes and the service on the resource.
TEST(MetricsEncoderTest, ProcessMetricsUseBeylasOtelNames) {
  const std::pair<const char*, const char*> names[] = {
      {"process_cpu_time_seconds_total", "process.cpu.time"},
      {"process_cpu_utilization_ratio", "process.cpu.utilization"},
      {"process_memory_usage_bytes", "process.memory.usage"},
      {"process_memory_virtual_bytes", "process.memory.virtual"},
      {"process_disk_io_bytes_total", "process.disk.io"},
      {"process_network_io_bytes_total", "process.network.io"}};
  for (const auto& [prometheus, otel] : names) {
    const OtelMetricName* known = LookupOtelName(prometheus);
    ASSERT_NE(known, nullptr) << prometheus;
    EXPECT_EQ(known->name, otel);
  }
  metrics::FamilySnapshot cpu{
      "process_cpu_time_seconds_total", "cpu", metrics::MetricType::kCounter, {}};
  metrics::Sample s;
  s.labels = {{"cpu_mode", "user"},
              {"process_executable_name", "nginx"},
              {"process_pid", "42"},
              {"service_name", "shop"}};
  s.value = 1.5;
  cpu.samples.push_back(s);
  MetricsEncoder encoder(Temporality::kCumulative, std::make_shared<tracing::Resource>(), kStart);
  ExportMetricsServiceRequest req;
  MetricsEncoder::Pending pending;
  encoder.Encode({cpu}, kStart + 1'000'000'000, &req, &pending);
  const pm::ResourceMetrics* rm = nullptr;
  const pm::Metric* m = Find(req, "process.cpu.time", &rm);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->unit(), "s");
  EXPECT_EQ(ResourceAttr(*rm, "service.name"), "shop");
  ASSERT_EQ(m->sum().data_points_size(), 1);
  std::map<std::string, std::string> attrs;
  for (const auto& kv : m->sum().data_points(0).attributes()) {
    attrs[kv.key()] = kv.value().string_value();
  }
  EXPECT_EQ(attrs, (std::map<std::string, std::string>{{"cpu.mode", "user"},
                                                       {"process.executable.name", "nginx"},
                                                       {"process.pid", "42"}}));
}

}  // namespace
}  // namespace loupe::otlp
