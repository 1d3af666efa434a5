#include "src/agent/metrics_setup.h"

#include <algorithm>

#include "absl/status/status.h"

namespace loupe::agent {
namespace {

bool FromUser(const config::Config& config, const std::string& key) {
  return config.Get(key).source != "default";
}

void AddUnique(std::vector<std::string>* list, const std::string& value) {
  if (std::find(list->begin(), list->end(), value) == list->end()) list->push_back(value);
}

}  // namespace

std::vector<std::string> HubbleMetricEntries(const config::Config& config) {
  std::vector<std::string> out;
  for (const auto& spec : config.loupe_metrics().hubble) {
    std::string entry = spec.name;
    for (size_t i = 0; i < spec.options.size(); ++i) {
      entry += i == 0 ? ":" : ";";
      entry += spec.options[i].first;
      if (!spec.options[i].second.empty()) entry += "=" + spec.options[i].second;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

absl::StatusOr<metrics::app::AppMetricsOptions> AppMetricsOptionsFromConfig(
    const config::Config& config) {
  metrics::app::AppMetricsOptions o;
  const auto& prom = config.prometheus_export();
  const auto& otel = config.otel_metrics_export();
  o.features.clear();
  for (const auto& f : prom.features) AddUnique(&o.features, f);
  if (otel.target.enabled) {
    for (const auto& f : otel.features) AddUnique(&o.features, f);
  }
  // Features Loupe's registry does not produce (e.g. application_host) are for OTLP; keep only
  // the ones the application metrics know, and the network feature when network.enable is set.
  std::vector<std::string> known;
  for (const auto& f : o.features) {
    if (metrics::app::ParseFeatures({f}).ok()) known.push_back(f);
  }
  o.features = std::move(known);
  if (config.network().enable) AddUnique(&o.features, "network");

  if (FromUser(config, "prometheus_export.buckets.duration_histogram")) {
    o.duration_buckets = prom.buckets.duration;
  } else if (!otel.buckets.duration.empty() &&
             (FromUser(config, "otel_metrics_export.histograms") ||
              FromUser(config, "otel_metrics_export.buckets.duration_histogram"))) {
    o.duration_buckets = otel.buckets.duration;
  }
  if (!prom.buckets.request_size.empty()) o.request_size_buckets = prom.buckets.request_size;
  if (!prom.buckets.response_size.empty()) o.response_size_buckets = prom.buckets.response_size;

  o.span_names_limit = static_cast<size_t>(config.attributes().metric_span_names_limit);

  const auto& routes = config.routes();
  o.routes.patterns = routes.patterns;
  o.routes.ignored_patterns = routes.ignored_patterns;
  if (routes.ignore_mode == "metrics") {
    o.routes.ignore_mode = metrics::app::IgnoreMode::kMetrics;
  } else if (routes.ignore_mode == "traces") {
    o.routes.ignore_mode = metrics::app::IgnoreMode::kTraces;
  } else {
    o.routes.ignore_mode = metrics::app::IgnoreMode::kAll;
  }
  if (routes.unmatched == "unset") {
    o.routes.unmatched = metrics::app::UnmatchedRoutes::kUnset;
  } else if (routes.unmatched == "path") {
    o.routes.unmatched = metrics::app::UnmatchedRoutes::kPath;
  } else if (routes.unmatched == "wildcard") {
    o.routes.unmatched = metrics::app::UnmatchedRoutes::kWildcard;
  } else if (routes.unmatched == "heuristic" || routes.unmatched == "low-cardinality" ||
             routes.unmatched.empty()) {
    // Beyla's low-cardinality mode learns frequent segments; Loupe's heuristic bounds the routes
    // by the shape of each segment instead (docs/metrics.md, "Routes").
    o.routes.unmatched = metrics::app::UnmatchedRoutes::kHeuristic;
  } else {
    return absl::InvalidArgumentError("routes.unmatched: \"" + routes.unmatched +
                                      "\" is not implemented by Loupe (use unset, path, "
                                      "wildcard or heuristic)");
  }
  if (!routes.wildcard_char.empty()) o.routes.wildcard_char = routes.wildcard_char[0];

  for (const auto& [metric, selection] : config.attributes().select) {
    o.select[metric] = metrics::app::AttributeSelection{selection.include, selection.exclude};
  }
  for (const auto& cidr : config.network().cidrs) o.network_cidrs.push_back({cidr.cidr, cidr.name});
  o.agent_ip = config.network().agent_ip;
  o.service_namespace = config.GetString("service_namespace");
  o.cluster_name = config.kubernetes().cluster_name;
  o.host_id = config.attributes().host_id_override;
  o.unresolved_incoming = config.attributes().rename_unresolved_hosts_incoming.empty()
                              ? o.unresolved_incoming
                              : config.attributes().rename_unresolved_hosts_incoming;
  o.unresolved_outgoing = config.attributes().rename_unresolved_hosts_outgoing.empty()
                              ? o.unresolved_outgoing
                              : config.attributes().rename_unresolved_hosts_outgoing;
  o.max_series_per_metric = static_cast<size_t>(config.loupe_metrics().max_series_per_family);
  o.series_ttl_seconds = std::chrono::duration_cast<std::chrono::seconds>(prom.ttl).count();
  return o;
}

}  // namespace loupe::agent
