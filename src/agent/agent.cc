#include "src/agent/agent.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>

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

Agent::Agent(config::Config config, discovery::Selection selection,
             std::optional<identity::ServiceNameTemplate> name_template)
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
  annotation_keys_ = selection.annotation_keys();
  resource_labels_ = config_.kubernetes().resource_labels;
  name_template_ = std::move(name_template);
  if (name_template_) {
    name_template_errors_ =
        registry_
            .AddCounter("loupe_service_name_template_errors_total",
                        "Processes whose service the service_name_template could not name (it "
                        "failed or printed nothing); they are named after their pod.",
                        {})
            .WithLabels({});
    // The pod informer keeps only the annotations something reads.
    for (const std::string& key : name_template_->annotation_keys()) {
      if (std::find(annotation_keys_.begin(), annotation_keys_.end(), key) ==
          annotation_keys_.end()) {
        annotation_keys_.push_back(key);
      }
    }
  }
  if (config_.GetBool("loupe.app.enable")) SetUpApplicationView(std::move(selection));
}

void Agent::SetUpApplicationView(discovery::Selection selection) {
  ingest::ConnManagerOptions manager_options;
  manager_options.keep_query = config_.GetBool("loupe.app.keep_query");
  manager_options.request_timeout_ns = config_.GetDuration("ebpf.http_request_timeout").count();
  conn_manager_ = std::make_unique<ingest::ConnManager>(manager_options, pipeline_, registry_);
  sensors::SocketTraceOptions options;
  options.data_limit = static_cast<uint32_t>(config_.GetInt("loupe.app.capture_bytes"));
  options.trace_all_pids = selection.instrument_all();
  const std::string& hook = config_.GetString("loupe.app.socket_data_hook");
  options.data_hook =
      hook == "sock_tracepoints"      ? sensors::SocketTraceOptions::DataHook::kSockTracepoints
      : hook == "syscall_tracepoints" ? sensors::SocketTraceOptions::DataHook::kSyscallTracepoints
                                      : sensors::SocketTraceOptions::DataHook::kAuto;
  auto sensor = std::make_unique<sensors::SocketTraceSensor>(*conn_manager_, &process_events_,
                                                             registry_, options);
  socket_sensor_ = sensor.get();
  sensors_.push_back(std::move(sensor));
  process_events_.read_images = selection.instrument_all();
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
            },
            [this] { InstrumentedSetChanged(); }},
        std::chrono::milliseconds(500), static_cast<uint32_t>(getpid()),
        [this](uint32_t pid) -> std::shared_ptr<const discovery::PodMetadata> {
          return kubernetes_ ? kubernetes_->PodOf(pid) : nullptr;
        });
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
  // service.name / service.namespace and the k8s_* attributes of a process in a pod
  // (identity/process_pods.h).
  app_metrics_->service_namer().SetHook(
      [this](metrics::app::ServiceIdentity* id, const metrics::app::ServiceNamer::HookContext& at) {
        if (!kubernetes_) return;
        std::shared_ptr<const identity::PodMetadata> pod = kubernetes_->PodOf(id->pid);
        // Gone, and not read ahead by discovery: the pod whose IP the request used, if any.
        if (!pod && !at.live && at.local_address != nullptr) {
          pod = kubernetes_->PodOfAddress(*at.local_address);
        }
        if (pod && !identity::ApplyPodToService(
                       *pod, id, name_template_ ? &*name_template_ : nullptr, resource_labels_)) {
          name_template_errors_->Inc();
        }
      });
  process_events_.namer = &app_metrics_->service_namer();
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

void Agent::InstrumentedChanged(uint32_t pid, bool added) {
  {
    std::lock_guard<std::mutex> lock(instrumented_mu_);
    if (added) {
      instrumented_.insert(pid);
    } else {
      instrumented_.erase(pid);
    }
  }
  // Read while the process runs: a short-lived client has often exited by the time the agent
  // names its requests.
  if (kubernetes_ && added) kubernetes_->RememberProcess(pid);
  if (app_metrics_) {
    if (added) {
      app_metrics_->service_namer().Remember(pid);
    } else {
      app_metrics_->service_namer().Forget(pid);
    }
  }
}

void Agent::InstrumentedSetChanged() {
  std::vector<uint32_t> pids;
  {
    std::lock_guard<std::mutex> lock(instrumented_mu_);
    pids.assign(instrumented_.begin(), instrumented_.end());
  }
  if (kubernetes_) kubernetes_->RetainProcesses(pids);
  if (app_metrics_) app_metrics_->SetProcesses(std::move(pids));
}

absl::Status Agent::Start() {
  auto kubernetes = KubernetesIdentity::Create(config_, node_name_, identity_, annotation_keys_);
  if (!kubernetes.ok()) return kubernetes.status();
  kubernetes_ = std::move(kubernetes).value();  // started below, once the lock is held
  if (absl::Status metrics_status = SetUpMetrics(); !metrics_status.ok()) return metrics_status;
  auto lock = ProcessLock::Acquire(config_.GetString("loupe.runtime_dir") + "/agent.lock");
  if (!lock.ok()) return lock.status();
  lock_ = std::move(lock).value();
  identity_.SetHostAddresses(HostAddresses());
  {
    flow::AgentEvent started;
    started.type = flow::AgentEventType::kAgentStarted;
    started.time_ns = RealClock::Get().NowRealtimeNs();
    started.start_time_ns = started.time_ns;
    agent_events_.Append(std::move(started));
  }
  if (kubernetes_) {
    kubernetes_->SetAgentEvents(&agent_events_);
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
    observer_->SetAgentEvents(&agent_events_);
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
  process_events_.namer = nullptr;
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
  return {started && !stopping,
          body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
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
  // A write to a closed pipe or socket fails with EPIPE instead of killing the agent: standard
  // output piped into a reader that exits (`loupe agent | head`) stops the trace printer, nothing
  // else. gRPC ignores SIGPIPE at start-up too; the agent does not rely on that.
  signal(SIGPIPE, SIG_IGN);

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
  std::optional<identity::ServiceNameTemplate> name_template;
  if (const std::string text = cfg.GetString("attributes.kubernetes.service_name_template");
      !text.empty()) {
    auto parsed = identity::ServiceNameTemplate::Parse(text);
    if (!parsed.ok()) {
      std::fprintf(stderr,
                   "loupe agent: invalid configuration: attributes.kubernetes.service_name_template"
                   ": %s\n",
                   std::string(parsed.status().message()).c_str());
      return 2;
    }
    name_template = *std::move(parsed);
  }
  Agent agent(std::move(loaded).value(), std::move(selection).value(), std::move(name_template));
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
