#include "src/agent/agent.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "src/agent/metrics_setup.h"
#include "src/base/build_info.h"
#include "src/base/clock.h"
#include "src/base/logging.h"
#include "src/base/strings.h"
#include "src/sensors/drop_reasons.h"
#include "src/sensors/drop_sensor.h"
#include "src/sensors/interfaces.h"
#include "src/sensors/netflow_sensor.h"
#include "src/sensors/tcp_lifecycle_sensor.h"

namespace loupe::agent {
namespace {

// This node's addresses, for the reserved:host identity.
std::vector<flow::IpAddress> HostAddresses() {
  std::vector<flow::IpAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr) continue;
    flow::IpAddress ip;
    if (a->ifa_addr->sa_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
      std::memcpy(ip.bytes.data(), &sin->sin_addr, 4);
      ip.version = 4;
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
      std::memcpy(ip.bytes.data(), &sin6->sin6_addr, 16);
      ip.version = 6;
    } else {
      continue;
    }
    out.push_back(ip);
  }
  freeifaddrs(list);
  return out;
}

// The addresses of the network namespace `pid` lives in (a pod's IPs), from
// /proc/<pid>/net/fib_trie (IPv4 host routes) and /proc/<pid>/net/if_inet6; loopback and
// link-local excluded.
std::vector<flow::IpAddress> LocalAddressesOf(uint32_t pid) {
  std::vector<flow::IpAddress> out;
  const std::string base = "/proc/" + std::to_string(pid) + "/net/";
  std::ifstream trie(base + "fib_trie");
  std::string line;
  std::string last;
  while (std::getline(trie, line)) {
    const size_t leaf = line.find("|-- ");
    if (leaf != std::string::npos) {
      last = line.substr(leaf + 4);
      continue;
    }
    if (line.find("/32 host LOCAL") != std::string::npos && !last.empty()) {
      flow::IpAddress ip;
      if (flow::IpAddress::Parse(last, &ip) && ip.bytes[0] != 127 &&
          std::find(out.begin(), out.end(), ip) == out.end()) {
        out.push_back(ip);
      }
    }
  }
  std::ifstream v6(base + "if_inet6");
  while (std::getline(v6, line)) {
    if (line.size() < 32) continue;
    flow::IpAddress ip;
    ip.version = 6;
    for (size_t i = 0; i < 16; ++i) {
      ip.bytes[i] = static_cast<uint8_t>(std::stoi(line.substr(i * 2, 2), nullptr, 16));
    }
    const bool loopback =
        std::all_of(ip.bytes.begin(), ip.bytes.begin() + 15, [](uint8_t b) { return b == 0; }) &&
        ip.bytes[15] == 1;
    const bool link_local = ip.bytes[0] == 0xfe && (ip.bytes[1] & 0xc0) == 0x80;
    if (!loopback && !link_local) out.push_back(ip);
  }
  return out;
}

// Adapters from the pipeline's observer interface to the metric handlers.
class HubbleObserver final : public FlowObserver {
 public:
  explicit HubbleObserver(metrics::hubble::HubbleMetrics& m) : m_(m) {}
  void OnFlow(const flow::Flow& flow, const FlowTrace* trace) override {
    if (trace != nullptr) {
      m_.OnFlow(flow, metrics::hubble::TraceIds{trace->trace_id, trace->span_id});
    } else {
      m_.OnFlow(flow);
    }
  }
  void OnTcpConnect(const flow::Flow& tuple, double seconds) override {
    m_.OnTcpConnect(tuple, seconds);
  }

 private:
  metrics::hubble::HubbleMetrics& m_;
};

class AppObserver final : public FlowObserver {
 public:
  explicit AppObserver(metrics::app::AppMetrics& m) : m_(m) {}
  void OnFlow(const flow::Flow& flow, const FlowTrace*) override { m_.OnFlow(flow); }
  void OnRequest(const telemetry::Request& request, const FlowTrace* trace) override {
    if (trace != nullptr) {
      const metrics::ExemplarRef exemplar{trace->trace_id, trace->span_id};
      m_.OnRequest(request, &exemplar);
    } else if (tracing) {
      m_.OnRequest(request, nullptr);  // not sampled: exemplars name exported spans only
    } else {
      m_.OnRequest(request);  // no spans: an incoming traceparent's trace, if any
    }
  }
  bool tracing = false;  // set before the sensors start

