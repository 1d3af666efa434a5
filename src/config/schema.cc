#include "src/config/schema.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "re2/re2.h"
#include "src/base/strings.h"

namespace loupe::config {
namespace {

using std::chrono::nanoseconds;
using Strings = std::vector<std::string>;
using Floats = std::vector<double>;

constexpr nanoseconds Seconds(int64_t s) { return std::chrono::seconds(s); }
constexpr nanoseconds Minutes(int64_t m) { return std::chrono::minutes(m); }

// reference/beyla.md §4.4 (pkg/export/bucket.go).
const Floats kDurationBuckets = {0,   0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                 0.5, 0.75,  1,    2.5,   5,    7.5,   10};
const Floats kSizeBuckets = {0, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192};

// reference/beyla.md §3 metrics.features, plus Beyla's application_process.
const Strings kMetricFeatures = {"application",
                                 "application_span",
                                 "application_span_otel",
                                 "application_span_sizes",
                                 "application_service_graph",
                                 "application_host",
                                 "application_runtime",
                                 "application_process",
                                 "network",
                                 "network_flow_packets",
                                 "network_inter_zone",
                                 "stats",
                                 "stats_tcp_rtt",
                                 "stats_tcp_failed_connections",
                                 "stats_tcp_retransmits",
                                 "stats_tcp_io",
                                 "ebpf",
                                 "all",
                                 "*"};

// reference/beyla.md §1.7 instrumentation selector values.
const Strings kInstrumentations = {"*",    "aerospike", "amqp",  "couchbase", "dns",       "genai",
                                   "gpu",  "grpc",      "http",  "kafka",     "memcached", "mongo",
                                   "mqtt", "nats",      "redis", "sql",       "sunrpc"};
const Strings kTraceInstrumentationsDefault = {
    "http", "grpc",  "sql",       "redis",     "kafka",  "mqtt",     "nats",
    "amqp", "mongo", "couchbase", "memcached", "sunrpc", "aerospike"};

// The seed's Hubble metrics list (hubble.metrics.enabled in its Helm values).
constexpr char kHubbleHttpV2Default[] =
    "httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,"
    "destination_ip,destination_namespace,destination_workload,traffic_direction";
const Strings kHubbleMetricsDefault = {
    "dns", "drop", "tcp", "flow", "port-distribution", "icmp", kHubbleHttpV2Default};

// Patterns longer than this are refused: no sensible selector needs more.
constexpr size_t kMaxPatternLength = 1024;

absl::Status ValidateUrlPath(const Value& v) {
  const auto& path = std::get<std::string>(v);
  if (!path.starts_with("/") || Contains(path, " ")) {
    return absl::InvalidArgumentError("must be an absolute URL path such as /metrics");
  }
  return absl::OkStatus();
}

absl::Status ValidateAbsoluteDir(const Value& v) {
  if (!std::get<std::string>(v).starts_with("/")) {
    return absl::InvalidArgumentError("must be an absolute directory path");
  }
  return absl::OkStatus();
}

absl::Status ValidatePositiveDuration(const Value& v) {
  if (std::get<nanoseconds>(v).count() <= 0) {
    return absl::InvalidArgumentError("must be a positive duration");
  }
  return absl::OkStatus();
}

// An OTLP endpoint: empty (export disabled) or an http:// or https:// URL with a host.
absl::Status ValidateOtlpEndpoint(const Value& v) {
  const auto& url = std::get<std::string>(v);
  if (url.empty()) return absl::OkStatus();
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else {
    return absl::InvalidArgumentError(
        "must be a URL starting with http:// or https://, such as http://collector:4317");
  }
  const std::string_view host = rest.substr(0, rest.find_first_of("/?#"));
  if (host.empty() || host.starts_with(":") || Contains(url, " ")) {
    return absl::InvalidArgumentError("must name a host, such as http://collector:4317");
  }
  return absl::OkStatus();
}

absl::Status ValidateIpOrEmpty(const Value& v) {
  const auto& text = std::get<std::string>(v);
  if (text.empty() || IsValidIpAddress(text)) return absl::OkStatus();
  return absl::InvalidArgumentError("is not an IPv4 or IPv6 address");
}

absl::Status ValidateAgentIpIface(const Value& v) {
  const auto& text = std::get<std::string>(v);
  if (text == "external" || text == "local") return absl::OkStatus();
  if (text.starts_with("name:") && text.size() > 5) return absl::OkStatus();
  return absl::InvalidArgumentError("must be external, local or name:<interface>");
}

absl::Status ValidateFeatures(const Value& v) {
  const auto& features = std::get<Strings>(v);
  const bool span =
      std::find(features.begin(), features.end(), "application_span") != features.end();
  const bool span_otel =
      std::find(features.begin(), features.end(), "application_span_otel") != features.end();
  if (span && span_otel) {
    return absl::InvalidArgumentError(
        "enables both application_span and application_span_otel; they are mutually exclusive");
  }
  return absl::OkStatus();
}

absl::Status ValidateRoutePatterns(const Value& v) {
  for (const auto& pattern : std::get<Strings>(v)) {
    if (!pattern.starts_with("/") && !pattern.starts_with("*")) {
      return absl::InvalidArgumentError(
          absl::StrCat("has '", pattern, "', which does not start with / (e.g. /users/{id})"));
    }
    int depth = 0;
    for (char c : pattern) {
      if (c == '{') ++depth;
      if (c == '}') --depth;
      if (depth < 0 || depth > 1 || (c == '/' && depth != 0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("has '", pattern, "', whose { } do not pair up within a path segment"));
      }
    }
    if (depth != 0) {
      return absl::InvalidArgumentError(absl::StrCat("has '", pattern, "', with an unclosed {"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateHubbleMetrics(const Value& v) {
  std::set<std::string> names;
  for (const auto& item : std::get<Strings>(v)) {
    auto spec = ParseHubbleMetricSpec(item);
    if (!spec.ok()) return spec.status();
    if (!names.insert(spec->name).second) {
      return absl::InvalidArgumentError(absl::StrCat("lists the handler '", spec->name, "' twice"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRegexText(std::string_view what, const std::string& text) {
  if (text.size() > kMaxPatternLength) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(what), " is longer than ", kMaxPatternLength, " characters"));
  }
  const RE2 re(text, RE2::Quiet);  // Go's regexp syntax, as Beyla (discovery compiles the same)
  if (!re.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(what), " '", text, "' is not a valid regular expression: ", re.error()));
  }
  return absl::OkStatus();
}

absl::Status ValidateRegex(const Value& v) {
  const auto& text = std::get<std::string>(v);
  if (text.size() > kMaxPatternLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("is longer than ", kMaxPatternLength, " characters"));
  }
  const RE2 re(text, RE2::Quiet);
  if (!re.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("is not a valid regular expression: ", re.error()));
  }
  return absl::OkStatus();
}

// Shell globs as fnmatch(3) reads them: only an unclosed [ is an error.
absl::Status ValidateGlobText(std::string_view what, const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '[') {
      const size_t close = text.find(']', i + 2);
      if (close == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            std::string(what), " '", text, "' is not a valid glob: [ without a closing ]"));
      }
      i = close;
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePortRanges(const Value& v) {
  const auto& text = std::get<std::string>(v);
  if (text.empty()) return absl::OkStatus();
  if (!ParsePortRanges(text, nullptr)) {
    return absl::InvalidArgumentError("must be ports or ranges such as 80,443,8000-8999");
  }
  return absl::OkStatus();
}

Strings SelectorFields() {
  return {"open_ports",
          "exe_path",
          "exe_path_regexp",
          "cmd_args",
          "languages",
          "containers_only",
          "container_name",
          "k8s_namespace",
          "k8s_pod_name",
          "k8s_deployment_name",
          "k8s_replicaset_name",
          "k8s_statefulset_name",
          "k8s_daemonset_name",
          "k8s_cronjob_name",
          "k8s_job_name",
          "k8s_owner_name",
          "k8s_container_name",
          "k8s_pod_labels",
          "k8s_pod_annotations",
          "target_pids",
          "name",
          "namespace",
          "exports"};
}

// Fields of a selector that are free text, not patterns.
bool IsLiteralSelectorField(std::string_view field) {
  return field == "open_ports" || field == "containers_only" || field == "target_pids" ||
         field == "name" || field == "namespace" || field == "exports";
}

// Checks one selector list: patterns compile (regular expressions for the deprecated
// services/exclude_services, globs for instrument/exclude_instrument), and the literal fields
// hold what they should.
std::function<absl::Status(const Value&)> SelectorValidator(bool glob) {
  return [glob](const Value& v) -> absl::Status {
    const auto& list = std::get<SelectorList>(v);
    for (size_t i = 0; i < list.size(); ++i) {
      for (const auto& [field, value] : list[i]) {
        const std::string where = absl::StrCat("entry ", i, " field ", field);
        const std::string_view base = std::string_view(field).substr(0, field.find('/'));
        if (base == "open_ports") {
          if (!ParsePortRanges(value, nullptr)) {
            return absl::InvalidArgumentError(absl::StrCat(
                where, ": open_ports '", value, "' is not ports or ranges such as 80,8000-8999"));
          }
        } else if (base == "containers_only") {
          const std::string lower = AsciiLower(value);
          if (lower != "true" && lower != "false") {
            return absl::InvalidArgumentError(
                absl::StrCat(where, ": '", value, "' is not a boolean (true or false)"));
          }
        } else if (base == "target_pids") {
          for (std::string_view pid : SplitSkipEmpty(value, ',')) {
            uint32_t p = 0;
            if (!ParseInt(StripWhitespace(pid), &p) || p == 0) {
              return absl::InvalidArgumentError(
                  absl::StrCat(where, ": '", value, "' is not a list of process ids"));
            }
          }
        } else if (base == "exports") {
          for (std::string_view signal : SplitSkipEmpty(value, ',')) {
            signal = StripWhitespace(signal);
            if (signal != "metrics" && signal != "traces" && signal != "logs") {
              return absl::InvalidArgumentError(absl::StrCat(
                  where, ": '", std::string(signal), "' is not one of: metrics, traces, logs"));
            }
          }
        } else if (!IsLiteralSelectorField(base)) {
          // exe_path_regexp is a regular expression in both forms.
          const bool as_glob = glob && base != "exe_path_regexp";
          absl::Status status =
              as_glob ? ValidateGlobText(where, value) : ValidateRegexText(where, value);
          if (!status.ok()) return status;
        }
      }
    }
    return absl::OkStatus();
  };
}

bool IsNameChar(char c, bool glob) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || (glob && (c == '*' || c == '?'));
}

// A metric name in OTel ("http.server.request.duration") or Prometheus
// ("http_server_request_duration_seconds") form, or a glob over them ("http_*"), or "traces".
bool IsValidMetricSelector(std::string_view name) {
  if (name.empty()) return false;
  const char first = name.front();
  if ((first >= '0' && first <= '9') || first == '.' || first == ':') return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsNameChar(c, true); });
}

// An attribute name ("k8s.src.namespace", "http_route") or a glob over them ("k8s.*").
bool IsValidAttributeSelector(std::string_view name) {
  if (name.empty()) return false;
  const char first = name.front();
  if ((first >= '0' && first <= '9') || first == '.') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return IsNameChar(c, true) || c == '-'; });
}

