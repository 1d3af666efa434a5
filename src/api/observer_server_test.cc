#include "src/api/observer_server.h"

#include <chrono>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "observer/observer.grpc.pb.h"
#include "peer/peer.grpc.pb.h"
#include "src/api/convert.h"
#include "src/cli/observe_synthetic.h"

namespace loupe::api {
namespace {

constexpr int64_t kS = 1'000'000'000;

class ObserverServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = RealClock::Get().NowRealtimeNs();
    cli::AppendSyntheticFlows(buffer_, now_);
    ServerInfo info;
    info.node_name = "node-a";
    info.version = "0.1.0";
    flow::FilterContext fctx;
    fctx.node_name = "node-a";
    server_ = std::make_unique<ObserverServer>(buffer_, info, fctx);
    server_->SetAgentEvents(&events_);
    ASSERT_TRUE(server_->Start({"127.0.0.1:0"}).ok());
    ASSERT_EQ(server_->bound_ports().size(), 1u);
    target_ = "127.0.0.1:" + std::to_string(server_->bound_ports()[0]);
    channel_ = grpc::CreateChannel(target_, grpc::InsecureChannelCredentials());
    stub_ = observer::Observer::NewStub(channel_);
  }
  void TearDown() override { server_->Stop(); }

  // Runs GetFlows to the end; each entry is "flow:<summary>" or "lost:<source>".
  std::vector<std::string> Get(const observer::GetFlowsRequest& req,
                               grpc::Status* status = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto reader = stub_->GetFlows(&ctx, req);
    observer::GetFlowsResponse resp;
    std::vector<std::string> out;
    while (reader->Read(&resp)) {
      EXPECT_EQ(resp.node_name(), "node-a");
      EXPECT_TRUE(resp.has_time());
      if (resp.has_flow()) {
        out.push_back("flow:" + resp.flow().summary());
      } else if (resp.has_lost_events()) {
        out.push_back("lost:" + flowpb::LostEventSource_Name(resp.lost_events().source()));
      }
    }
    grpc::Status s = reader->Finish();
    if (status != nullptr) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    return out;
  }

  // Runs GetAgentEvents to the end (or `count` events); each entry is "<TYPE> <pod or time>".
  std::vector<std::string> GetEvents(const observer::GetAgentEventsRequest& req,
                                     grpc::Status* status = nullptr, size_t count = SIZE_MAX) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    auto reader = stub_->GetAgentEvents(&ctx, req);
    observer::GetAgentEventsResponse resp;
    std::vector<std::string> out;
    while (out.size() < count && reader->Read(&resp)) {
      EXPECT_EQ(resp.node_name(), "node-a");
      const flowpb::AgentEvent& e = resp.agent_event();
      std::string text = flowpb::AgentEventType_Name(e.type());
      if (e.has_endpoint_update()) text += " " + e.endpoint_update().pod_name();
      if (e.has_ipcache_update()) text += " " + e.ipcache_update().cidr();
      if (e.has_agent_start()) text += " " + std::to_string(e.agent_start().time().seconds());
      out.push_back(text);
    }
    if (out.size() >= count) ctx.TryCancel();
    grpc::Status s = reader->Finish();
    if (status != nullptr) {
      *status = s;
    } else if (out.size() < count || count == SIZE_MAX) {
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    return out;
  }

  flow::FlowBuffer buffer_{4095};
  flow::AgentEventLog events_{4};
  int64_t now_ = 0;
  std::unique_ptr<ObserverServer> server_;
  std::string target_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<observer::Observer::Stub> stub_;
};

using V = std::vector<std::string>;

TEST_F(ObserverServerTest, LastNReturnsNewestMatchingInOrder) {
  observer::GetFlowsRequest req;
  req.set_number(3);
  EXPECT_EQ(Get(req), (V{"flow:UDP", "flow:HTTP/1.1 GET http://10.0.0.2/index.html",
                         "flow:HTTP/1.1 200 2ms (GET http://10.0.0.2/index.html)"}));
  // --last 10: flows 6..15, with the lost event (after flow 7) where it happened.
  req.set_number(10);
  auto last10 = Get(req);
  ASSERT_EQ(last10.size(), 11u);
  EXPECT_EQ(last10[0], "flow:TCP Flags: SYN");
  EXPECT_EQ(last10[2], "lost:PERF_EVENT_RING_BUFFER");
}

