#include "src/metrics/app/app_metrics.h"

// The allocation counter below replaces operator new/delete with malloc/free.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <thread>

#include "gtest/gtest.h"

// Counts heap allocations while g_count_allocations is set (the hot-path allocation test).
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<int> g_allocations{0};
}  // namespace

void* operator new(size_t size) {
  if (g_count_allocations.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace loupe::metrics::app {
namespace {

using LabelMap = std::map<std::string, std::string>;

// The family `name` when it has series (the registry also reports registered, empty families).
const FamilySnapshot* Find(const std::vector<FamilySnapshot>& families, std::string_view name) {
  for (const auto& f : families) {
    if (f.name == name && !f.samples.empty()) return &f;
  }
  return nullptr;
}

LabelMap Labels(const Sample& s) { return LabelMap(s.labels.begin(), s.labels.end()); }

// The one sample whose labels include `subset`; fails the test when there is not exactly one.
const Sample* One(const FamilySnapshot* family, const LabelMap& subset = {}) {
  EXPECT_NE(family, nullptr);
  if (family == nullptr) return nullptr;
  const Sample* found = nullptr;
  int n = 0;
  for (const Sample& s : family->samples) {
    const LabelMap labels = Labels(s);
    bool match = true;
    for (const auto& [k, v] : subset) {
      auto it = labels.find(k);
      match = match && it != labels.end() && it->second == v;
    }
    if (match) {
      found = &s;
      ++n;
    }
  }
  EXPECT_EQ(n, 1) << family->name;
  return n == 1 ? found : nullptr;
}

class AppMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("am-app-" + std::to_string(getpid()));
    std::filesystem::remove_all(root_);
    AddProcess(100, "/srv/bin/frontend", "");
    AddProcess(200, "/srv/bin/backend", "OTEL_SERVICE_NAME=orders");
    AddProcess(300, "/srv/bin/grpcd",
               "OTEL_RESOURCE_ATTRIBUTES=service.name=catalog,service.namespace=shop");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  void AddProcess(int pid, const std::string& exe, const std::string& env) {
    const auto dir = root_ / std::to_string(pid);
    std::filesystem::create_directories(dir);
    std::filesystem::create_symlink(exe, dir / "exe");
    std::ofstream(dir / "environ") << env << '\0';
  }

  AppMetricsOptions Options(std::vector<std::string> features = {"application"}) {
    AppMetricsOptions options;
    options.features = std::move(features);
    options.proc_root = root_.string();
    options.host_name = "node-1";
    options.host_id = "host-id-1";
    return options;
  }

  std::unique_ptr<AppMetrics> Make(AppMetricsOptions options) {
    auto metrics = AppMetrics::Create(registry_, std::move(options));
    EXPECT_TRUE(metrics.ok()) << metrics.status();
    return metrics.ok() ? *std::move(metrics) : nullptr;
  }

  static flow::IpAddress Ip(const std::string& text) {
    flow::IpAddress ip;
    EXPECT_TRUE(flow::IpAddress::Parse(text, &ip));
    return ip;
  }

  static telemetry::Request Http(telemetry::Role role, uint32_t pid, std::string method,
                                 std::string path, uint32_t status, double seconds) {
    telemetry::Request r;
    r.pid = pid;
    r.process = "comm";
    r.role = role;
    r.protocol = telemetry::Protocol::kHttp1;
    r.method = std::move(method);
    r.path = std::move(path);
    r.status = status;
    r.start_ns = 1'000'000'000;
    r.end_ns = r.start_ns + static_cast<int64_t>(seconds * 1e9);
    if (role == telemetry::Role::kServer) {
      r.local_ip = Ip("10.0.0.1");
      r.local_port = 8080;
      r.remote_ip = Ip("10.0.0.2");
      r.remote_port = 40000;
    } else {
      r.local_ip = Ip("10.0.0.2");
      r.local_port = 40001;
      r.remote_ip = Ip("10.0.0.9");
      r.remote_port = 443;
    }
    return r;
  }

  static telemetry::Request Grpc(telemetry::Role role, int32_t grpc_status) {
    telemetry::Request r = Http(role, 300, "POST", "/shop.Catalog/GetItem", 200, 0.2);
    r.protocol = telemetry::Protocol::kGrpc;
    r.grpc_status = grpc_status;
    return r;
  }

  // Keeps the snapshot alive for pointers into it, until the next call.
  const std::vector<FamilySnapshot>& Collect() {
    collected_ = registry_.Collect();
    return collected_;
  }

  std::filesystem::path root_;
  Registry registry_;
  std::vector<FamilySnapshot> collected_;
};

TEST_F(AppMetricsTest, HttpServerRequestHasBeylaNameLabelsBucketsAndExemplar) {
  auto m = Make(Options());
  telemetry::Request r = Http(telemetry::Role::kServer, 100, "GET", "/users/123", 200, 0.03);
  r.request_body_bytes = 100;
  r.response_body_bytes = 5000;
  r.trace.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  m->OnRequest(r);
  const auto families = registry_.Collect();
  const Sample* s = One(Find(families, "http_server_request_duration_seconds"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Labels(*s), (LabelMap{{"service_name", "frontend"},
                                  {"service", "frontend"},
                                  {"http_status_code", "200"},
                                  {"service_namespace", ""},
                                  {"instance", "node-1:100"},
                                  {"job", "frontend"},
                                  {"http_request_method", "GET"},
                                  {"http_response_status_code", "200"},
                                  {"url_scheme", "http"},
                                  {"http_route", "/users/*"},
                                  {"server_address", "10.0.0.1"},
                                  {"server_port", "8080"}}));
  EXPECT_EQ(s->bounds, DefaultDurationBuckets());
  ASSERT_EQ(s->bucket_counts.size(), 16u);
  // 0.03 s falls in le=0.05 (index 4 of 0, 0.005, 0.01, 0.025, 0.05, ...).
  for (size_t i = 0; i < s->bucket_counts.size(); ++i) {
    EXPECT_EQ(s->bucket_counts[i], i == 4 ? 1u : 0u) << i;
  }
  EXPECT_EQ(s->count, 1u);
  EXPECT_NEAR(s->sum, 0.03, 1e-9);
  ASSERT_EQ(s->exemplars.size(), 16u);
  ASSERT_TRUE(s->exemplars[4].has_value());
  EXPECT_EQ(s->exemplars[4]->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NEAR(s->exemplars[4]->value, 0.03, 1e-9);

  const Sample* req = One(Find(families, "http_server_request_body_size_bytes"));
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->bounds, DefaultSizeBuckets());
  EXPECT_EQ(req->bucket_counts[3], 1u);  // 100 -> le=128 (0, 32, 64, 128 ...)
  EXPECT_EQ(req->sum, 100);
  const Sample* resp = One(Find(families, "http_server_response_body_size_bytes"));
  ASSERT_NE(resp, nullptr);
  EXPECT_EQ(resp->bucket_counts[9], 1u);  // 5000 -> le=8192
  EXPECT_EQ(Find(families, "http_client_request_duration_seconds"), nullptr);
}

TEST_F(AppMetricsTest, HttpClientRequestUsesTheServerSide) {
  auto m = Make(Options());
  telemetry::Request r = Http(telemetry::Role::kClient, 200, "PURGE", "/cache/x", 404, 12.0);
  r.request_body_bytes = 10000;
  m->OnRequest(r);
  m->OnRequest(r);
  const auto families = registry_.Collect();
  const Sample* s = One(Find(families, "http_client_request_duration_seconds"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Labels(*s), (LabelMap{{"service_name", "orders"},
                                  {"service", "orders"},
                                  {"http_status_code", "404"},
                                  {"service_namespace", ""},
                                  {"instance", "node-1:200"},
                                  {"job", "orders"},
                                  {"http_request_method", "_OTHER"},
                                  {"http_response_status_code", "404"},
                                  {"url_scheme", "http"},
                                  {"http_route", "/cache/x"},
                                  {"server_address", "10.0.0.9"},
                                  {"server_port", "443"}}));
  EXPECT_EQ(s->bucket_counts.back(), 2u);  // 12 s > 10 s: +Inf
  EXPECT_TRUE(s->exemplars.empty() || !s->exemplars.back().has_value());
  const Sample* req = One(Find(families, "http_client_request_body_size_bytes"));
  ASSERT_NE(req, nullptr);
  EXPECT_EQ(req->bucket_counts.back(), 2u);  // 10000 > 8192
  const Sample* resp = One(Find(families, "http_client_response_body_size_bytes"));
  ASSERT_NE(resp, nullptr);
  EXPECT_EQ(resp->bucket_counts[0], 2u);  // 0 bytes -> le=0
  EXPECT_EQ(Find(families, "http_server_request_duration_seconds"), nullptr);
}

TEST_F(AppMetricsTest, SeedBucketsAreUsedAndBoundariesAreInclusive) {
  AppMetricsOptions options = Options();
  options.duration_buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  auto m = Make(options);
  m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", "/", 200, 0.025));
  m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", "/", 200, 0.03));
  const auto families = registry_.Collect();
  const Sample* s = One(Find(families, "http_server_request_duration_seconds"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->bounds, options.duration_buckets);
  EXPECT_EQ(s->bucket_counts, (std::vector<uint64_t>{0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(Labels(*s).at("http_route"), "/");
}

TEST_F(AppMetricsTest, GrpcLegacyNaming) {
  auto m = Make(Options());
  m->OnRequest(Grpc(telemetry::Role::kServer, 5));
  telemetry::Request client = Grpc(telemetry::Role::kClient, -1);
  client.status = 503;  // no grpc-status: mapped from HTTP as gRPC clients do -> UNAVAILABLE
  m->OnRequest(client);
  const auto families = registry_.Collect();
  const Sample* s = One(Find(families, "rpc_server_duration_seconds"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Labels(*s), (LabelMap{{"service_name", "catalog"},
                                  {"service_namespace", "shop"},
                                  {"instance", "node-1:300"},
                                  {"job", "shop/catalog"},
                                  {"rpc_method", "/shop.Catalog/GetItem"},
                                  {"rpc_system", "grpc"},
                                  {"rpc_grpc_status_code", "5"},
                                  {"server_address", "10.0.0.1"},
                                  {"server_port", "8080"}}));
  EXPECT_EQ(s->bucket_counts[7], 1u);  // 0.2 s -> le=0.25
  const Sample* c = One(Find(families, "rpc_client_duration_seconds"));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(Labels(*c), (LabelMap{{"service_name", "catalog"},
                                  {"service_namespace", "shop"},
                                  {"instance", "node-1:300"},
                                  {"job", "shop/catalog"},
                                  {"rpc_method", "/shop.Catalog/GetItem"},
                                  {"rpc_system", "grpc"},
                                  {"rpc_grpc_status_code", "14"},
                                  {"server_address", "10.0.0.9"}}));
  EXPECT_EQ(Find(families, "rpc_server_call_duration_seconds"), nullptr);
  EXPECT_EQ(Find(families, "http_server_request_duration_seconds"), nullptr);
}

TEST_F(AppMetricsTest, GrpcCurrentSemconvNaming) {
  AppMetricsOptions options = Options();
  options.rpc_naming = RpcNaming::kCurrent;
  auto m = Make(options);
  m->OnRequest(Grpc(telemetry::Role::kServer, 4));
  const auto families = registry_.Collect();
  EXPECT_EQ(Find(families, "rpc_server_duration_seconds"), nullptr);
  const Sample* s = One(Find(families, "rpc_server_call_duration_seconds"));
  ASSERT_NE(s, nullptr);
  const LabelMap labels = Labels(*s);
  EXPECT_EQ(labels.at("rpc_system_name"), "grpc");
  EXPECT_EQ(labels.at("rpc_response_status_code"), "DEADLINE_EXCEEDED");
  EXPECT_EQ(labels.count("rpc_system"), 0u);
  EXPECT_EQ(labels.count("rpc_grpc_status_code"), 0u);
}

TEST_F(AppMetricsTest, AttributeSelectionPerMetric) {
  AppMetricsOptions options = Options();
  options.select["http_server_request_duration_seconds"] = {{"url.path", "http_*"}, {}};
  options.select["http_*"] = {{}, {"server.*", "instance"}};
  auto m = Make(options);
  m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", "/users/123?x=1", 500, 0.1));
  const auto families = registry_.Collect();
  const Sample* s = One(Find(families, "http_server_request_duration_seconds"));
  ASSERT_NE(s, nullptr);
  // The exact key's include list replaces the defaults; the glob's excludes still apply to
  // attributes it mentions.
  EXPECT_EQ(Labels(*s), (LabelMap{{"http_request_method", "GET"},
                                  {"http_response_status_code", "500"},
                                  {"http_status_code", "500"},
                                  {"http_route", "/users/*"},
                                  {"url_path", "/users/123?x=1"}}));
  const Sample* size = One(Find(families, "http_server_request_body_size_bytes"));
  ASSERT_NE(size, nullptr);
  EXPECT_EQ(Labels(*size), (LabelMap{{"service_name", "frontend"},
                                     {"service", "frontend"},
                                     {"http_status_code", "500"},
                                     {"service_namespace", ""},
                                     {"job", "frontend"},
                                     {"http_request_method", "GET"},
                                     {"http_response_status_code", "500"},
                                     {"url_scheme", "http"},
                                     {"http_route", "/users/*"}}));
}

TEST_F(AppMetricsTest, RoutesPatternsAndIgnoredPaths) {
  AppMetricsOptions options = Options();
  options.routes.patterns = {"/users/{id}"};
  options.routes.ignored_patterns = {"/health"};
  auto m = Make(options);
  m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", "/users/alice", 200, 0.01));
  m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", "/users/bob", 200, 0.01));
  m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", "/health", 200, 0.01));
  const auto families = registry_.Collect();
  const FamilySnapshot* f = Find(families, "http_server_request_duration_seconds");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->samples.size(), 1u);
  EXPECT_EQ(Labels(f->samples[0]).at("http_route"), "/users/{id}");
  EXPECT_EQ(f->samples[0].count, 2u);
}

TEST_F(AppMetricsTest, IgnoreModeTracesStillCountsMetrics) {
  AppMetricsOptions options = Options();
  options.routes.ignored_patterns = {"/health"};
  options.routes.ignore_mode = IgnoreMode::kTraces;
  auto m = Make(options);
  m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", "/health", 200, 0.01));
  const Sample* s = One(Find(Collect(), "http_server_request_duration_seconds"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->count, 1u);
}

TEST_F(AppMetricsTest, FeaturesNotEnabledRegisterNothing) {
  auto m = Make(Options({"network"}));
  m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", "/x", 200, 0.01));
  for (const auto& f : registry_.Collect()) {
    EXPECT_NE(f.name.rfind("http_", 0), 0u) << f.name;
    EXPECT_NE(f.name.rfind("rpc_", 0), 0u) << f.name;
    EXPECT_NE(f.name.rfind("traces_", 0), 0u) << f.name;
    EXPECT_NE(f.name.rfind("process_", 0), 0u) << f.name;
    EXPECT_NE(f.name, "target_info");
  }
  Registry other;
  auto app = AppMetrics::Create(other, Options({"application"}));
  ASSERT_TRUE(app.ok());
  flow::Flow flow;
  flow.bytes = 100;
  (*app)->OnFlow(flow);
  EXPECT_EQ(Find(other.Collect(), "beyla_network_flow_bytes_total"), nullptr);
}

TEST_F(AppMetricsTest, BadOptionsAreRejected) {
  auto expect_error = [&](AppMetricsOptions options, std::string_view needle) {
    Registry registry;
    auto m = AppMetrics::Create(registry, std::move(options));
    ASSERT_FALSE(m.ok()) << needle;
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(m.status().message()).find(needle), std::string::npos) << m.status();
  };
  expect_error(Options({"application", "bogus"}), "unknown feature \"bogus\"");
  expect_error(Options({"network_inter_zone"}), "not implemented");
  AppMetricsOptions o = Options();
  o.duration_buckets = {0.1, 0.05, 1};
  expect_error(o, "strictly ascending");
  o = Options();
  o.request_size_buckets = {1, 1};
  expect_error(o, "request_size_histogram");
  o = Options();
  o.response_size_buckets = {};
  expect_error(o, "response_size_histogram");
  o = Options();
  o.duration_buckets = {0, std::numeric_limits<double>::infinity()};
  expect_error(o, "finite");
  o = Options();
  o.select["http_*"] = {{"k8s.[src"}, {}};
  expect_error(o, "unclosed '['");
  o = Options();
  o.network_cidrs = {{"10.0.0.0/33", ""}};
  expect_error(o, "10.0.0.0/33");
  o = Options();
  o.network_cidrs = {{"not-an-ip/8", ""}};
  expect_error(o, "not-an-ip/8");
  o = Options();
  o.routes.patterns = {"users/{id}"};
  expect_error(o, "must start with '/'");
  o = Options();
  o.routes.wildcard_char = '/';
  expect_error(o, "wildcard_char");
  auto all = ParseFeatures({"all"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, 31u);
}

TEST_F(AppMetricsTest, ServiceGraphCountsEachRequestOnce) {
  auto m = Make(Options({"application_service_graph"}));
  // frontend (pid 100) serves on 10.0.0.1:8080; orders (pid 200) calls it from 10.0.0.2:40001.
  telemetry::Request server = Http(telemetry::Role::kServer, 100, "GET", "/a", 503, 0.02);
  server.remote_ip = Ip("10.0.0.2");
  server.remote_port = 40001;
  telemetry::Request client = Http(telemetry::Role::kClient, 200, "GET", "/a", 503, 0.03);
  client.remote_ip = Ip("10.0.0.1");
  client.remote_port = 8080;
  m->OnRequest(server);  // the client's endpoint is not known yet: "incoming"
  m->OnRequest(client);  // the server's endpoint is known: counted by the server span only
  m->OnRequest(server);  // now the client's endpoint is known too
  telemetry::Request external = Http(telemetry::Role::kClient, 200, "GET", "/b", 200, 0.5);
  m->OnRequest(external);  // to an unknown, uninstrumented server: counted by the client span
  const auto families = registry_.Collect();
  const FamilySnapshot* total = Find(families, "traces_service_graph_request_total");
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(total->samples.size(), 3u);
  const LabelMap base = {{"connection_type", ""}, {"source", "loupe"}};
  auto labels = [&](std::string client_name, std::string server_name) {
    LabelMap l = base;
    l["client"] = std::move(client_name);
    l["client_service_namespace"] = "";
    l["server"] = std::move(server_name);
    l["server_service_namespace"] = "";
    return l;
  };
  EXPECT_EQ(One(total, labels("incoming", "frontend"))->value, 1);
  EXPECT_EQ(One(total, labels("orders", "frontend"))->value, 1);
  EXPECT_EQ(One(total, labels("orders", "outgoing"))->value, 1);
  EXPECT_EQ(Labels(*One(total, labels("orders", "outgoing"))), labels("orders", "outgoing"));
  const FamilySnapshot* failed = Find(families, "traces_service_graph_request_failed_total");
  ASSERT_NE(failed, nullptr);
  EXPECT_EQ(failed->samples.size(), 2u);  // the 503s; the external 200 did not fail
  EXPECT_EQ(One(failed, labels("incoming", "frontend"))->value, 1);
  EXPECT_EQ(One(failed, labels("orders", "frontend"))->value, 1);
  const Sample* client_seconds = One(Find(families, "traces_service_graph_request_client_seconds"),
                                     labels("orders", "frontend"));
  ASSERT_NE(client_seconds, nullptr);
  EXPECT_EQ(client_seconds->count, 1u);
  EXPECT_EQ(client_seconds->bucket_counts[4], 1u);  // 0.03 -> le=0.05
  const FamilySnapshot* server_seconds =
      Find(families, "traces_service_graph_request_server_seconds");
  ASSERT_NE(server_seconds, nullptr);
  EXPECT_EQ(server_seconds->samples.size(), 2u);
  EXPECT_EQ(Find(families, "http_server_request_duration_seconds"), nullptr);
}

TEST_F(AppMetricsTest, ServiceGraphUsesThePeerResolver) {
  auto m = Make(Options({"application_service_graph"}));
  m->SetPeerResolver([](const flow::IpAddress& ip, uint16_t port) {
    if (ip.ToString() == "10.0.0.9" && port == 443) {
      return std::make_shared<const PeerIdentity>(PeerIdentity{"payments", "billing", false});
    }
    return std::shared_ptr<const PeerIdentity>();
  });
  m->OnRequest(Http(telemetry::Role::kClient, 200, "POST", "/pay", 200, 0.1));
  const Sample* s = One(Find(Collect(), "traces_service_graph_request_total"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Labels(*s).at("server"), "payments");
  EXPECT_EQ(Labels(*s).at("server_service_namespace"), "billing");
  EXPECT_EQ(s->value, 1);
}

TEST_F(AppMetricsTest, SpanMetrics) {
  auto m = Make(Options({"application_span"}));
  m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", "/users/42", 500, 0.3));
  m->OnRequest(Http(telemetry::Role::kClient, 100, "GET", "/users/42", 404, 0.3));
  m->OnRequest(Grpc(telemetry::Role::kServer, 0));
  const auto families = registry_.Collect();
  const FamilySnapshot* calls = Find(families, "traces_spanmetrics_calls_total");
  ASSERT_NE(calls, nullptr);
  EXPECT_EQ(calls->samples.size(), 3u);
  const Sample* server = One(calls, {{"span_kind", "SPAN_KIND_SERVER"}, {"job", "frontend"}});
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Labels(*server), (LabelMap{{"service_name", "frontend"},
                                       {"service_namespace", ""},
                                       {"instance", "node-1:100"},
                                       {"job", "frontend"},
                                       {"span_name", "GET /users/*"},
                                       {"status_code", "STATUS_CODE_ERROR"},
                                       {"span_kind", "SPAN_KIND_SERVER"},
                                       {"source", "loupe"}}));
  EXPECT_EQ(Labels(*One(calls, {{"span_kind", "SPAN_KIND_CLIENT"}})).at("status_code"),
            "STATUS_CODE_ERROR");
  const Sample* grpc = One(calls, {{"service_name", "catalog"}});
  ASSERT_NE(grpc, nullptr);
  EXPECT_EQ(Labels(*grpc).at("span_name"), "/shop.Catalog/GetItem");
  EXPECT_EQ(Labels(*grpc).at("status_code"), "STATUS_CODE_UNSET");
  const Sample* latency = One(Find(families, "traces_spanmetrics_latency"),
                              {{"span_kind", "SPAN_KIND_SERVER"}, {"job", "frontend"}});
  ASSERT_NE(latency, nullptr);
  EXPECT_EQ(latency->bucket_counts[8], 1u);  // 0.3 -> le=0.5
}

// attributes.metric_span_names_limit: past the limit a service's new span names become
// AGGREGATED; names it already has keep counting, and each service has its own budget.
TEST_F(AppMetricsTest, SpanNamesBeyondTheLimitAreAggregated) {
  AppMetricsOptions options = Options({"application_span"});
  options.span_names_limit = 2;
  auto m = Make(options);
  for (const char* path : {"/alpha", "/beta", "/gamma", "/delta", "/alpha"}) {
    m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", path, 200, 0.01));
  }
  m->OnRequest(Http(telemetry::Role::kServer, 200, "GET", "/gamma", 200, 0.01));
  const auto families = registry_.Collect();
  const FamilySnapshot* calls = Find(families, "traces_spanmetrics_calls_total");
  ASSERT_NE(calls, nullptr);
  std::map<std::pair<std::string, std::string>, double> counts;  // (service, span name)
  for (const Sample& sample : calls->samples) {
    const LabelMap labels = Labels(sample);
    counts[{labels.at("service_name"), labels.at("span_name")}] += sample.value;
  }
  using Key = std::pair<std::string, std::string>;
  EXPECT_EQ(counts, (std::map<Key, double>{{{"frontend", "GET /alpha"}, 2},
                                           {{"frontend", "GET /beta"}, 1},
                                           {{"frontend", "AGGREGATED"}, 2},
                                           {{"orders", "GET /gamma"}, 1}}));
  // 0 turns the limit off.
  options.span_names_limit = 0;
  metrics::Registry other;
  auto unlimited = AppMetrics::Create(other, options);
  ASSERT_TRUE(unlimited.ok());
  for (const char* path : {"/alpha", "/beta", "/gamma"}) {
    (*unlimited)->OnRequest(Http(telemetry::Role::kServer, 100, "GET", path, 200, 0.01));
  }
  const auto unlimited_families = other.Collect();
  EXPECT_EQ(Find(unlimited_families, "traces_spanmetrics_calls_total")->samples.size(), 3u);
}

TEST_F(AppMetricsTest, RequestErrorClassification) {
  using telemetry::Role;
  EXPECT_TRUE(IsErrorRequest(Http(Role::kServer, 1, "GET", "/", 500, 0)));
  EXPECT_FALSE(IsErrorRequest(Http(Role::kServer, 1, "GET", "/", 404, 0)));
  EXPECT_TRUE(IsErrorRequest(Http(Role::kServer, 1, "GET", "/", 0, 0)));
  EXPECT_TRUE(IsErrorRequest(Http(Role::kClient, 1, "GET", "/", 404, 0)));
  EXPECT_FALSE(IsErrorRequest(Http(Role::kClient, 1, "GET", "/", 302, 0)));
  EXPECT_FALSE(IsErrorRequest(Grpc(Role::kServer, 5)));  // NOT_FOUND is the client's problem
  EXPECT_TRUE(IsErrorRequest(Grpc(Role::kServer, 13)));  // INTERNAL
  EXPECT_TRUE(IsErrorRequest(Grpc(Role::kClient, 5)));
  EXPECT_FALSE(IsErrorRequest(Grpc(Role::kClient, 0)));
  telemetry::Request r = Grpc(Role::kClient, -1);
  for (auto [http, grpc] : std::vector<std::pair<uint32_t, int>>{
           {400, 13}, {401, 16}, {403, 7}, {404, 12}, {429, 14}, {502, 14}, {200, 2}}) {
    r.status = http;
    EXPECT_EQ(GrpcStatusOf(r), grpc) << http;
  }
}

flow::Flow MakeFlow(const std::string& src, const std::string& dst, uint64_t bytes,
                    int8_t is_reply) {
  flow::Flow f;
  f.type = flow::FlowType::kL3L4;
  flow::IpAddress::Parse(src, &f.src_ip);
  flow::IpAddress::Parse(dst, &f.dst_ip);
  f.l4 = flow::L4Protocol::kTcp;
  f.src_port = 40000;
  f.dst_port = 80;
  f.bytes = bytes;
  f.is_reply = is_reply;
  f.direction = flow::TrafficDirection::kEgress;
  return f;
}

std::shared_ptr<const flow::PeerInfo> Pod(std::string ns, std::string pod, std::string owner) {
  auto info = std::make_shared<flow::PeerInfo>();
  info->endpoint.namespace_name = std::move(ns);
  info->endpoint.pod_name = std::move(pod);
  info->endpoint.cluster_name = "prod";
  if (!owner.empty()) info->endpoint.workloads.push_back({std::move(owner), "Deployment"});
  return info;
}

TEST_F(AppMetricsTest, NetworkFlowBytesWithTheSeedSelection) {
  AppMetricsOptions options = Options({"network"});
  options.network_cidrs = {{"10.0.0.0/8", ""}, {"172.16.0.0/12", ""}};
  options.select["beyla_network_flow_bytes"] = {
      {"k8s.src.namespace", "k8s.dst.namespace", "direction"}, {}};
  auto m = Make(options);
  flow::Flow f = MakeFlow("10.0.0.5", "172.16.1.1", 1000, 0);
  f.src_info = Pod("web", "web-1", "web");
  f.dst_info = Pod("db", "db-0", "");
  m->OnFlow(f);
  f.bytes = 500;
  m->OnFlow(f);
  flow::Flow reply = MakeFlow("172.16.1.1", "10.0.0.5", 7000, 1);
  reply.src_info = Pod("db", "db-0", "");
  reply.dst_info = Pod("web", "web-1", "web");
  m->OnFlow(reply);
  flow::Flow dropped = f;
  dropped.verdict = flow::Verdict::kDropped;
  m->OnFlow(dropped);
  flow::Flow l7 = f;
  l7.type = flow::FlowType::kL7;
  m->OnFlow(l7);
  const FamilySnapshot* family = Find(Collect(), "beyla_network_flow_bytes_total");
  ASSERT_NE(family, nullptr);
  ASSERT_EQ(family->samples.size(), 2u);
  const Sample* request = One(family, {{"direction", "request"}});
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(Labels(*request), (LabelMap{{"direction", "request"},
                                        {"k8s_src_namespace", "web"},
                                        {"k8s_dst_namespace", "db"}}));
  EXPECT_EQ(request->value, 1500);
  EXPECT_EQ(One(family, {{"direction", "response"}, {"k8s_src_namespace", "db"}})->value, 7000);
}

TEST_F(AppMetricsTest, NetworkFlowDefaultLabels) {
  AppMetricsOptions options = Options({"network"});
  options.network_cidrs = {{"10.0.0.0/8", "cluster"}, {"10.1.0.0/16", ""}};
  auto m = Make(options);
  flow::Flow f = MakeFlow("10.1.2.3", "192.168.1.1", 64, -1);
  f.src_info = Pod("web", "web-1", "web");
  m->OnFlow(f);
  const Sample* s = One(Find(Collect(), "beyla_network_flow_bytes_total"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Labels(*s), (LabelMap{{"src_cidr", "10.1.0.0/16"},  // the longest prefix
                                  {"dst_cidr", ""},
                                  {"direction", "unknown"},
                                  {"k8s_src_namespace", "web"},
                                  {"k8s_dst_namespace", ""},
                                  {"k8s_src_owner_name", "web"},
                                  {"k8s_dst_owner_name", ""},
                                  {"k8s_src_owner_type", "Deployment"},
                                  {"k8s_dst_owner_type", ""},
                                  {"k8s_cluster_name", "prod"}}));
  EXPECT_EQ(s->value, 64);
}

TEST_F(AppMetricsTest, NetworkFlowHiddenLabelsCanBeIncluded) {
  AppMetricsOptions options = Options({"network"});
  options.agent_ip = "10.0.0.100";
  options.select["beyla.network.flow.bytes"] = {
      {"beyla.ip", "transport", "src.*", "dst.port", "iface.direction", "k8s.dst.type"},
      {"src.cidr"}};
  auto m = Make(options);
  flow::Flow f = MakeFlow("fd00::1", "10.0.0.1", 10, 0);
  f.dst_info = Pod("db", "db-0", "");
  m->OnFlow(f);
  const Sample* s = One(Find(Collect(), "beyla_network_flow_bytes_total"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(Labels(*s), (LabelMap{{"beyla_ip", "10.0.0.100"},
                                  {"transport", "TCP"},
                                  {"src_address", "fd00::1"},
                                  {"src_port", "40000"},
                                  {"src_name", "fd00::1"},
                                  {"dst_port", "80"},
                                  {"iface_direction", "egress"},
                                  {"k8s_dst_type", "Pod"}}));
}

TEST_F(AppMetricsTest, TargetInfoPerService) {
  auto m = Make(Options());
  m->OnRequest(Http(telemetry::Role::kServer, 100, "GET", "/", 200, 0.01));
  m->OnRequest(Grpc(telemetry::Role::kServer, 0));
  const FamilySnapshot* info = Find(Collect(), "target_info");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->type, MetricType::kGauge);
  ASSERT_EQ(info->samples.size(), 2u);
  const Sample* catalog = One(info, {{"service_name", "catalog"}});
  ASSERT_NE(catalog, nullptr);
  EXPECT_EQ(catalog->value, 1);
  const LabelMap labels = Labels(*catalog);
  EXPECT_EQ(labels.at("service_namespace"), "shop");
  EXPECT_EQ(labels.at("instance"), "node-1:300");
  EXPECT_EQ(labels.at("job"), "shop/catalog");
  EXPECT_EQ(labels.at("host_name"), "node-1");
  EXPECT_EQ(labels.at("host_id"), "host-id-1");
  EXPECT_EQ(labels.at("telemetry_sdk_name"), "loupe");
  EXPECT_EQ(labels.at("os_type"), "linux");
  // A process that left the instrumented set leaves target_info.
  m->SetProcesses({300});
  info = Find(Collect(), "target_info");
  ASSERT_NE(info, nullptr);
  ASSERT_EQ(info->samples.size(), 1u);
  EXPECT_EQ(Labels(info->samples[0]).at("service_name"), "catalog");
}

TEST_F(AppMetricsTest, ProcessMetricsFromProc) {
  AppMetricsOptions options = Options({"application_process"});
  options.proc_root = "/proc";
  auto m = Make(options);
  // Burn 100 ms of CPU so the clock-tick counters have something to show.
  timespec cpu_time{};
  volatile uint64_t sink = 0;
  do {
    for (int i = 0; i < 100000; ++i) sink = sink + i;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu_time);
  } while (cpu_time.tv_sec == 0 && cpu_time.tv_nsec < 100000000);
  const auto self = static_cast<uint32_t>(getpid());
  m->SetProcesses({self, 0x7ffffff0});  // the second one does not exist and is skipped
  const auto families = registry_.Collect();
  const FamilySnapshot* cpu = Find(families, "process_cpu_time_seconds_total");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->type, MetricType::kCounter);
  ASSERT_EQ(cpu->samples.size(), 3u);
  const Sample* user = One(cpu, {{"cpu_mode", "user"}});
  ASSERT_NE(user, nullptr);
  const LabelMap labels = Labels(*user);
  EXPECT_EQ(labels.at("process_pid"), std::to_string(self));
  EXPECT_EQ(labels.at("process_parent_pid"), std::to_string(getppid()));
  EXPECT_EQ(labels.at("process_command"), "app_metrics_tes");
  EXPECT_EQ(labels.at("service_name"), "app_metrics_test");
  EXPECT_EQ(labels.at("host_name"), "node-1");
  EXPECT_EQ(labels.count("process_command_line"), 0u);  // hidden by default
  const Sample* system = One(cpu, {{"cpu_mode", "system"}});
  ASSERT_NE(system, nullptr);
  EXPECT_GE(user->value + system->value, 0.08);  // ticks are 10 ms
  One(cpu, {{"cpu_mode", "wait"}});
  const Sample* rss = One(Find(families, "process_memory_usage_bytes"));
  ASSERT_NE(rss, nullptr);
  EXPECT_GT(rss->value, 1e6);
  const Sample* vsz = One(Find(families, "process_memory_virtual_bytes"));
  ASSERT_NE(vsz, nullptr);
  EXPECT_GE(vsz->value, rss->value);
  const FamilySnapshot* disk = Find(families, "process_disk_io_bytes_total");
  ASSERT_NE(disk, nullptr);
  One(disk, {{"disk_io_direction", "read"}});
  One(disk, {{"disk_io_direction", "write"}});
  const FamilySnapshot* net = Find(families, "process_network_io_bytes_total");
  ASSERT_NE(net, nullptr);
  One(net, {{"network_io_direction", "receive"}});
  One(net, {{"network_io_direction", "transmit"}});
  m->SetProcesses({});
  EXPECT_EQ(Find(Collect(), "process_cpu_time_seconds_total"), nullptr);
}

// process_cpu_utilization_ratio: CPU time per mode since the previous collection over the elapsed
// time and the CPUs; nothing at a process's first collection.
TEST_F(AppMetricsTest, ProcessCpuUtilizationBetweenCollections) {
  AppMetricsOptions options = Options({"application_process"});
  options.proc_root = "/proc";
  auto m = Make(options);
  const auto self = static_cast<uint32_t>(getpid());
  m->SetProcesses({self});
  EXPECT_EQ(Find(Collect(), "process_cpu_utilization_ratio"), nullptr);
  // Burn 300 ms of CPU on this thread (user time) between the two collections.
  auto process_cpu = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
  };
  const auto wall0 = std::chrono::steady_clock::now();
  const double cpu0 = process_cpu();
  timespec start{}, now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  volatile uint64_t sink = 0;
  do {
    for (int i = 0; i < 100000; ++i) sink = sink + i;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < 300000000L);
  const auto families = registry_.Collect();
  const double cpu = process_cpu() - cpu0;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const FamilySnapshot* util = Find(families, "process_cpu_utilization_ratio");
  ASSERT_NE(util, nullptr);
  EXPECT_EQ(util->type, MetricType::kGauge);
  ASSERT_EQ(util->samples.size(), 3u);
  const Sample* user = One(util, {{"cpu_mode", "user"}});
  const Sample* system = One(util, {{"cpu_mode", "system"}});
  ASSERT_NE(user, nullptr);
  ASSERT_NE(system, nullptr);
  EXPECT_EQ(Labels(*user).at("process_pid"), std::to_string(self));
  // The process's CPU time over the window, over the window and the CPUs. /proc counts in 10 ms
  // ticks (two readings: up to 20 ms off), and the window the agent measured starts a little
  // before `wall0` (the first collection's own time): 25 % slack on top.
  const double cpus = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  const double expected = cpu / (wall * cpus);
  const double tolerance = 0.02 / (wall * cpus) + 0.25 * expected;
  EXPECT_NEAR(user->value + system->value, expected, tolerance)
      << "process CPU " << cpu << " s in " << wall << " s on " << cpus << " CPUs";
  One(util, {{"cpu_mode", "wait"}});
  // A process that left the set is forgotten: back in, its first collection has no ratio again.
  m->SetProcesses({});
  Collect();
  m->SetProcesses({self});
  EXPECT_EQ(Find(Collect(), "process_cpu_utilization_ratio"), nullptr);
}

TEST_F(AppMetricsTest, ProcessMetricsHonourSelection) {
  AppMetricsOptions options = Options({"application_process"});
  options.proc_root = "/proc";
  options.select["process_*"] = {{"process.pid", "process.command_line"}, {}};
  auto m = Make(options);
  const auto self = static_cast<uint32_t>(getpid());
  m->SetProcesses({self});
  const Sample* rss = One(Find(Collect(), "process_memory_usage_bytes"));
  ASSERT_NE(rss, nullptr);
  const LabelMap labels = Labels(*rss);
  EXPECT_EQ(labels.size(), 2u);
  EXPECT_EQ(labels.at("process_pid"), std::to_string(self));
  EXPECT_NE(labels.at("process_command_line").find("app_metrics_test"), std::string::npos);
}

TEST_F(AppMetricsTest, ConcurrentRequestsAreAllCounted) {
  auto m = Make(Options({"application", "application_service_graph", "application_span"}));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        m->OnRequest(Http(telemetry::Role::kServer, 100, "GET",
                          "/items/" + std::to_string(i % 50 + t), 200, 0.001));
      }
    });
  }
  for (auto& t : threads) t.join();
  const Sample* s = One(Find(Collect(), "http_server_request_duration_seconds"));
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->count, 20000u);
  const Sample* calls = One(Find(Collect(), "traces_spanmetrics_calls_total"));
  ASSERT_NE(calls, nullptr);
  EXPECT_EQ(calls->value, 20000);
}

TEST_F(AppMetricsTest, OnRequestDoesNotAllocateOnceTheSeriesExist) {
  auto m = Make(Options({"application", "application_service_graph", "application_span"}));
  telemetry::Request r = Http(telemetry::Role::kServer, 100, "GET", "/users/123", 200, 0.01);
  r.trace.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  m->OnRequest(r);
  m->OnRequest(r);
  g_allocations = 0;
  g_count_allocations = true;
  for (int i = 0; i < 100; ++i) m->OnRequest(r);
  g_count_allocations = false;
  EXPECT_EQ(g_allocations.load(), 0);

  auto net = Make(Options({"network"}));
  flow::Flow f = MakeFlow("10.0.0.5", "10.0.0.6", 100, 0);
  f.src_info = Pod("web", "web-1", "web");
  net->OnFlow(f);
  g_allocations = 0;
  g_count_allocations = true;
  for (int i = 0; i < 100; ++i) net->OnFlow(f);
  g_count_allocations = false;
  EXPECT_EQ(g_allocations.load(), 0);
}

}  // namespace
}  // namespace loupe::metrics::app

namespace loupe::metrics::app {
namespace {

TEST(AppMetricsKubernetesTest, PodMetadataBecomesBeylasK8sLabels) {
  Registry registry;
  AppMetricsOptions options;
  options.kubernetes = true;
  options.host_name = "node-1";
  auto m = AppMetrics::Create(registry, options);
  ASSERT_TRUE(m.ok()) << m.status();
  (*m)->service_namer().SetHook([](ServiceIdentity* id, const ServiceNamer::HookContext&) {
    id->name = "checkout";
    id->namespace_name = "shop";
    id->k8s_namespace = "shop";
    id->k8s_pod_name = "checkout-7d9f-a1";
    id->k8s_owner_name = "checkout";
    id->k8s_owner_kind = "Deployment";
    id->k8s_node_name = "node-1";
    id->k8s_cluster_name = "prod";
    id->k8s_replicaset_name = "checkout-7d9f";
    id->k8s_pod_uid = "3f8e2a4c-1b7d-4e9a-8c2f-5d6e7f8a9b0c";
    id->k8s_pod_start_time = "2024-05-01 10:00:01 +0000 UTC";
    id->k8s_container_name = "app";
    // attributes.kubernetes.resource_labels / resource.opentelemetry.io/* annotations; one that
    // collides with a label target_info already has is left out.
    id->resource_attributes = {{"deployment.environment", "prod"},
                               {"k8s.pod.uid", "not-this"},
                               {"service.version", "1.4.2"},
                               {"9lives/x", "y"}};
  });
  telemetry::Request r;
  r.pid = static_cast<uint32_t>(getpid());  // alive: its identity is cached for target_info
  r.process = "checkout";
  r.role = telemetry::Role::kServer;
  r.protocol = telemetry::Protocol::kHttp1;
  r.method = "GET";
  r.path = "/";
  r.status = 200;
  r.start_ns = 1;
  r.end_ns = 1'000'001;
  (*m)->OnRequest(r);
  bool found = false;
  for (const auto& family : registry.Collect()) {
    if (family.name != "http_server_request_duration_seconds") continue;
    ASSERT_EQ(family.samples.size(), 1u);
    std::map<std::string, std::string> labels(family.samples[0].labels.begin(),
                                              family.samples[0].labels.end());
    EXPECT_EQ(labels["k8s_namespace_name"], "shop");
    EXPECT_EQ(labels["k8s_pod_name"], "checkout-7d9f-a1");
    EXPECT_EQ(labels["k8s_deployment_name"], "checkout");
    EXPECT_EQ(labels["k8s_owner_name"], "checkout");
    EXPECT_EQ(labels["k8s_kind"], "Deployment");
    EXPECT_EQ(labels["k8s_daemonset_name"], "");
    EXPECT_EQ(labels["k8s_node_name"], "node-1");
    EXPECT_EQ(labels["k8s_cluster_name"], "prod");
    EXPECT_EQ(labels["service_name"], "checkout");
    EXPECT_EQ(labels["service_namespace"], "shop");
    ASSERT_EQ(labels.count("k8s_replicaset_name"), 1u);
    EXPECT_EQ(labels["k8s_replicaset_name"], "checkout-7d9f");
    ASSERT_EQ(labels.count("k8s_pod_uid"), 1u);
    EXPECT_EQ(labels["k8s_pod_uid"], "3f8e2a4c-1b7d-4e9a-8c2f-5d6e7f8a9b0c");
    ASSERT_EQ(labels.count("k8s_pod_start_time"), 1u);
    EXPECT_EQ(labels["k8s_pod_start_time"], "2024-05-01 10:00:01 +0000 UTC");
    ASSERT_EQ(labels.count("k8s_container_name"), 1u);
    EXPECT_EQ(labels["k8s_container_name"], "app");
    found = true;
  }
  EXPECT_TRUE(found);
  // target_info carries Beyla's Kubernetes target attributes.
  bool target = false;
  for (const auto& family : registry.Collect()) {
    if (family.name != "target_info") continue;
    ASSERT_EQ(family.samples.size(), 1u);
    std::map<std::string, std::string> labels(family.samples[0].labels.begin(),
                                              family.samples[0].labels.end());
    EXPECT_EQ(labels.at("k8s_pod_uid"), "3f8e2a4c-1b7d-4e9a-8c2f-5d6e7f8a9b0c");
    EXPECT_EQ(labels.at("k8s_pod_start_time"), "2024-05-01 10:00:01 +0000 UTC");
    EXPECT_EQ(labels.at("k8s_replicaset_name"), "checkout-7d9f");
    EXPECT_EQ(labels.at("k8s_deployment_name"), "checkout");
    EXPECT_EQ(labels.at("k8s_statefulset_name"), "");
    EXPECT_EQ(labels.at("k8s_container_name"), "app");
    EXPECT_EQ(labels.at("k8s_kind"), "Deployment");
    EXPECT_EQ(labels.at("service_version"), "1.4.2");
    EXPECT_EQ(labels.at("deployment_environment"), "prod");
    EXPECT_EQ(labels.at("_9lives_x"), "y");
    EXPECT_EQ(std::count_if(family.samples[0].labels.begin(), family.samples[0].labels.end(),
                            [](const auto& l) { return l.first == "k8s_pod_uid"; }),
              1);
    target = true;
  }
  EXPECT_TRUE(target);
  // Without Kubernetes metadata the labels are not there at all.
  Registry plain;
  auto p = AppMetrics::Create(plain, AppMetricsOptions{});
  ASSERT_TRUE(p.ok());
  (*p)->OnRequest(r);
  for (const auto& family : plain.Collect()) {
    for (const auto& sample : family.samples) {
      for (const auto& [k, v] : sample.labels) EXPECT_NE(k.rfind("k8s_", 0), 0u) << k;
    }
  }
}

}  // namespace
}  // namespace loupe::metrics::app
