#include "src/flow/agent_events.h"

#include <algorithm>

namespace loupe::flow {

AgentEventLog::AgentEventLog(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

uint64_t AgentEventLog::Append(AgentEvent event) {
  uint64_t seq = 0;
  {
    std::lock_guard lock(mu_);
    if (events_.size() == capacity_) {
      events_.pop_front();
      ++oldest_;
    }
    events_.push_back(std::move(event));
    seq = oldest_ + events_.size() - 1;
  }
  cv_.notify_all();
  return seq;
}

uint64_t AgentEventLog::Read(uint64_t from, uint64_t to, size_t max, std::vector<Entry>* out,
                             uint64_t* missed) const {
  std::lock_guard lock(mu_);
  const uint64_t end = std::min<uint64_t>(to, oldest_ + events_.size());
  if (from < oldest_) {
    if (missed != nullptr) *missed += std::min(oldest_, to) - from;
    from = std::min(oldest_, to);
  }
  size_t copied = 0;
  for (; from < end && copied < max; ++from, ++copied) {
    out->push_back(Entry{from, events_[from - oldest_]});
  }
  return from;
}

bool AgentEventLog::WaitFor(uint64_t seq, std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(mu_);
  return cv_.wait_until(lock, deadline, [&] {
    return shutdown_ || oldest_ + events_.size() > seq;
  }) && !shutdown_;
}

void AgentEventLog::Shutdown() {
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

uint64_t AgentEventLog::next_seq() const {
  std::lock_guard lock(mu_);
  return oldest_ + events_.size();
}

uint64_t AgentEventLog::oldest_seq() const {
  std::lock_guard lock(mu_);
  return oldest_;
}

size_t AgentEventLog::size() const {
  std::lock_guard lock(mu_);
  return events_.size();
}

}  // namespace loupe::flow
