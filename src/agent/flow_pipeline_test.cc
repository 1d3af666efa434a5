#include "src/agent/flow_pipeline.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "src/agent/tracing_stage.h"
#include "src/config/config.h"
#include "src/flow/flow_buffer.h"
#include "src/identity/identity_cache.h"
#include "src/metrics/app/app_metrics.h"
#include "src/metrics/app/routes.h"
#include "src/metrics/registry.h"

namespace loupe::agent {
namespace {

using metrics::app::RouteMatcher;

flow::IpAddress Ip(const std::string& text) {
  flow::IpAddress ip;
  EXPECT_TRUE(flow::IpAddress::Parse(text, &ip)) << text;
  return ip;
}

// A DNS query: header (id, flags 0x0100, one question) and the question for `name`, type A.
std::vector<uint8_t> DnsQuery(uint16_t id, const std::string& name) {
  std::vector<uint8_t> b = {static_cast<uint8_t>(id >> 8),
                            static_cast<uint8_t>(id),
                            0x01,
                            0x00,
                            0x00,
                            0x01,
                            0,
                            0,
                            0,
                            0,
                            0,
                            0};
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    b.push_back(static_cast<uint8_t>(dot - start));
    b.insert(b.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
             name.begin() + static_cast<std::ptrdiff_t>(dot));
    start = dot + 1;
  }
  b.insert(b.end(), {0, 0, 1, 0, 1});
  return b;
}

flow::Flow UdpPacket(int64_t time_ns, uint16_t src_port = 40000) {
  flow::Flow f;
  f.time_ns = time_ns;
  f.src_ip = Ip("10.0.0.1");
  f.dst_ip = Ip("10.0.0.2");
  f.src_port = src_port;
  f.dst_port = 53;
  f.l4 = flow::L4Protocol::kUdp;
  return f;
}

struct BufferCounts {
  size_t l7 = 0;
  size_t l34 = 0;
};

BufferCounts Count(const flow::FlowBuffer& buffer) {
  std::vector<flow::FlowBuffer::Entry> entries;
  uint64_t missed = 0;
  buffer.Read(buffer.oldest_seq(), buffer.next_seq(), 1 << 20, &entries, &missed);
  BufferCounts counts;
  for (const auto& e : entries) {
    if (!e.flow) continue;
    if (e.flow->type == flow::FlowType::kL7) {
      ++counts.l7;
    } else {
      ++counts.l34;
    }
  }
  return counts;
}

// --- DNS de-duplication -------------------------------------------------------------------------

TEST(RecentDnsMessagesTest, SameKeyWithinWindowIsDuplicate) {
  RecentDnsMessages recent;
  EXPECT_FALSE(recent.SeenOrAdd(1, 1'000'000'000));
  EXPECT_TRUE(recent.SeenOrAdd(1, 1'000'000'000 + 200'000'000));  // exactly the window: still in
  EXPECT_FALSE(recent.SeenOrAdd(2, 1'000'000'000 + 200'000'000));
  EXPECT_EQ(recent.size(), 2u);  // a duplicate is not recorded again
}

TEST(RecentDnsMessagesTest, RetransmissionAfterWindowIsNotDuplicate) {
  RecentDnsMessages recent;
  EXPECT_FALSE(recent.SeenOrAdd(7, 1'000'000'000));
  EXPECT_FALSE(recent.SeenOrAdd(7, 1'000'000'000 + 200'000'001));
  // ...and the retransmission itself now de-duplicates its second crossing.
  EXPECT_TRUE(recent.SeenOrAdd(7, 1'000'000'000 + 200'000'002));
  EXPECT_EQ(recent.size(), 1u);
}

TEST(RecentDnsMessagesTest, ExpiredEntriesLeaveTheSet) {
  RecentDnsMessages recent(/*window_ns=*/100);
  for (uint64_t k = 0; k < 10; ++k) EXPECT_FALSE(recent.SeenOrAdd(k, static_cast<int64_t>(k)));
  EXPECT_EQ(recent.size(), 10u);
  // At t=105 entries older than t=5 are gone; 5..9 stay.
  EXPECT_FALSE(recent.SeenOrAdd(100, 105));
  EXPECT_EQ(recent.size(), 6u);
  EXPECT_FALSE(recent.SeenOrAdd(4, 105));  // expired: new again
  EXPECT_TRUE(recent.SeenOrAdd(5, 105));
}

TEST(RecentDnsMessagesTest, FullRingDropsTheOldest) {
  RecentDnsMessages recent;
  const auto cap = static_cast<uint64_t>(RecentDnsMessages::kCapacity);
  for (uint64_t k = 0; k < cap; ++k) ASSERT_FALSE(recent.SeenOrAdd(k, 1));
  EXPECT_EQ(recent.size(), RecentDnsMessages::kCapacity);
  EXPECT_FALSE(recent.SeenOrAdd(cap, 1));  // evicts key 0
  EXPECT_EQ(recent.size(), RecentDnsMessages::kCapacity);
  EXPECT_TRUE(recent.SeenOrAdd(1, 1));
  EXPECT_TRUE(recent.SeenOrAdd(cap, 1));
  EXPECT_FALSE(recent.SeenOrAdd(0, 1));  // evicted (and now evicts key 1)
  EXPECT_FALSE(recent.SeenOrAdd(1, 1));
  // Many more than the capacity keep the set and the ring the same size.
  for (uint64_t k = 10 * cap; k < 13 * cap; ++k) ASSERT_FALSE(recent.SeenOrAdd(k, 1));
  EXPECT_EQ(recent.size(), RecentDnsMessages::kCapacity);
  EXPECT_TRUE(recent.SeenOrAdd(13 * cap - 1, 1));
  EXPECT_FALSE(recent.SeenOrAdd(12 * cap - 1, 1));
}

TEST(DnsMessageKeyTest, KeyedByAddressesPortsIdAndFlags) {
  const auto query = DnsQuery(0x1234, "a.lab");
  const flow::Flow udp = UdpPacket(1);
  const auto key = DnsMessageKey(udp, query);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(DnsMessageKey(udp, query), key);
  EXPECT_NE(DnsMessageKey(UdpPacket(1, 40001), query), key);  // another source port
  EXPECT_NE(DnsMessageKey(udp, DnsQuery(0x1235, "a.lab")), key);
  auto response = query;
  response[2] |= 0x80;  // QR: the response to the same id is another message
  EXPECT_NE(DnsMessageKey(udp, response), key);
  // The name is not part of the key (only the header's first three bytes).
  EXPECT_EQ(DnsMessageKey(udp, DnsQuery(0x1234, "b.lab")), key);
  // TCP: the header starts after the 2-byte length.
  flow::Flow tcp = udp;
  tcp.l4 = flow::L4Protocol::kTcp;
  std::vector<uint8_t> framed = {0, static_cast<uint8_t>(query.size())};
  framed.insert(framed.end(), query.begin(), query.end());
  const auto tcp_key = DnsMessageKey(tcp, framed);
  ASSERT_TRUE(tcp_key.has_value());
  EXPECT_EQ(DnsMessageKey(tcp, std::vector<uint8_t>(framed.begin(), framed.begin() + 6)), tcp_key);
}

TEST(DnsMessageKeyTest, TooShortPayloadHasNoKey) {
  const std::vector<uint8_t> three = {0x12, 0x34, 0x01};
  EXPECT_FALSE(DnsMessageKey(UdpPacket(1), three).has_value());
  EXPECT_FALSE(DnsMessageKey(UdpPacket(1), {}).has_value());
  flow::Flow tcp = UdpPacket(1);
  tcp.l4 = flow::L4Protocol::kTcp;
  const std::vector<uint8_t> five = {0, 20, 0x12, 0x34, 0x01};
  EXPECT_FALSE(DnsMessageKey(tcp, five).has_value());
}

struct PipelineFixture {
  flow::FlowBuffer buffer{1024};
  metrics::Registry registry;
  identity::IdentityCache identity;
  FlowPipeline pipeline{buffer, registry, identity, FlowPipeline::TracePrinter::kDisabled,
                        std::chrono::milliseconds(0)};
};

// A query seen on the sender's and the receiver's interface is one DNS message: two L3/L4 flows,
// one L7 flow. The same query id again after the window is a retransmission: another L7 flow.
TEST(FlowPipelineDnsTest, OneL7FlowPerMessage) {
  PipelineFixture f;
  const auto query = DnsQuery(42, "pod1.lab");
  f.pipeline.OnDnsPacket(UdpPacket(1'000'000'000), query);
  f.pipeline.OnDnsPacket(UdpPacket(1'000'050'000), query);
  BufferCounts counts = Count(f.buffer);
  EXPECT_EQ(counts.l34, 2u);
  EXPECT_EQ(counts.l7, 1u);

  f.pipeline.OnDnsPacket(UdpPacket(1'300'000'000), query);
  counts = Count(f.buffer);
  EXPECT_EQ(counts.l34, 3u);
  EXPECT_EQ(counts.l7, 2u);

  // Garbage shorter than a DNS header is no message: its L3/L4 flow only.
  const std::vector<uint8_t> garbage = {1, 2};
  f.pipeline.OnDnsPacket(UdpPacket(1'400'000'000), garbage);
  counts = Count(f.buffer);
  EXPECT_EQ(counts.l34, 4u);
  EXPECT_EQ(counts.l7, 2u);
}

// --- route once per request ---------------------------------------------------------------------

telemetry::Request HttpRequest(const std::string& path) {
  telemetry::Request r;
  r.pid = 4242;
  r.process = "backend";
  r.role = telemetry::Role::kServer;
  r.protocol = telemetry::Protocol::kHttp1;
  r.method = "GET";
  r.path = path;
  r.status = 200;
  r.local_ip = Ip("10.0.0.2");
  r.remote_ip = Ip("10.0.0.1");
  r.local_port = 8080;
  r.remote_port = 40000;
  r.start_ns = 1'700'000'000'000'000'000;
  r.end_ns = r.start_ns + 5'000'000;
  return r;
}

// The agent's wiring in small: the span stage as the span hook, the RED metrics as an observer.
class AppObserver final : public FlowObserver {
 public:
  explicit AppObserver(metrics::app::AppMetrics& m) : m_(m) {}
  void OnRequest(const telemetry::Request& request, const FlowTrace* trace) override {
    if (trace != nullptr) {
      const metrics::ExemplarRef exemplar{trace->trace_id, trace->span_id};
      m_.OnRequest(request, &exemplar);
    } else {
      m_.OnRequest(request, nullptr);
    }
  }

 private:
  metrics::app::AppMetrics& m_;
};

struct AppFixture {
  explicit AppFixture(const std::string& routes_yaml, bool traces = true) {
    metrics::app::AppMetricsOptions options;
    options.host_name = "node";
    options.host_id = "host";
    options.routes.patterns = {"/users/{id}"};
    if (!routes_yaml.empty()) options.routes.ignored_patterns = {routes_yaml};
    options.routes.ignore_mode = metrics::app::IgnoreMode::kTraces;
    auto created = metrics::app::AppMetrics::Create(registry, options);
    EXPECT_TRUE(created.ok()) << created.status();
    app = std::move(created).value();
    observer = std::make_unique<AppObserver>(*app);
    pipeline.AddObserver(observer.get());
    if (!traces) return;
    // Spans go nowhere (the exporter is never started): only the span ids matter here.
    auto config = config::Config::LoadFromString(
        "otel_traces_export:\n  endpoint: http://127.0.0.1:9\n", "test.yml",
        [](const std::string&) { return std::optional<std::string>(); });
    EXPECT_TRUE(config.ok()) << config.status();
    auto stage = TracingStage::Create(*config, registry, app.get(), "node");
    EXPECT_TRUE(stage.ok()) << stage.status();
    tracing = std::move(stage).value();
    EXPECT_TRUE(tracing != nullptr && tracing->tracing());
    TracingStage* s = tracing.get();
    pipeline.SetSpanHook(
        [s](const telemetry::Request& r) -> std::optional<std::pair<std::string, std::string>> {
          auto ids = s->OnRequest(r);
          if (!ids) return std::nullopt;
          return std::make_pair(std::move(ids->trace_id), std::move(ids->span_id));
        });
  }

  // The http_route label values of http_server_request_duration_seconds, with their counts.
  std::vector<std::pair<std::string, uint64_t>> Routes() const {
    std::vector<std::pair<std::string, uint64_t>> out;
    for (const auto& family : registry.Collect()) {
      if (family.name != "http_server_request_duration_seconds") continue;
      for (const auto& sample : family.samples) {
        for (const auto& [name, value] : sample.labels) {
          if (name == "http_route") out.emplace_back(value, sample.count);
        }
      }
    }
    return out;
  }

  flow::FlowBuffer buffer{1024};
  metrics::Registry registry;
  identity::IdentityCache identity;
  FlowPipeline pipeline{buffer, registry, identity, FlowPipeline::TracePrinter::kDisabled,
                        std::chrono::milliseconds(0)};
  std::unique_ptr<metrics::app::AppMetrics> app;
  std::unique_ptr<AppObserver> observer;
  std::unique_ptr<TracingStage> tracing;
};

TEST(RouteOnceTest, SpanAndMetricsShareOneMatch) {
  AppFixture f("");
  const uint64_t before = RouteMatcher::MatchesOnThisThread();
  f.pipeline.OnRequest(HttpRequest("/users/1234"));
  EXPECT_EQ(RouteMatcher::MatchesOnThisThread() - before, 1u);
  f.pipeline.OnRequest(HttpRequest("/orders/5f3a9c2e11"));  // heuristic route
  EXPECT_EQ(RouteMatcher::MatchesOnThisThread() - before, 2u);
  // Both stages saw the route: the metrics carry it, and the span was sampled (it is the
  // request flow's exemplar on the duration histogram).
  const auto routes = f.Routes();
  EXPECT_EQ(routes,
            (std::vector<std::pair<std::string, uint64_t>>{{"/orders/*", 1}, {"/users/{id}", 1}}));
  bool exemplar = false;
  for (const auto& family : f.registry.Collect()) {
    if (family.name != "http_server_request_duration_seconds") continue;
    for (const auto& sample : family.samples) {
      for (const auto& e : sample.exemplars) exemplar = exemplar || e.has_value();
    }
  }
  EXPECT_TRUE(exemplar);
}

TEST(RouteOnceTest, WithoutSpansTheMetricsMatchOnce) {
  AppFixture f("", /*traces=*/false);
  const uint64_t before = RouteMatcher::MatchesOnThisThread();
  f.pipeline.OnRequest(HttpRequest("/users/1"));
  EXPECT_EQ(RouteMatcher::MatchesOnThisThread() - before, 1u);
  EXPECT_EQ(f.Routes(), (std::vector<std::pair<std::string, uint64_t>>{{"/users/{id}", 1}}));
}

// Outside a scope (a stage called on its own), every call matches: the scope never answers for
// a request it was not opened for.
TEST(RouteOnceTest, ScopeAnswersOnlyForTheSamePathObject) {
  AppFixture f("", /*traces=*/false);
  const RouteMatcher& routes = f.app->routes();
  metrics::app::RouteBuffer buffer;
  const std::string a = "/users/7";
  const std::string b = "/users/7";  // same text, another request's string
  uint64_t before = RouteMatcher::MatchesOnThisThread();
  EXPECT_EQ(routes.MatchOnce(a, &buffer).route, "/users/{id}");
  EXPECT_EQ(routes.MatchOnce(a, &buffer).route, "/users/{id}");
  EXPECT_EQ(RouteMatcher::MatchesOnThisThread() - before, 2u);
  {
    const metrics::app::RouteScope scope;
    before = RouteMatcher::MatchesOnThisThread();
    EXPECT_EQ(routes.MatchOnce(a, &buffer).route, "/users/{id}");
    EXPECT_EQ(routes.MatchOnce(a, &buffer).route, "/users/{id}");
    EXPECT_EQ(RouteMatcher::MatchesOnThisThread() - before, 1u);
    EXPECT_EQ(routes.MatchOnce(b, &buffer).route, "/users/{id}");
    EXPECT_EQ(RouteMatcher::MatchesOnThisThread() - before, 2u);
    const std::string heuristic = "/files/0123456789abcdef/raw";
    EXPECT_EQ(routes.MatchOnce(heuristic, &buffer).route, "/files/*/raw");
    EXPECT_EQ(RouteMatcher::MatchesOnThisThread() - before, 3u);
    {
      const metrics::app::RouteScope inner;
      EXPECT_EQ(metrics::app::RouteScope::Current(), &inner);
      EXPECT_EQ(routes.MatchOnce(heuristic, &buffer).route, "/files/*/raw");
      EXPECT_EQ(RouteMatcher::MatchesOnThisThread() - before, 4u);
    }
    EXPECT_EQ(metrics::app::RouteScope::Current(), &scope);
    EXPECT_EQ(routes.MatchOnce(heuristic, &buffer).route, "/files/*/raw");
    EXPECT_EQ(RouteMatcher::MatchesOnThisThread() - before, 4u);
  }
  EXPECT_EQ(metrics::app::RouteScope::Current(), nullptr);
}

// routes.ignored_patterns with ignore_mode traces: no span, the metrics still count the request.
TEST(RouteOnceTest, IgnoredForTracesHasNoSpan) {
  AppFixture f("/health");
  const uint64_t before = RouteMatcher::MatchesOnThisThread();
  auto ids = f.tracing->OnRequest(HttpRequest("/health"));
  EXPECT_FALSE(ids.has_value());
  EXPECT_TRUE(f.tracing->OnRequest(HttpRequest("/users/3")).has_value());
  f.pipeline.OnRequest(HttpRequest("/health"));
  EXPECT_EQ(RouteMatcher::MatchesOnThisThread() - before, 3u);
  bool exemplar = false;
  for (const auto& family : f.registry.Collect()) {
    if (family.name != "http_server_request_duration_seconds") continue;
    for (const auto& sample : family.samples) {
      for (const auto& e : sample.exemplars) exemplar = exemplar || e.has_value();
    }
  }
  EXPECT_FALSE(exemplar);
  EXPECT_EQ(f.Routes(), (std::vector<std::pair<std::string, uint64_t>>{{"/health", 1}}));
}

// --- identity of exited processes ---------------------------------------------------------------

// The pid of a child that has exited and was reaped: no /proc entry.
pid_t ExitedPid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  if (child > 0) waitpid(child, nullptr, 0);
  return child;
}

// The process end `peer` names: pid, workload name and kind.
void ExpectProcessEnd(const flow::PeerInfo* peer, pid_t pid, const std::string& command) {
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(peer->endpoint.id, static_cast<uint32_t>(pid));
  ASSERT_EQ(peer->endpoint.workloads.size(), 1u);
  EXPECT_EQ(peer->endpoint.workloads[0].name, command);
  EXPECT_EQ(peer->endpoint.workloads[0].kind, "Process");
}

// A pipeline with its own flow buffer, registry and identity cache; 127.0.0.1 is this host.
struct LoopbackPipeline {
  LoopbackPipeline() { identity.SetHostAddresses({Ip("127.0.0.1")}); }
  flow::FlowBuffer buffer{64};
  metrics::Registry registry;
  identity::IdentityCache identity;
  FlowPipeline pipeline{buffer, registry, identity, FlowPipeline::TracePrinter::kDisabled,
                        std::chrono::milliseconds(0)};
};

// A client that exited before the agent read its exchange (curl, a health-check script) is still
// the source of its request flow and the destination of the response: named by the event's command.
TEST(FlowPipelineIdentityTest, ExitedClientIsNamedByTheRecordsCommand) {
  const pid_t child = ExitedPid();
  ASSERT_GT(child, 0);
  LoopbackPipeline p;
  telemetry::Request r = HttpRequest("/");
  r.pid = static_cast<uint32_t>(child);
  r.process = "curl";
  r.role = telemetry::Role::kClient;
  r.local_ip = Ip("127.0.0.1");
  r.remote_ip = Ip("127.0.0.1");
  p.pipeline.OnRequest(std::move(r));
  std::vector<flow::FlowBuffer::Entry> entries;
  uint64_t missed = 0;
  p.buffer.Read(p.buffer.oldest_seq(), p.buffer.next_seq(), 16, &entries, &missed);
  ASSERT_EQ(entries.size(), 2u);
  const flow::Flow& request = *entries[0].flow;
  const flow::Flow& response = *entries[1].flow;
  ASSERT_TRUE(request.src_info && response.dst_info && request.dst_info);
  ExpectProcessEnd(request.src_info.get(), child, "curl");
  ExpectProcessEnd(response.dst_info.get(), child, "curl");
  // The server end is not the traced process; the response comes from it.
  EXPECT_EQ(request.dst_info->endpoint.id, 0u);
  EXPECT_TRUE(request.dst_info->endpoint.workloads.empty());
  ASSERT_TRUE(response.src_info);
  EXPECT_EQ(response.src_info->endpoint.id, 0u);
  EXPECT_EQ(response.src_info->endpoint.labels, std::vector<std::string>{"reserved:host"});
}

// The connect of a client that exited before the agent read the event: named by the command the
// event carries (hubble_tcp_connect_duration_seconds' source_workload).
TEST(FlowPipelineIdentityTest, ExitedClientsConnectIsNamedByTheEventsCommand) {
  struct ConnectObserver final : FlowObserver {
    void OnTcpConnect(const flow::Flow& tuple, double seconds) override {
      tuples.push_back(tuple);
      latencies.push_back(seconds);
    }
    std::vector<flow::Flow> tuples;
    std::vector<double> latencies;
  };
  const pid_t child = ExitedPid();
  ASSERT_GT(child, 0);
  LoopbackPipeline p;
  ConnectObserver observer;
  p.pipeline.AddObserver(&observer);
  sensors::TcpEvent event;
  event.kind = sensors::TcpEvent::Kind::kConnected;
  event.src_ip = Ip("127.0.0.1");
  event.dst_ip = Ip("127.0.0.1");
  event.src_port = 40000;
  event.dst_port = 8080;
  event.latency_ns = 250'000;
  event.pid = static_cast<uint32_t>(child);
  event.comm = "curl";
  p.pipeline.OnTcpEvent(event);
  event.comm.clear();  // an event without the command: only the address names the source
  p.pipeline.OnTcpEvent(event);
  ASSERT_EQ(observer.tuples.size(), 2u);
  ExpectProcessEnd(observer.tuples[0].src_info.get(), child, "curl");
  EXPECT_DOUBLE_EQ(observer.latencies[0], 250e-6);
  ASSERT_NE(observer.tuples[1].src_info, nullptr);
  EXPECT_TRUE(observer.tuples[1].src_info->endpoint.workloads.empty());
}

// --- process cache sweep ------------------------------------------------------------------------

// The pipeline's sweep thread drops a cached process once it has exited, with no exec/exit event.
TEST(FlowPipelineSweepTest, ExitedProcessLeavesTheCache) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl("/bin/sleep", "sleep", "30", nullptr);
    _exit(127);
  }
  flow::FlowBuffer buffer(64);
  metrics::Registry registry;
  identity::IdentityCache identity;
  FlowPipeline pipeline(buffer, registry, identity, FlowPipeline::TracePrinter::kDisabled,
                        std::chrono::milliseconds(20));
  // exec has happened once comm reads "sleep".
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::shared_ptr<const identity::ProcessMetadata> meta;
  while (std::chrono::steady_clock::now() < deadline) {
    identity.ForgetProcess(static_cast<uint32_t>(child));
    meta = identity.Process(static_cast<uint32_t>(child));
    if (meta && meta->comm == "sleep") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(meta && meta->comm == "sleep");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // several sweeps: still alive
  EXPECT_EQ(identity.process_count(), 1u);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  while (identity.process_count() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(identity.process_count(), 0u);
}

// A span's resource carries Beyla's k8s.* attributes of the process's pod, next to the service.
TEST(TracingResourceTest, CarriesTheKubernetesAttributesOfThePod) {
  AppFixture f("");
  f.app->service_namer().SetHook(
      [](metrics::app::ServiceIdentity* id, const metrics::app::ServiceNamer::HookContext&) {
        id->k8s_namespace = "shop";
        id->k8s_pod_name = "cart-7d9f-abcde";
        id->k8s_replicaset_name = "cart-7d9f";
        id->k8s_owner_name = "cart";
        id->k8s_owner_kind = "Deployment";
        id->k8s_pod_uid = "0f4c1e2a-1111-2222-3333-444455556666";
        id->k8s_node_name = "node-1";
      });
  telemetry::Request r = HttpRequest("/users/1");
  r.pid = 4242;
  const auto resource = f.tracing->ResourceOf(r);
  ASSERT_NE(resource, nullptr);
  EXPECT_EQ(resource->GetString("k8s.namespace.name"), "shop");
  EXPECT_EQ(resource->GetString("k8s.pod.name"), "cart-7d9f-abcde");
  EXPECT_EQ(resource->GetString("k8s.replicaset.name"), "cart-7d9f");
  EXPECT_EQ(resource->GetString("k8s.deployment.name"), "cart");
  EXPECT_EQ(resource->GetString("k8s.pod.uid"), "0f4c1e2a-1111-2222-3333-444455556666");
  EXPECT_EQ(resource->GetString("k8s.node.name"), "node-1");
  EXPECT_EQ(resource->GetString("k8s.cluster.name"), "");  // empty values are left out
  EXPECT_FALSE(resource->GetString("service.name").empty());
}

// A pid's resource follows its identity: when the process exits, the namer forgets the pid, and
// a new process under the same pid gets its own service name, not the exited one's.
TEST(TracingResourceTest, AReusedPidGetsTheNewProcesssResource) {
  AppFixture f("");
  std::string name = "checkout";
  f.app->service_namer().SetHook(
      [&name](metrics::app::ServiceIdentity* id, const metrics::app::ServiceNamer::HookContext&) {
        id->name = name;
        id->name_from_env = true;
      });
  telemetry::Request r = HttpRequest("/users/1");
  r.pid = static_cast<uint32_t>(getpid());  // alive: its identity and resource are cached
  const auto first = f.tracing->ResourceOf(r);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->GetString("service.name"), "checkout");
  EXPECT_EQ(f.tracing->ResourceOf(r), first);  // unchanged identity: the same resource

  f.app->service_namer().Forget(r.pid);  // the process exited (Agent::InstrumentedChanged)
  name = "payments";
  const auto second = f.tracing->ResourceOf(r);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->GetString("service.name"), "payments");
}

// An exited process's last requests share one span resource, though the namer names it afresh
// for each (it does not cache processes that are gone).
TEST(TracingResourceTest, AnExitedProcessKeepsOneResource) {
  AppFixture f("");
  telemetry::Request r = HttpRequest("/users/1");
  const pid_t gone = ExitedPid();
  ASSERT_GT(gone, 0);
  r.pid = static_cast<uint32_t>(gone);
  r.process = "curl";
  const auto first = f.tracing->ResourceOf(r);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->GetString("service.name"), "curl");
  EXPECT_EQ(f.tracing->ResourceOf(r), first);
  r.process = "wget";  // another command: another process of that pid
  const auto other = f.tracing->ResourceOf(r);
  EXPECT_NE(other, first);
  EXPECT_EQ(other->GetString("service.name"), "wget");
}

// The pod's other resource attributes (service.version, ...) are on the span resource, after
// the attributes Loupe sets, and never replace one of them.
TEST(TracingResourceTest, PodResourceAttributesAreOnTheSpanResource) {
  AppFixture f("");
  f.app->service_namer().SetHook(
      [](metrics::app::ServiceIdentity* id, const metrics::app::ServiceNamer::HookContext&) {
        id->name = "checkout";
        id->name_from_env = true;
        id->resource_attributes = {{"service.version", "1.4.2"}, {"service.name", "not-this"}};
      });
  telemetry::Request r = HttpRequest("/users/1");
  r.pid = 4244;
  const auto resource = f.tracing->ResourceOf(r);
  ASSERT_NE(resource, nullptr);
  EXPECT_EQ(resource->GetString("service.version"), "1.4.2");
  EXPECT_EQ(resource->GetString("service.name"), "checkout");
  int names = 0;
  for (const auto& entry : resource->entries()) names += entry.key == "service.name" ? 1 : 0;
  EXPECT_EQ(names, 1);
}

}  // namespace
}  // namespace loupe::agent
