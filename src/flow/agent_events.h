// What the agent did or learned about its node's endpoints: Hubble's agent events, served by the
// Observer API's GetAgentEvents (`loupe observe agent-events`, `hubble observe agent-events`).
//
// Loupe emits AGENT_STARTED once, and, with Kubernetes metadata, ENDPOINT_CREATED/DELETED for the
// pods of this node (the ones with a pod IP; host-network pods are not endpoints) and
// IPCACHE_UPSERTED/DELETED for their addresses, including a changed identity (old_identity) when
// a pod's labels change. Policy and regeneration events have no Loupe counterpart.
//
// AgentEventLog keeps the latest `capacity` events in order, each with a sequence number; readers
// copy them out under the lock and `follow` readers wait for new ones. Kept apart from the flow
// buffer (Hubble shares one ring), so that a busy node's flows do not push a pod's creation out
// within seconds. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace loupe::flow {

// Values of Hubble's flow.AgentEventType.
enum class AgentEventType : uint8_t {
  kUnknown = 0,
  kAgentStarted = 2,
  kEndpointCreated = 7,
  kEndpointDeleted = 8,
  kIpcacheUpserted = 9,
  kIpcacheDeleted = 10,
};

struct AgentEvent {
  AgentEventType type = AgentEventType::kUnknown;
  int64_t time_ns = 0;  // wall clock when the agent made the change

  int64_t start_time_ns = 0;  // kAgentStarted: when the agent started (wall clock)

  // kEndpoint*: the pod (endpoint_update); kIpcache*: the owner of `cidr`.
  uint64_t endpoint_id = 0;  // Loupe has no Cilium endpoint ids: 0, as in its flows
  std::vector<std::string> labels;
  std::string namespace_name;
  std::string pod_name;

  // kIpcache*: the address ("10.0.1.7/32"), its numeric identity and, when it changed, the old one.
  std::string cidr;
  uint32_t identity = 0;
  std::optional<uint32_t> old_identity;
  std::string host_ip;  // the node the pod runs on
};

class AgentEventLog {
 public:
  static constexpr size_t kDefaultCapacity = 4096;
  explicit AgentEventLog(size_t capacity = kDefaultCapacity);

  // Appends `event`, dropping the oldest one when full. Returns its sequence number (from 1).
  uint64_t Append(AgentEvent event);

  struct Entry {
    uint64_t seq = 0;
    AgentEvent event;
  };
  // Copies the held events with seq in [from, to) into `out`, at most `max`; returns the seq to
  // continue from. Events older than the oldest held are skipped (the count in *missed when not
  // null).
  uint64_t Read(uint64_t from, uint64_t to, size_t max, std::vector<Entry>* out,
                uint64_t* missed = nullptr) const;
  // Waits until an event with seq >= `seq` exists; false on timeout or after Shutdown().
  bool WaitFor(uint64_t seq, std::chrono::steady_clock::time_point deadline) const;
  void Shutdown();

  uint64_t next_seq() const;
  uint64_t oldest_seq() const;  // == next_seq() when empty
  size_t size() const;
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<AgentEvent> events_;  // events_[i] has seq oldest_ + i
  uint64_t oldest_ = 1;
  bool shutdown_ = false;
};

}  // namespace loupe::flow
