// The Hubble metrics configuration: `--hubble-metrics` / `hubble.metrics.enabled` entries such as
// `dns:query;ignoreAAAA` or `httpV2:exemplars=true;labelsContext=source_namespace,source_workload`,
// parsed into one HandlerSpec per handler (reference/hubble.md §5.1, §5.2).
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace loupe::metrics::hubble {

enum class HandlerKind : uint8_t {
  kDns,
  kDrop,
  kTcp,
  kFlow,
  kFlowsToWorld,
  kPortDistribution,
  kIcmp,
  kHttp,
  kHttpV2,
  kKafka,
};

// The handler's name in the configuration ("port-distribution", "httpV2", ...).
const char* HandlerName(HandlerKind kind);

// One identifier of sourceContext / destinationContext (tried left to right, first non-empty).
enum class ContextId : uint8_t {
  kIdentity,          // all identity labels, comma-joined
  kNamespace,         // namespace
  kPod,               // namespace/pod
  kPodShort,          // namespace/pod without its -hash suffixes (deprecated in Hubble)
  kPodName,           // pod
  kDns,               // DNS names of the address, comma-joined
  kIp,                // the address
  kReservedIdentity,  // reserved:kube-apiserver, else the first reserved:* label
  kWorkload,          // namespace/workload-name
  kWorkloadName,      // name of the first workload
  kApp,               // k8s:app.kubernetes.io/name, k8s:k8s-app or k8s:app
};

// labelsContext labels, in the fixed order they appear in every metric.
enum class ContextLabel : uint8_t {
  kSourceIp,
  kSourcePod,
  kSourceNamespace,
  kSourceWorkload,
  kSourceWorkloadKind,
  kSourceApp,
  kDestinationIp,
  kDestinationPod,
  kDestinationNamespace,
  kDestinationWorkload,
  kDestinationWorkloadKind,
  kDestinationApp,
  kTrafficDirection,
};
inline constexpr int kContextLabelCount = 13;

// "source_ip", ..., "traffic_direction".
const char* ContextLabelName(ContextLabel label);

struct ContextOptions {
  std::vector<ContextId> source;  // sourceContext
  std::vector<ContextId> source_egress;
  std::vector<ContextId> source_ingress;
  std::vector<ContextId> destination;  // destinationContext
  std::vector<ContextId> destination_egress;
  std::vector<ContextId> destination_ingress;
  uint32_t labels = 0;  // labelsContext: bit (1 << ContextLabel)

  bool Has(ContextLabel label) const { return (labels & (1u << static_cast<int>(label))) != 0; }
  // A `source` label exists when any source*Context option is set (same for `destination`).
  bool HasSource() const {
    return !source.empty() || !source_egress.empty() || !source_ingress.empty();
  }
  bool HasDestination() const {
    return !destination.empty() || !destination_egress.empty() || !destination_ingress.empty();
  }
  // The context label names in exposition order: labelsContext labels in the fixed order, then
  // `source`, then `destination`.
  std::vector<std::string> LabelNames() const;
  // How many label values GetContextValues appends.
  size_t LabelCount() const;
};

struct HandlerSpec {
  HandlerKind kind = HandlerKind::kFlow;
  ContextOptions context;
  // dns
  bool query = false;        // adds the `query` label
  bool ignore_aaaa = false;  // skips flows whose only qtype is AAAA
  // flows-to-world
  bool any_drop = false;  // count every drop, not only POLICY_DENIED
  bool port = false;      // adds the destination `port` label
  bool syn_only = false;  // count only TCP SYNs
  // http, httpV2
  bool exemplars = false;
  // Loupe extension (http, httpV2): every series with Hubble's `status` label also carries
  // `http_status_code` (same value, last label), which the seed's PromQL selects on.
  // `httpStatusCodeLabel=false` gives Hubble's exact label set.
  bool http_status_code_label = true;
};

// Parses entries `name[:opt[=value][;opt[=value]]...]`. Option keys are case-insensitive, as in
// Hubble; handler names, context identifiers and labelsContext labels are checked exactly (context
// identifiers case-insensitively). Errors (InvalidArgument, naming the entry and the culprit):
// unknown handler, unknown option, an option that needs a value without one (or a flag with a
// value other than true/false), unknown context identifier or labelsContext label, a handler given
// twice, and http together with httpV2. Empty entries are skipped.
absl::StatusOr<std::vector<HandlerSpec>> ParseHubbleMetrics(
    const std::vector<std::string>& entries);

// Splits a `--hubble-metrics` flag value into entries: whitespace-separated, as the current Hubble
// agent reads it (commas separate labelsContext values, so they cannot separate entries).
std::vector<std::string> SplitHubbleMetricsFlag(std::string_view flag);

}  // namespace loupe::metrics::hubble