absl::Status ValidateResourceLabels(const Value& v) {
  for (const auto& [attribute, labels] : std::get<StringListMap>(v)) {
    if (StripWhitespace(attribute).empty()) {
      return absl::InvalidArgumentError("has an empty attribute name");
    }
    for (const std::string& label : labels) {
      if (StripWhitespace(label).empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("has an empty label name for '", attribute, "'"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateAttributeSelect(const Value& v) {
  for (const auto& [metric, selection] : std::get<AttributeSelect>(v)) {
    if (!IsValidMetricSelector(metric)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", metric,
          "' is not a metric name or glob (letters, digits, _ . : and the globs * ?)"));
    }
    for (const auto* list : {&selection.include, &selection.exclude}) {
      for (const auto& attribute : *list) {
        if (!IsValidAttributeSelector(attribute)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "'", metric, "' names '", attribute, "', which is not an attribute name or glob"));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateHeaders(const Value& v) {
  for (const auto& [name, value] : std::get<StringMap>(v)) {
    if (name.empty() || std::any_of(name.begin(), name.end(), [](char c) {
          return IsAsciiSpace(c) || c == ':' || static_cast<unsigned char>(c) < 0x20;
        })) {
      return absl::InvalidArgumentError(absl::StrCat("has an invalid header name '", name, "'"));
    }
    if (std::any_of(value.begin(), value.end(),
                    [](char c) { return c == '\r' || c == '\n' || c == '\0'; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("header '", name, "' has a line break in its value"));
    }
  }
  return absl::OkStatus();
}

KeySpec Bucket(const std::string& section, const std::string& name, const Floats& defaults,
               const std::string& what) {
  return {
      .path = absl::StrCat(section, ".buckets.", name),
      .type = ValueType::kFloatList,
      .default_value = defaults,
      .doc = absl::StrCat("Bucket boundaries of the ", what, " histograms, strictly ascending."),
      .equivalent = absl::StrCat("Beyla ", section, ".buckets.", name)};
}

// Prometheus and OTLP metrics exporters share these keys (reference/beyla.md §3).
void AddMetricsExportKeys(std::vector<KeySpec>* s, const std::string& section) {
  const bool prom = section == "prometheus_export";
  s->push_back({.path = section + ".features",
                .type = ValueType::kStringList,
                .default_value = Strings{"application"},
                .env = prom ? Strings{"BEYLA_PROMETHEUS_FEATURES", "OTEL_EBPF_PROMETHEUS_FEATURES"}
                            : Strings{"BEYLA_OTEL_METRICS_FEATURES", "OTEL_EBPF_METRICS_FEATURES",
                                      "BEYLA_OTEL_METRIC_FEATURES", "OTEL_EBPF_METRIC_FEATURES"},
                .allowed = kMetricFeatures,
                .doc = "Metric families to export: application (RED metrics), "
                       "application_process, application_service_graph, application_span, "
                       "network, ... all (or *) enables everything.",
                .equivalent = absl::StrCat("Beyla ", section, ".features (metrics.features)"),
                .validate = ValidateFeatures});
  s->push_back({.path = section + ".instrumentations",
                .type = ValueType::kStringList,
                .default_value = Strings{"*"},
                .env = prom ? Strings{"BEYLA_PROMETHEUS_INSTRUMENTATIONS",
                                      "OTEL_EBPF_PROMETHEUS_INSTRUMENTATIONS"}
                            : Strings{"BEYLA_OTEL_METRICS_INSTRUMENTATIONS",
                                      "OTEL_EBPF_METRICS_INSTRUMENTATIONS"},
                .allowed = kInstrumentations,
                .doc = "Protocols whose metrics are exported (* = all).",
                .equivalent = absl::StrCat("Beyla ", section, ".instrumentations")});
  s->push_back({.path = section + ".ttl",
                .type = ValueType::kDuration,
                .default_value = Minutes(5),
                .env = prom ? Strings{"BEYLA_PROMETHEUS_TTL", "OTEL_EBPF_PROMETHEUS_TTL"}
                            : Strings{"BEYLA_OTEL_METRICS_TTL", "OTEL_EBPF_METRICS_TTL"},
                .doc = "A series not updated for this long is removed.",
                .equivalent = absl::StrCat("Beyla ", section, ".ttl"),
                .validate = ValidatePositiveDuration});
  s->push_back(
      {.path = section + ".allow_service_graph_self_references",
       .type = ValueType::kBool,
       .default_value = false,
       .env = prom ? Strings{"BEYLA_PROMETHEUS_ALLOW_SERVICE_GRAPH_SELF_REFERENCES",
                             "OTEL_EBPF_PROMETHEUS_ALLOW_SERVICE_GRAPH_SELF_REFERENCES"}
                   : Strings{"BEYLA_ALLOW_SERVICE_GRAPH_SELF_REFERENCES",
                             "OTEL_EBPF_ALLOW_SERVICE_GRAPH_SELF_REFERENCES"},
       .doc = "Keep service-graph edges whose client and server are the same service.",
       .equivalent = absl::StrCat("Beyla ", section, ".allow_service_graph_self_references")});
  s->push_back(Bucket(section, "duration_histogram", kDurationBuckets, "request duration (s)"));
  s->push_back(
      Bucket(section, "request_size_histogram", kSizeBuckets, "request body size (bytes)"));
  s->push_back(
      Bucket(section, "response_size_histogram", kSizeBuckets, "response body size (bytes)"));
}

// Keys common to the OTLP metrics and traces exporters. `signal` is METRICS or TRACES.
void AddOtlpKeys(std::vector<KeySpec>* s, const std::string& section, const std::string& signal,
                 const std::string& url_path) {
  s->push_back({.path = section + ".endpoint",
                .type = ValueType::kString,
                .default_value = std::string(""),
                .env = {absl::StrCat("OTEL_EXPORTER_OTLP_", signal, "_ENDPOINT"),
                        "OTEL_EXPORTER_OTLP_ENDPOINT"},
                .doc = absl::StrCat("OTLP collector URL; empty disables the exporter. From "
                                    "OTEL_EXPORTER_OTLP_ENDPOINT with http/protobuf, ",
                                    url_path, " is appended."),
                .equivalent = absl::StrCat("Beyla ", section, ".endpoint"),
                .validate = ValidateOtlpEndpoint});
  s->push_back(
      {.path = section + ".protocol",
       .type = ValueType::kEnum,
       .default_value = std::string("auto"),
       .env = {absl::StrCat("OTEL_EXPORTER_OTLP_", signal, "_PROTOCOL"),
               "OTEL_EXPORTER_OTLP_PROTOCOL"},
       .allowed = {"auto", "grpc", "http/protobuf"},
       .doc = "OTLP transport. auto (or empty) guesses from the endpoint port like Beyla: 4317 "
              "means grpc, anything else http/protobuf. Beyla's http/json and debug are not "
              "supported.",
       .equivalent = absl::StrCat("Beyla ", section, ".protocol")});
  s->push_back({.path = section + ".headers",
                .type = ValueType::kStringMap,
                .default_value = StringMap{},
                .env = {absl::StrCat("OTEL_EXPORTER_OTLP_", signal, "_HEADERS"),
                        "OTEL_EXPORTER_OTLP_HEADERS"},
                .doc = "Headers (gRPC metadata) sent with every export, e.g. Authorization. In "
                       "variables: `k=v,k2=v2` with %-encoded values.",
                .equivalent = absl::StrCat("Beyla: OTEL_EXPORTER_OTLP_", signal,
                                           "_HEADERS / OTEL_EXPORTER_OTLP_HEADERS only"),
                .validate = ValidateHeaders,
                .secret = true});
  s->push_back({.path = section + ".insecure_skip_verify",
                .type = ValueType::kBool,
                .default_value = false,
                .env = {"BEYLA_INSECURE_SKIP_VERIFY", "OTEL_EBPF_INSECURE_SKIP_VERIFY"},
                .doc = "Accept any TLS certificate from the collector (testing only).",
                .equivalent = absl::StrCat("Beyla ", section, ".insecure_skip_verify")});
}

std::vector<KeySpec> BuildSchema() {
  std::vector<KeySpec> s;
  s.push_back({.path = "log_level",
               .type = ValueType::kEnum,
               .default_value = std::string("info"),
               .env = {"LOUPE_LOG_LEVEL", "BEYLA_LOG_LEVEL", "OTEL_EBPF_LOG_LEVEL"},
               .allowed = {"debug", "info", "warn", "error"},
               .doc = "Log verbosity.",
               .equivalent = "Beyla log_level"});
  s.push_back({.path = "service_name",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"OTEL_SERVICE_NAME", "BEYLA_SERVICE_NAME"},
               .doc = "Force this service.name on every instrumented process (deprecated in "
                      "Beyla); empty derives it per process.",
               .equivalent = "Beyla service_name"});
  s.push_back({.path = "service_namespace",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"BEYLA_SERVICE_NAMESPACE", "OTEL_EBPF_SERVICE_NAMESPACE"},
               .doc = "Force this service.namespace (deprecated in Beyla); empty derives it from "
                      "Kubernetes metadata.",
               .equivalent = "Beyla service_namespace"});
  s.push_back(
      {.path = "prometheus_export.port",
       .type = ValueType::kInt,
       .default_value = int64_t{9965},
       .env = {"LOUPE_PROMETHEUS_PORT", "BEYLA_PROMETHEUS_PORT", "OTEL_EBPF_PROMETHEUS_PORT"},
       .min = 1,
       .max = 65535,
       .doc = "TCP port of the HTTP endpoint serving metrics and /healthz.",
       .equivalent = "Beyla prometheus_export.port; Hubble metrics port 9965"});
  s.push_back(
      {.path = "prometheus_export.path",
       .type = ValueType::kString,
       .default_value = std::string("/metrics"),
       .env = {"LOUPE_PROMETHEUS_PATH", "BEYLA_PROMETHEUS_PATH", "OTEL_EBPF_PROMETHEUS_PATH"},
       .doc = "URL path of the Prometheus exposition.",
       .equivalent = "Beyla prometheus_export.path",
       .validate = ValidateUrlPath});
  AddMetricsExportKeys(&s, "prometheus_export");

  AddOtlpKeys(&s, "otel_metrics_export", "METRICS", "/v1/metrics");
  s.push_back({.path = "otel_metrics_export.interval",
               .type = ValueType::kDuration,
               .default_value = Seconds(60),
               .env = {"BEYLA_METRICS_INTERVAL", "OTEL_EBPF_METRICS_INTERVAL",
                       "OTEL_METRIC_EXPORT_INTERVAL"},
               .doc = "Export period. OTEL_METRIC_EXPORT_INTERVAL is in milliseconds.",
               .equivalent = "Beyla otel_metrics_export.interval",
               .validate = ValidatePositiveDuration,
               .env_millis = {"OTEL_METRIC_EXPORT_INTERVAL"}});
  s.push_back({.path = "otel_metrics_export.temporality",
               .type = ValueType::kEnum,
               .default_value = std::string("cumulative"),
               .env = {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"},
               .allowed = {"cumulative", "delta"},
               .doc = "Aggregation temporality of exported sums and histograms.",
               .equivalent = "OTel SDK OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE "
                             "(Beyla exports cumulative)"});
  AddMetricsExportKeys(&s, "otel_metrics_export");
  s.push_back({.path = "otel_metrics_export.histograms",
               .type = ValueType::kHistogramList,
               .default_value = HistogramList{},
               .doc = "Explicit duration-histogram boundaries as the seed writes them "
                      "(`- explicit: {boundaries: [0.005, 0.01, ...]}`), strictly ascending; "
                      "when set, the first entry replaces buckets.duration_histogram.",
               .equivalent = "OTel SDK explicit bucket aggregation view (Beyla: "
                             "buckets.duration_histogram)"});

  AddOtlpKeys(&s, "otel_traces_export", "TRACES", "/v1/traces");
  s.push_back({.path = "otel_traces_export.sampler.name",
               .type = ValueType::kEnum,
               .default_value = std::string("parentbased_always_on"),
               .env = {"OTEL_TRACES_SAMPLER"},
               .allowed = {"always_on", "always_off", "traceidratio", "parentbased_always_on",
                           "parentbased_always_off", "parentbased_traceidratio"},
               .doc = "Trace sampler (OpenTelemetry names).",
               .equivalent = "Beyla otel_traces_export.sampler.name"});
  s.push_back({.path = "otel_traces_export.sampler.arg",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"OTEL_TRACES_SAMPLER_ARG"},
               .doc = "Sampler argument, a string in YAML: for traceidratio and "
                      "parentbased_traceidratio a ratio in [0, 1] (\"0.1\" keeps 10%); empty "
                      "means 1.",
               .equivalent = "Beyla otel_traces_export.sampler.arg"});
  s.push_back({.path = "otel_traces_export.instrumentations",
               .type = ValueType::kStringList,
               .default_value = kTraceInstrumentationsDefault,
               .env = {"BEYLA_OTEL_TRACES_INSTRUMENTATIONS", "OTEL_EBPF_TRACES_INSTRUMENTATIONS"},
               .allowed = kInstrumentations,
               .doc = "Protocols whose spans are exported (no DNS and GPU spans by default).",
               .equivalent = "Beyla otel_traces_export.instrumentations"});
  s.push_back({.path = "otel_traces_export.batch_max_size",
               .type = ValueType::kInt,
               .default_value = int64_t{4096},
               .env = {"BEYLA_OTLP_TRACES_BATCH_MAX_SIZE", "OTEL_EBPF_OTLP_TRACES_BATCH_MAX_SIZE"},
               .min = 1,
               .max = 1 << 20,
               .doc = "Spans per export request.",
               .equivalent = "Beyla otel_traces_export.batch_max_size"});
  s.push_back({.path = "otel_traces_export.queue_size",
               .type = ValueType::kInt,
               .default_value = int64_t{16384},
               .env = {"BEYLA_OTLP_TRACES_QUEUE_SIZE", "OTEL_EBPF_OTLP_TRACES_QUEUE_SIZE"},
               .min = 2,
               .max = 1 << 24,
               .doc = "Spans waiting for export; at least twice batch_max_size. When full, new "
                      "spans are dropped and counted.",
               .equivalent = "Beyla otel_traces_export.queue_size"});
  s.push_back({.path = "otel_traces_export.batch_timeout",
               .type = ValueType::kDuration,
               .default_value = Seconds(15),
               .env = {"BEYLA_OTLP_TRACES_BATCH_TIMEOUT", "OTEL_EBPF_OTLP_TRACES_BATCH_TIMEOUT"},
               .doc = "Longest a span waits for its batch to fill before it is sent.",
               .equivalent = "Beyla otel_traces_export.batch_timeout",
               .validate = ValidatePositiveDuration});
  s.push_back({.path = "otel_traces_export.backoff_initial_interval",
               .type = ValueType::kDuration,
               .default_value = Seconds(5),
               .env = {"BEYLA_BACKOFF_INITIAL_INTERVAL", "OTEL_EBPF_BACKOFF_INITIAL_INTERVAL"},
               .doc = "First retry delay after a failed export.",
               .equivalent = "Beyla otel_traces_export.backoff_initial_interval",
               .validate = ValidatePositiveDuration});
  s.push_back({.path = "otel_traces_export.backoff_max_interval",
               .type = ValueType::kDuration,
               .default_value = Seconds(30),
               .env = {"BEYLA_BACKOFF_MAX_INTERVAL", "OTEL_EBPF_BACKOFF_MAX_INTERVAL"},
               .doc = "Longest delay between retries.",
               .equivalent = "Beyla otel_traces_export.backoff_max_interval",
               .validate = ValidatePositiveDuration});
  s.push_back({.path = "otel_traces_export.backoff_max_elapsed_time",
               .type = ValueType::kDuration,
               .default_value = Minutes(5),
               .env = {"BEYLA_BACKOFF_MAX_ELAPSED_TIME", "OTEL_EBPF_BACKOFF_MAX_ELAPSED_TIME"},
               .doc = "A batch still failing after this long is dropped and counted.",
               .equivalent = "Beyla otel_traces_export.backoff_max_elapsed_time",
               .validate = ValidatePositiveDuration});

  for (const char* section : {"services", "exclude_services", "instrument", "exclude_instrument"}) {
    const bool glob = std::string_view(section).find("instrument") != std::string_view::npos;
    s.push_back(
        {.path = absl::StrCat("discovery.", section),
         .type = ValueType::kSelectorList,
         .default_value = SelectorList{},
         .allowed = SelectorFields(),
         .doc = absl::StrCat(
             std::string_view(section).starts_with("exclude") ? "Processes never instrumented"
                                                              : "Processes to instrument",
             ": a list of selectors; a process matches an entry when it matches every field of "
             "it (open_ports: ports or ranges it listens on; exe_path, cmd_args, languages, "
             "container_name and k8s_* names: ",
             glob ? "globs" : "regular expressions",
             "; k8s_pod_labels / k8s_pod_annotations: label -> ",
             glob ? "glob" : "regular expression",
             "; containers_only; target_pids; name / namespace override the service name; "
             "exports: metrics, traces). Empty `services` and `instrument` (and no open_port / "
             "executable_name) instruments every process."),
         .equivalent = absl::StrCat("Beyla discovery.", section),
         .validate = SelectorValidator(glob)});
  }
  s.push_back({.path = "open_port",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"BEYLA_OPEN_PORT", "OTEL_EBPF_OPEN_PORT"},
               .doc = "Instrument processes listening on these ports (`80,443,8000-8999`).",
               .equivalent = "Beyla open_port",
               .validate = ValidatePortRanges});
  s.push_back({.path = "executable_name",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"BEYLA_EXECUTABLE_NAME", "OTEL_EBPF_EXECUTABLE_NAME"},
               .doc = "Instrument processes whose executable path matches this regular "
                      "expression. With open_port too, a process must match both.",
               .equivalent = "Beyla executable_name",
               .validate = ValidateRegex});
  s.push_back({.path = "trace_printer",
               .type = ValueType::kEnum,
               .default_value = std::string("disabled"),
               .env = {"BEYLA_TRACE_PRINTER", "OTEL_EBPF_TRACE_PRINTER"},
               .allowed = {"disabled", "text", "json", "json_indent", "counter"},
               .doc = "Print every reconstructed request to standard output (debugging): text "
                      "one line each, json one object per line, json_indent each object over "
                      "several indented lines; counter prints only `Processed N requests` when the "
                      "agent stops. Output is written in batches, at most 100 ms late.",
               .equivalent = "Beyla trace_printer"});

  s.push_back({.path = "routes.patterns",
               .type = ValueType::kStringList,
               .default_value = Strings{},
               .doc = "Route templates for http.route, e.g. /users/{id} or /users/:id.",
               .equivalent = "Beyla routes.patterns",
               .validate = ValidateRoutePatterns});
  s.push_back({.path = "routes.ignored_patterns",
               .type = ValueType::kStringList,
               .default_value = Strings{},
               .doc = "Requests whose path matches one of these templates are not reported "
                      "(see ignore_mode).",
               .equivalent = "Beyla routes.ignored_patterns",
               .validate = ValidateRoutePatterns});
  s.push_back({.path = "routes.ignore_mode",
               .type = ValueType::kEnum,
               .default_value = std::string("all"),
               .allowed = {"all", "metrics", "traces"},
               .doc = "What ignored_patterns suppress: metrics and traces, or only one.",
               .equivalent = "Beyla routes.ignore_mode"});
  s.push_back({.path = "routes.unmatched",
               .type = ValueType::kEnum,
               .default_value = std::string("low-cardinality"),
               .allowed = {"unset", "path", "wildcard", "heuristic", "low-cardinality"},
               .doc = "http.route of a path no pattern matches: unset (no route), path (the "
                      "path itself), wildcard (/**), heuristic (ids replaced by *), "
                      "low-cardinality (heuristic bounded by max_path_segment_cardinality).",
               .equivalent = "Beyla routes.unmatched (Beyla default low-cardinality; OBI "
                             "heuristic)"});
  s.push_back({.path = "routes.wildcard_char",
               .type = ValueType::kString,
               .default_value = std::string("*"),
               .doc = "Replacement for an id-like path segment in heuristic routes.",
               .equivalent = "Beyla routes.wildcard_char",
               .validate = [](const Value& v) -> absl::Status {
                 const auto& c = std::get<std::string>(v);
                 if (c.empty() || c.size() > 8 || Contains(c, "/")) {
                   return absl::InvalidArgumentError("must be 1 to 8 characters, without /");
                 }
                 return absl::OkStatus();
               }});
  s.push_back({.path = "routes.max_path_segment_cardinality",
               .type = ValueType::kInt,
               .default_value = int64_t{10},
               .min = 1,
               .max = 10000,
               .doc = "low-cardinality: distinct values of a path segment kept before it "
                      "becomes a wildcard.",
               .equivalent = "Beyla routes.max_path_segment_cardinality"});

  s.push_back({.path = "network.enable",
               .type = ValueType::kBool,
               .default_value = false,
               .env = {"BEYLA_NETWORK_METRICS", "OTEL_EBPF_NETWORK_METRICS"},
               .doc = "Export Beyla's network flow metrics (beyla_network_flow_bytes_total); the "
                      "`network` metrics feature enables them too. Loupe's own network view is "
                      "loupe.network.*.",
               .equivalent = "Beyla network.enable"});
  s.push_back({.path = "network.cidrs",
               .type = ValueType::kCidrList,
               .default_value = CidrList{},
               .env = {"BEYLA_NETWORK_CIDRS", "OTEL_EBPF_NETWORK_CIDRS"},
               .doc = "CIDRs (IPv4 or IPv6) reported as src.cidr / dst.cidr of flows: plain "
                      "(`10.0.0.0/8`) or `{cidr: 10.0.0.0/8, name: cluster}`.",
               .equivalent = "Beyla network.cidrs"});
  s.push_back({.path = "network.source",
               .type = ValueType::kEnum,
               .default_value = std::string("socket_filter"),
               .env = {"BEYLA_NETWORK_SOURCE", "OTEL_EBPF_NETWORK_SOURCE"},
               .allowed = {"socket_filter", "tc"},
               .doc = "Where flow metrics come from (Loupe always uses its TC programs; both "
                      "values are accepted).",
               .equivalent = "Beyla network.source"});
  s.push_back({.path = "network.agent_ip",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"BEYLA_NETWORK_AGENT_IP", "OTEL_EBPF_NETWORK_AGENT_IP"},
               .doc = "IP reported as the agent's address; empty picks one per agent_ip_iface.",
               .equivalent = "Beyla network.agent_ip",
               .validate = ValidateIpOrEmpty});
  s.push_back({.path = "network.agent_ip_iface",
               .type = ValueType::kString,
               .default_value = std::string("external"),
               .env = {"BEYLA_NETWORK_AGENT_IP_IFACE", "OTEL_EBPF_NETWORK_AGENT_IP_IFACE"},
               .doc = "Interface the agent IP is taken from: external, local or "
                      "name:<interface>.",
               .equivalent = "Beyla network.agent_ip_iface",
               .validate = ValidateAgentIpIface});
  s.push_back({.path = "network.agent_ip_type",
               .type = ValueType::kEnum,
               .default_value = std::string("any"),
               .env = {"BEYLA_NETWORK_AGENT_IP_TYPE", "OTEL_EBPF_NETWORK_AGENT_IP_TYPE"},
               .allowed = {"any", "ipv4", "ipv6"},
               .doc = "Address family of the agent IP.",
               .equivalent = "Beyla network.agent_ip_type"});
  s.push_back({.path = "network.interfaces",
               .type = ValueType::kStringList,
               .default_value = Strings{},
               .env = {"BEYLA_NETWORK_INTERFACES", "OTEL_EBPF_NETWORK_INTERFACES"},
               .doc = "Interfaces whose flows feed the flow metrics (names or globs); empty "
                      "means all.",
               .equivalent = "Beyla network.interfaces"});
  s.push_back({.path = "network.exclude_interfaces",
               .type = ValueType::kStringList,
               .default_value = Strings{"lo"},
               .env = {"BEYLA_NETWORK_EXCLUDE_INTERFACES", "OTEL_EBPF_NETWORK_EXCLUDE_INTERFACES"},
               .doc = "Interfaces never counted in the flow metrics.",
               .equivalent = "Beyla network.exclude_interfaces"});
  s.push_back({.path = "network.protocols",
               .type = ValueType::kStringList,
               .default_value = Strings{},
               .env = {"BEYLA_NETWORK_PROTOCOLS", "OTEL_EBPF_NETWORK_PROTOCOLS"},
               .doc = "Transport protocols counted (TCP, UDP, ...); empty means all.",
               .equivalent = "Beyla network.protocols"});
  s.push_back({.path = "network.exclude_protocols",
               .type = ValueType::kStringList,
               .default_value = Strings{},
               .env = {"BEYLA_NETWORK_EXCLUDE_PROTOCOLS", "OTEL_EBPF_NETWORK_EXCLUDE_PROTOCOLS"},
               .doc = "Transport protocols never counted.",
               .equivalent = "Beyla network.exclude_protocols"});
  s.push_back({.path = "network.cache_max_flows",
               .type = ValueType::kInt,
               .default_value = int64_t{5000},
               .env = {"BEYLA_NETWORK_CACHE_MAX_FLOWS", "OTEL_EBPF_NETWORK_CACHE_MAX_FLOWS"},
               .min = 1,
               .max = 1 << 24,
               .doc = "Flows aggregated before a flush is forced.",
               .equivalent = "Beyla network.cache_max_flows"});
  s.push_back(
      {.path = "network.cache_active_timeout",
       .type = ValueType::kDuration,
       .default_value = Seconds(5),
       .env = {"BEYLA_NETWORK_CACHE_ACTIVE_TIMEOUT", "OTEL_EBPF_NETWORK_CACHE_ACTIVE_TIMEOUT"},
       .doc = "Flush period of aggregated flows.",
       .equivalent = "Beyla network.cache_active_timeout",
       .validate = ValidatePositiveDuration});
  s.push_back({.path = "network.deduper",
               .type = ValueType::kEnum,
               .default_value = std::string("first_come"),
               .env = {"BEYLA_NETWORK_DEDUPER", "OTEL_EBPF_NETWORK_DEDUPER"},
               .allowed = {"first_come", "none"},
               .doc = "How a flow seen on several interfaces is counted: once (first_come) or "
                      "per interface (none).",
               .equivalent = "Beyla network.deduper"});
  s.push_back({.path = "network.direction",
               .type = ValueType::kEnum,
               .default_value = std::string("both"),
               .env = {"BEYLA_NETWORK_DIRECTION", "OTEL_EBPF_NETWORK_DIRECTION"},
               .allowed = {"both", "ingress", "egress"},
               .doc = "Traffic direction counted.",
               .equivalent = "Beyla network.direction"});
  s.push_back({.path = "network.sampling",
               .type = ValueType::kInt,
               .default_value = int64_t{0},
               .env = {"BEYLA_NETWORK_SAMPLING", "OTEL_EBPF_NETWORK_SAMPLING"},
               .min = 0,
               .max = 1 << 30,
               .doc = "Count 1 of every N packets (0 or 1: all).",
               .equivalent = "Beyla network.sampling"});
  s.push_back({.path = "network.print_flows",
               .type = ValueType::kBool,
               .default_value = false,
               .env = {"BEYLA_NETWORK_PRINT_FLOWS", "OTEL_EBPF_NETWORK_PRINT_FLOWS"},
               .doc = "Print every aggregated flow to standard output (debugging).",
               .equivalent = "Beyla network.print_flows"});

  s.push_back({.path = "attributes.kubernetes.enable",
               .type = ValueType::kEnum,
               .default_value = std::string("autodetect"),
               .env = {"BEYLA_KUBE_METADATA_ENABLE", "OTEL_EBPF_KUBE_METADATA_ENABLE"},
               .allowed = {"true", "false", "autodetect"},
               .doc = "Decorate with Kubernetes metadata: true, false, or autodetect (when "
                      "running in a pod).",
               .equivalent = "Beyla attributes.kubernetes.enable"});
  s.push_back({.path = "attributes.kubernetes.kubeconfig_path",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"KUBECONFIG"},
               .doc = "kubeconfig file; empty uses the in-cluster service account.",
               .equivalent = "Beyla attributes.kubernetes.kubeconfig_path"});
  s.push_back({.path = "attributes.kubernetes.cluster_name",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"BEYLA_KUBE_CLUSTER_NAME", "OTEL_EBPF_KUBE_CLUSTER_NAME"},
               .doc = "k8s.cluster.name of every series and span; empty tries to detect it.",
               .equivalent = "Beyla attributes.kubernetes.cluster_name"});
  s.push_back(
      {.path = "attributes.kubernetes.informers_sync_timeout",
       .type = ValueType::kDuration,
       .default_value = Seconds(30),
       .env = {"BEYLA_KUBE_INFORMERS_SYNC_TIMEOUT", "OTEL_EBPF_KUBE_INFORMERS_SYNC_TIMEOUT"},
       .doc = "Longest wait for the initial Kubernetes object lists at start-up.",
       .equivalent = "Beyla attributes.kubernetes.informers_sync_timeout",
       .validate = ValidatePositiveDuration});
  s.push_back(
      {.path = "attributes.kubernetes.informers_resync_period",
       .type = ValueType::kDuration,
       .default_value = Minutes(30),
       .env = {"BEYLA_KUBE_INFORMERS_RESYNC_PERIOD", "OTEL_EBPF_KUBE_INFORMERS_RESYNC_PERIOD"},
       .doc = "Period of the full re-list of Kubernetes objects.",
       .equivalent = "Beyla attributes.kubernetes.informers_resync_period",
       .validate = ValidatePositiveDuration});
  s.push_back({.path = "attributes.kubernetes.reconnect_initial_interval",
               .type = ValueType::kDuration,
               .default_value = Seconds(5),
               .env = {"BEYLA_KUBE_RECONNECT_INITIAL_INTERVAL",
                       "OTEL_EBPF_KUBE_RECONNECT_INITIAL_INTERVAL"},
               .doc = "First retry delay after the Kubernetes API connection fails.",
               .equivalent = "Beyla attributes.kubernetes.reconnect_initial_interval",
               .validate = ValidatePositiveDuration});
  s.push_back(
      {.path = "attributes.kubernetes.meta_restrict_local_node",
       .type = ValueType::kBool,
       .default_value = false,
       .env = {"BEYLA_KUBE_META_RESTRICT_LOCAL_NODE", "OTEL_EBPF_KUBE_META_RESTRICT_LOCAL_NODE"},
       .doc = "Watch only the pods of this node (less API load; remote peers keep IPs).",
       .equivalent = "Beyla attributes.kubernetes.meta_restrict_local_node"});
  s.push_back({.path = "attributes.kubernetes.disable_informers",
               .type = ValueType::kStringList,
               .default_value = Strings{},
               .env = {"BEYLA_KUBE_DISABLE_INFORMERS", "OTEL_EBPF_KUBE_DISABLE_INFORMERS"},
               .allowed = {"node", "service"},
               .doc = "Kubernetes object kinds not watched.",
               .equivalent = "Beyla attributes.kubernetes.disable_informers"});
  s.push_back({.path = "attributes.kubernetes.meta_cache_address",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"BEYLA_KUBE_META_CACHE_ADDRESS", "OTEL_EBPF_KUBE_META_CACHE_ADDRESS"},
               .doc = "host:port of a shared Kubernetes metadata cache; empty watches the API "
                      "directly.",
               .equivalent = "Beyla attributes.kubernetes.meta_cache_address"});
  s.push_back({.path = "attributes.kubernetes.drop_external",
               .type = ValueType::kBool,
               .default_value = false,
               .env = {"BEYLA_NETWORK_DROP_EXTERNAL", "OTEL_EBPF_NETWORK_DROP_EXTERNAL"},
               .doc = "Drop flow metrics whose peer is outside the cluster.",
               .equivalent = "Beyla attributes.kubernetes.drop_external"});
  s.push_back({.path = "attributes.kubernetes.service_name_template",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"BEYLA_SERVICE_NAME_TEMPLATE", "OTEL_EBPF_SERVICE_NAME_TEMPLATE"},
               .doc = "Go text/template naming the service of a process in a pod (.Meta: the pod's "
                      "Name, Namespace, Kind, Labels, Annotations; .ContainerName); replaces the "
                      "annotation, label and owner rules; the process's OTEL_SERVICE_NAME still "
                      "wins. Subset: if/else/with, and or not eq ne index len print printf; "
                      "anything else stops the agent with exit code 2 (docs/identity.md).",
               .equivalent = "Beyla attributes.kubernetes.service_name_template"});
  s.push_back(
      {.path = "attributes.kubernetes.resource_labels",
       .type = ValueType::kStringListMap,
       .default_value =
           StringListMap{{"service.name", {"app.kubernetes.io/instance", "app.kubernetes.io/name"}},
                         {"service.namespace", {"app.kubernetes.io/part-of"}},
                         {"service.version", {"app.kubernetes.io/version"}}},
       .doc = "Resource attribute -> pod labels to take it from, first present wins. "
              "Keys given replace the default's entry for that key (an empty list turns "
              "it off); the others keep their default. Attributes other than "
              "service.name/service.namespace go to span and OTLP metric resources and "
              "target_info; a pod annotation resource.opentelemetry.io/<attribute> wins over "
              "labels.",
       .equivalent = "Beyla attributes.kubernetes.resource_labels",
       .validate = ValidateResourceLabels,
       .merge_with_default = true});
  s.push_back({.path = "attributes.host_id.override",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"BEYLA_HOST_ID", "OTEL_EBPF_HOST_ID"},
               .doc = "host.id to report; empty detects it (cloud metadata, then machine-id).",
               .equivalent = "Beyla attributes.host_id.override"});
  s.push_back({.path = "attributes.host_id.fetch_timeout",
               .type = ValueType::kDuration,
               .default_value = nanoseconds(std::chrono::milliseconds(500)),
               .env = {"BEYLA_HOST_ID_FETCH_TIMEOUT", "OTEL_EBPF_HOST_ID_FETCH_TIMEOUT"},
               .doc = "Longest wait for a cloud provider's metadata service when detecting "
                      "host.id.",
               .equivalent = "Beyla attributes.host_id.fetch_timeout",
               .validate = ValidatePositiveDuration});
  s.push_back({.path = "attributes.instance_id.dns",
               .type = ValueType::kBool,
               .default_value = true,
               .env = {"BEYLA_HOSTNAME_DNS_RESOLUTION", "OTEL_EBPF_HOSTNAME_DNS_RESOLUTION"},
               .doc = "Resolve the host name through DNS for service.instance.id.",
               .equivalent = "Beyla attributes.instance_id.dns"});
  s.push_back({.path = "attributes.instance_id.override_hostname",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"BEYLA_HOSTNAME", "OTEL_EBPF_HOSTNAME"},
               .doc = "Host name used in service.instance.id; empty uses the system's.",
               .equivalent = "Beyla attributes.instance_id.override_hostname"});
  s.push_back({.path = "attributes.select",
               .type = ValueType::kAttributeSelect,
               .default_value = AttributeSelect{},
               .doc = "Per metric (OTel or Prometheus name, or a glob; `traces` for span "
                      "attributes): `include` and `exclude` lists of attribute names or globs "
                      "added to / removed from its default attributes.",
               .equivalent = "Beyla attributes.select",
               .validate = ValidateAttributeSelect});
  s.push_back({.path = "attributes.metric_span_names_limit",
               .type = ValueType::kInt,
               .default_value = int64_t{100},
               .env = {"BEYLA_METRIC_SPAN_NAMES_LIMIT", "OTEL_EBPF_METRIC_SPAN_NAMES_LIMIT"},
               .min = 0,
               .max = 1 << 20,
               .doc = "Distinct span names per service in span metrics; more become AGGREGATED (0: "
                      "no limit).",
               .equivalent = "Beyla attributes.metric_span_names_limit"});
  s.push_back({.path = "attributes.rename_unresolved_hosts",
               .type = ValueType::kString,
               .default_value = std::string("unresolved"),
               .env = {"BEYLA_RENAME_UNRESOLVED_HOSTS", "OTEL_EBPF_RENAME_UNRESOLVED_HOSTS"},
               .doc = "Name of a peer that cannot be resolved in service graphs.",
               .equivalent = "Beyla attributes.rename_unresolved_hosts"});
  s.push_back({.path = "attributes.rename_unresolved_hosts_outgoing",
               .type = ValueType::kString,
               .default_value = std::string("outgoing"),
               .env = {"BEYLA_RENAME_UNRESOLVED_HOSTS_OUTGOING",
                       "OTEL_EBPF_RENAME_UNRESOLVED_HOSTS_OUTGOING"},
               .doc = "Name of an unresolved server peer of an outgoing call.",
               .equivalent = "Beyla attributes.rename_unresolved_hosts_outgoing"});
  s.push_back({.path = "attributes.rename_unresolved_hosts_incoming",
               .type = ValueType::kString,
               .default_value = std::string("incoming"),
               .env = {"BEYLA_RENAME_UNRESOLVED_HOSTS_INCOMING",
                       "OTEL_EBPF_RENAME_UNRESOLVED_HOSTS_INCOMING"},
               .doc = "Name of an unresolved client peer of an incoming call.",
               .equivalent = "Beyla attributes.rename_unresolved_hosts_incoming"});

  s.push_back({.path = "ebpf.http_request_timeout",
               .type = ValueType::kDuration,
               .default_value = nanoseconds(0),
               .env = {"BEYLA_BPF_HTTP_REQUEST_TIMEOUT", "OTEL_EBPF_BPF_HTTP_REQUEST_TIMEOUT"},
               .doc = "0 = off. Otherwise an HTTP request (HTTP/1 or HTTP/2 stream, not gRPC) "
                      "whose response has not begun this long after the request started, or "
                      "whose connection closed first, is reported with status 408 and a duration "
                      "of exactly this value; a response arriving later is counted in "
                      "loupe_unmatched_messages_total, not reported.",
               .equivalent = "Beyla ebpf.http_request_timeout"});
  s.push_back({.path = "loupe.app.enable",
               .type = ValueType::kBool,
               .default_value = true,
               .env = {"LOUPE_APP_ENABLE"},
               .doc = "Run the application view: socket-data capture and the L7 engine."});
  s.push_back({.path = "loupe.app.capture_bytes",
               .type = ValueType::kInt,
               .default_value = int64_t{4096},
               .env = {"LOUPE_APP_CAPTURE_BYTES"},
               .min = 64,
               .max = 8192,
               .doc = "Bytes of each read/write the kernel copies for the L7 parsers (headers "
                      "fit; bodies are accounted by length).",
               .equivalent = "Beyla ebpf.buffer_sizes (large buffers)"});
  s.push_back({.path = "loupe.app.socket_data_hook",
               .type = ValueType::kEnum,
               .default_value = std::string("auto"),
               .env = {"LOUPE_APP_SOCKET_DATA_HOOK"},
               .allowed = {"auto", "sock_tracepoints", "syscall_tracepoints"},
               .doc = "Where the kernel side sees TCP connections and their reads and writes. "
                      "sock_tracepoints: the sock:sock_send_length/sock_recv_length, "
                      "sock:inet_sock_set_state and tcp:tcp_destroy_sock raw tracepoints, no "
                      "syscall tracepoint (Linux "
                      "6.3+; no program runs for calls on pipes and files, and no thread is put "
                      "on the syscall slow path); syscall_tracepoints: the exit tracepoints of "
                      "the data syscalls and accept/connect, and close()'s entry. auto takes "
                      "sock_tracepoints where the kernel has them."});
  s.push_back({.path = "loupe.app.keep_query",
               .type = ValueType::kBool,
               .default_value = false,
               .env = {"LOUPE_APP_KEEP_QUERY"},
               .doc = "Keep URL query strings in paths, with every value redacted (a=*)."});
  s.push_back({.path = "loupe.node_name",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"LOUPE_NODE_NAME", "K8S_NODE_NAME"},
               .doc = "Name of this node in flows and status; empty means the host name.",
               .equivalent = "Hubble node_name (K8S_NODE_NAME)"});
  s.push_back({.path = "loupe.listen_address",
               .type = ValueType::kString,
               .default_value = std::string("127.0.0.1"),
               .env = {"LOUPE_LISTEN_ADDRESS"},
               .doc = "Address the metrics/health endpoint binds to. Standalone mode keeps it on "
                      "localhost; use 0.0.0.0 to expose it.",
               .equivalent = "Beyla listens on all addresses"});
  s.push_back({.path = "loupe.runtime_dir",
               .type = ValueType::kString,
               .default_value = std::string("/run/loupe"),
               .env = {"LOUPE_RUNTIME_DIR"},
               .doc = "Directory for the single-instance lock and runtime files.",
               .validate = ValidateAbsoluteDir});
  s.push_back(
      {.path = "loupe.flow_buffer_capacity",
       .type = ValueType::kInt,
       .default_value = int64_t{65535},
       .env = {"LOUPE_FLOW_BUFFER_CAPACITY"},
       .min = 1,
       .max = 1 << 24,
       .doc = "Flows kept in the node's flow buffer for the Observer API; rounded up to "
              "2^n-1 like Hubble's ring.",
       .equivalent = "Hubble hubble-event-buffer-capacity (Helm hubble.eventBufferCapacity)"});
  s.push_back({.path = "loupe.monitor_aggregation",
               .type = ValueType::kEnum,
               .default_value = std::string("medium"),
               .env = {"LOUPE_MONITOR_AGGREGATION"},
               .allowed = {"none", "low", "medium", "high", "maximum"},
               .doc = "How many packet events the TC programs emit: none = every packet; medium = "
                      "new TCP flag combinations per direction, first packet of UDP/ICMP flows, "
                      "every DNS packet, and a report every monitor_interval (see "
                      "docs/design/netflow-aggregation.md). maximum is an alias of high.",
               .equivalent = "Cilium bpf.monitorAggregation"});
  s.push_back({.path = "loupe.monitor_interval",
               .type = ValueType::kDuration,
               .default_value = Seconds(5),
               .env = {"LOUPE_MONITOR_INTERVAL"},
               .doc = "Interval of the periodic report of long-lived flows (packet and byte "
                      "counters) under aggregation.",
               .equivalent = "Cilium bpf.monitorInterval",
               .validate = ValidatePositiveDuration});
  s.push_back({.path = "loupe.observer.listen_address",
               .type = ValueType::kString,
               .default_value = std::string("localhost:4244"),
               .env = {"LOUPE_OBSERVER_LISTEN_ADDRESS"},
               .doc = "host:port of the Hubble-compatible Observer gRPC API; empty disables TCP.",
               .equivalent = "Hubble hubble-listen-address (:4244)"});
  s.push_back({.path = "loupe.observer.unix_socket",
               .type = ValueType::kString,
               .default_value = std::string(""),
               .env = {"LOUPE_OBSERVER_UNIX_SOCKET"},
               .doc = "Path of a unix socket also serving the Observer API; empty disables it.",
               .equivalent = "Hubble hubble-socket-path (/var/run/cilium/hubble.sock)"});
  s.push_back(
      {.path = "loupe.network.enable",
       .type = ValueType::kBool,
       .default_value = true,
       .env = {"LOUPE_NETWORK_ENABLE"},
       .doc = "Run the network sensor (TC programs on host interfaces: tcx links on Linux 6.6+, "
              "clsact filters before).",
       .equivalent = "Hubble is always on in Cilium"});
  s.push_back({.path = "loupe.network.interfaces",
               .type = ValueType::kStringList,
               .default_value = Strings{},
               .env = {"LOUPE_NETWORK_INTERFACES"},
               .doc = "Interfaces to observe, as names or shell globs (eth*, veth*); empty means "
                      "all.",
               .equivalent = "Beyla network.interfaces"});
  s.push_back({.path = "loupe.network.exclude_interfaces",
               .type = ValueType::kStringList,
               .default_value = Strings{"lo"},
               .env = {"LOUPE_NETWORK_EXCLUDE_INTERFACES"},
               .doc = "Interfaces never observed, as names or shell globs.",
               .equivalent = "Beyla network.exclude_interfaces"});
  s.push_back({.path = "loupe.metrics.hubble",
               .type = ValueType::kStringList,
               .default_value = kHubbleMetricsDefault,
               .env = {"LOUPE_METRICS_HUBBLE"},
               .doc = "Hubble metric handlers in Hubble's syntax "
                      "`name[:option=value[;option=value]...]`, e.g. "
                      "`httpV2:exemplars=true;labelsContext=source_ip,destination_ip`. The "
                      "variable separates handlers with spaces, like Hubble's flag. Empty "
                      "disables the hubble_* metrics.",
               .equivalent = "Hubble hubble-metrics (Helm hubble.metrics.enabled)",
               .validate = ValidateHubbleMetrics,
               .list_separator = ' '});
  s.push_back({.path = "loupe.metrics.max_series_per_family",
               .type = ValueType::kInt,
               .default_value = int64_t{10000},
               .env = {"LOUPE_METRICS_MAX_SERIES_PER_FAMILY"},
               .min = 1,
               .max = 10000000,
               .doc = "Label sets kept per metric family whose labels come from traffic; past it, "
                      "updates go to one extra series with every label \"overflow\", counted in "
                      "loupe_metrics_series_overflow_total{family}.",
               .equivalent = "None (Hubble and Beyla do not bound series)"});
  s.push_back({.path = "loupe.metrics.openmetrics",
               .type = ValueType::kBool,
               .default_value = true,
               .env = {"LOUPE_METRICS_OPENMETRICS"},
               .doc = "Serve the OpenMetrics format to scrapers that ask for it (needed for "
                      "exemplars); off serves only the Prometheus text format. Default on, as "
                      "in the seed's Hubble values.",
               .equivalent = "Hubble enable-hubble-open-metrics (Helm "
                             "hubble.metrics.enableOpenMetrics, default false)"});
  return s;
}