 private:
  metrics::app::AppMetrics& m_;
};

std::string HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "localhost";
  return buf;
}

}  // namespace

Agent::Agent(config::Config config, discovery::Selection selection)
    : config_(std::move(config)),
      buffer_(static_cast<size_t>(config_.GetInt("loupe.flow_buffer_capacity"))),
      pipeline_(buffer_, registry_, identity_,
                FlowPipeline::ParseTracePrinter(config_.GetString("trace_printer"))) {
  node_name_ = config_.GetString("loupe.node_name");
  if (node_name_.empty()) node_name_ = HostName();
  start_ns_ = RealClock::Get().NowMonotonicNs();
  RegisterSelfMetrics();
  process_events_.identity = &identity_;
  if (config_.GetBool("loupe.network.enable")) {
    // The schema only admits values ParseAggregationLevel knows.
    const sensors::AggregationOptions aggregation{
        sensors::ParseAggregationLevel(config_.GetString("loupe.monitor_aggregation"))
            .value_or(sensors::AggregationLevel::kMedium),
        config_.GetDuration("loupe.monitor_interval")};
    sensors_.push_back(std::make_unique<sensors::NetflowSensor>(
        sensors::NetflowOptions{config_.GetList("loupe.network.interfaces"),
                                config_.GetList("loupe.network.exclude_interfaces")},
        aggregation, pipeline_, registry_));
    sensors_.push_back(std::make_unique<sensors::DropSensor>(pipeline_, registry_));
    sensors_.push_back(std::make_unique<sensors::TcpLifecycleSensor>(pipeline_, registry_));
  }
  if (config_.GetBool("loupe.app.enable")) SetUpApplicationView(std::move(selection));
}

void Agent::SetUpApplicationView(discovery::Selection selection) {
  ingest::ConnManagerOptions manager_options;
  manager_options.keep_query = config_.GetBool("loupe.app.keep_query");
  conn_manager_ = std::make_unique<ingest::ConnManager>(manager_options, pipeline_, registry_);
  sensors::SocketTraceOptions options;
  options.data_limit = static_cast<uint32_t>(config_.GetInt("loupe.app.capture_bytes"));
  options.trace_all_pids = selection.instrument_all();
  auto sensor = std::make_unique<sensors::SocketTraceSensor>(*conn_manager_, &process_events_,
                                                             registry_, options);
  socket_sensor_ = sensor.get();
  sensors_.push_back(std::move(sensor));
  if (!selection.instrument_all()) {
    sensors::SocketTraceSensor* traced = socket_sensor_;
    discovery_ = std::make_unique<discovery::Discovery>(
        std::move(selection),
        discovery::Discovery::Callbacks{
            [this, traced](const discovery::ProcessInfo& p) {
              LOG_INFO("instrumenting process pid={} exe={} service={}", p.pid, p.exe, p.comm);
              absl::Status status = traced->AddPid(p.pid);
              if (!status.ok()) {
                LOG_WARN("cannot instrument pid {}: {}", p.pid, std::string(status.message()));
                return;
              }
              InstrumentedChanged(p.pid, true);
            },
            [this, traced](uint32_t pid) {
              LOG_INFO("stopped instrumenting process pid={}", pid);
              traced->RemovePid(pid);
              InstrumentedChanged(pid, false);
            }},
        std::chrono::milliseconds(500), static_cast<uint32_t>(getpid()),
        [this](uint32_t pid) { return PodOf(pid); });
    process_events_.discovery = discovery_.get();
  }
}

Agent::~Agent() { Stop(); }

void Agent::RegisterSelfMetrics() {
  registry_
      .AddGauge("loupe_build_info", "Build information of the running agent; always 1.",
                {"version", "commit"})
      .WithLabels({kVersion, kGitCommit})
      ->Set(1);
  sensor_up_ = &registry_.AddGauge(
      "loupe_sensor_up", "1 when the sensor's BPF programs are loaded and attached, else 0.",
      {"sensor"});
  registry_.AddCollector([this](std::vector<metrics::FamilySnapshot>* out) {
    const double uptime = static_cast<double>(RealClock::Get().NowMonotonicNs() - start_ns_) / 1e9;
    out->push_back({"loupe_uptime_seconds",
                    "Seconds since the agent started.",
                    metrics::MetricType::kGauge,
                    {{{}, uptime}}});
  });
}

