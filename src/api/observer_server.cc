#include "src/api/observer_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <optional>
#include <utility>

#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "observer/observer.grpc.pb.h"
#include "peer/peer.grpc.pb.h"
#include "src/api/convert.h"
#include "src/base/logging.h"

namespace loupe::api {
namespace {

using flow::FlowBuffer;

constexpr size_t kReadChunk = 1024;
constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr int64_t kRateWindowNs = 60'000'000'000;
// GetNamespaces lists namespaces with flows in this window (Hubble: the last hour).
constexpr int64_t kNamespaceHorizonNs = 3600LL * 1'000'000'000;

int64_t TimestampNs(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000'000 + ts.nanos();
}

void SetTimestamp(int64_t ns, google::protobuf::Timestamp* ts) {
  int64_t s = ns / 1'000'000'000;
  int64_t n = ns % 1'000'000'000;
  if (n < 0) {
    n += 1'000'000'000;
    --s;
  }
  ts->set_seconds(s);
  ts->set_nanos(static_cast<int32_t>(n));
}

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// A request's whitelist/blacklist, with the filters that can never match on Loupe's flows already
// decided (see ConvertedFilter).
struct Matcher {
  std::optional<flow::FlowPredicate> predicate;
  bool match_nothing = false;

  bool Matches(const flow::Flow& f) const { return !match_nothing && predicate->Matches(f); }
};

absl::StatusOr<Matcher> BuildMatcher(const observer::GetFlowsRequest& req,
                                     const flow::FilterContext& ctx) {
  std::vector<flow::FilterSpec> whitelist;
  std::vector<flow::FilterSpec> blacklist;
  for (const auto& f : req.whitelist()) {
    auto converted = FilterFromProto(f);
    if (!converted.ok()) return converted.status();
    if (!converted->never_matches) whitelist.push_back(std::move(converted->spec));
  }
  for (const auto& f : req.blacklist()) {
    auto converted = FilterFromProto(f);
    if (!converted.ok()) return converted.status();
    if (!converted->never_matches) blacklist.push_back(std::move(converted->spec));
  }
  Matcher m;
  m.match_nothing = req.whitelist_size() > 0 && whitelist.empty();
  auto predicate = flow::FlowPredicate::Compile(whitelist, blacklist, ctx);
  if (!predicate.ok()) return predicate.status();
  m.predicate.emplace(std::move(predicate).value());
  return m;
}

}  // namespace

// State shared by the services: the buffer, this node's description, and flow-rate samples.
class ObserverServer::Impl {
 public:
  Impl(FlowBuffer& buffer, const flow::AgentEventLog* agent_events, const ServerInfo& info,
       const flow::FilterContext& filter_context, const Clock& clock)
      : buffer_(buffer),
        agent_events_(agent_events),
        info_(info),
        filter_context_(filter_context),
        clock_(clock),
        observer_(this),
        peer_(this) {
    convert_.node_name = info.node_name;
    convert_.emitter_version = info.version;
    convert_.interface_name = filter_context.interface_name;
    convert_.kernel_drop_reason_name = info.kernel_drop_reason_name;
  }

  void Sample() {
    std::lock_guard lock(rate_mu_);
    const int64_t now = clock_.NowMonotonicNs();
    samples_.emplace_back(now, buffer_.seen_flows());
    while (samples_.size() > 2 && now - samples_.front().first > kRateWindowNs)
      samples_.pop_front();
  }

  double FlowsRate() {
    std::lock_guard lock(rate_mu_);
    const int64_t now = clock_.NowMonotonicNs();
    const uint64_t seen = buffer_.seen_flows();
    for (const auto& [at, count] : samples_) {
      if (now - at > kRateWindowNs) continue;
      const double seconds = static_cast<double>(now - at) / 1e9;
      if (seconds < 0.5) break;
      return static_cast<double>(seen - count) / seconds;
    }
    return 0;
  }

  uint64_t UptimeNs() const {
    const int64_t up = clock_.NowMonotonicNs() - info_.start_time_ns;
    return up > 0 ? static_cast<uint64_t>(up) : 0;
  }

  bool stopping() const { return stopping_.load(); }
  void set_stopping() { stopping_ = true; }

