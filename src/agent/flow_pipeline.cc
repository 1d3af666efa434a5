#include "src/agent/flow_pipeline.h"

#include <cstdio>

#include "src/metrics/app/routes.h"
#include "src/telemetry/request_flows.h"

namespace loupe::agent {
namespace {

const char* LostSourceLabel(flow::LostSource source) {
  switch (source) {
    case flow::LostSource::kPerfEventRingBuffer:
      return "perf_event_ring_buffer";
    case flow::LostSource::kObserverEventsQueue:
      return "observer_events_queue";
    case flow::LostSource::kHubbleRingBuffer:
      return "hubble_ring_buffer";
    case flow::LostSource::kUnknown:
      break;
  }
  return "unknown";
}

const char* TcpEventLabel(sensors::TcpEvent::Kind kind) {
  using Kind = sensors::TcpEvent::Kind;
  switch (kind) {
    case Kind::kConnected:
      return "connected";
    case Kind::kConnectFailed:
      return "connect_failed";
    case Kind::kAccepted:
      return "accepted";
    case Kind::kRetransmit:
      return "retransmit";
    case Kind::kResetSent:
      return "reset_sent";
    case Kind::kResetReceived:
      return "reset_received";
    case Kind::kClosed:
      return "closed";
  }
  return "unknown";
}

}  // namespace

FlowPipeline::FlowPipeline(flow::FlowBuffer& buffer, metrics::Registry& registry,
                           identity::IdentityCache& identity, TracePrinter printer,
                           std::chrono::milliseconds process_sweep_interval)
    : buffer_(buffer),
      identity_(identity),
      lost_(registry.AddCounter("hubble_lost_events_total",
                                "Events lost before they became flows, by where they were lost.",
                                {"source"})),
      dns_invalid_(ingest::ParseErrorCounters::For(registry).ForProtocol("dns")),
      printer_(printer) {
  if (printer_ != TracePrinter::kDisabled && printer_ != TracePrinter::kCounter)
    lines_ = std::make_unique<LinePrinter>(stdout);
  auto& tcp_events = registry.AddCounter(
      "loupe_tcp_events_total", "TCP lifecycle events seen by the sock/tcp tracepoints, by event.",
      {"event"});
  for (size_t kind = 0; kind < tcp_events_.size(); ++kind) {
    tcp_events_[kind] =
        tcp_events.WithLabels({TcpEventLabel(static_cast<sensors::TcpEvent::Kind>(kind))});
  }
  if (process_sweep_interval.count() > 0) {
    sweeper_ = std::thread([this, process_sweep_interval] { SweepLoop(process_sweep_interval); });
  }
}

void FlowPipeline::SweepLoop(std::chrono::milliseconds interval) {
  std::unique_lock<std::mutex> lock(sweep_mu_);
  while (!sweep_cv_.wait_for(lock, interval, [this] { return sweep_stopping_; })) {
    lock.unlock();
    identity_.SweepProcesses();
    lock.lock();
  }
}

FlowPipeline::~FlowPipeline() {
  {
    std::lock_guard<std::mutex> lock(sweep_mu_);
    sweep_stopping_ = true;
  }
  sweep_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
  lines_.reset();  // writes the lines still pending
  if (printer_ == TracePrinter::kCounter) {
    std::printf("Processed %llu requests\n",  // Beyla's counter line
                static_cast<unsigned long long>(printed_requests_.load()));
    std::fflush(stdout);
  }
}

FlowPipeline::TracePrinter FlowPipeline::ParseTracePrinter(const std::string& name) {
  if (name == "text") return TracePrinter::kText;
  if (name == "json") return TracePrinter::kJson;
  if (name == "json_indent") return TracePrinter::kJsonIndent;
  if (name == "counter") return TracePrinter::kCounter;
  return TracePrinter::kDisabled;
}

void FlowPipeline::OnRequest(telemetry::Request&& request) {
  switch (printer_) {
    case TracePrinter::kDisabled:
      break;
    case TracePrinter::kText:
      lines_->PrintWith(
          [&request](std::string* out) { out->append(telemetry::FormatRequestText(request)); });
      break;
    case TracePrinter::kJson:
      lines_->PrintWith(
          [&request](std::string* out) { telemetry::AppendRequestJson(request, out); });
      break;
    case TracePrinter::kJsonIndent:
      lines_->PrintWith(
          [&request](std::string* out) { telemetry::AppendRequestJsonIndented(request, out); });
      break;
    case TracePrinter::kCounter:
      break;
  }
  printed_requests_.fetch_add(1, std::memory_order_relaxed);
  flow::Flow request_flow;
  flow::Flow response_flow;
  telemetry::RequestToFlows(request, &request_flow, &response_flow);
  // The traced process is the server (destination of the request) or the client (its source).
  const bool server = request.role == telemetry::Role::kServer;
  // A short-lived client is often gone by now: the event's command then names it. The ends are
  // looked up once, at the request's start; the response goes between the same two.
  identity_.Enrich(&request_flow, /*pid_is_source=*/!server, request.process);
  response_flow.src_info = request_flow.dst_info;
  response_flow.dst_info = request_flow.src_info;
  // The span stage and the RED metrics both need the request's route: matched once per request.
  const metrics::app::RouteScope route_scope;
  std::optional<std::pair<std::string, std::string>> span;
  if (span_hook_) span = span_hook_(request);
  const FlowTrace trace{span ? std::string_view(span->first) : std::string_view(),
                        span ? std::string_view(span->second) : std::string_view()};
  const FlowTrace* sampled = span ? &trace : nullptr;
  for (FlowObserver* o : observers_) o->OnRequest(request, sampled);
  Publish(std::move(request_flow));
  Publish(std::move(response_flow), sampled);
}

void FlowPipeline::Publish(flow::Flow&& flow, const FlowTrace* trace) {
  for (FlowObserver* o : observers_) o->OnFlow(flow, trace);
  buffer_.Append(std::move(flow));
}

void FlowPipeline::OnFlow(flow::Flow&& flow) {
  // Sensors that know the process report it as the flow's source (the local end).
  identity_.Enrich(&flow, /*pid_is_source=*/true);
  Publish(std::move(flow));
}

void FlowPipeline::OnLost(const flow::LostEvent& lost) {
  lost_.WithLabels({LostSourceLabel(lost.source)})->Inc(lost.num_events_lost);
  buffer_.AppendLost(lost);
}

void FlowPipeline::OnTcpEvent(const sensors::TcpEvent& event) {
  const auto kind = static_cast<size_t>(event.kind);
  if (kind < tcp_events_.size()) tcp_events_[kind]->Inc();
  if (event.kind == sensors::TcpEvent::Kind::kConnected) {
    const double seconds = static_cast<double>(event.latency_ns) / 1e9;
    if (!observers_.empty()) {
      flow::Flow tuple;
      tuple.time_ns = event.time_ns;
      tuple.src_ip = event.src_ip;
      tuple.dst_ip = event.dst_ip;
      tuple.src_port = event.src_port;
      tuple.dst_port = event.dst_port;
      tuple.l4 = flow::L4Protocol::kTcp;
      tuple.pid = event.pid;
      tuple.netns = event.netns;
      tuple.direction = flow::TrafficDirection::kEgress;
      // The command names a process that has exited by now (a short-lived client).
      identity_.Enrich(&tuple, /*pid_is_source=*/true, event.comm);
      for (FlowObserver* o : observers_) o->OnTcpConnect(tuple, seconds);
    }
  }
}

void RecentDnsMessages::PopOldest() {
  keys_.erase(ring_[head_].key);
  head_ = (head_ + 1) % kCapacity;
  --size_;
}

bool RecentDnsMessages::SeenOrAdd(uint64_t key, int64_t time_ns) {
  // A window of recent messages: a retransmitted query (same id) after it is not a duplicate.
  while (size_ > 0 && time_ns - ring_[head_].time_ns > window_ns_) PopOldest();
  if (keys_.contains(key)) return true;
  if (size_ == kCapacity) PopOldest();
  ring_[(head_ + size_) % kCapacity] = Entry{key, time_ns};
  ++size_;
  keys_.insert(key);
  return false;
}

std::optional<uint64_t> DnsMessageKey(const flow::Flow& flow, std::span<const uint8_t> payload) {
  // TCP DNS carries a 2-byte length first.
  const size_t off = flow.l4 == flow::L4Protocol::kTcp ? 2 : 0;
  if (payload.size() < off + 4) return std::nullopt;
  uint64_t key = 1469598103934665603ULL;
  auto mix = [&key](const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < n; ++i) key = (key ^ p[i]) * 1099511628211ULL;
  };
  mix(flow.src_ip.bytes.data(), 16);
  mix(flow.dst_ip.bytes.data(), 16);
  mix(&flow.src_port, sizeof(flow.src_port));
  mix(&flow.dst_port, sizeof(flow.dst_port));
  mix(payload.data() + off, 3);  // id and the QR/opcode byte
  return key;
}

