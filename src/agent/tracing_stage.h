// The agent's traces and OTLP stage: a span per request (W3C context, samplers, client-in-server
// parent rule; src/telemetry/tracing), exported over OTLP (otel_traces_export), and the metrics
// registry exported over OTLP (otel_metrics_export). The ids of sampled spans become exemplars.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "src/config/config.h"
#include "src/export/otlp/metrics_exporter.h"
#include "src/export/otlp/options.h"
#include "src/export/otlp/self_metrics.h"
#include "src/export/otlp/trace_exporter.h"
#include "src/metrics/app/app_metrics.h"
#include "src/metrics/registry.h"
#include "src/telemetry/tracing/tracer.h"

namespace loupe::agent {

// The configuration's otel_*_export sections as the exporters' options (the configuration has
// already applied the OTEL_* environment variables).
otlp::OtlpOptions OtlpOptionsFromConfig(const config::Config& config);

class TracingStage {
 public:
  // Null (and OK) when neither traces nor metrics are exported over OTLP.
  static absl::StatusOr<std::unique_ptr<TracingStage>> Create(const config::Config& config,
                                                              metrics::Registry& registry,
                                                              metrics::app::AppMetrics* app,
                                                              const std::string& host_name);
  ~TracingStage();

  void Start();
  void Stop();
  bool tracing() const { return tracer_ != nullptr; }

  // Builds the request's span and hands it to the exporter when sampled; the ids of a sampled
  // span (for exemplars), else nullopt. Thread-safe.
  std::optional<tracing::SampledSpanIds> OnRequest(const telemetry::Request& request);

  // The OTLP resource of the request's process (cached per pid and identity):
  // service.name/namespace/ instance.id as the metrics name them, Beyla's k8s.* attributes when the
  // process runs in a pod, process.pid, host.name and telemetry.sdk.*. Thread-safe.
  std::shared_ptr<const tracing::Resource> ResourceOf(const telemetry::Request& request);

 private:
  TracingStage() = default;
  std::shared_ptr<const tracing::Resource> ResourceFor(const telemetry::Request& request);  // mu_
  void FlushLoop();

  metrics::app::AppMetrics* app_ = nullptr;
  std::string host_name_;
  std::unique_ptr<otlp::SelfMetrics> self_metrics_;
  std::unique_ptr<otlp::TraceExporter> trace_exporter_;
  std::unique_ptr<otlp::MetricsExporter> metrics_exporter_;
  std::unique_ptr<tracing::Tracer> tracer_;
  std::mutex mu_;  // tracer_ and resources_
  // A resource is reused while the process's identity is the one it was built from: the service
  // namer forgets a pid when its process exits (the pid may then be reused) and its identity may
  // be recomputed; without app metrics the process name stands in for it.
  struct CachedResource {
    std::shared_ptr<const metrics::app::ServiceIdentity> service;
    std::string process;
    std::shared_ptr<const tracing::Resource> resource;
  };
  std::unordered_map<uint32_t, CachedResource> resources_;
  std::thread flusher_;
  std::mutex flush_mu_;
  std::condition_variable flush_cv_;
  bool stopping_ = false;
};

}  // namespace loupe::agent
