#include "src/flow/flow_buffer.h"

#include <algorithm>
#include <mutex>

#include "absl/strings/string_view.h"

namespace loupe::flow {
namespace {

size_t RoundCapacity(size_t requested) {
  // Hubble's ring capacities are 2^i - 1; keep the same sizes so max_flows reads the same.
  size_t capacity = 1;
  while (capacity < requested && capacity < (size_t{1} << 30)) capacity = capacity * 2 + 1;
  return capacity;
}

}  // namespace

FlowBuffer::FlowBuffer(size_t capacity) : capacity_(RoundCapacity(capacity)) {
  slots_.resize(capacity_);
}

uint64_t FlowBuffer::Append(Flow flow) {
  uint64_t seq = 0;
  {
    std::unique_lock lock(mu_);
    seq = next_seq_++;
    flow.id = seq;
    Entry& slot = slots_[seq % capacity_];
    slot.seq = seq;
    slot.flow = std::move(flow);
    slot.lost.reset();
    ++seen_flows_;
    NoteNamespace(slot.flow->src_info.get(), slot.flow->time_ns);
    NoteNamespace(slot.flow->dst_info.get(), slot.flow->time_ns);
  }
  NotifyWaiters();
  return seq;
}

void FlowBuffer::NoteNamespace(const PeerInfo* info, int64_t time_ns) {
  if (info == nullptr || info->endpoint.namespace_name.empty()) return;
  // absl's string_view: Debian's absl does not take std::string_view for heterogeneous lookup.
  const absl::string_view cluster = info->endpoint.cluster_name;
  const absl::string_view name = info->endpoint.namespace_name;
  auto c = namespaces_.find(cluster);
  if (c != namespaces_.end()) {
    auto n = c->second.find(name);
    if (n != c->second.end()) {
      n->second = std::max(n->second, time_ns);
      return;
    }
  }
  if (namespace_count_ >= kMaxNamespaces) return;
  if (c == namespaces_.end()) c = namespaces_.try_emplace(std::string(cluster)).first;
  c->second.try_emplace(std::string(name), time_ns);
  ++namespace_count_;
}

std::vector<FlowBuffer::SeenNamespace> FlowBuffer::Namespaces(int64_t since_ns) {
  std::vector<SeenNamespace> out;
  std::unique_lock lock(mu_);
  for (auto c = namespaces_.begin(); c != namespaces_.end();) {
    auto& names = c->second;
    for (auto n = names.begin(); n != names.end();) {
      if (n->second < since_ns) {
        names.erase(n++);
        --namespace_count_;
        continue;
      }
      out.push_back({c->first, n->first, n->second});
      ++n;
    }
    if (names.empty()) {
      namespaces_.erase(c++);
    } else {
      ++c;
    }
  }
  lock.unlock();
  std::sort(out.begin(), out.end(), [](const SeenNamespace& a, const SeenNamespace& b) {
    return a.cluster != b.cluster ? a.cluster < b.cluster : a.name < b.name;
  });
  return out;
}

void FlowBuffer::AppendLost(const LostEvent& lost) {
  {
    std::unique_lock lock(mu_);
    const uint64_t seq = next_seq_++;
    Entry& slot = slots_[seq % capacity_];
    slot.seq = seq;
    slot.flow.reset();
    slot.lost = lost;
  }
  NotifyWaiters();
}

uint64_t FlowBuffer::Read(uint64_t from, uint64_t to, size_t max, std::vector<Entry>* out,
                          uint64_t* missed) const {
  std::shared_lock lock(mu_);
  const uint64_t oldest = next_seq_ > capacity_ ? next_seq_ - capacity_ : 1;
  if (from < oldest) {
    if (missed != nullptr) *missed += oldest - from;
    from = oldest;
  }
  if (to > next_seq_) to = next_seq_;
  size_t copied = 0;
  for (; from < to && copied < max; ++from, ++copied) out->push_back(slots_[from % capacity_]);
  return from;
}

bool FlowBuffer::WaitFor(uint64_t seq, std::chrono::steady_clock::time_point deadline) const {
  std::shared_lock lock(mu_);
  // Counted while the lock is held: an appender takes the lock exclusively after this and so
  // sees the count when it checks it after its append (condition_variable_any releases `lock`
  // only once the waiter is registered, so the notify cannot be missed).
  waiters_.fetch_add(1, std::memory_order_relaxed);
  const bool ready =
      cv_.wait_until(lock, deadline, [&] { return shutdown_ || next_seq_ > seq; }) && !shutdown_;
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  return ready;
}

void FlowBuffer::NotifyWaiters() {
  if (waiters_.load(std::memory_order_relaxed) > 0) cv_.notify_all();
}

void FlowBuffer::Shutdown() {
  {
    std::unique_lock lock(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

uint64_t FlowBuffer::next_seq() const {
  std::shared_lock lock(mu_);
  return next_seq_;
}

uint64_t FlowBuffer::oldest_seq() const {
  std::shared_lock lock(mu_);
  return next_seq_ > capacity_ ? next_seq_ - capacity_ : 1;
}

size_t FlowBuffer::size() const {
  std::shared_lock lock(mu_);
  return static_cast<size_t>(next_seq_ - 1 < capacity_ ? next_seq_ - 1 : capacity_);
}

uint64_t FlowBuffer::seen_flows() const {
  std::shared_lock lock(mu_);
  return seen_flows_;
}

}  // namespace loupe::flow
