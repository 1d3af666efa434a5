#include "src/ingest/conn_manager.h"

#include <fstream>

#include "src/base/strings.h"
#include "src/base/utf8.h"

namespace loupe::ingest {
namespace {

constexpr size_t kMaxProcessNames = 4096;
constexpr int64_t kHousekeepingPeriodNs = 200'000'000;
// Events reach the manager a poll period or so after their syscall: a request is timed out only
// when the clock is this much past its deadline, so that a response already in the ring buffer
// is not overtaken by the sweep.
constexpr int64_t kDeliverySlackNs = 100'000'000;

// Adds to `counter` what the parser's or tracker's running `total` grew by since `*reported`.
// Called after every event: the common case, no growth, touches no shared cache line.
void AddGrowth(metrics::Counter* counter, uint64_t total, uint64_t* reported) {
  if (total == *reported) return;
  counter->Inc(total - *reported);
  *reported = total;
}

}  // namespace

ConnManager::ConnManager(ConnManagerOptions options, RequestSink& sink, metrics::Registry& registry,
                         const Clock& clock)
    : options_(options),
      sink_(sink),
      clock_(clock),
      parse_errors_(ParseErrorCounters::For(registry)),
      resyncs_(registry.AddCounter(
          "loupe_stream_resyncs_total",
          "Times a parser skipped to the next message boundary after missing or garbled bytes.",
          {"protocol"})),
      requests_(registry.AddCounter("loupe_requests_total",
                                    "Request/response exchanges reconstructed, by protocol.",
                                    {"protocol"})),
      unmatched_(registry.AddCounter(
          "loupe_unmatched_messages_total",
          "Requests never answered (still pending at close, or pushed out of a full pipeline "
          "queue) and responses without a request (also a response that came after its request "
          "was reported as a timeout), by protocol.",
          {"protocol"})),
      cut_by_close_(registry.AddCounter(
          "loupe_responses_cut_by_close_total",
          "Responses whose connection closed inside their body (one end went away "
          "mid-response): reported with the bytes seen and ending at the last of them, by "
          "protocol.",
          {"protocol"})),
      oversized_(registry.AddCounter(
          "loupe_oversized_messages_total",
          "Messages a parser dropped because their header block (or an HTTP/2 header block or "
          "held upgrade request) outgrew its buffer bound; the parser resumes at the next "
          "message, by protocol.",
          {"protocol"})),
      cut_paths_(registry.AddCounter(
          "loupe_cut_paths_total",
          "Requests reported with their path cut where the bytes seen ended (a request line "
          "longer than loupe.app.capture_bytes, or cut by lost events, with no '?' before the "
          "cut); their records are marked partial, by protocol.",
          {"protocol"})),
      evictions_(registry
                     .AddCounter("loupe_conn_tracker_evictions_total",
                                 "Trackers of live connections evicted because the table was full "
                                 "and none of its connections was closed.")
                     .WithLabels({})),
      reaped_early_(registry
                        .AddCounter("loupe_conn_trackers_reaped_early_total",
                                    "Trackers of closed connections dropped before their death "
                                    "countdown ended, because the table was full.")
                        .WithLabels({})),
      gaps_(registry
                .AddCounter("loupe_stream_gaps_total",
                            "Missing bytes (copy limit, lost events) that cost a parser data: "
                            "inside headers or framing. Gaps in bodies of known length are "
                            "skipped by length and not counted.")
                .WithLabels({})),
      lost_(registry
                .AddCounter("loupe_socket_events_lost_total",
                            "Socket events the kernel could not deliver (ring buffer full).")
                .WithLabels({})),
      tracked_(registry.AddGauge("loupe_conn_trackers", "Connections the L7 engine tracks now.")
                   .WithLabels({})),
      preexisting_(registry
                       .AddCounter("loupe_preexisting_connections_total",
                                   "Connections first seen mid-stream: they began before the "
                                   "agent started or before their process was selected. Parsers "
                                   "join them at the next message boundary; HTTP/2 ones are "
                                   "partial.")
                       .WithLabels({})),
      ignored_(registry
                   .AddCounter("loupe_ignored_connections_total",
                               "Connections the L7 engine gave up on: their data never showed a "
                               "known protocol, or (joined mid-stream) which side is the client.")
                   .WithLabels({})) {
  metrics::Family<metrics::Counter>& out_of_order = registry.AddCounter(
      "loupe_stream_chunks_out_of_order_total",
      "Data chunks that did not arrive in stream order: outcome=reordered were held and put back "
      "in order; outcome=stale lay entirely before the position the stream had reached (a "
      "duplicate, or late after its gap was given up) and were dropped.",
      {"outcome"});
  chunks_reordered_ = out_of_order.WithLabels({"reordered"});
  chunks_stale_ = out_of_order.WithLabels({"stale"});
}

ConnManager::ProtocolCounters& ConnManager::CountersFor(uint8_t protocol) {
  auto [it, inserted] = protocol_counters_.try_emplace(protocol);
  if (inserted) {
    const protocols::ProtocolDescriptor* desc = protocols::FindProtocol(protocol);
    const std::string name = desc != nullptr ? desc->name : "unknown";
    it->second.parse_errors = parse_errors_.ForProtocol(name);
    it->second.resyncs = resyncs_.WithLabels({name});
    it->second.requests = requests_.WithLabels({name});
    it->second.unmatched = unmatched_.WithLabels({name});
    it->second.cut_by_close = cut_by_close_.WithLabels({name});
    it->second.oversized = oversized_.WithLabels({name});
    it->second.cut_paths = cut_paths_.WithLabels({name});
  }
  return it->second;
}

ConnManager::Entry& ConnManager::Get(const sensors::ConnId& id, int64_t now_ns) {
  auto it = trackers_.find(id);
  if (it != trackers_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second;
  }
  if (trackers_.size() >= options_.max_connections && !lru_.empty()) {
    // A closed connection only waits for late events; a live one would lose its parser state.
    if (!closed_.empty()) {
      reaped_early_->Inc();
      Forget(trackers_.find(closed_.front()));
    } else {
      evictions_->Inc();
      Forget(trackers_.find(lru_.back()));
    }
  }
  lru_.push_front(id);
  auto [inserted, ok] =
      trackers_.emplace(id, Entry{ConnTracker(id, options_.keep_query, options_.request_timeout_ns),
                                  lru_.begin(), closed_.end()});
  tracked_->Set(static_cast<double>(trackers_.size()));
  Housekeeping(now_ns);
  return inserted->second;
}

void ConnManager::Forget(
    std::unordered_map<sensors::ConnId, Entry, sensors::ConnIdHash>::iterator it) {
  if (it == trackers_.end()) return;
  lru_.erase(it->second.lru);
  if (it->second.closed != closed_.end()) closed_.erase(it->second.closed);
  trackers_.erase(it);
  tracked_->Set(static_cast<double>(trackers_.size()));
}

void ConnManager::OnOpen(const sensors::SocketOpenEvent& event) {
  Get(event.id, event.time_ns).tracker.OnOpen(event);
}

void ConnManager::OnData(const sensors::SocketDataEvent& event) {
  if (event.preexisting && !trackers_.contains(event.id)) preexisting_->Inc();
  Entry& entry = Get(event.id, event.time_ns);
  const bool was_ignored = entry.tracker.state() == ConnTracker::State::kIgnored;
  entry.tracker.OnData(event);
  if (!was_ignored && entry.tracker.state() == ConnTracker::State::kIgnored) ignored_->Inc();
  Drain(entry);
}

void ConnManager::OnClose(const sensors::SocketCloseEvent& event) {
  auto it = trackers_.find(event.id);
  if (it == trackers_.end()) return;  // never carried data we traced
  it->second.tracker.OnClose(event);
  if (it->second.closed == closed_.end())
    it->second.closed = closed_.insert(closed_.end(), event.id);
  Drain(it->second);
  // Everything the connection had is reported: the death countdown needs only the tracker.
  it->second.tracker.ReleaseParser();
  Housekeeping(event.time_ns);
}

void ConnManager::OnLost(const flow::LostEvent& lost) { lost_->Inc(lost.num_events_lost); }

void ConnManager::OnTick() {
  const int64_t now_ns = clock_.NowRealtimeNs();
  if (options_.request_timeout_ns > 0) {
    for (auto& [id, entry] : trackers_) {
      entry.tracker.OnTimer(now_ns - kDeliverySlackNs);
      Drain(entry);
    }
  }
  Housekeeping(now_ns);
}

void ConnManager::Drain(Entry& entry) {
  DrainTrackerStats(entry);
  DrainParser(entry);
  if (entry.tracker.SwitchProtocol()) {
    // The new protocol's parser counts from zero, under its own protocol label.
    entry.reported_parser = {};
    DrainParser(entry);
  }
}

void ConnManager::DrainTrackerStats(Entry& entry) {
  const TrackerStats& stats = entry.tracker.stats();
  TrackerStats& reported = entry.reported_tracker;
  AddGrowth(chunks_reordered_, stats.reordered, &reported.reordered);
  AddGrowth(chunks_stale_, stats.stale, &reported.stale);
}

void ConnManager::DrainParser(Entry& entry) {
  ConnTracker& tracker = entry.tracker;
  const protocols::ParserStats* stats = tracker.parser_stats();
  if (stats == nullptr) return;
  ProtocolCounters& counters = CountersFor(tracker.protocol());
  protocols::ParserStats& reported = entry.reported_parser;
  AddGrowth(counters.parse_errors, stats->invalid, &reported.invalid);
  AddGrowth(counters.resyncs, stats->resyncs, &reported.resyncs);
  AddGrowth(counters.unmatched, stats->unmatched, &reported.unmatched);
  AddGrowth(counters.cut_by_close, stats->cut_by_close, &reported.cut_by_close);
  AddGrowth(counters.oversized, stats->oversized, &reported.oversized);
  AddGrowth(counters.cut_paths, stats->cut_paths, &reported.cut_paths);
  AddGrowth(gaps_, stats->gaps, &reported.gaps);

  scratch_.clear();
  tracker.TakeRequests(&scratch_);
  for (telemetry::Request& request : scratch_) {
    // The kernel's name from the open event when there was one: a short-lived client may have
    // exited by now. /proc for connections that predate the agent.
    if (request.process.empty()) request.process = ProcessName(request.pid);
    // Bytes from the wire (and comm) may be anything; everything downstream (Observer API and
    // OTLP protobuf strings, the JSON trace printer, metric labels) needs valid UTF-8.
    MakeValidUtf8(&request.method);
    MakeValidUtf8(&request.path);
    MakeValidUtf8(&request.version);
    MakeValidUtf8(&request.host);
    MakeValidUtf8(&request.process);
    counters.requests->Inc();
    sink_.OnRequest(std::move(request));
  }
}

void ConnManager::Housekeeping(int64_t now_ns) {
  if (now_ns - last_housekeeping_ns_ < kHousekeepingPeriodNs) return;
  last_housekeeping_ns_ = now_ns;
  for (auto it = trackers_.begin(); it != trackers_.end();) {
    const ConnTracker& t = it->second.tracker;
    const int64_t idle = now_ns - t.last_activity_ns();
    const bool reap = (t.closed() && idle > options_.closed_linger_ns) ||
                      idle > options_.idle_timeout_ns || t.state() == ConnTracker::State::kIgnored;
    if (reap) {
      auto next = std::next(it);
      Forget(it);
      it = next;
    } else {
      ++it;
    }
  }
}

const std::string& ConnManager::ProcessName(uint32_t pid) {
  auto it = process_names_.find(pid);
  if (it != process_names_.end()) return it->second;
  if (process_names_.size() >= kMaxProcessNames) process_names_.clear();
  std::string name;
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::getline(comm, name);
  return process_names_.emplace(pid, std::string(StripWhitespace(name))).first->second;
}

}  // namespace loupe::ingest