  class ObserverService final : public observer::Observer::Service {
   public:
    explicit ObserverService(Impl* impl) : impl_(impl) {}

    grpc::Status GetFlows(grpc::ServerContext* context, const observer::GetFlowsRequest* req,
                          grpc::ServerWriter<observer::GetFlowsResponse>* writer) override {
      return impl_->GetFlows(context, *req, writer);
    }

    grpc::Status GetAgentEvents(
        grpc::ServerContext* context, const observer::GetAgentEventsRequest* req,
        grpc::ServerWriter<observer::GetAgentEventsResponse>* writer) override {
      return impl_->GetAgentEvents(context, *req, writer);
    }

    grpc::Status GetDebugEvents(grpc::ServerContext*, const observer::GetDebugEventsRequest*,
                                grpc::ServerWriter<observer::GetDebugEventsResponse>*) override {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                          "GetDebugEvents is not implemented by Loupe");
    }

    grpc::Status GetNodes(grpc::ServerContext*, const observer::GetNodesRequest*,
                          observer::GetNodesResponse* resp) override {
      observer::Node* node = resp->add_nodes();
      node->set_name(impl_->info_.node_name);
      node->set_version(impl_->info_.version);
      node->set_address(impl_->info_.address);
      node->set_state(relay::NODE_CONNECTED);
      node->mutable_tls()->set_enabled(false);
      node->set_uptime_ns(impl_->UptimeNs());
      node->set_num_flows(impl_->buffer_.size());
      node->set_max_flows(impl_->buffer_.capacity());
      node->set_seen_flows(impl_->buffer_.seen_flows());
      return grpc::Status::OK;
    }

    // As Hubble: the namespaces of flows seen in the last hour, sorted by cluster, then name.
    grpc::Status GetNamespaces(grpc::ServerContext*, const observer::GetNamespacesRequest*,
                               observer::GetNamespacesResponse* resp) override {
      const int64_t since = impl_->clock_.NowRealtimeNs() - kNamespaceHorizonNs;
      for (const auto& seen : impl_->buffer_.Namespaces(since)) {
        observer::Namespace* ns = resp->add_namespaces();
        ns->set_cluster(seen.cluster);
        ns->set_namespace_(seen.name);
      }
      return grpc::Status::OK;
    }

    grpc::Status ServerStatus(grpc::ServerContext*, const observer::ServerStatusRequest*,
                              observer::ServerStatusResponse* resp) override {
      resp->set_num_flows(impl_->buffer_.size());
      resp->set_max_flows(impl_->buffer_.capacity());
      resp->set_seen_flows(impl_->buffer_.seen_flows());
      resp->set_uptime_ns(impl_->UptimeNs());
      resp->set_version(impl_->info_.version);
      resp->set_flows_rate(impl_->FlowsRate());
      return grpc::Status::OK;
    }

   private:
    Impl* impl_;
  };

  class PeerService final : public peer::Peer::Service {
   public:
    explicit PeerService(Impl* impl) : impl_(impl) {}

    grpc::Status Notify(grpc::ServerContext* context, const peer::NotifyRequest*,
                        grpc::ServerWriter<peer::ChangeNotification>* writer) override {
      peer::ChangeNotification n;
      n.set_name(impl_->info_.node_name);
      n.set_address(impl_->info_.address);
      n.set_type(peer::PEER_ADDED);
      if (!writer->Write(n)) return grpc::Status::OK;
      // A single node never changes; keep the stream open as Hubble does until the client leaves.
      while (!context->IsCancelled() && !impl_->stopping()) {
        std::this_thread::sleep_for(kPollInterval);
      }
      return grpc::Status::OK;
    }

   private:
    Impl* impl_;
  };

  ObserverService& observer_service() { return observer_; }
  PeerService& peer_service() { return peer_; }
  ServerInfo& info() { return info_; }

 private:
  struct Window {
    std::optional<int64_t> since_ns;
    std::optional<int64_t> until_ns;
    bool Contains(int64_t t) const {
      return (!since_ns || t >= *since_ns) && (!until_ns || t <= *until_ns);
    }
  };

  bool Send(grpc::ServerWriter<observer::GetFlowsResponse>* writer, const flow::Flow& f) {
    observer::GetFlowsResponse resp;
    FlowToProto(f, convert_, resp.mutable_flow());
    resp.set_node_name(info_.node_name);
    *resp.mutable_time() = resp.flow().time();
    return writer->Write(resp);
  }

