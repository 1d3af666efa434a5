// The per-node flow buffer: a fixed-capacity ring of Flows (oldest overwritten) with a sequence
// number per slot. Sensors append (under the write lock); any number of readers (Observer API
// streams) copy flows out by sequence number under a shared lock, and `follow` readers wait on a
// condition variable for new ones. A reader that falls behind the writer learns how many flows it
// missed (reported to clients as a HUBBLE_RING_BUFFER LostEvent).
//
// Memory is bounded: capacity * sizeof(Flow) plus L7 details of the flows held.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/flow/flow.h"

namespace loupe::flow {

class FlowBuffer {
 public:
  // `capacity` is rounded up to a power of two minus one, like Hubble's ring (65535 default).
  explicit FlowBuffer(size_t capacity);

  // Appends a flow and assigns its id (= sequence number, starting at 1). Thread-safe.
  uint64_t Append(Flow flow);

  // Lost events from sources other than the ring itself (BPF ring buffer, queues), interleaved in
  // sequence order so streams report them where they happened.
  void AppendLost(const LostEvent& lost);

  struct Entry {
    uint64_t seq = 0;
    std::optional<Flow> flow;       // a flow, or
    std::optional<LostEvent> lost;  // a lost event
  };

  // Copies entries with seq in [from, to) that are still held into `out` (at most `max`).
  // Returns the seq to continue from. If `from` is older than the oldest held entry, the
  // missing count is added to *missed.
  uint64_t Read(uint64_t from, uint64_t to, size_t max, std::vector<Entry>* out,
                uint64_t* missed) const;

  // Waits until an entry with seq >= `seq` exists or the deadline passes / Shutdown() is called.
  // Returns false on timeout or shutdown.
  bool WaitFor(uint64_t seq, std::chrono::steady_clock::time_point deadline) const;
  void Shutdown();

  uint64_t next_seq() const;    // the seq the next Append will get
  uint64_t oldest_seq() const;  // the oldest seq still held (== next_seq() when empty)
  size_t capacity() const { return capacity_; }
  size_t size() const;          // entries held
  uint64_t seen_flows() const;  // flows ever appended

  // The Kubernetes namespaces of appended flows' two ends (PeerInfo endpoint.namespace_name, with
  // its cluster_name), each with the time of its latest flow: the Observer API's GetNamespaces.
  struct SeenNamespace {
    std::string cluster;
    std::string name;
    int64_t last_flow_ns = 0;  // Flow::time_ns of the latest flow
  };
  // Those whose latest flow is at or after `since_ns`, sorted by cluster, then name; older ones
  // are forgotten. At most kMaxNamespaces are remembered (more are not added until some expire).
  std::vector<SeenNamespace> Namespaces(int64_t since_ns);
  static constexpr size_t kMaxNamespaces = 16384;

 private:
  void NotifyWaiters();
  void NoteNamespace(const PeerInfo* info, int64_t time_ns);  // under mu_ (exclusive)
  const size_t capacity_;
  mutable std::shared_mutex mu_;
  mutable std::condition_variable_any cv_;
  // Threads inside WaitFor: Append and AppendLost notify only when there are any (a notify of a
  // condition_variable_any locks its internal mutex, per flow).
  mutable std::atomic<int> waiters_{0};
  std::vector<Entry> slots_;
  uint64_t next_seq_ = 1;
  uint64_t seen_flows_ = 0;
  bool shutdown_ = false;
  // cluster -> namespace -> latest flow time. Looked up by string_view: no allocation per flow.
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, int64_t>> namespaces_;
  size_t namespace_count_ = 0;
};

}  // namespace loupe::flow