std::string FormatDouble(double d) {
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), d);
  if (ec != std::errc()) return "?";
  return std::string(buf, ptr);
}

std::string FormatDoubles(const Floats& list) {
  std::vector<std::string> items;
  items.reserve(list.size());
  for (double d : list) items.push_back(FormatDouble(d));
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

// The reason a value is wrong, or OK; the caller adds which key and value.
absl::Status CheckValue(const KeySpec& spec, const Value& value) {
  switch (spec.type) {
    case ValueType::kStringList:
      if (!spec.allowed.empty()) {
        for (const auto& item : std::get<Strings>(value)) {
          if (std::find(spec.allowed.begin(), spec.allowed.end(), item) == spec.allowed.end()) {
            return absl::InvalidArgumentError(absl::StrCat(
                "has '", item, "', which is not one of: ", absl::StrJoin(spec.allowed, ", ")));
          }
        }
      }
      break;
    case ValueType::kFloatList: {
      const auto& list = std::get<Floats>(value);
      if (list.empty()) return absl::InvalidArgumentError("must list at least one boundary");
      for (size_t i = 0; i < list.size(); ++i) {
        if (!std::isfinite(list[i])) {
          return absl::InvalidArgumentError("must hold finite numbers");
        }
        if (i > 0 && list[i] <= list[i - 1]) {
          return absl::InvalidArgumentError(
              absl::StrCat("is not strictly ascending: ", FormatDouble(list[i]), " follows ",
                           FormatDouble(list[i - 1])));
        }
      }
      break;
    }
    case ValueType::kHistogramList: {
      const auto& list = std::get<HistogramList>(value);
      for (size_t h = 0; h < list.size(); ++h) {
        const auto& b = list[h].boundaries;
        if (b.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat("entry ", h, ": explicit.boundaries must list at least one boundary"));
        }
        for (size_t i = 0; i < b.size(); ++i) {
          if (!std::isfinite(b[i])) {
            return absl::InvalidArgumentError(
                absl::StrCat("entry ", h, ": explicit.boundaries must hold finite numbers"));
          }
          if (i > 0 && b[i] <= b[i - 1]) {
            return absl::InvalidArgumentError(
                absl::StrCat("entry ", h, ": explicit.boundaries is not strictly ascending: ",
                             FormatDouble(b[i]), " follows ", FormatDouble(b[i - 1])));
          }
        }
      }
      break;
    }
    case ValueType::kCidrList:
      for (const auto& entry : std::get<CidrList>(value)) {
        if (!IsValidCidr(entry.cidr)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "has '", entry.cidr, "', which is not a CIDR such as 10.0.0.0/8 or fd00::/8"));
        }
      }
      break;
    default:
      break;
  }
  if (spec.validate) return spec.validate(value);
  return absl::OkStatus();
}