absl::Status Agent::SetUpMetrics() {
  const auto& limits = config_.loupe_metrics();
  // Every family whose label values come from events: a series limit (overflow series past it)
  // and Beyla's TTL for series that stopped being updated.
  metrics::FamilyOptions defaults;
  defaults.max_series = static_cast<size_t>(std::max<int64_t>(0, limits.max_series_per_family));
  defaults.ttl = std::chrono::duration_cast<std::chrono::seconds>(config_.prometheus_export().ttl);
  registry_.SetDefaultFamilyOptions(defaults);
  metrics::hubble::HubbleMetricsOptions hubble_options;
  if (limits.max_series_per_family > 0) {
    hubble_options.max_series_per_family = static_cast<size_t>(limits.max_series_per_family);
  }
  hubble_options.series_ttl =
      std::chrono::duration_cast<std::chrono::seconds>(config_.prometheus_export().ttl);
  auto hubble = metrics::hubble::HubbleMetrics::Create(registry_, HubbleMetricEntries(config_),
                                                       hubble_options);
  if (!hubble.ok()) {
    return absl::InvalidArgumentError("loupe.metrics.hubble: " +
                                      std::string(hubble.status().message()));
  }
  hubble_metrics_ = std::move(hubble).value();
  metric_observers_.push_back(std::make_unique<HubbleObserver>(*hubble_metrics_));

  auto options = AppMetricsOptionsFromConfig(config_);
  if (!options.ok()) return options.status();
  options->host_name = node_name_;
  options->kubernetes = kubernetes_ != nullptr;
  auto app = metrics::app::AppMetrics::Create(registry_, *std::move(options));
  if (!app.ok()) return app.status();
  app_metrics_ = std::move(app).value();
  // service.name / service.namespace in Beyla's order: the process environment
  // (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) first, then the pod whose IP the process's
  // network namespace has: its app.kubernetes.io/name label, else its workload (owner), else the
  // pod name; the namespace is the pod's. Without Kubernetes, the executable name.
  app_metrics_->service_namer().SetHook([this](metrics::app::ServiceIdentity* id) {
    if (!kubernetes_) return;
    for (const auto& ip : LocalAddressesOf(id->pid)) {
      const auto peer = identity_.Lookup(ip);
      const flow::Endpoint& ep = peer->endpoint;
      if (ep.pod_name.empty()) continue;
      if (!id->name_from_env) {
        constexpr std::string_view kNameLabel = "k8s:app.kubernetes.io/name=";
        std::string name;
        for (const auto& label : ep.labels) {
          if (label.compare(0, kNameLabel.size(), kNameLabel) == 0) {
            name = label.substr(kNameLabel.size());
          }
        }
        if (name.empty() && !ep.workloads.empty()) name = ep.workloads.front().name;
        if (name.empty()) name = ep.pod_name;
        id->name = name;
      }
      if (!id->namespace_from_env) id->namespace_name = ep.namespace_name;
      id->k8s_namespace = ep.namespace_name;
      id->k8s_pod_name = ep.pod_name;
      if (!ep.workloads.empty()) {
        id->k8s_owner_name = ep.workloads.front().name;
        id->k8s_owner_kind = ep.workloads.front().kind;
      }
      id->k8s_node_name = node_name_;
      id->k8s_cluster_name = ep.cluster_name;
      return;
    }
  });
  auto app_observer = std::make_unique<AppObserver>(*app_metrics_);
  AppObserver* app_observer_ptr = app_observer.get();
  metric_observers_.push_back(std::move(app_observer));
  for (auto& o : metric_observers_) pipeline_.AddObserver(o.get());

  auto tracing = TracingStage::Create(config_, registry_, app_metrics_.get(), node_name_);
  if (!tracing.ok()) return tracing.status();
  tracing_ = std::move(tracing).value();
  if (tracing_ && tracing_->tracing()) {
    app_observer_ptr->tracing = true;
    TracingStage* stage = tracing_.get();
    pipeline_.SetSpanHook([stage](const telemetry::Request& request)
                              -> std::optional<std::pair<std::string, std::string>> {
      auto ids = stage->OnRequest(request);
      if (!ids) return std::nullopt;
      return std::make_pair(std::move(ids->trace_id), std::move(ids->span_id));
    });
  }
  if (tracing_) tracing_->Start();
  return absl::OkStatus();
}