TEST_F(ObserverServerTest, FirstAndAll) {
  observer::GetFlowsRequest req;
  req.set_number(2);
  req.set_first(true);
  EXPECT_EQ(Get(req), (V{"flow:TCP Flags: SYN", "flow:TCP Flags: SYN, ACK"}));
  observer::GetFlowsRequest all;
  EXPECT_EQ(Get(all).size(), 16u);
  all.set_number(UINT64_MAX);
  EXPECT_EQ(Get(all).size(), 16u);
}

TEST_F(ObserverServerTest, FirstWithFollowIsInvalid) {
  observer::GetFlowsRequest req;
  req.set_first(true);
  req.set_follow(true);
  grpc::Status status;
  Get(req, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ObserverServerTest, UnsupportedFilterIsInvalidArgument) {
  observer::GetFlowsRequest req;
  req.add_whitelist()->mutable_experimental()->add_cel_expression("_flow.verdict == 2");
  grpc::Status status;
  Get(req, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("cel_expression"), std::string::npos);
}

TEST_F(ObserverServerTest, FiltersAndLostEventsBypass) {
  observer::GetFlowsRequest req;
  req.add_whitelist()->add_verdict(flowpb::DROPPED);
  EXPECT_EQ(Get(req),
            (V{"flow:TCP Flags: SYN", "flow:TCP Flags: SYN", "lost:PERF_EVENT_RING_BUFFER"}));
  // number counts flows only: the last matching flow, and the lost event after it.
  req.set_number(1);
  EXPECT_EQ(Get(req), (V{"flow:TCP Flags: SYN", "lost:PERF_EVENT_RING_BUFFER"}));

  observer::GetFlowsRequest black;
  black.add_blacklist()->add_protocol("tcp");
  black.add_blacklist()->add_protocol("udp");
  EXPECT_EQ(Get(black), (V{"lost:PERF_EVENT_RING_BUFFER", "flow:ICMPv4 EchoRequest",
                           "flow:ICMPv4 EchoReply", "flow:ICMPv6 EchoRequest"}));

  observer::GetFlowsRequest never;
  never.add_whitelist()->add_source_workload()->set_name("api");
  EXPECT_EQ(Get(never), (V{"lost:PERF_EVENT_RING_BUFFER"}));
}

TEST_F(ObserverServerTest, SinceTakesPrecedenceAndUntilBounds) {
  observer::GetFlowsRequest req;
  req.set_number(2);  // ignored as a start position: since reads forward from it
  req.mutable_since()->set_seconds((now_ - 6 * 60 * kS - 30 * kS) / kS);
  // Flows 10 and 11; the lost event (older than since) bypasses the time window too.
  EXPECT_EQ(Get(req),
            (V{"lost:PERF_EVENT_RING_BUFFER", "flow:ICMPv4 EchoRequest", "flow:ICMPv4 EchoReply"}));
  observer::GetFlowsRequest until;
  until.mutable_until()->set_seconds((now_ - 13 * 60 * kS + 30 * kS) / kS);
  EXPECT_EQ(Get(until), (V{"flow:TCP Flags: SYN", "flow:TCP Flags: SYN, ACK", "flow:TCP Flags: ACK",
                           "lost:PERF_EVENT_RING_BUFFER"}));
}

TEST_F(ObserverServerTest, FollowStreamsNewFlowsWithinASecond) {
  grpc::ClientContext ctx;
  observer::GetFlowsRequest req;
  req.set_follow(true);
  auto reader = stub_->GetFlows(&ctx, req);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto appended = std::chrono::steady_clock::now();
  buffer_.Append(cli::SyntheticFollowFlow(RealClock::Get().NowRealtimeNs()));
  observer::GetFlowsResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_LT(std::chrono::steady_clock::now() - appended, std::chrono::seconds(1));
  EXPECT_EQ(resp.flow().ip().source(), "10.9.9.9");
  ctx.TryCancel();
  while (reader->Read(&resp)) {
  }
  reader->Finish();
}

TEST_F(ObserverServerTest, LastNThenFollow) {
  grpc::ClientContext ctx;
  observer::GetFlowsRequest req;
  req.set_follow(true);
  req.set_number(1);
  auto reader = stub_->GetFlows(&ctx, req);
  observer::GetFlowsResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.flow().summary(), "HTTP/1.1 200 2ms (GET http://10.0.0.2/index.html)");
  buffer_.Append(cli::SyntheticFollowFlow(RealClock::Get().NowRealtimeNs()));
  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_EQ(resp.flow().ip().source(), "10.9.9.9");
  ctx.TryCancel();
  while (reader->Read(&resp)) {
  }
  reader->Finish();
}

