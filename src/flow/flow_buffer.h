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
#include <vector>

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

 private:
  void NotifyWaiters();
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
};

}  // namespace loupe::flow