std::shared_ptr<const discovery::PodMetadata> Agent::PodOf(uint32_t pid) {
  if (!kubernetes_) return nullptr;
  // Discovery asks for every candidate process on each scan (every 500 ms): reading
  // /proc/<pid>/net once per pid every few seconds is enough.
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(pod_cache_mu_);
    auto it = pod_cache_.find(pid);
    if (it != pod_cache_.end() && now - it->second.first < std::chrono::seconds(5)) {
      return it->second.second;
    }
  }
  std::shared_ptr<const discovery::PodMetadata> pod = ResolvePod(pid);
  std::lock_guard<std::mutex> lock(pod_cache_mu_);
  if (pod_cache_.size() > 16384) pod_cache_.clear();
  pod_cache_[pid] = {now, pod};
  return pod;
}

std::shared_ptr<const discovery::PodMetadata> Agent::ResolvePod(uint32_t pid) {
  for (const auto& ip : LocalAddressesOf(pid)) {
    const auto peer = identity_.Lookup(ip);
    const flow::Endpoint& ep = peer->endpoint;
    if (ep.pod_name.empty()) continue;
    auto pod = std::make_shared<discovery::PodMetadata>();
    pod->namespace_name = ep.namespace_name;
    pod->pod_name = ep.pod_name;
    if (!ep.workloads.empty()) {
      pod->owner_name = ep.workloads.front().name;
      pod->owner_kind = ep.workloads.front().kind;
    }
    for (const auto& label : ep.labels) {
      if (label.rfind("k8s:", 0) != 0) continue;
      const size_t eq = label.find('=');
      if (eq == std::string::npos) continue;
      pod->labels.emplace(label.substr(4, eq - 4), label.substr(eq + 1));
    }
    return pod;
  }
  return nullptr;
}

void Agent::InstrumentedChanged(uint32_t pid, bool added) {
  std::vector<uint32_t> pids;
  {
    std::lock_guard<std::mutex> lock(instrumented_mu_);
    if (added) {
      instrumented_.insert(pid);
    } else {
      instrumented_.erase(pid);
    }
    pids.assign(instrumented_.begin(), instrumented_.end());
  }
  if (app_metrics_) {
    if (!added) app_metrics_->service_namer().Forget(pid);
    app_metrics_->SetProcesses(std::move(pids));
  }
}

absl::Status Agent::Start() {
  auto kubernetes = KubernetesIdentity::Create(config_, node_name_, identity_);
  if (!kubernetes.ok()) return kubernetes.status();
  kubernetes_ = std::move(kubernetes).value();  // started below, once the lock is held
  if (absl::Status metrics_status = SetUpMetrics(); !metrics_status.ok()) return metrics_status;
  auto lock = ProcessLock::Acquire(config_.GetString("loupe.runtime_dir") + "/agent.lock");
  if (!lock.ok()) return lock.status();
  lock_ = std::move(lock).value();
  identity_.SetHostAddresses(HostAddresses());
  if (kubernetes_) {
    // Flows are attributed from the first list on; until then they carry what the caches know.
    kubernetes_->Start();
    LOG_INFO("Kubernetes metadata from {}", kubernetes_->server());
  }

  endpoint_ = std::make_unique<prometheus::HttpEndpoint>(registry_, [this] { return Health(); });
  absl::Status status = endpoint_->Start(config_.GetString("loupe.listen_address"),
                                         static_cast<int>(config_.GetInt("prometheus_export.port")),
                                         config_.GetString("prometheus_export.path"));
  if (!status.ok()) return status;

  std::vector<std::string> observer_addresses;
  if (!config_.GetString("loupe.observer.listen_address").empty()) {
    observer_addresses.push_back(config_.GetString("loupe.observer.listen_address"));
  }
  if (!config_.GetString("loupe.observer.unix_socket").empty()) {
    observer_addresses.push_back("unix://" + config_.GetString("loupe.observer.unix_socket"));
  }
  if (!observer_addresses.empty()) {
    observer_ = std::make_unique<api::ObserverServer>(
        buffer_,
        api::ServerInfo{node_name_, kVersion, start_ns_, "", &sensors::KernelDropReasonName},
        flow::FilterContext{node_name_, &sensors::InterfaceName});
    status = observer_->Start(observer_addresses);
    if (!status.ok()) return status;
  }

  for (auto& sensor : sensors_) {
    absl::Status sensor_status = sensor->Start();
    if (!sensor_status.ok()) {
      LOG_ERROR("sensor {} is not running: {}", sensor->name(),
                std::string(sensor_status.message()));
    }
    sensor_up_->WithLabels({sensor->name()})->Set(sensor->up() ? 1 : 0);
  }
  if (discovery_) discovery_->Start();
  LOG_INFO("loupe agent {} on node {}: metrics and health on http://{}:{}{}, Observer API on {}",
           kVersion, node_name_, config_.GetString("loupe.listen_address"), endpoint_->port(),
           config_.GetString("prometheus_export.path"),
           observer_addresses.empty() ? std::string("(disabled)") : Join(observer_addresses, ", "));
  started_ = true;
  return absl::OkStatus();
}

