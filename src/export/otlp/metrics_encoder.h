// Registry snapshots (FamilySnapshot, the same data the Prometheus endpoint renders) ->
// ExportMetricsServiceRequest.
//
// Names: Prometheus names of the OpenTelemetry semantic-convention metrics are mapped back to
// their OTel names and units (http_server_request_duration_seconds -> http.server.request.duration,
// unit "s"; reference/beyla.md §4.1); their labels become OTel attribute names
// (http_request_method -> http.request.method), and the service and Kubernetes labels
// (service_name, service_namespace, k8s_*, instance as service.instance.id) move to the resource,
// as Beyla does; job, which Prometheus derives from the resource, is left out. Every other
// family keeps its name and labels and goes under the agent's own resource.
// Types: counter -> monotonic Sum, gauge -> Gauge, histogram -> explicit-bucket Histogram with
// the registry's bounds and per-bucket exemplars (trace and span ids of sampled spans).
// Temporality: cumulative (start time = exporter start) or delta against the last committed
// export (a counter that went down is taken as reset: the delta is its new value).
//
// Thread expectations: Encode is const; Commit mutates. One exporter thread uses an encoder.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "src/export/otlp/options.h"
#include "src/metrics/registry.h"
#include "src/telemetry/tracing/span.h"

namespace loupe::otlp {

struct OtelMetricName {
  std::string_view name;
  std::string_view unit;
};
// The OTel name and unit of a Prometheus family name; nullptr when none is known.
const OtelMetricName* LookupOtelName(std::string_view prometheus_name);
// The OTel attribute name of a Prometheus label of a semantic-convention metric (unchanged when
// none is known).
std::string_view OtelAttributeName(std::string_view prometheus_label);

class MetricsEncoder {
 public:
  struct Baseline {
    double value = 0;
    std::vector<uint64_t> buckets;
    double sum = 0;
    uint64_t count = 0;
  };
  // What an encoded request would make the new delta baseline, applied by Commit after the
  // receiver accepted it.
  struct Pending {
    int64_t time_ns = 0;
    std::map<std::string, Baseline> series;
  };

  // Further attributes of a service's resource, given the attributes its metric labels gave it
  // (OTel names, sorted): e.g. service.version of the pod named by k8s.namespace.name and
  // k8s.pod.name (attributes.kubernetes.resource_labels). Appended unless the labels already set
  // the attribute. Called once per resource per Encode.
  using ServiceResourceFn = std::function<std::vector<std::pair<std::string, std::string>>(
      const std::vector<std::pair<std::string_view, std::string>>& resource)>;

  MetricsEncoder(Temporality temporality, std::shared_ptr<const tracing::Resource> agent_resource,
                 int64_t start_ns, ServiceResourceFn service_resource = nullptr);

  // Encodes `families` as observed at `now_ns` into `out`; returns the number of data points.
  size_t Encode(const std::vector<metrics::FamilySnapshot>& families, int64_t now_ns,
                opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest* out,
                Pending* pending) const;
  void Commit(Pending&& pending);

  Temporality temporality() const { return temporality_; }

 private:
  Temporality temporality_;
  std::shared_ptr<const tracing::Resource> agent_resource_;
  ServiceResourceFn service_resource_;
  int64_t start_ns_;
  int64_t last_commit_ns_;
  std::map<std::string, Baseline> baseline_;
};

}  // namespace loupe::otlp
