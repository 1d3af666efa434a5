#include "src/agent/tracing_stage.h"

#include <chrono>

#include "absl/status/status.h"
#include "src/agent/service_resources.h"
#include "src/base/logging.h"
#include "src/identity/process_pods.h"

namespace loupe::agent {
namespace {

// Services whose OTLP metric resource attributes are kept after their process exited.
constexpr size_t kMaxServiceResources = 4096;

std::chrono::milliseconds Ms(std::chrono::nanoseconds d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

otlp::EndpointOptions Endpoint(const config::OtlpTarget& target) {
  otlp::EndpointOptions e;
  if (!target.enabled) return e;
  e.endpoint = target.url.empty() ? target.endpoint : target.url;
  e.append_signal_path = false;  // the configuration resolved the URL already
  e.protocol = target.protocol == config::OtlpProtocol::kGrpc ? otlp::Protocol::kGrpc
                                                              : otlp::Protocol::kHttpProtobuf;
  for (const auto& [k, v] : target.headers) e.headers.emplace_back(k, v);
  e.insecure = target.insecure_skip_verify;
  return e;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

otlp::OtlpOptions OtlpOptionsFromConfig(const config::Config& config) {
  otlp::OtlpOptions o;
  const auto& traces = config.otel_traces_export();
  const auto& metrics = config.otel_metrics_export();
  o.traces = Endpoint(traces.target);
  o.metrics = Endpoint(metrics.target);
  if (!traces.sampler.name.empty()) o.sampler = traces.sampler.name;
  o.sampler_arg = traces.sampler.arg;
  if (traces.queue_size > 0) o.queue_size = static_cast<size_t>(traces.queue_size);
  if (traces.batch_max_size > 0) o.batch_size = static_cast<size_t>(traces.batch_max_size);
  if (traces.batch_timeout.count() > 0) o.batch_timeout = Ms(traces.batch_timeout);
  if (traces.backoff_initial_interval.count() > 0) {
    o.backoff_initial = Ms(traces.backoff_initial_interval);
  }
  if (traces.backoff_max_interval.count() > 0) o.backoff_max = Ms(traces.backoff_max_interval);
  if (traces.backoff_max_elapsed_time.count() > 0) {
    o.backoff_max_elapsed = Ms(traces.backoff_max_elapsed_time);
  }
  if (metrics.interval.count() > 0) o.interval = Ms(metrics.interval);
  o.temporality = metrics.temporality == config::Temporality::kDelta
                      ? otlp::Temporality::kDelta
                      : otlp::Temporality::kCumulative;
  return o;
}

absl::StatusOr<std::unique_ptr<TracingStage>> TracingStage::Create(const config::Config& config,
                                                                   metrics::Registry& registry,
                                                                   metrics::app::AppMetrics* app,
                                                                   const std::string& host_name) {
  const otlp::OtlpOptions options = OtlpOptionsFromConfig(config);
  if (options.traces.endpoint.empty() && options.metrics.endpoint.empty()) return nullptr;
  auto stage = std::unique_ptr<TracingStage>(new TracingStage());
  stage->app_ = app;
  stage->host_name_ = host_name;
  stage->self_metrics_ = std::make_unique<otlp::SelfMetrics>(&registry);
  if (!options.traces.endpoint.empty()) {
    auto sampler = tracing::Sampler::Create(options.sampler, options.sampler_arg);
    if (!sampler.ok()) {
      return absl::InvalidArgumentError("otel_traces_export.sampler: " +
                                        std::string(sampler.status().message()));
    }
    auto transport = otlp::MakeTransport(options.traces, otlp::Signal::kTraces);
    if (!transport.ok()) {
      return absl::InvalidArgumentError("otel_traces_export: " +
                                        std::string(transport.status().message()));
    }
    stage->trace_exporter_ = std::make_unique<otlp::TraceExporter>(options, *std::move(transport),
                                                                   stage->self_metrics_.get());
    otlp::TraceExporter* exporter = stage->trace_exporter_.get();
    stage->tracer_ = std::make_unique<tracing::Tracer>(
        *std::move(sampler), tracing::TracerOptions{},
        [exporter](tracing::Span&& span) { exporter->Enqueue(std::move(span)); });
  }
  if (!options.metrics.endpoint.empty()) {
    auto transport = otlp::MakeTransport(options.metrics, otlp::Signal::kMetrics);
    if (!transport.ok()) {
      return absl::InvalidArgumentError("otel_metrics_export: " +
                                        std::string(transport.status().message()));
    }
    auto resource = std::make_shared<tracing::Resource>();
    resource->Add("service.name", std::string("loupe"));
    tracing::AddSdkAttributes(resource.get(), host_name);
    // A service's other resource attributes (its process's OTEL_RESOURCE_ATTRIBUTES, the pod's
    // service.version, ...) on the resource of its metrics, kept while its series are exported
    // (they outlive the process by up to the metrics TTL).
    otlp::MetricsEncoder::ServiceResourceFn service_resource;
    if (app != nullptr) {
      const std::chrono::nanoseconds ttl = config.prometheus_export().ttl;
      const std::chrono::nanoseconds linger =
          ttl.count() > 0 ? ttl + 2 * std::chrono::nanoseconds(options.interval) : ttl;
      auto resources = std::make_shared<ServiceResources>(
          [app] { return app->service_namer().Known(); }, linger, kMaxServiceResources);
      service_resource = [resources](const auto& attrs) { return resources->Of(attrs); };
    }
    stage->metrics_exporter_ = std::make_unique<otlp::MetricsExporter>(
        options, *std::move(transport), &registry, stage->self_metrics_.get(), std::move(resource),
        std::move(service_resource));
  }
  return stage;
}

TracingStage::~TracingStage() { Stop(); }

void TracingStage::Start() {
  if (trace_exporter_) trace_exporter_->Start();
  if (metrics_exporter_) metrics_exporter_->Start();
  if (tracer_) flusher_ = std::thread([this] { FlushLoop(); });
}

void TracingStage::Stop() {
  {
    std::lock_guard<std::mutex> lock(flush_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  flush_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (tracer_) {
    std::lock_guard<std::mutex> lock(mu_);
    tracer_->Flush(INT64_MAX);  // held client spans go out unlinked
  }
  if (trace_exporter_) trace_exporter_->Stop(std::chrono::seconds(2));
  if (metrics_exporter_) metrics_exporter_->Stop();
}

void TracingStage::FlushLoop() {
  std::unique_lock<std::mutex> lock(flush_mu_);
  while (!stopping_) {
    flush_cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    lock.unlock();
    {
      std::lock_guard<std::mutex> tracer_lock(mu_);
      tracer_->Flush(NowNs());
    }
    lock.lock();
  }
}

std::shared_ptr<const tracing::Resource> TracingStage::ResourceOf(
    const telemetry::Request& request) {
  std::lock_guard<std::mutex> lock(mu_);
  return ResourceFor(request);
}

std::shared_ptr<const tracing::Resource> TracingStage::ResourceFor(
    const telemetry::Request& request) {
  std::shared_ptr<const metrics::app::ServiceIdentity> service;
  if (app_ != nullptr) {
    service = app_->service_namer().Get(request.pid, request.process, &request.local_ip);
  }
  auto it = resources_.find(request.pid);
  // An exited process's identity is computed afresh for each of its last requests (the namer
  // does not cache it): equal content keeps its spans on one resource.
  const auto same_service = [&service](const CachedResource& cached) {
    return cached.service == service ||
           (cached.service != nullptr && service != nullptr && *cached.service == *service);
  };
  if (it != resources_.end() && same_service(it->second) &&
      (service != nullptr || it->second.process == request.process)) {
    return it->second.resource;
  }
  auto resource = std::make_shared<tracing::Resource>();
  if (service != nullptr) {
    resource->Add("service.name", service->name);
    if (!service->namespace_name.empty()) {
      resource->Add("service.namespace", service->namespace_name);
    }
    resource->Add("service.instance.id", service->instance);
    for (auto& [key, value] : identity::KubernetesResourceAttributes(*service)) {
      resource->Add(std::move(key), std::move(value));
    }

  } else {
    resource->Add("service.name", request.process);
  }
  resource->Add("process.pid", static_cast<int64_t>(request.pid));
  tracing::AddSdkAttributes(resource.get(), host_name_);
  if (service != nullptr) {
    // service.version and the like (attributes.kubernetes.resource_labels, pod annotations);
    // they never replace an attribute set above.
    for (const auto& [key, value] : service->resource_attributes) {
      if (!resource->Has(key)) resource->Add(key, value);
    }
  }
  std::string process = service == nullptr ? request.process : std::string();
  CachedResource cached{std::move(service), std::move(process), resource};
  if (it != resources_.end()) {
    it->second = std::move(cached);
  } else {
    if (resources_.size() > 16384) resources_.clear();
    resources_.emplace(request.pid, std::move(cached));
  }
  return resource;
}

std::optional<tracing::SampledSpanIds> TracingStage::OnRequest(const telemetry::Request& request) {
  if (!tracer_) return std::nullopt;
  // gRPC spans are named by their method, not a route.
  std::string_view route;
  metrics::app::RouteBuffer buffer;
  if (app_ != nullptr && request.protocol != telemetry::Protocol::kGrpc) {
    // In the pipeline's RouteScope: matched here once, the RED metrics reuse the result.
    const metrics::app::RouteResult match = app_->routes().MatchOnce(request.path, &buffer);
    if (match.ignore_traces) return std::nullopt;  // routes.ignored_patterns (ignore_mode)
    route = match.route;
  }
  std::lock_guard<std::mutex> lock(mu_);
  return tracer_->Process(request, route, ResourceFor(request));
}

}  // namespace loupe::agent
