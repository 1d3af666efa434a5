#include "src/ingest/conn_tracker.h"

#include <algorithm>

namespace loupe::ingest {
namespace {

// Out-of-order chunks held per direction before the gap is declared.
constexpr size_t kMaxHeldChunks = 16;
constexpr size_t kMaxHeldBytes = 64 * 1024;
// Data calls without a recognised protocol before the connection is ignored.
constexpr int kMaxUnknownDataEvents = 4;
// Data calls of a known protocol that can tell its roles from a message (HTTP/2 joined
// mid-stream between two ephemeral ports) before the connection is ignored: a stream of DATA
// frames can run for a long time before the next HEADERS frame tells.
constexpr int kMaxRoleSearchEvents = 1024;

size_t Index(sensors::DataDirection dir) { return dir == sensors::DataDirection::kEgress ? 0 : 1; }

}  // namespace

ConnTracker::ConnTracker(const sensors::ConnId& id, bool keep_query, int64_t request_timeout_ns)
    : id_(id), keep_query_(keep_query), request_timeout_ns_(request_timeout_ns) {}

void ConnTracker::OnOpen(const sensors::SocketOpenEvent& event) {
  role_ = event.role;
  tuple_ = event.tuple;
  tid_ = event.tid;
  comm_ = event.comm;
  last_activity_ns_ = event.time_ns;
}

bool ConnTracker::IsRequestSide(sensors::DataDirection dir) const {
  // A server receives requests; a client sends them.
  return (role_ == sensors::ConnRole::kServer) == (dir == sensors::DataDirection::kIngress);
}

void ConnTracker::EnsureParser(const sensors::SocketDataEvent& event) {
  if (parser_ || state_ == State::kIgnored) return;
  if (role_ == sensors::ConnRole::kUnknown) role_ = event.role;
  if (tuple_.local_port == 0) tuple_ = event.tuple;
  preexisting_ = preexisting_ || event.preexisting;
  const protocols::ProtocolDescriptor* desc = nullptr;
  if (event.protocol != 0) desc = protocols::FindProtocol(event.protocol);
  if (desc != nullptr && role_ == sensors::ConnRole::kUnknown && desc->is_request != nullptr) {
    // Joined mid-stream with no role (HTTP/2 between two ephemeral ports): the side that sends
    // requests is the client.
    if (const std::optional<bool> request = desc->is_request(event.data)) {
      const bool egress = event.direction == sensors::DataDirection::kEgress;
      role_ = *request == egress ? sensors::ConnRole::kClient : sensors::ConnRole::kServer;
    }
  }
  if (desc == nullptr && !event.data.empty()) {
    // Without a role (a connection that predates the agent), the side that sends a request
    // first is the client.
    if (role_ == sensors::ConnRole::kUnknown) {
      for (bool request_side : {true, false}) {
        desc = protocols::InferProtocol(event.data, request_side);
        if (desc != nullptr) {
          const bool egress = event.direction == sensors::DataDirection::kEgress;
          role_ =
              (request_side == egress) ? sensors::ConnRole::kClient : sensors::ConnRole::kServer;
          break;
        }
      }
    } else {
      desc = protocols::InferProtocol(event.data, IsRequestSide(event.direction));
    }
  }
  if (desc == nullptr || role_ == sensors::ConnRole::kUnknown) {
    const int limit = desc != nullptr && desc->is_request != nullptr ? kMaxRoleSearchEvents
                                                                     : kMaxUnknownDataEvents;
    if (++data_events_without_protocol_ >= limit) {
      state_ = State::kIgnored;
      ++stats_.unknown_protocol;
    }
    return;
  }
  protocol_ = desc->id;
  protocols::ParserOptions options;
  options.keep_query = keep_query_;
  options.connection_preexisting = preexisting_;
  options.request_timeout_ns = request_timeout_ns_;
  parser_ = desc->create(options);
  state_ = State::kTracing;
}

void ConnTracker::OnData(const sensors::SocketDataEvent& event) {
  last_activity_ns_ = std::max(last_activity_ns_, event.time_ns);
  if (closed_) return;  // the parser's OnClose reported everything; nothing after it counts
  if (tid_ == 0) tid_ = event.tid;
  if (comm_.empty()) comm_ = event.comm;
  EnsureParser(event);
  if (state_ == State::kIgnored) return;
  Direction& d = dirs_[Index(event.direction)];
  if (!parser_) {
    // Not recognisable yet (e.g. the middle of a request arrived before its start): hold it,
    // bounded, until a parser exists.
    if (d.held.size() < kMaxHeldChunks && d.held_bytes + event.data.size() <= kMaxHeldBytes) {
      d.held_bytes += event.data.size();
      d.held.emplace(
          event.position,
          PendingChunk{{event.data.begin(), event.data.end()}, event.original_size, event.time_ns});
    }
    return;
  }
  if (!d.started) {
    // The first chunk a parser sees on a side defines where that side starts (or an earlier
    // chunk held before the parser existed).
    d.started = true;
    d.next_position =
        d.held.empty() ? event.position : std::min(event.position, d.held.begin()->first);
  }
  if (event.position + event.original_size <= d.next_position) {
    ++stats_.stale;
    return;
  }
  if (event.position > d.next_position) {
    // Early: hold it until the missing bytes arrive (another thread's syscall committed later).
    ++stats_.reordered;
    PendingChunk chunk{{event.data.begin(), event.data.end()}, event.original_size, event.time_ns};
    d.held_bytes += chunk.data.size();
    d.held.emplace(event.position, std::move(chunk));
    FlushHeld(event.direction,
              /*force=*/d.held.size() > kMaxHeldChunks || d.held_bytes > kMaxHeldBytes);
    return;
  }
  Feed(event.direction, event.position, event.data, event.original_size, event.time_ns);
  FlushHeld(event.direction, /*force=*/false);
}

void ConnTracker::Feed(sensors::DataDirection dir, uint64_t position, std::span<const uint8_t> data,
                       uint32_t original_size, int64_t time_ns) {
  Direction& d = dirs_[Index(dir)];
  if (position < d.next_position) {
    // Overlaps what was delivered: skip the overlapping prefix.
    const uint64_t skip = d.next_position - position;
    data = skip < data.size() ? data.subspan(skip) : std::span<const uint8_t>();
    original_size = static_cast<uint32_t>(original_size - skip);
    position = d.next_position;
  }
  protocols::StreamChunk chunk{position, data, original_size, time_ns};
  Deliver(dir, chunk);
  d.next_position = position + original_size;
}

void ConnTracker::FlushHeld(sensors::DataDirection dir, bool force) {
  Direction& d = dirs_[Index(dir)];
  if (!d.started && !d.held.empty()) {
    d.started = true;
    d.next_position = d.held.begin()->first;
  }
  while (!d.held.empty()) {
    auto it = d.held.begin();
    if (it->first > d.next_position && !force) break;
    PendingChunk chunk = std::move(it->second);
    const uint64_t position = it->first;
    d.held_bytes -= chunk.data.size();
    d.held.erase(it);
    if (position + chunk.original_size <= d.next_position) {
      ++stats_.stale;
      continue;
    }
    // When forced (window full, or the connection closed) everything held is delivered and
    // the missing bytes before it become a gap.
    Feed(dir, position, chunk.data, chunk.original_size, chunk.time_ns);
  }
}

void ConnTracker::Deliver(sensors::DataDirection dir, const protocols::StreamChunk& chunk) {
  if (IsRequestSide(dir)) {
    parser_->OnRequestBytes(chunk);
  } else {
    parser_->OnResponseBytes(chunk);
  }
}

void ConnTracker::OnClose(const sensors::SocketCloseEvent& event) {
  last_activity_ns_ = std::max(last_activity_ns_, event.time_ns);
  if (parser_) {
    FlushHeld(sensors::DataDirection::kEgress, /*force=*/true);
    FlushHeld(sensors::DataDirection::kIngress, /*force=*/true);
    parser_->OnClose(event.time_ns);
  }
  closed_ = true;
  state_ = State::kClosed;
}

void ConnTracker::ReleaseParser() {
  if (!closed_) return;
  parser_.reset();
  for (Direction& d : dirs_) {
    d.held.clear();
    d.held_bytes = 0;
  }
}

void ConnTracker::OnTimer(int64_t now_ns) {
  if (parser_) parser_->OnTimer(now_ns);
}

bool ConnTracker::SwitchProtocol() {
  if (!parser_) return false;
  protocols::ProtocolSwitch next = parser_->TakeSuccessor();
  if (!next.parser) return false;
  parser_ = std::move(next.parser);
  protocol_ = next.protocol;
  return true;
}

void ConnTracker::TakeRequests(std::vector<telemetry::Request>* out) {
  if (!parser_) return;
  const size_t first = out->size();
  parser_->TakeRequests(out);
  for (size_t i = first; i < out->size(); ++i) {
    telemetry::Request& r = (*out)[i];
    r.pid = id_.pid;
    if (r.process.empty()) r.process = comm_;
    if (r.tid == 0) r.tid = tid_;
    r.role = role_ == sensors::ConnRole::kServer   ? telemetry::Role::kServer
             : role_ == sensors::ConnRole::kClient ? telemetry::Role::kClient
                                                   : telemetry::Role::kUnknown;
    r.local_ip = tuple_.local_ip;
    r.remote_ip = tuple_.remote_ip;
    r.local_port = tuple_.local_port;
    r.remote_port = tuple_.remote_port;
    r.partial = r.partial || preexisting_;
  }
}

const protocols::ParserStats* ConnTracker::parser_stats() const {
  return parser_ ? &parser_->stats() : nullptr;
}

}  // namespace loupe::ingest