// Hubble's GetNamespaces: the namespaces of flows in the last hour, by cluster then name.
TEST_F(ObserverServerTest, NamespacesOfTheLastHour) {
  const auto list = [this] {
    grpc::ClientContext ctx;
    observer::GetNamespacesResponse resp;
    EXPECT_TRUE(stub_->GetNamespaces(&ctx, {}, &resp).ok());
    std::vector<std::string> out;
    for (const auto& ns : resp.namespaces()) out.push_back(ns.cluster() + "/" + ns.namespace_());
    return out;
  };
  EXPECT_EQ(list(), V{});  // the synthetic flows carry no namespaces
  const auto add = [this](const std::string& cluster, const std::string& ns, int64_t time_ns) {
    flow::Flow f;
    f.time_ns = time_ns;
    auto info = std::make_shared<flow::PeerInfo>();
    info->endpoint.cluster_name = cluster;
    info->endpoint.namespace_name = ns;
    f.dst_info = std::move(info);
    buffer_.Append(std::move(f));
  };
  add("", "shop", now_);
  add("", "kube-system", now_ - 59 * 60 * kS);
  add("", "gone", now_ - 61 * 60 * kS);
  add("east", "default", now_);
  EXPECT_EQ(list(), (V{"/kube-system", "/shop", "east/default"}));
}

