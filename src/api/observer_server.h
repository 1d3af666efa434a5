// The Hubble-compatible gRPC API of one agent: `observer.Observer` over the node's FlowBuffer,
// `peer.Peer` (this node only) and the standard grpc.health.v1 service, on TCP and/or a unix
// socket.
//
// Threads: gRPC's synchronous server runs each call on its own thread; every call only reads the
// FlowBuffer (shared lock), the AgentEventLog (its lock) and immutable ServerInfo, so calls need no
// coordination. A small sampler thread records seen_flows once a second for
// ServerStatus.flows_rate. Start/Stop are called from the control thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "src/base/clock.h"
#include "src/flow/agent_events.h"
#include "src/flow/filter.h"
#include "src/flow/flow_buffer.h"

namespace grpc {
class Server;
}

namespace loupe::api {

struct ServerInfo {
  std::string node_name;
  std::string version;        // Loupe's version ("0.1.0"), reported as ServerStatus.version
  int64_t start_time_ns = 0;  // CLOCK_MONOTONIC ns when the agent started (uptime base);
                              // 0 = when Start() is called
  std::string address;        // advertised in GetNodes / Peer.Notify; "" = first TCP address
  // Names kernel drop reasons that have no Hubble DropReason (see ConvertContext); may be null.
  const char* (*kernel_drop_reason_name)(uint16_t reason) = nullptr;
};

class ObserverServer {
 public:
  ObserverServer(flow::FlowBuffer& buffer, ServerInfo info, flow::FilterContext filter_context,
                 const Clock& clock = RealClock::Get());
  ~ObserverServer();
  ObserverServer(const ObserverServer&) = delete;
  ObserverServer& operator=(const ObserverServer&) = delete;

  // Listens on every address: "host:port" (":port" = all interfaces, port 0 = pick a free one)
  // or "unix:///path/to.sock" (a stale socket file is replaced). FailedPrecondition naming the
  // address when one cannot be bound; nothing stays listening then.
  [[nodiscard]] absl::Status Start(const std::vector<std::string>& listen_addresses);

  // The agent events GetAgentEvents serves (before Start; without it the stream is empty). The
  // log must outlive the server.
  void SetAgentEvents(const flow::AgentEventLog* events) { agent_events_ = events; }

  // Ends open streams (follow, Notify) and stops listening. Idempotent.
  void Stop();

  // Ports actually bound for the TCP addresses, in order (useful with port 0).
  const std::vector<int>& bound_ports() const { return bound_ports_; }

  class Impl;

 private:
  void SampleLoop();

  flow::FlowBuffer& buffer_;
  const flow::AgentEventLog* agent_events_ = nullptr;
  ServerInfo info_;
  flow::FilterContext filter_context_;
  const Clock& clock_;
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<int> bound_ports_;

  std::mutex sampler_mu_;
  std::condition_variable sampler_cv_;
  bool stopping_ = false;
  std::thread sampler_;
};

}  // namespace loupe::api
