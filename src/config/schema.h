// The configuration schema: every key Loupe accepts, its type, default, environment variables,
// allowed values and its Beyla/Hubble equivalent. One table drives validation, environment
// overrides, `loupe config print` and docs/configuration.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace loupe::config {

enum class ValueType {
  kBool,
  kInt,
  kString,
  kDuration,
  kStringList,
  kEnum,
  kSelectorList,
  kFloatList,        // list of numbers (histogram bucket boundaries)
  kStringMap,        // string -> string (OTLP headers)
  kHistogramList,    // [{explicit: {boundaries: [..]}}, ...]
  kCidrList,         // ["10.0.0.0/8", {cidr: "fd00::/8", name: "pods"}, ...]
  kAttributeSelect,  // {<metric name or glob>: {include: [..], exclude: [..]}, ...}
  kStringListMap,    // string -> list of strings (attributes.kubernetes.resource_labels)
};

// One entry of a Beyla selector list (discovery.services, discovery.instrument, ...): field ->
// value. Map-valued fields (k8s_pod_labels, k8s_pod_annotations) are flattened to
// "field/key" -> value; list-valued fields (exports) are joined with commas.
using Selector = std::map<std::string, std::string>;
using SelectorList = std::vector<Selector>;

using StringMap = std::map<std::string, std::string>;

// One entry of otel_metrics_export.histograms: explicit bucket boundaries, strictly ascending.
struct ExplicitHistogram {
  std::vector<double> boundaries;
  bool operator==(const ExplicitHistogram&) const = default;
};
using HistogramList = std::vector<ExplicitHistogram>;

// One entry of network.cidrs. `cidr` is as written ("10.0.0.0/8"); `name` is empty for the plain
// form.
struct NamedCidr {
  std::string cidr;
  std::string name;
  bool operator==(const NamedCidr&) const = default;
};
using CidrList = std::vector<NamedCidr>;

// attributes.select.<metric>: attribute names or globs to add to / remove from the metric's
// default attribute set.
struct AttributeSelection {
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  bool operator==(const AttributeSelection&) const = default;
};
// Keyed by metric name or glob as written (OTel "http.server.request.duration" or Prometheus
// "http_server_request_duration_seconds" form, or "traces" for span attributes).
using AttributeSelect = std::map<std::string, AttributeSelection>;

// attributes.kubernetes.resource_labels: resource attribute -> pod label names, first present wins.
using StringListMap = std::map<std::string, std::vector<std::string>>;

using Value = std::variant<bool, int64_t, std::string, std::chrono::nanoseconds,
                           std::vector<std::string>, SelectorList, std::vector<double>, StringMap,
                           HistogramList, CidrList, AttributeSelect, StringListMap>;

struct KeySpec {
  std::string path;  // dotted YAML path, e.g. "prometheus_export.port"
  ValueType type;
  Value default_value;
  std::vector<std::string> env;  // environment variables, highest precedence first
  // kEnum: allowed values (matched case-insensitively); kStringList: allowed items (empty means
  // any); kSelectorList: allowed fields of an entry.
  std::vector<std::string> allowed;
  int64_t min = INT64_MIN;  // kInt bounds, inclusive
  int64_t max = INT64_MAX;
  std::string doc;
  std::string equivalent;  // the Beyla or Hubble setting this corresponds to, if any
  // Extra validation after type conversion; returns InvalidArgument with the reason.
  std::function<absl::Status(const Value&)> validate;
  // Environment variables (a subset of `env`) whose plain numbers are milliseconds, not seconds
  // (OTEL_METRIC_EXPORT_INTERVAL).
  std::vector<std::string> env_millis;
  // kStringList from text (environment variables, YAML scalars): ',' or ' ' (any whitespace).
  char list_separator = ',';
  // `loupe config print` shows the keys of a secret map but not the values.
  bool secret = false;
  // kStringListMap: the configured map is laid over the default one (as YAML decoded into a
  // pre-filled Go map): configured keys replace the default's, the others stay.
  bool merge_with_default = false;
};

// The full schema, in documentation order.
const std::vector<KeySpec>& Schema();

// Returns nullptr when `path` is not a key.
const KeySpec* FindKey(std::string_view path);

// Keys and sections directly below `section` ("" for the top level), sorted; used in error
// messages that list what is allowed.
std::vector<std::string> ChildrenOf(std::string_view section);
bool IsSection(std::string_view path);

const char* TypeName(ValueType type);
std::string FormatValue(const Value& value);

// Parses text (from YAML scalars or environment variables) into a value of the key's type and
// validates it. Lists from text are split on the key's list_separator; maps are "k=v,k2=v2" with
// %-encoded values (the OTEL_EXPORTER_OTLP_HEADERS format); CIDR lists are comma-separated.
// Errors name the key and what is allowed.
absl::Status ParseText(const KeySpec& spec, std::string_view text, Value* out);
// Runs the per-item checks (allowed list items, ascending numbers, CIDR syntax ...) and
// spec.validate on a value built from YAML; errors name the key and quote the value.
absl::Status ValidateValue(const KeySpec& spec, const Value& value);

// "80,443,8000-8999" -> {(80,80), (443,443), (8000,8999)}. `out` may be null (validation).
bool ParsePortRanges(std::string_view text, std::vector<std::pair<uint16_t, uint16_t>>* out);
// Go-style durations: "300ms", "5s", "1m30s", "2h". Also a plain number of seconds.
bool ParseDuration(std::string_view text, std::chrono::nanoseconds* out);
// "10.0.0.0/8", "fd00::/8": an IPv4 or IPv6 address, '/', a prefix length within the family.
bool IsValidCidr(std::string_view text);
// A literal IPv4 or IPv6 address.
bool IsValidIpAddress(std::string_view text);

// A Hubble metric handler spec, `name[:opt[=value][;opt[=value]...]]`
// (reference/hubble.md §5.1), e.g. "httpV2:exemplars=true;labelsContext=source_ip,source_pod".
struct HubbleMetricSpec {
  std::string name;
  // In the order written; a value-less option ("ignoreAAAA") has an empty value.
  std::vector<std::pair<std::string, std::string>> options;
  bool operator==(const HubbleMetricSpec&) const = default;
};
// Checks the syntax only; whether `name` and the options exist is for the handler registry.
absl::StatusOr<HubbleMetricSpec> ParseHubbleMetricSpec(std::string_view text);

// Samplers that take a ratio argument (traceidratio, parentbased_traceidratio).
bool SamplerTakesRatio(std::string_view sampler_name);
// A sampler argument: a number in [0, 1]; empty means 1 (the OpenTelemetry default).
bool ParseSamplerRatio(std::string_view text, double* out);

}  // namespace loupe::config