bool FlowPipeline::DuplicateDnsMessage(const flow::Flow& flow, std::span<const uint8_t> payload) {
  const std::optional<uint64_t> key = DnsMessageKey(flow, payload);
  return key.has_value() && recent_dns_.SeenOrAdd(*key, flow.time_ns);
}

void FlowPipeline::OnDnsPacket(flow::Flow&& flow, std::span<const uint8_t> payload) {
  flow::Flow l7;
  protocols::ParseState state;
  {
    std::lock_guard<std::mutex> lock(dns_mu_);
    // A packet between two local endpoints crosses two observed interfaces (the sender's and
    // the receiver's); it is one DNS message, so it becomes one L7 flow (as Hubble's DNS proxy
    // reports it once). The L3/L4 flows of both crossings stay.
    if (DuplicateDnsMessage(flow, payload)) {
      identity_.Enrich(&flow, /*pid_is_source=*/true);
      Publish(std::move(flow));
      return;
    }
    state = dns_.Process(flow, payload, &l7);
  }
  if (state == protocols::ParseState::kSuccess && l7.l7 && l7.l7->dns && !l7.l7->dns->ips.empty()) {
    // Answers name their addresses: later flows to them carry the names (destination_names).
    const flow::DnsInfo& dns = *l7.l7->dns;
    std::vector<std::string> names{dns.query};
    names.insert(names.end(), dns.cnames.begin(), dns.cnames.end());
    identity_.OnDnsAnswer(names, dns.ips, dns.ttl, l7.time_ns);
  }
  identity_.Enrich(&flow, /*pid_is_source=*/true);
  Publish(std::move(flow));
  if (state == protocols::ParseState::kSuccess) {
    identity_.Enrich(&l7, /*pid_is_source=*/true);
    Publish(std::move(l7));
  } else if (state == protocols::ParseState::kInvalid) {
    dns_invalid_->Inc();
  }
}

}  // namespace loupe::agent