// OTEL_EXPORTER_OTLP_HEADERS values are %-encoded (W3C baggage format).
bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
    if (ec != std::errc() || ptr != in.data() + i + 3) return false;
    out->push_back(static_cast<char>(value));
    i += 2;
  }
  return true;
}

std::vector<std::string_view> SplitList(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  if (separator == ' ') {
    size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && IsAsciiSpace(text[i])) ++i;
      const size_t start = i;
      while (i < text.size() && !IsAsciiSpace(text[i])) ++i;
      if (i > start) out.push_back(text.substr(start, i - start));
    }
    return out;
  }
  for (std::string_view item : SplitSkipEmpty(text, separator)) {
    item = StripWhitespace(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

const std::vector<KeySpec>& Schema() {
  static const std::vector<KeySpec> schema = BuildSchema();
  return schema;
}

const KeySpec* FindKey(std::string_view path) {
  for (const auto& spec : Schema()) {
    if (spec.path == path) return &spec;
  }
  return nullptr;
}

bool IsSection(std::string_view path) {
  if (path.empty()) return true;
  const std::string prefix = std::string(path) + ".";
  return std::any_of(Schema().begin(), Schema().end(),
                     [&](const KeySpec& s) { return s.path.starts_with(prefix); });
}

std::vector<std::string> ChildrenOf(std::string_view section) {
  const std::string prefix = section.empty() ? "" : std::string(section) + ".";
  std::set<std::string> children;
  for (const auto& spec : Schema()) {
    if (!spec.path.starts_with(prefix)) continue;
    std::string_view rest = std::string_view(spec.path).substr(prefix.size());
    children.emplace(rest.substr(0, rest.find('.')));
  }
  return {children.begin(), children.end()};
}

const char* TypeName(ValueType type) {
  switch (type) {
    case ValueType::kBool:
      return "boolean";
    case ValueType::kInt:
      return "integer";
    case ValueType::kString:
      return "string";
    case ValueType::kDuration:
      return "duration";
    case ValueType::kStringList:
      return "list of strings";
    case ValueType::kEnum:
      return "one of";
    case ValueType::kSelectorList:
      return "list of selectors";
    case ValueType::kFloatList:
      return "list of numbers";
    case ValueType::kStringMap:
      return "map of strings";
    case ValueType::kHistogramList:
      return "list of {explicit: {boundaries: [numbers]}}";
    case ValueType::kCidrList:
      return "list of CIDRs";
    case ValueType::kAttributeSelect:
      return "map of metric -> {include, exclude}";
    case ValueType::kStringListMap:
      return "map of name -> list of strings";
  }
  return "value";
}

std::string FormatValue(const Value& value) {
  struct Formatter {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return absl::StrCat(i); }
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(nanoseconds d) const {
      const int64_t ns = d.count();
      if (ns != 0 && ns % 60'000'000'000 == 0) {
        const int64_t minutes = ns / 60'000'000'000;
        if (minutes % 60 == 0) return absl::StrCat(minutes / 60, "h");
        return absl::StrCat(minutes, "m");
      }
      if (ns % 1'000'000'000 == 0) return absl::StrCat(ns / 1'000'000'000, "s");
      if (ns % 1'000'000 == 0) return absl::StrCat(ns / 1'000'000, "ms");
      return absl::StrCat(ns, "ns");
    }
    std::string operator()(const Strings& list) const {
      return absl::StrCat("[", absl::StrJoin(list, ", "), "]");
    }
    std::string operator()(const SelectorList& list) const {
      std::vector<std::string> entries;
      for (const auto& selector : list) {
        std::vector<std::string> fields;
        for (const auto& [k, v] : selector) fields.push_back(absl::StrCat(k, ": ", v));
        entries.push_back(absl::StrCat("{", absl::StrJoin(fields, ", "), "}"));
      }
      return absl::StrCat("[", absl::StrJoin(entries, ", "), "]");
    }
    std::string operator()(const Floats& list) const { return FormatDoubles(list); }
    std::string operator()(const StringMap& map) const {
      std::vector<std::string> entries;
      for (const auto& [k, v] : map) entries.push_back(absl::StrCat(k, ": ", v));
      return absl::StrCat("{", absl::StrJoin(entries, ", "), "}");
    }
    std::string operator()(const HistogramList& list) const {
      std::vector<std::string> entries;
      for (const auto& h : list) {
        entries.push_back(
            absl::StrCat("{explicit: {boundaries: ", FormatDoubles(h.boundaries), "}}"));
      }
      return absl::StrCat("[", absl::StrJoin(entries, ", "), "]");
    }
    std::string operator()(const CidrList& list) const {
      std::vector<std::string> entries;
      for (const auto& c : list) {
        entries.push_back(
            c.name.empty() ? c.cidr : absl::StrCat("{cidr: ", c.cidr, ", name: ", c.name, "}"));
      }
      return absl::StrCat("[", absl::StrJoin(entries, ", "), "]");
    }
    std::string operator()(const AttributeSelect& select) const {
      std::vector<std::string> entries;
      for (const auto& [metric, sel] : select) {
        entries.push_back(absl::StrCat(metric, ": {include: [", absl::StrJoin(sel.include, ", "),
                                       "], exclude: [", absl::StrJoin(sel.exclude, ", "), "]}"));
      }
      return absl::StrCat("{", absl::StrJoin(entries, ", "), "}");
    }
    std::string operator()(const StringListMap& map) const {
      std::vector<std::string> entries;
      for (const auto& [key, list] : map) {
        entries.push_back(absl::StrCat(key, ": [", absl::StrJoin(list, ", "), "]"));
      }
      return absl::StrCat("{", absl::StrJoin(entries, ", "), "}");
    }
  };
  return std::visit(Formatter{}, value);
}

bool ParsePortRanges(std::string_view text, std::vector<std::pair<uint16_t, uint16_t>>* out) {
  std::vector<std::pair<uint16_t, uint16_t>> ranges;
  for (std::string_view item : SplitSkipEmpty(text, ',')) {
    item = StripWhitespace(item);
    if (item.empty()) continue;
    const size_t dash = item.find('-');
    uint16_t lo = 0;
    uint16_t hi = 0;
    if (dash == std::string_view::npos) {
      if (!ParseInt(item, &lo) || lo == 0) return false;
      hi = lo;
    } else if (!ParseInt(StripWhitespace(item.substr(0, dash)), &lo) ||
               !ParseInt(StripWhitespace(item.substr(dash + 1)), &hi) || lo == 0 || lo > hi) {
      return false;
    }
    ranges.emplace_back(lo, hi);
  }
  if (ranges.empty()) return false;
  if (out != nullptr) *out = std::move(ranges);
  return true;
}

bool ParseDuration(std::string_view text, nanoseconds* out) {
  text = StripWhitespace(text);
  if (text.empty()) return false;
  double seconds_only = 0;
  if (ParseDouble(text, &seconds_only)) {
    if (seconds_only < 0) return false;
    *out = nanoseconds(static_cast<int64_t>(seconds_only * 1e9));
    return true;
  }
  static constexpr std::pair<std::string_view, int64_t> kUnits[] = {{"ns", 1},
                                                                    {"us", 1'000},
                                                                    {"µs", 1'000},
                                                                    {"ms", 1'000'000},
                                                                    {"s", 1'000'000'000},
                                                                    {"m", 60'000'000'000},
                                                                    {"h", 3'600'000'000'000}};
  int64_t total = 0;
  while (!text.empty()) {
    size_t i = 0;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
    if (i == 0) return false;
    double number = 0;
    if (!ParseDouble(text.substr(0, i), &number)) return false;
    text.remove_prefix(i);
    int64_t unit = 0;
    size_t unit_len = 0;
    for (const auto& [name, ns] : kUnits) {
      // Longest match first matters for "ms" vs "m": "ms" is listed before "m".
      if (text.starts_with(name) && name.size() > unit_len) {
        unit = ns;
        unit_len = name.size();
      }
    }
    if (unit == 0) return false;
    text.remove_prefix(unit_len);
    total += static_cast<int64_t>(number * static_cast<double>(unit));
  }
  *out = nanoseconds(total);
  return true;
}

bool IsValidIpAddress(std::string_view text) {
  if (text.empty() || text.size() > 64) return false;
  const std::string s(text);
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool IsValidCidr(std::string_view text) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || text.size() > 64) return false;
  const std::string address(text.substr(0, slash));
  unsigned char buf[16];
  int max_prefix = 0;
  if (inet_pton(AF_INET, address.c_str(), buf) == 1) {
    max_prefix = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), buf) == 1) {
    max_prefix = 128;
  } else {
    return false;
  }
  int prefix = -1;
  return ParseInt(text.substr(slash + 1), &prefix) && prefix >= 0 && prefix <= max_prefix &&
         !text.substr(slash + 1).starts_with("+");
}

namespace {

bool IsSpecIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool IsSpecIdent(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsSpecIdentChar);
}

}  // namespace

absl::StatusOr<HubbleMetricSpec> ParseHubbleMetricSpec(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("has '", std::string(text), "', which is not a Hubble metric spec (",
                     std::string(why), "); expected name[:option=value[;option=value]...]"));
  };
  const std::string_view entry = StripWhitespace(text);
  HubbleMetricSpec spec;
  const size_t colon = entry.find(':');
  spec.name = std::string(entry.substr(0, colon));
  if (!IsSpecIdent(spec.name)) return bad("the handler name must be letters, digits, - or _");
  if (colon == std::string_view::npos) return spec;
  // Like Hubble (and src/metrics/hubble), empty options ("dns:query;;ignoreAAAA", "http:") are
  // skipped.
  for (std::string_view option : SplitSkipEmpty(entry.substr(colon + 1), ';')) {
    const size_t eq = option.find('=');
    const std::string_view key = option.substr(0, eq);
    if (!IsSpecIdent(key)) {
      return bad("an option name is empty or has characters other than letters, digits, - and _");
    }
    std::string_view value;
    if (eq != std::string_view::npos) {
      value = option.substr(eq + 1);
      if (value.empty()) return bad(absl::StrCat("option ", std::string(key), " has no value"));
      if (std::any_of(value.begin(), value.end(), IsAsciiSpace)) {
        return bad(absl::StrCat("option ", std::string(key), " has a space in its value"));
      }
    }
    spec.options.emplace_back(std::string(key), std::string(value));
  }
  return spec;
}