  bool SendLost(grpc::ServerWriter<observer::GetFlowsResponse>* writer,
                const flow::LostEvent& lost) {
    observer::GetFlowsResponse resp;
    LostEventToProto(lost, resp.mutable_lost_events());
    resp.set_node_name(info_.node_name);
    SetTimestamp(clock_.NowRealtimeNs(), resp.mutable_time());
    return writer->Write(resp);
  }

  bool SendMissed(grpc::ServerWriter<observer::GetFlowsResponse>* writer, uint64_t missed) {
    flow::LostEvent lost;
    lost.source = flow::LostSource::kHubbleRingBuffer;
    lost.num_events_lost = missed;
    lost.first_ns = lost.last_ns = clock_.NowRealtimeNs();
    return SendLost(writer, lost);
  }

  grpc::Status GetFlows(grpc::ServerContext* context, const observer::GetFlowsRequest& req,
                        grpc::ServerWriter<observer::GetFlowsResponse>* writer) {
    if (req.first() && req.follow()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "first and follow cannot be combined");
    }
    auto matcher = BuildMatcher(req, filter_context_);
    if (!matcher.ok()) return ToGrpc(matcher.status());
    Window window;
    if (req.has_since()) window.since_ns = TimestampNs(req.since());
    if (req.has_until()) window.until_ns = TimestampNs(req.until());
    if (window.since_ns && window.until_ns && *window.since_ns > *window.until_ns) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "since is after until");
    }

    const uint64_t number = req.number();
    const uint64_t end = buffer_.next_seq();
    // Where the stream starts, as Hubble decides it: `since` and `first` read from the oldest
    // flow; `follow` without a number starts at the newest; otherwise rewind to the last
    // `number` matching flows.
    if (req.first() || window.since_ns || (number == 0 && !req.follow())) {
      return Stream(context, writer, *matcher, window, buffer_.oldest_seq(), number, req.follow(),
                    end);
    }
    if (number == 0) {
      return Stream(context, writer, *matcher, window, end, 0, /*follow=*/true, end);
    }

    std::vector<FlowBuffer::Entry> last;
    uint64_t matched = 0;
    uint64_t cursor = end;
    std::vector<FlowBuffer::Entry> chunk;
    while (matched < number && !context->IsCancelled()) {
      const uint64_t oldest = buffer_.oldest_seq();
      if (cursor <= oldest) break;
      const uint64_t from = cursor - oldest > kReadChunk ? cursor - kReadChunk : oldest;
      chunk.clear();
      uint64_t missed = 0;
      buffer_.Read(from, cursor, kReadChunk, &chunk, &missed);
      for (auto it = chunk.rbegin(); it != chunk.rend() && matched < number; ++it) {
        if (it->lost) {
          last.push_back(std::move(*it));
        } else if (it->flow && window.Contains(it->flow->time_ns) && matcher->Matches(*it->flow)) {
          last.push_back(std::move(*it));
          ++matched;
        }
      }
      cursor = from;
    }
    for (auto it = last.rbegin(); it != last.rend(); ++it) {
      const bool ok = it->lost ? SendLost(writer, *it->lost) : Send(writer, *it->flow);
      if (!ok) return grpc::Status::OK;
    }
    if (!req.follow()) return grpc::Status::OK;
    return Stream(context, writer, *matcher, window, end, 0, /*follow=*/true, end);
  }

  // Sends matching flows from `cursor` on: up to `limit` (0 = no limit); without `follow` it ends
  // at `end` (the newest entry when the request arrived).
  grpc::Status Stream(grpc::ServerContext* context,
                      grpc::ServerWriter<observer::GetFlowsResponse>* writer,
                      const Matcher& matcher, const Window& window, uint64_t cursor, uint64_t limit,
                      bool follow, uint64_t end) {
    uint64_t sent = 0;
    std::vector<FlowBuffer::Entry> chunk;
    while (!context->IsCancelled() && !stopping()) {
      const uint64_t head = follow ? buffer_.next_seq() : end;
      if (cursor >= head) {
        if (!follow) return grpc::Status::OK;
        if (window.until_ns && clock_.NowRealtimeNs() > *window.until_ns) {
          return grpc::Status::OK;
        }
        buffer_.WaitFor(cursor, std::chrono::steady_clock::now() + kPollInterval);
        continue;
      }
      chunk.clear();
      uint64_t missed = 0;
      cursor = buffer_.Read(cursor, head, kReadChunk, &chunk, &missed);
      if (missed > 0 && !SendMissed(writer, missed)) return grpc::Status::OK;
      for (const auto& entry : chunk) {
        if (entry.lost) {
          if (!SendLost(writer, *entry.lost)) return grpc::Status::OK;
          continue;
        }
        if (!entry.flow) continue;
        const flow::Flow& f = *entry.flow;
        if (!window.Contains(f.time_ns) || !matcher.Matches(f)) continue;
        if (!Send(writer, f)) return grpc::Status::OK;
        if (limit != 0 && ++sent >= limit) return grpc::Status::OK;
      }
    }
    return grpc::Status::OK;
  }

  // GetAgentEvents: the selectors of GetFlows (number, first, follow, since, until) over the agent
  // event log; no filters.
  grpc::Status GetAgentEvents(grpc::ServerContext* context,
                              const observer::GetAgentEventsRequest& req,
                              grpc::ServerWriter<observer::GetAgentEventsResponse>* writer) {
    if (req.first() && req.follow()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "first and follow cannot be combined");
    }
    Window window;
    if (req.has_since()) window.since_ns = TimestampNs(req.since());
    if (req.has_until()) window.until_ns = TimestampNs(req.until());
    if (window.since_ns && window.until_ns && *window.since_ns > *window.until_ns) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "since is after until");
    }
    static const flow::AgentEventLog kNoEvents(1);
    const flow::AgentEventLog& log = agent_events_ != nullptr ? *agent_events_ : kNoEvents;
    const auto send = [&](const flow::AgentEvent& event) {
      observer::GetAgentEventsResponse resp;
      AgentEventToProto(event, resp.mutable_agent_event());
      resp.set_node_name(info_.node_name);
      SetTimestamp(event.time_ns, resp.mutable_time());
      return writer->Write(resp);
    };
    const uint64_t number = req.number();
    const uint64_t end = log.next_seq();
    uint64_t cursor = log.oldest_seq();
    uint64_t limit = number;
    if (!req.first() && !window.since_ns && number != 0) {
      // The last `number` events in the window (the log is small: at most its capacity).
      std::vector<flow::AgentEventLog::Entry> held;
      log.Read(cursor, end, log.capacity(), &held);
      uint64_t in_window = 0;
      for (auto it = held.rbegin(); it != held.rend() && in_window < number; ++it) {
        if (window.Contains(it->event.time_ns)) {
          ++in_window;
          cursor = it->seq;
        }
      }
      if (in_window == 0) cursor = end;
      limit = 0;  // bounded by `end` below
    } else if (number == 0 && req.follow() && !window.since_ns) {
      cursor = end;
    }
    std::vector<flow::AgentEventLog::Entry> chunk;
    uint64_t sent = 0;
    while (!context->IsCancelled() && !stopping()) {
      const uint64_t head = req.follow() && cursor >= end ? log.next_seq() : end;
      if (cursor >= head) {
        if (!req.follow()) return grpc::Status::OK;
        if (window.until_ns && clock_.NowRealtimeNs() > *window.until_ns) {
          return grpc::Status::OK;
        }
        log.WaitFor(cursor, std::chrono::steady_clock::now() + kPollInterval);
        continue;
      }
      chunk.clear();
      cursor = log.Read(cursor, head, kReadChunk, &chunk);
      for (const auto& entry : chunk) {
        if (!window.Contains(entry.event.time_ns)) continue;
        if (!send(entry.event)) return grpc::Status::OK;
        if (limit != 0 && ++sent >= limit) return grpc::Status::OK;
      }
    }
    return grpc::Status::OK;
  }

  FlowBuffer& buffer_;
  const flow::AgentEventLog* agent_events_;
  ServerInfo info_;
  flow::FilterContext filter_context_;
  const Clock& clock_;
  ConvertContext convert_;
  std::atomic<bool> stopping_{false};
  std::mutex rate_mu_;
  std::deque<std::pair<int64_t, uint64_t>> samples_;
  ObserverService observer_;
  PeerService peer_;
};

