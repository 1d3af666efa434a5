// The per-node daemon: single-instance lock, metrics/health endpoint, Observer API, flow buffer
// and sensors. Built from a validated Config; Start/Stop on the control thread.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "src/agent/flow_pipeline.h"
#include "src/agent/k8s_identity.h"
#include "src/agent/tracing_stage.h"
#include "src/api/observer_server.h"
#include "src/base/proc_lock.h"
#include "src/config/config.h"
#include "src/discovery/discovery.h"
#include "src/export/prometheus/http_endpoint.h"
#include "src/flow/agent_events.h"
#include "src/flow/flow_buffer.h"
#include "src/identity/service_name_template.h"
#include "src/ingest/conn_manager.h"
#include "src/metrics/app/app_metrics.h"
#include "src/metrics/hubble/hubble_metrics.h"
#include "src/metrics/registry.h"
#include "src/sensors/process_events.h"
#include "src/sensors/sensor.h"
#include "src/sensors/socket_trace_sensor.h"

namespace loupe::agent {

class Agent {
 public:
  // `selection` is built from the same configuration (discovery.*, open_port, executable_name).
  // `name_template`: attributes.kubernetes.service_name_template, parsed
  // (identity::ServiceNameTemplate::Parse).
  Agent(config::Config config, discovery::Selection selection,
        std::optional<identity::ServiceNameTemplate> name_template = std::nullopt);
  ~Agent();

  // Takes the lock, binds the metrics endpoint and the Observer API, then starts the sensors. A
  // sensor that cannot start is reported (log, loupe_sensor_up 0, /healthz) and the agent goes on
  // without it; failing to lock or to bind is an error. /healthz answers 503 "starting" until
  // Start() has finished.
  [[nodiscard]] absl::Status Start();
  // Stops the sensors (detaching every program, removing qdiscs it created) and the endpoint.
  void Stop();

  const std::string& node_name() const { return node_name_; }
  int metrics_port() const;
  flow::FlowBuffer& flow_buffer() { return buffer_; }

 private:
  prometheus::HealthReport Health() const;
  void RegisterSelfMetrics();
  absl::Status SetUpMetrics();
  void InstrumentedChanged(uint32_t pid, bool added);
  // Once per discovery scan that changed the selected set, after its InstrumentedChanged calls:
  // what is kept per process is trimmed to the selected set.
  void InstrumentedSetChanged();
  void SetUpApplicationView(discovery::Selection selection);

  // Process exec/exit from the socket sensor make discovery rescan at once.
  class ProcessEvents final : public sensors::ProcessEventSink {
   public:
    // exec replaces the image and exit ends the process: cached process metadata and service
    // names are stale (a later process of the pid must not inherit them). Discovery reads the
    // process again (its scan cache keeps what did not change).
    void OnExec(const sensors::ProcessExecEvent& e) override { Forget(e.pid, /*exec=*/true); }
    void OnExit(const sensors::ProcessExitEvent& e) override { Forget(e.pid, /*exec=*/false); }
    void OnProcessEventsLost(uint64_t) override {
      if (auto* d = discovery.load()) d->PokeAll();
    }
    std::atomic<discovery::Discovery*> discovery{nullptr};
    std::atomic<metrics::app::ServiceNamer*> namer{nullptr};
    // Every process is traced (no discovery): an exec reads the new image's facts at once.
    std::atomic<bool> read_images{false};
    identity::IdentityCache* identity = nullptr;

   private:
    // An exec drops what was read of the old image too; an exit keeps it for the process's
    // requests still to be named.
    void Forget(uint32_t pid, bool exec) {
      if (identity != nullptr) identity->ForgetProcess(pid);
      if (auto* n = namer.load()) {
        if (!exec) {
          n->Forget(pid);
        } else if (read_images.load()) {
          n->ReadImage(pid);
        } else {
          n->ForgetImage(pid);
        }
      }
      if (auto* d = discovery.load()) d->Poke(pid);
    }
  };

  config::Config config_;
  std::string node_name_;
  int64_t start_ns_ = 0;
  metrics::Registry registry_;
  metrics::Family<metrics::Gauge>* sensor_up_ = nullptr;
  flow::FlowBuffer buffer_;
  // Agent events (GetAgentEvents): AGENT_STARTED, and the Kubernetes endpoints' changes.
  flow::AgentEventLog agent_events_;
  identity::IdentityCache identity_;
  FlowPipeline pipeline_;
  // Metric handlers fed by the pipeline (created in Start, before the sensors).
  std::unique_ptr<metrics::hubble::HubbleMetrics> hubble_metrics_;
  std::unique_ptr<metrics::app::AppMetrics> app_metrics_;
  std::vector<std::unique_ptr<FlowObserver>> metric_observers_;
  std::unique_ptr<KubernetesIdentity> kubernetes_;  // null when Kubernetes metadata is off
  std::unique_ptr<TracingStage> tracing_;           // null when nothing goes over OTLP
  std::mutex instrumented_mu_;
  std::set<uint32_t> instrumented_;           // pids discovery instruments, for process metrics
  std::vector<std::string> annotation_keys_;  // pod annotations discovery selectors name
  std::optional<identity::ServiceNameTemplate> name_template_;
  metrics::Counter* name_template_errors_ = nullptr;  // set with name_template_
  identity::ResourceLabels resource_labels_;          // attributes.kubernetes.resource_labels
  std::unique_ptr<ProcessLock> lock_;
  std::unique_ptr<prometheus::HttpEndpoint> endpoint_;
  std::unique_ptr<api::ObserverServer> observer_;
  std::vector<std::unique_ptr<sensors::Sensor>> sensors_;
  // Application view (null when loupe.app.enable is false).
  std::unique_ptr<ingest::ConnManager> conn_manager_;
  sensors::SocketTraceSensor* socket_sensor_ = nullptr;  // owned by sensors_
  ProcessEvents process_events_;
  std::unique_ptr<discovery::Discovery> discovery_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
};

struct AgentOptions {
  std::string config_path;
};

// `loupe agent`: loads the configuration (exit 2 when it is invalid), runs until SIGINT/SIGTERM,
// then stops cleanly (exit 0). Exit 1 when the agent cannot start.
int RunAgent(const AgentOptions& options);

}  // namespace loupe::agent
