// Options of the application metrics (Beyla's metrics.features, buckets, routes,
// attributes.select, network.cidrs ...). The integrator maps the configuration onto this struct;
// AppMetrics::Create validates it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/metrics/app/routes.h"
#include "src/metrics/app/select.h"

namespace loupe::metrics::app {

// Beyla metrics.features that Loupe implements, as bits.
enum Feature : uint32_t {
  kFeatureApplication = 1u << 0,              // RED histograms, target_info
  kFeatureApplicationProcess = 1u << 1,       // process_* from /proc
  kFeatureApplicationServiceGraph = 1u << 2,  // traces_service_graph_*
  kFeatureApplicationSpan = 1u << 3,          // traces_spanmetrics_* (legacy span metrics)
  kFeatureNetwork = 1u << 4,                  // beyla_network_flow_bytes_total
};

// "application", "application_process", "application_service_graph", "application_span",
// "network"; "all" or "*" selects every one. Other names are rejected (a Beyla feature Loupe
// does not implement is named as such).
absl::StatusOr<uint32_t> ParseFeatures(const std::vector<std::string>& names);

// How gRPC metrics are named. kLegacy is what the seed and Beyla up to v3.22 use
// (rpc_server_duration_seconds with rpc_system, rpc_grpc_status_code); kCurrent follows semantic
// conventions v1.38+ as Beyla v3.23+ (rpc_server_call_duration_seconds with rpc_system_name,
// rpc_response_status_code).
enum class RpcNaming { kLegacy, kCurrent };

struct NetworkCidr {
  std::string cidr;  // "10.0.0.0/8", "fd00::/8"
  std::string name;  // label value; empty = the cidr text
};

inline const std::vector<double>& DefaultDurationBuckets() {
  static const std::vector<double> kBuckets = {0,   0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                               0.5, 0.75,  1,    2.5,   5,    7.5,   10};
  return kBuckets;
}
inline const std::vector<double>& DefaultSizeBuckets() {
  static const std::vector<double> kBuckets = {0, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};
  return kBuckets;
}

struct AppMetricsOptions {
  std::vector<std::string> features = {"application"};
  std::vector<double> duration_buckets = DefaultDurationBuckets();   // seconds
  std::vector<double> request_size_buckets = DefaultSizeBuckets();   // bytes
  std::vector<double> response_size_buckets = DefaultSizeBuckets();  // bytes
  RoutesOptions routes;
  std::map<std::string, AttributeSelection> select;  // attributes.select
  std::vector<NetworkCidr> network_cidrs;            // network.cidrs
  RpcNaming rpc_naming = RpcNaming::kLegacy;
  // service.namespace of processes whose environment sets none (Beyla: service_namespace /
  // BEYLA_SERVICE_NAMESPACE). Empty = the agent's BEYLA_SERVICE_NAMESPACE, if set.
  std::string service_namespace;
  std::string host_name;     // for `instance` and target_info; empty = gethostname()
  std::string host_id;       // target_info host_id; empty = /etc/machine-id
  std::string cluster_name;  // k8s.cluster.name of network flows when flows carry none
  std::string agent_ip;      // beyla.ip of network flows
  std::string proc_root = "/proc";
  // Service graph names of peers no resolver knows (Beyla rename_unresolved_hosts_*).
  std::string unresolved_incoming = "incoming";
  std::string unresolved_outgoing = "outgoing";
  // Limits of every event-labelled family (registry FamilyOptions).
  size_t max_series_per_metric = 0;
  // attributes.metric_span_names_limit: distinct span_name values per service in the span metrics;
  // later names become "AGGREGATED". 0: no limit.
  size_t span_names_limit = 100;
  int64_t series_ttl_seconds = 300;   // Beyla's prometheus_export.ttl default (5m)
  std::string telemetry_sdk_version;  // target_info telemetry_sdk_version; empty = Loupe's
  // Kubernetes metadata is on: the application metrics carry Beyla's k8s_* labels (values from
  // ServiceIdentity's k8s_* fields, empty for processes outside pods).
  bool kubernetes = false;
};

}  // namespace loupe::metrics::app
