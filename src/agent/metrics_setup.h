// Maps the configuration onto the metric handlers: Hubble's handler list (loupe.metrics.hubble)
// and Beyla's application metrics (prometheus_export / otel_metrics_export features and buckets,
// routes, attributes.select, network.cidrs).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/config/config.h"
#include "src/metrics/app/options.h"

namespace loupe::agent {

// loupe.metrics.hubble as Hubble's entry strings ("httpV2:exemplars=true;labelsContext=...").
std::vector<std::string> HubbleMetricEntries(const config::Config& config);

// Features: prometheus_export.features, plus otel_metrics_export.features when OTLP metrics are
// on (one registry feeds both), plus `network` when network.enable is set. Duration buckets:
// prometheus_export.buckets when set in the file or the environment, else the first explicit
// histogram of otel_metrics_export.histograms (the seed's form), else Beyla's defaults.
absl::StatusOr<metrics::app::AppMetricsOptions> AppMetricsOptionsFromConfig(
    const config::Config& config);

}  // namespace loupe::agent
