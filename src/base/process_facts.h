// What was read from /proc/<pid> while a process was alive, kept so that its last requests can
// still be named after it exited. The agent handles a request some milliseconds after it
// happened (the ring is read every 5 ms), and a short-lived client (a Job, a CronJob, a script)
// is often gone by then, together with its /proc entry.
//
// Facts are put when discovery starts tracing a process (or, when every process is traced, when
// one execs). They are kept while the process is in the set Retain() is given and until Gone()
// reports its exit, and for `linger` after that, so that the requests read after the exit find
// them; then dropped. Put() for a pid replaces what an earlier process of the same pid left. At
// most `max_entries` are kept: when full, the facts of processes no longer traced are dropped
// first, then all (a pid storm; naming falls back to what the event carries).
//
// Thread expectations: thread-safe; Find() copies the facts out under a mutex.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>

namespace loupe {

template <typename T>
class ProcessFacts {
 public:
  using Clock = std::chrono::steady_clock;

  ProcessFacts(std::chrono::nanoseconds linger, size_t max_entries)
      : linger_(linger), max_entries_(std::max<size_t>(max_entries, 1)) {}

  void Put(uint32_t pid, T facts) {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.size() >= max_entries_ && !entries_.contains(pid)) {
      std::erase_if(entries_, [](const auto& e) { return e.second.gone_since.has_value(); });
      if (entries_.size() >= max_entries_) entries_.clear();
    }
    entries_.insert_or_assign(pid, Entry{std::move(facts), std::nullopt});
  }

  std::optional<T> Find(uint32_t pid) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(pid);
    if (it == entries_.end()) return std::nullopt;
    return it->second.facts;
  }

  // Drops what was read of `pid` (it exec'd another image).
  void Erase(uint32_t pid) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.erase(pid);
  }

  // `pid` exited (or is no longer traced): its facts linger from `now` on. Facts that lingered
  // longer than `linger` are dropped here too, at most every linger/4.
  void Gone(uint32_t pid, Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(pid);
    if (it != entries_.end() && !it->second.gone_since) it->second.gone_since = now;
    if (now - last_prune_ < linger_ / 4) return;
    last_prune_ = now;
    std::erase_if(entries_, [&](const auto& e) {
      return e.second.gone_since && now - *e.second.gone_since > linger_;
    });
  }

  // `live` (ascending) are the processes traced now. The others' facts linger from `now` on;
  // facts that lingered longer than `linger` are dropped.
  void Retain(std::span<const uint32_t> live, Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      Entry& e = it->second;
      if (std::binary_search(live.begin(), live.end(), it->first)) {
        e.gone_since.reset();
      } else if (!e.gone_since) {
        e.gone_since = now;
      } else if (now - *e.gone_since > linger_) {
        it = entries_.erase(it);
        continue;
      }
      ++it;
    }
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_.size();
  }

 private:
  struct Entry {
    T facts;
    std::optional<Clock::time_point> gone_since;
  };
  const std::chrono::nanoseconds linger_;
  const size_t max_entries_;
  mutable std::mutex mu_;
  std::unordered_map<uint32_t, Entry> entries_;
  Clock::time_point last_prune_{};  // of Gone()
};

}  // namespace loupe
