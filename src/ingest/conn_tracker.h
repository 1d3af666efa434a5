// Per-connection state of the L7 engine: maps a socket's two directions onto a parser's request
// and response sides, restores byte order within a small reorder window, detects gaps, and
// collects completed Request records.
//
// State machine (forward only): kCollecting (no parser yet: protocol unknown) -> kTracing (a
// parser owns the streams) -> kClosed (death countdown: late events are still accepted until the
// manager reaps it). A connection whose protocol stays unknown moves to kIgnored. While tracing,
// the parser may be replaced once the connection switches protocol (HTTP/1.1 Upgrade: h2c; see
// SwitchProtocol).
// Not thread-safe: owned by one ingest shard.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/protocols/common/interface.h"
#include "src/sensors/socket_events.h"
#include "src/telemetry/request.h"

namespace loupe::ingest {

// Missing bytes are not counted here: the parser decides whether a position jump cost data
// (ParserStats::gaps, exported as loupe_stream_gaps_total) or was a body skipped by length.
struct TrackerStats {
  uint64_t reordered = 0;  // chunks that arrived before an earlier one and were held
  uint64_t stale = 0;      // chunks entirely before the current position (duplicates)
  uint64_t unknown_protocol = 0;
};

class ConnTracker {
 public:
  enum class State : uint8_t { kCollecting, kTracing, kIgnored, kClosed };

  // `request_timeout_ns`: ParserOptions::request_timeout_ns (0 = off).
  ConnTracker(const sensors::ConnId& id, bool keep_query, int64_t request_timeout_ns = 0);

  void OnOpen(const sensors::SocketOpenEvent& event);
  void OnData(const sensors::SocketDataEvent& event);
  void OnClose(const sensors::SocketCloseEvent& event);
  // Time passed (`now_ns` on the events' clock): lets the parser time out unanswered requests.
  void OnTimer(int64_t now_ns);
  // When the parser has switched protocol, replaces it with its successor and returns true; the
  // caller takes the old parser's requests and stats before (they are gone afterwards), and
  // protocol() / parser_stats() then describe the new one (stats start from zero).
  bool SwitchProtocol();

  // Once closed and drained (TakeRequests, stats read): frees the parser, whose OnClose left it
  // with nothing more to report, so that a closed connection waiting out its death countdown
  // holds only the tracker. Later events of the connection are ignored, as the closed parser
  // ignored them.
  void ReleaseParser();

  // Moves completed requests (with pid, role and addresses filled) into `out`.
  void TakeRequests(std::vector<telemetry::Request>* out);

  State state() const { return state_; }
  bool closed() const { return closed_; }
  const TrackerStats& stats() const { return stats_; }
  const protocols::ParserStats* parser_stats() const;
  uint8_t protocol() const { return protocol_; }
  int64_t last_activity_ns() const { return last_activity_ns_; }

 private:
  struct PendingChunk {
    std::vector<uint8_t> data;
    uint32_t original_size = 0;
    int64_t time_ns = 0;
  };
  struct Direction {
    uint64_t next_position = 0;  // expected position of the next chunk
    bool started = false;
    std::map<uint64_t, PendingChunk> held;  // out-of-order chunks by position
    size_t held_bytes = 0;
  };

  void EnsureParser(const sensors::SocketDataEvent& event);
  void Deliver(sensors::DataDirection dir, const protocols::StreamChunk& chunk);
  void Feed(sensors::DataDirection dir, uint64_t position, std::span<const uint8_t> data,
            uint32_t original_size, int64_t time_ns);
  void FlushHeld(sensors::DataDirection dir, bool force);
  bool IsRequestSide(sensors::DataDirection dir) const;

  sensors::ConnId id_;
  bool keep_query_;
  int64_t request_timeout_ns_;
  State state_ = State::kCollecting;
  bool closed_ = false;
  bool preexisting_ = false;
  sensors::ConnRole role_ = sensors::ConnRole::kUnknown;
  sensors::ConnTuple tuple_;
  uint32_t tid_ = 0;
  std::string comm_;  // from the open event; "" when the connection predates the agent
  uint8_t protocol_ = 0;
  int data_events_without_protocol_ = 0;
  int64_t last_activity_ns_ = 0;
  Direction dirs_[2];
  std::unique_ptr<protocols::ConnectionParser> parser_;
  TrackerStats stats_;
};

}  // namespace loupe::ingest