void Agent::Stop() {
  stopping_ = true;
  process_events_.discovery = nullptr;
  if (discovery_) discovery_->Stop();
  for (auto& sensor : sensors_) {
    sensor->Stop();
    sensor_up_->WithLabels({sensor->name()})->Set(0);
  }
  buffer_.Shutdown();  // ends `follow` streams
  if (observer_) observer_->Stop();
  observer_.reset();
  if (endpoint_) endpoint_->Stop();
  endpoint_.reset();
  if (kubernetes_) kubernetes_->Stop();
  if (tracing_) tracing_->Stop();
  lock_.reset();
}

int Agent::metrics_port() const { return endpoint_ ? endpoint_->port() : 0; }

prometheus::HealthReport Agent::Health() const {
  nlohmann::json sensors = nlohmann::json::array();
  bool all_up = true;
  for (const auto& sensor : sensors_) {
    all_up = all_up && sensor->up();
    sensors.push_back(
        {{"name", sensor->name()}, {"up", sensor->up()}, {"detail", sensor->status_detail()}});
  }
  const bool stopping = stopping_.load();
  const bool started = started_.load();
  nlohmann::json body = {
      {"status", stopping   ? "stopping"
                 : !started ? "starting"
                            : (all_up ? "ok" : "degraded")},
      {"node", node_name_},
      {"version", kVersion},
      {"uptime_seconds", (RealClock::Get().NowMonotonicNs() - start_ns_) / 1'000'000'000},
      {"sensors", sensors}};
  if (kubernetes_) {
    // An unreachable API server degrades nothing: the caches keep the last known state.
    nlohmann::json informers = nlohmann::json::array();
    for (const auto& st : kubernetes_->Status()) {
      informers.push_back({{"kind", st.kind},
                           {"synced", st.synced},
                           {"connected", st.connected},
                           {"objects", st.objects},
                           {"resource_version", st.resource_version},
                           {"last_error", st.last_error}});
    }
    body["kubernetes"] = {{"server", kubernetes_->server()},
                          {"synced", kubernetes_->synced()},
                          {"informers", informers}};
  }
  // Degraded still answers 200: a missing hook must not make Kubernetes restart the agent.
  return {started && !stopping, body.dump()};
}

int RunAgent(const AgentOptions& options) {
  // Logs go to stderr: stdout carries trace_printer output.
  spdlog::set_default_logger(spdlog::stderr_color_mt("loupe-agent"));
  auto loaded = config::Config::Load(options.config_path, config::ProcessEnv());
  if (!loaded.ok()) {
    std::fprintf(stderr, "loupe agent: invalid configuration: %s\n",
                 std::string(loaded.status().message()).c_str());
    return 2;
  }
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(loaded->GetString("log_level"), &level);
  SetLogLevel(level);

  // Block the stop signals in every thread; the main thread waits for them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const config::Config& cfg = *loaded;
  auto selection = discovery::Selection::FromConfig(
      cfg.GetSelectors("discovery.services"), cfg.GetSelectors("discovery.exclude_services"),
      cfg.GetSelectors("discovery.instrument"), cfg.GetSelectors("discovery.exclude_instrument"),
      cfg.GetString("open_port"), cfg.GetString("executable_name"));
  if (!selection.ok()) {
    std::fprintf(stderr, "loupe agent: invalid configuration: discovery: %s\n",
                 std::string(selection.status().message()).c_str());
    return 2;
  }
  Agent agent(std::move(loaded).value(), std::move(selection).value());
  absl::Status status = agent.Start();
  if (!status.ok()) {
    LOG_ERROR("loupe agent cannot start: {}", std::string(status.message()));
    agent.Stop();
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  LOG_INFO("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  agent.Stop();
  LOG_INFO("stopped cleanly");
  return 0;
}

}  // namespace loupe::agent