ObserverServer::ObserverServer(flow::FlowBuffer& buffer, ServerInfo info,
                               flow::FilterContext filter_context, const Clock& clock)
    : buffer_(buffer),
      info_(std::move(info)),
      filter_context_(std::move(filter_context)),
      clock_(clock) {}

ObserverServer::~ObserverServer() { Stop(); }

absl::Status ObserverServer::Start(const std::vector<std::string>& listen_addresses) {
  if (server_ != nullptr) return absl::FailedPreconditionError("observer server already started");
  if (listen_addresses.empty()) {
    return absl::InvalidArgumentError("observer server: no listen address");
  }
  if (info_.start_time_ns == 0) info_.start_time_ns = clock_.NowMonotonicNs();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // Without this gRPC sets SO_REUSEPORT and a second agent would silently share the port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);

  std::vector<std::string> uris;
  std::vector<bool> is_tcp;
  auto ports = std::make_unique<std::vector<int>>(listen_addresses.size(), 0);
  for (size_t i = 0; i < listen_addresses.size(); ++i) {
    const std::string& addr = listen_addresses[i];
    std::string uri = addr;
    const bool unix_socket = addr.rfind("unix:", 0) == 0;
    if (unix_socket) {
      std::string path = addr.substr(5);
      if (path.rfind("//", 0) == 0) path = path.substr(2);
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
      struct stat st {};
      if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());
    } else if (!addr.empty() && addr.front() == ':') {
      uri = "[::]" + addr;
    }
    uris.push_back(uri);
    is_tcp.push_back(!unix_socket);
    builder.AddListeningPort(uri, grpc::InsecureServerCredentials(), &(*ports)[i]);
  }

  impl_ = std::make_unique<Impl>(buffer_, agent_events_, info_, filter_context_, clock_);
  builder.RegisterService(&impl_->observer_service());
  builder.RegisterService(&impl_->peer_service());
  server_ = builder.BuildAndStart();

  std::string failed;
  for (size_t i = 0; i < uris.size(); ++i) {
    if ((*ports)[i] == 0) {
      failed = listen_addresses[i];
      break;
    }
  }
  if (server_ == nullptr || !failed.empty()) {
    if (server_ != nullptr) server_->Shutdown();
    server_.reset();
    impl_.reset();
    if (failed.empty()) failed = listen_addresses.front();
    return absl::FailedPreconditionError(
        "observer API cannot listen on " + failed +
        " (address in use, or not a local address?); set loupe.observer.listen_address / "
        "loupe.observer.unix_socket to a free address");
  }

  bound_ports_.clear();
  for (size_t i = 0; i < uris.size(); ++i) {
    if (is_tcp[i]) bound_ports_.push_back((*ports)[i]);
  }
  if (info_.address.empty()) {
    for (size_t i = 0; i < uris.size(); ++i) {
      if (!is_tcp[i]) continue;
      const std::string& addr = listen_addresses[i];
      const size_t colon = addr.rfind(':');
      info_.address = addr.substr(0, colon + 1) + std::to_string((*ports)[i]);
      break;
    }
    if (info_.address.empty()) info_.address = listen_addresses.front();
    impl_->info().address = info_.address;
  }
  for (const auto& addr : listen_addresses) LOG_INFO("observer API listening on {}", addr);

  {
    std::lock_guard lock(sampler_mu_);
    stopping_ = false;
  }
  impl_->Sample();
  sampler_ = std::thread([this] { SampleLoop(); });
  return absl::OkStatus();
}

void ObserverServer::SampleLoop() {
  std::unique_lock lock(sampler_mu_);
  while (!stopping_) {
    sampler_cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    lock.unlock();
    impl_->Sample();
    lock.lock();
  }
}

void ObserverServer::Stop() {
  if (server_ == nullptr) return;
  impl_->set_stopping();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
  {
    std::lock_guard lock(sampler_mu_);
    stopping_ = true;
  }
  sampler_cv_.notify_all();
  if (sampler_.joinable()) sampler_.join();
  server_.reset();
  impl_.reset();
}

}  // namespace loupe::api
