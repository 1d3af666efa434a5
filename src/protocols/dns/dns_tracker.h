// Turns DNS packets seen by the network sensor into Hubble L7 DNS flows: requests carry the query
// and qtypes, responses add rcode, answer IPs, CNAMEs, record types, the smallest TTL and the
// latency since the matching request (matched by DNS id and the client/server tuple).
//
// Bounded: at most `max_pending` unanswered queries are kept; older ones are evicted (counted)
// and queries older than `pending_timeout` expire. Not thread-safe: one owner thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <span>
#include <unordered_map>

#include "src/flow/flow.h"
#include "src/protocols/common/parse_state.h"

namespace loupe::protocols::dns {

class DnsTracker {
 public:
  struct Stats {
    uint64_t requests = 0;
    uint64_t responses = 0;
    uint64_t matched = 0;
    uint64_t invalid = 0;
    uint64_t evicted = 0;
  };

  explicit DnsTracker(size_t max_pending = 8192,
                      std::chrono::nanoseconds pending_timeout = std::chrono::seconds(10));

  // `packet` is the L3/L4 flow of a packet to or from port 53 and `payload` its L4 payload (for
  // TCP, starting at the 2-byte length prefix). On kSuccess, *l7 is the L7 DNS flow to publish.
  ParseState Process(const flow::Flow& packet, std::span<const uint8_t> payload, flow::Flow* l7);

  const Stats& stats() const { return stats_; }
  size_t pending() const { return pending_.size(); }

 private:
  struct Key {
    uint16_t id;
    uint16_t client_port;
    uint16_t server_port;
    flow::IpAddress client;
    flow::IpAddress server;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  void Expire(int64_t now_ns);

  const size_t max_pending_;
  const int64_t pending_timeout_ns_;
  std::unordered_map<Key, int64_t, KeyHash> pending_;  // -> request time
  std::deque<std::pair<int64_t, Key>> order_;          // insertion order for expiry/eviction
  Stats stats_;
};

}  // namespace loupe::protocols::dns
