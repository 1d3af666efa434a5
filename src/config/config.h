// The effective configuration: schema defaults, overridden by a YAML file, overridden by
// environment variables. Every value remembers where it came from (for `loupe config print`).
// Immutable once loaded; safe to read from any thread.
//
// Two ways to read it: by key with the typed getters (GetInt("prometheus_export.port")), or
// through the per-section views (prometheus_export().port) that Load() builds once, with
// cross-key rules already applied (OTLP URL and protocol resolution, sampler ratio, ...).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/config/schema.h"

namespace loupe::config {

struct Setting {
  Value value;
  // "default", "file:<path>:<line>" or "env:<VAR>".
  std::string source;
};

// Looks up an environment variable; returns nullopt when unset. Injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// Histogram bucket boundaries, strictly ascending.
struct HistogramBuckets {
  std::vector<double> duration;       // seconds
  std::vector<double> request_size;   // bytes
  std::vector<double> response_size;  // bytes
};

// True when `feature` is enabled by a features list: listed itself, or "all" / "*" is listed,
// or (for stats_tcp_*) "stats" is listed.
bool FeatureEnabled(const std::vector<std::string>& features, std::string_view feature);

// prometheus_export.*
struct PrometheusExportConfig {
  int port = 0;
  std::string path;
  std::vector<std::string> features;          // e.g. {"application", "application_process"}
  std::vector<std::string> instrumentations;  // {"*"} or protocol names
  std::chrono::nanoseconds ttl{};
  HistogramBuckets buckets;
  bool allow_service_graph_self_references = false;
};

enum class OtlpProtocol { kGrpc, kHttpProtobuf };

// The part of otel_metrics_export / otel_traces_export that says where and how to send.
struct OtlpTarget {
  bool enabled = false;  // an endpoint is set
  std::string endpoint;  // as configured
  // What the exporter uses: `endpoint`, with "/v1/metrics" or "/v1/traces" appended when it came
  // from OTEL_EXPORTER_OTLP_ENDPOINT and the protocol is http/protobuf (OTel spec and Beyla).
  std::string url;
  // As configured, or guessed from the endpoint port when "auto": 4317 -> gRPC, else HTTP.
  OtlpProtocol protocol = OtlpProtocol::kHttpProtobuf;
  std::map<std::string, std::string> headers;
  bool insecure_skip_verify = false;
};

enum class Temporality { kCumulative, kDelta };

// otel_metrics_export.*
struct OtelMetricsExportConfig {
  OtlpTarget target;
  std::chrono::nanoseconds interval{};
  std::vector<std::string> features;
  std::vector<std::string> instrumentations;
  std::chrono::nanoseconds ttl{};
  Temporality temporality = Temporality::kCumulative;
  // buckets.*, except that `duration` is histograms[0].boundaries when `histograms` is set.
  HistogramBuckets buckets;
  HistogramList histograms;  // as written
  bool allow_service_graph_self_references = false;
};

// otel_traces_export.sampler
struct SamplerConfig {
  std::string name;  // always_on, always_off, traceidratio, parentbased_always_on, ...
  std::string arg;   // as written
  bool parent_based = false;
  // The fraction of root traces kept: 1 for always_on, 0 for always_off, the parsed arg (empty
  // means 1) for the ratio samplers.
  double ratio = 1.0;
};

// otel_traces_export.*
struct OtelTracesExportConfig {
  OtlpTarget target;
  SamplerConfig sampler;
  std::vector<std::string> instrumentations;
  int64_t batch_max_size = 0;
  int64_t queue_size = 0;
  std::chrono::nanoseconds batch_timeout{};
  std::chrono::nanoseconds backoff_initial_interval{};
  std::chrono::nanoseconds backoff_max_interval{};
  std::chrono::nanoseconds backoff_max_elapsed_time{};
};

// network.* (Beyla's flow metrics; Loupe's own network view is loupe.network.*).
struct BeylaNetworkConfig {
  bool enable = false;  // network.enable, or the `network` feature in either exporter
  CidrList cidrs;
  std::string source;          // socket_filter | tc
  std::string agent_ip;        // empty: pick per agent_ip_iface
  std::string agent_ip_iface;  // external | local | name:<iface>
  std::string agent_ip_type;   // any | ipv4 | ipv6
  std::vector<std::string> interfaces;
  std::vector<std::string> exclude_interfaces;
  std::vector<std::string> protocols;
  std::vector<std::string> exclude_protocols;
  int64_t cache_max_flows = 0;
  std::chrono::nanoseconds cache_active_timeout{};
  std::string deduper;    // first_come | none
  std::string direction;  // both | ingress | egress
  int64_t sampling = 0;
  bool print_flows = false;
};

enum class KubeEnable { kTrue, kFalse, kAutodetect };

// attributes.kubernetes.*
struct KubernetesConfig {
  KubeEnable enable = KubeEnable::kAutodetect;
  std::string kubeconfig_path;
  std::string cluster_name;
  std::chrono::nanoseconds informers_sync_timeout{};
  std::chrono::nanoseconds informers_resync_period{};
  std::chrono::nanoseconds reconnect_initial_interval{};
  bool meta_restrict_local_node = false;
  std::vector<std::string> disable_informers;  // node, service
  std::string meta_cache_address;
  bool drop_external = false;
  std::string service_name_template;
  // resource attribute -> pod label names: the schema default with the configured keys replaced.
  StringListMap resource_labels;
};

// attributes.* other than kubernetes.
struct AttributesConfig {
  std::string host_id_override;
  std::chrono::nanoseconds host_id_fetch_timeout{};
  bool instance_id_dns = true;
  std::string instance_id_override_hostname;
  AttributeSelect select;  // metric name or glob -> {include, exclude}
  int64_t metric_span_names_limit = 0;
  std::string rename_unresolved_hosts;
  std::string rename_unresolved_hosts_outgoing;
  std::string rename_unresolved_hosts_incoming;
};

// routes.*
struct RoutesConfig {
  std::vector<std::string> patterns;
  std::vector<std::string> ignored_patterns;
  std::string ignore_mode;  // all | metrics | traces
  std::string unmatched;    // unset | path | wildcard | heuristic | low-cardinality
  std::string wildcard_char;
  int64_t max_path_segment_cardinality = 0;
};

// loupe.metrics.*
struct LoupeMetricsConfig {
  std::vector<HubbleMetricSpec> hubble;  // parsed loupe.metrics.hubble, in order
  int64_t max_series_per_family = 0;
  bool openmetrics = false;
};

class Config {
 public:
  // Loads `yaml_path` (when non-empty) and applies `env`. Errors (InvalidArgument) name the key
  // and what is allowed; a missing or unreadable file is NotFound / InvalidArgument.
  static absl::StatusOr<Config> Load(const std::string& yaml_path, const EnvLookup& env);
  // Same, from YAML text (used by tests); `origin` names it in messages.
  static absl::StatusOr<Config> LoadFromString(const std::string& yaml_text,
                                               const std::string& origin, const EnvLookup& env);