TEST_F(ObserverServerTest, StatusNodesHealthPeer) {
  {
    grpc::ClientContext ctx;
    observer::ServerStatusResponse resp;
    ASSERT_TRUE(stub_->ServerStatus(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.num_flows(), 16u);  // 15 flows + 1 lost event held
    EXPECT_EQ(resp.max_flows(), 4095u);
    EXPECT_EQ(resp.seen_flows(), 15u);
    EXPECT_EQ(resp.version(), "0.1.0");
    EXPECT_GT(resp.uptime_ns(), 0u);
  }
  {
    grpc::ClientContext ctx;
    observer::GetNodesResponse resp;
    ASSERT_TRUE(stub_->GetNodes(&ctx, {}, &resp).ok());
    ASSERT_EQ(resp.nodes_size(), 1);
    EXPECT_EQ(resp.nodes(0).name(), "node-a");
    EXPECT_EQ(resp.nodes(0).state(), relay::NODE_CONNECTED);
    EXPECT_EQ(resp.nodes(0).address(), target_);
  }
  // No agent events yet: an empty stream, not an error.
  EXPECT_TRUE(GetEvents({}).empty());
  {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, {}, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  {
    auto peer = peer::Peer::NewStub(channel_);
    grpc::ClientContext ctx;
    auto reader = peer->Notify(&ctx, {});
    peer::ChangeNotification n;
    ASSERT_TRUE(reader->Read(&n));
    EXPECT_EQ(n.name(), "node-a");
    EXPECT_EQ(n.type(), peer::PEER_ADDED);
    ctx.TryCancel();
    while (reader->Read(&n)) {
    }
    reader->Finish();
  }
}

TEST_F(ObserverServerTest, BindFailureIsFailedPrecondition) {
  flow::FlowBuffer other(7);
  ObserverServer second(other, ServerInfo{"b", "0.1.0", 0, ""}, flow::FilterContext{});
  absl::Status s = second.Start({target_});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(std::string(s.message()).find(target_), std::string::npos);
}

TEST_F(ObserverServerTest, UnixSocket) {
  flow::FlowBuffer other(7);
  other.Append(cli::SyntheticFollowFlow(now_));
  ObserverServer second(other, ServerInfo{"b", "0.1.0", 0, ""}, flow::FilterContext{});
  const std::string path = "/tmp/loupe-observer-test-" + std::to_string(getpid()) + ".sock";
  ASSERT_TRUE(second.Start({"unix://" + path}).ok());
  auto channel = grpc::CreateChannel("unix://" + path, grpc::InsecureChannelCredentials());
  auto stub = observer::Observer::NewStub(channel);
  grpc::ClientContext ctx;
  observer::ServerStatusResponse resp;
  ASSERT_TRUE(stub->ServerStatus(&ctx, {}, &resp).ok());
  EXPECT_EQ(resp.seen_flows(), 1u);
  second.Stop();
  unlink(path.c_str());
}

flow::AgentEvent PodEvent(flow::AgentEventType type, const std::string& pod, int64_t time_ns) {
  flow::AgentEvent e;
  e.type = type;
  e.time_ns = time_ns;
  e.pod_name = pod;
  e.namespace_name = "shop";
  e.labels = {"k8s:app=" + pod};
  e.cidr = "10.0.0.9/32";
  e.identity = 300;
  e.host_ip = "192.168.1.2";
  return e;
}

// GetAgentEvents takes GetFlows' selectors: the last N (default of the CLI), the first N, a time
// window, and follow; the log keeps the latest `capacity` events (4 here).
TEST_F(ObserverServerTest, AgentEventsHonourTheSelectors) {
  using T = flow::AgentEventType;
  flow::AgentEvent started;
  started.type = T::kAgentStarted;
  started.time_ns = now_ - 10 * kS;
  started.start_time_ns = now_ - 10 * kS;
  events_.Append(started);
  events_.Append(PodEvent(T::kEndpointCreated, "web", now_ - 9 * kS));
  events_.Append(PodEvent(T::kIpcacheUpserted, "web", now_ - 8 * kS));
  events_.Append(PodEvent(T::kEndpointDeleted, "web", now_ - 2 * kS));
  const std::string start = "AGENT_STARTED " + std::to_string((now_ - 10 * kS) / kS);
  observer::GetAgentEventsRequest req;
  EXPECT_EQ(GetEvents(req), (V{start, "ENDPOINT_CREATED web", "IPCACHE_UPSERTED 10.0.0.9/32",
                               "ENDPOINT_DELETED web"}));
  req.set_number(2);
  EXPECT_EQ(GetEvents(req), (V{"IPCACHE_UPSERTED 10.0.0.9/32", "ENDPOINT_DELETED web"}));
  req.set_first(true);
  EXPECT_EQ(GetEvents(req), (V{start, "ENDPOINT_CREATED web"}));
  req.Clear();
  req.mutable_since()->set_seconds((now_ - 9 * kS) / kS);
  req.mutable_until()->set_seconds((now_ - 5 * kS) / kS);
  EXPECT_EQ(GetEvents(req), (V{"ENDPOINT_CREATED web", "IPCACHE_UPSERTED 10.0.0.9/32"}));
  req.Clear();
  req.set_number(1);
  req.mutable_until()->set_seconds((now_ - 5 * kS) / kS);
  EXPECT_EQ(GetEvents(req), (V{"IPCACHE_UPSERTED 10.0.0.9/32"}));
  // A fifth event pushes the oldest out.
  events_.Append(PodEvent(T::kIpcacheDeleted, "web", now_ - 1 * kS));
  req.Clear();
  EXPECT_EQ(GetEvents(req).front(), "ENDPOINT_CREATED web");
  // Follow: the last one, then what comes.
  req.set_number(1);
  req.set_follow(true);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    events_.Append(PodEvent(T::kEndpointCreated, "api", now_));
  });
  EXPECT_EQ(GetEvents(req, nullptr, 2), (V{"IPCACHE_DELETED 10.0.0.9/32", "ENDPOINT_CREATED api"}));
  writer.join();
  // Bad selectors.
  grpc::Status status;
  req.Clear();
  req.set_first(true);
  req.set_follow(true);
  GetEvents(req, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.Clear();
  req.mutable_since()->set_seconds(now_ / kS);
  req.mutable_until()->set_seconds(now_ / kS - 1);
  GetEvents(req, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace loupe::api