bool SamplerTakesRatio(std::string_view sampler_name) {
  return sampler_name == "traceidratio" || sampler_name == "parentbased_traceidratio";
}

bool ParseSamplerRatio(std::string_view text, double* out) {
  text = StripWhitespace(text);
  if (text.empty()) {
    *out = 1.0;
    return true;
  }
  double ratio = 0;
  if (!ParseDouble(text, &ratio) || !(ratio >= 0.0 && ratio <= 1.0)) return false;
  *out = ratio;
  return true;
}

absl::Status ValidateValue(const KeySpec& spec, const Value& value) {
  absl::Status status = CheckValue(spec, value);
  if (status.ok()) return status;
  return absl::InvalidArgumentError(
      absl::StrCat("bad value for '", spec.path, "': ", FormatValue(value), " ", status.message()));
}

namespace {

bool ParseBool(std::string_view text, bool* out) {
  const std::string lower = AsciiLower(StripWhitespace(text));
  if (lower == "true" || lower == "yes" || lower == "on" || lower == "1") {
    *out = true;
  } else if (lower == "false" || lower == "no" || lower == "off" || lower == "0") {
    *out = false;
  } else {
    return false;
  }
  return true;
}

}  // namespace

absl::Status ParseText(const KeySpec& spec, std::string_view text, Value* out) {
  auto bad = [&](std::string_view expected) {
    return absl::InvalidArgumentError(absl::StrCat("bad value for '", spec.path, "': '",
                                                   std::string(text), "' is not ",
                                                   std::string(expected)));
  };
  switch (spec.type) {
    case ValueType::kBool: {
      bool b = false;
      if (!ParseBool(text, &b)) return bad("a boolean (true or false)");
      *out = b;
      break;
    }
    case ValueType::kInt: {
      int64_t i = 0;
      if (!ParseInt(StripWhitespace(text), &i) || i < spec.min || i > spec.max) {
        return bad(absl::StrCat("an integer in [", spec.min, ", ", spec.max, "]"));
      }
      *out = i;
      break;
    }
    case ValueType::kString:
      *out = std::string(text);
      break;
    case ValueType::kDuration: {
      nanoseconds d{};
      if (!ParseDuration(text, &d)) return bad("a duration such as 500ms, 5s, 1m or 1h30m");
      *out = d;
      break;
    }
    case ValueType::kStringList: {
      Strings list;
      for (std::string_view item : SplitList(text, spec.list_separator)) list.emplace_back(item);
      *out = std::move(list);
      break;
    }
    case ValueType::kFloatList: {
      Floats list;
      for (std::string_view item : SplitList(text, ',')) {
        double d = 0;
        if (!ParseDouble(item, &d)) return bad("a comma-separated list of numbers");
        list.push_back(d);
      }
      *out = std::move(list);
      break;
    }
    case ValueType::kStringMap: {
      StringMap map;
      for (std::string_view item : SplitList(text, ',')) {
        const size_t eq = item.find('=');
        if (eq == std::string_view::npos) return bad("a list of key=value pairs");
        const std::string key(StripWhitespace(item.substr(0, eq)));
        std::string value;
        if (key.empty() || !PercentDecode(StripWhitespace(item.substr(eq + 1)), &value)) {
          return bad("a list of key=value pairs with %-encoded values");
        }
        map[key] = std::move(value);
      }
      *out = std::move(map);
      break;
    }
    case ValueType::kCidrList: {
      CidrList list;
      for (std::string_view item : SplitList(text, ',')) {
        list.push_back(NamedCidr{std::string(item), ""});
      }
      *out = std::move(list);
      break;
    }
    case ValueType::kSelectorList:
    case ValueType::kHistogramList:
    case ValueType::kAttributeSelect:
    case ValueType::kStringListMap:
      return absl::InvalidArgumentError(absl::StrCat("bad value for '", spec.path, "': a ",
                                                     TypeName(spec.type),
                                                     " can only be set in the YAML file"));
    case ValueType::kEnum: {
      const std::string lower = AsciiLower(StripWhitespace(text));
      std::string canonical = lower == "warning" ? "warn" : lower;
      if (canonical.empty() &&
          std::find(spec.allowed.begin(), spec.allowed.end(), "auto") != spec.allowed.end()) {
        canonical = "auto";
      }
      if (std::find(spec.allowed.begin(), spec.allowed.end(), canonical) == spec.allowed.end()) {
        return bad(absl::StrCat("one of: ", absl::StrJoin(spec.allowed, ", ")));
      }
      *out = std::move(canonical);
      break;
    }
  }
  absl::Status status = CheckValue(spec, *out);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("bad value for '", spec.path, "': '",
                                                   std::string(text), "' ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace loupe::config