  // By key. The key must be in the schema and of that type (a programming error aborts).
  bool GetBool(const std::string& path) const;
  int64_t GetInt(const std::string& path) const;
  // kString and kEnum keys.
  const std::string& GetString(const std::string& path) const;
  std::chrono::nanoseconds GetDuration(const std::string& path) const;
  const std::vector<std::string>& GetList(const std::string& path) const;
  const SelectorList& GetSelectors(const std::string& path) const;
  const std::vector<double>& GetFloatList(const std::string& path) const;
  const StringMap& GetStringMap(const std::string& path) const;
  const HistogramList& GetHistograms(const std::string& path) const;
  const CidrList& GetCidrs(const std::string& path) const;
  const AttributeSelect& GetAttributeSelect(const std::string& path) const;
  const StringListMap& GetStringListMap(const std::string& path) const;
  const Setting& Get(const std::string& path) const;

  // By section.
  const PrometheusExportConfig& prometheus_export() const { return prometheus_export_; }
  const OtelMetricsExportConfig& otel_metrics_export() const { return otel_metrics_export_; }
  const OtelTracesExportConfig& otel_traces_export() const { return otel_traces_export_; }
  const BeylaNetworkConfig& network() const { return network_; }
  const KubernetesConfig& kubernetes() const { return kubernetes_; }
  const AttributesConfig& attributes() const { return attributes_; }
  const RoutesConfig& routes() const { return routes_; }
  const LoupeMetricsConfig& loupe_metrics() const { return loupe_metrics_; }

  const std::map<std::string, Setting>& settings() const { return settings_; }

 private:
  static absl::StatusOr<Config> Finish(std::map<std::string, Setting> settings,
                                       const EnvLookup& env);
  // Rules that involve more than one key; then fills the section views.
  absl::Status BuildViews();

  std::map<std::string, Setting> settings_;
  PrometheusExportConfig prometheus_export_;
  OtelMetricsExportConfig otel_metrics_export_;
  OtelTracesExportConfig otel_traces_export_;
  BeylaNetworkConfig network_;
  KubernetesConfig kubernetes_;
  AttributesConfig attributes_;
  RoutesConfig routes_;
  LoupeMetricsConfig loupe_metrics_;
};

}  // namespace loupe::config
