// The ingest shard of the application view: receives socket events from the socket-data sensor,
// keeps one ConnTracker per connection and hands completed Request records to a RequestSink.
//
// Bounded: at most `max_connections` trackers. Closed connections are reaped after a death
// countdown so late events still find them; when the table is full the oldest closed one goes
// first (counted apart), and only when none is closed is the least recently active live one
// evicted (counted). OnTick (the sensor's periodic tick, also when no events arrive) runs the
// countdown and, with `request_timeout_ns`, reports requests left unanswered as timeouts (status
// 408). Not thread-safe: driven by one thread (the sensor's reader thread).
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "src/base/clock.h"
#include "src/ingest/conn_tracker.h"
#include "src/ingest/parse_error_counters.h"
#include "src/metrics/registry.h"
#include "src/sensors/socket_events.h"
#include "src/telemetry/request.h"

namespace loupe::ingest {

class RequestSink {
 public:
  virtual ~RequestSink() = default;
  virtual void OnRequest(telemetry::Request&& request) = 0;
};

struct ConnManagerOptions {
  size_t max_connections = 16384;
  int64_t closed_linger_ns = 1'000'000'000;   // death countdown after close
  int64_t idle_timeout_ns = 300'000'000'000;  // trackers without activity are dropped
  bool keep_query = false;
  // Beyla's ebpf.http_request_timeout (0 = off): see protocols::ParserOptions.
  int64_t request_timeout_ns = 0;
};

class ConnManager final : public sensors::SocketEventSink {
 public:
  // `clock` gives "now" to OnTick (the events carry their own times).
  ConnManager(ConnManagerOptions options, RequestSink& sink, metrics::Registry& registry,
              const Clock& clock = RealClock::Get());

  void OnOpen(const sensors::SocketOpenEvent& event) override;
  void OnData(const sensors::SocketDataEvent& event) override;
  void OnClose(const sensors::SocketCloseEvent& event) override;
  void OnLost(const flow::LostEvent& lost) override;
  void OnTick() override;

  size_t connections() const { return trackers_.size(); }
  uint64_t evictions() const { return evictions_->Value(); }
  // Closed connections dropped before their countdown ended, for room
  // (loupe_conn_trackers_reaped_early_total).
  uint64_t reaped_early() const { return reaped_early_->Value(); }
  // Connections first seen mid-stream (loupe_preexisting_connections_total).
  uint64_t preexisting_connections() const { return preexisting_->Value(); }
  // Connections given up because their data never showed a known protocol with both roles
  // (loupe_ignored_connections_total).
  uint64_t ignored_connections() const { return ignored_->Value(); }

 private:
  struct Entry {
    ConnTracker tracker;
    std::list<sensors::ConnId>::iterator lru;
    // Its place in closed_, once the connection closed (closed_.end() before).
    std::list<sensors::ConnId>::iterator closed;
    // The parser's and tracker's running stats as already added to the counters.
    protocols::ParserStats reported_parser;
    TrackerStats reported_tracker;
  };
  struct ProtocolCounters {
    metrics::Counter* parse_errors = nullptr;
    metrics::Counter* resyncs = nullptr;
    metrics::Counter* requests = nullptr;
    metrics::Counter* unmatched = nullptr;
    metrics::Counter* cut_by_close = nullptr;
    metrics::Counter* oversized = nullptr;
    metrics::Counter* cut_paths = nullptr;
  };

  Entry& Get(const sensors::ConnId& id, int64_t now_ns);
  void Drain(Entry& entry);
  void DrainParser(Entry& entry);
  void DrainTrackerStats(Entry& entry);
  void Housekeeping(int64_t now_ns);
  void Forget(std::unordered_map<sensors::ConnId, Entry, sensors::ConnIdHash>::iterator it);
  const std::string& ProcessName(uint32_t pid);

  ConnManagerOptions options_;
  RequestSink& sink_;
  const Clock& clock_;
  std::unordered_map<sensors::ConnId, Entry, sensors::ConnIdHash> trackers_;
  std::list<sensors::ConnId> lru_;                           // front = most recently active
  std::list<sensors::ConnId> closed_;                        // front = closed first
  std::unordered_map<uint32_t, std::string> process_names_;  // bounded: cleared when large
  std::vector<telemetry::Request> scratch_;
  ProtocolCounters& CountersFor(uint8_t protocol);

  int64_t last_housekeeping_ns_ = 0;
  ParseErrorCounters& parse_errors_;
  metrics::Family<metrics::Counter>& resyncs_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Counter>& unmatched_;
  metrics::Family<metrics::Counter>& cut_by_close_;
  metrics::Family<metrics::Counter>& oversized_;
  metrics::Family<metrics::Counter>& cut_paths_;
  std::unordered_map<uint8_t, ProtocolCounters> protocol_counters_;
  metrics::Counter* evictions_;
  metrics::Counter* reaped_early_;
  metrics::Counter* gaps_;
  metrics::Counter* chunks_reordered_ = nullptr;  // loupe_stream_chunks_out_of_order_total
  metrics::Counter* chunks_stale_ = nullptr;
  metrics::Counter* lost_;
  metrics::Gauge* tracked_;
  metrics::Counter* preexisting_;
  metrics::Counter* ignored_;
};

}  // namespace loupe::ingest
