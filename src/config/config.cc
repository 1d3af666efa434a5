#include "src/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/base/logging.h"
#include "src/base/read_file.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace loupe::config {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxIndent = 200;
constexpr int kMaxFlowDepth = 32;

std::string Where(const YAML::Node& node, const std::string& origin) {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return origin;
  return absl::StrCat(origin, ":", mark.line + 1);
}

absl::Status UnknownKey(const std::string& path, const std::string& section,
                        const std::string& where) {
  const std::vector<std::string> allowed = ChildrenOf(section);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown configuration key '", path, "' (", where, "); allowed ",
                   section.empty() ? "top-level keys" : absl::StrCat("keys under '", section, "'"),
                   ": ", absl::StrJoin(allowed, ", ")));
}

std::string Bad(const std::string& path, const std::string& where, std::string_view why) {
  return absl::StrCat("bad value for '", path, "' (", where, "): ", std::string(why));
}

absl::Status UnknownField(const std::string& path, const std::string& parent,
                          const std::vector<std::string>& allowed, const std::string& where) {
  return absl::InvalidArgumentError(absl::StrCat("unknown configuration key '", path, "' (", where,
                                                 "); allowed keys under '", parent,
                                                 "': ", absl::StrJoin(allowed, ", ")));
}

bool Allowed(const std::vector<std::string>& allowed, const std::string& name) {
  return std::find(allowed.begin(), allowed.end(), name) != allowed.end();
}

absl::Status ParseSelectorList(const KeySpec& spec, const YAML::Node& node,
                               const std::string& origin, Value* out) {
  auto bad = [&](const YAML::Node& at, const std::string& why) {
    return absl::InvalidArgumentError(Bad(spec.path, Where(at, origin), why));
  };
  if (!node.IsSequence()) return bad(node, "expected a list of selectors (- open_ports: 80)");
  SelectorList list;
  for (const auto& entry : node) {
    if (!entry.IsMap()) return bad(entry, "each selector must be a mapping of fields");
    Selector selector;
    for (const auto& field : entry) {
      const std::string name = field.first.Scalar();
      if (!Allowed(spec.allowed, name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("unknown configuration key '", spec.path, "[].", name, "' (",
                         Where(field.first, origin),
                         "); allowed selector fields: ", absl::StrJoin(spec.allowed, ", ")));
      }
      const YAML::Node& value = field.second;
      if (value.IsScalar()) {
        selector[name] = value.Scalar();
      } else if (value.IsMap()) {
        for (const auto& kv : value) {
          if (!kv.second.IsScalar())
            return bad(kv.second, absl::StrCat(name, " values must be strings"));
          selector[absl::StrCat(name, "/", kv.first.Scalar())] = kv.second.Scalar();
        }
      } else if (value.IsSequence()) {
        std::vector<std::string> items;
        for (const auto& item : value) {
          if (!item.IsScalar()) return bad(item, absl::StrCat(name, " items must be strings"));
          items.push_back(item.Scalar());
        }
        selector[name] = absl::StrJoin(items, ",");
      } else {
        selector[name] = "";
      }
      if (name == "open_ports" && !ParsePortRanges(selector[name], nullptr)) {
        return bad(value, absl::StrCat("open_ports '", selector[name],
                                       "' is not ports or ranges such as 80,443,8000-8999"));
      }
    }
    list.push_back(std::move(selector));
  }
  *out = std::move(list);
  return absl::OkStatus();
}

absl::Status ParseStringSeq(const std::string& path, const YAML::Node& node,
                            const std::string& origin, std::vector<std::string>* out) {
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError(Bad(path, Where(node, origin), "expected a list of strings"));
  }
  out->clear();
  for (const auto& item : node) {
    if (!item.IsScalar()) {
      return absl::InvalidArgumentError(
          Bad(path, Where(item, origin), "list items must be strings"));
    }
    out->push_back(item.Scalar());
  }
  return absl::OkStatus();
}

absl::Status ParseNumberSeq(const std::string& path, const YAML::Node& node,
                            const std::string& origin, std::vector<double>* out) {
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError(Bad(path, Where(node, origin), "expected a list of numbers"));
  }
  out->clear();
  for (const auto& item : node) {
    double d = 0;
    if (!item.IsScalar() || !ParseDouble(StripWhitespace(item.Scalar()), &d)) {
      return absl::InvalidArgumentError(
          Bad(path, Where(item, origin),
              absl::StrCat("'", item.IsScalar() ? item.Scalar() : "", "' is not a number")));
    }
    out->push_back(d);
  }
  return absl::OkStatus();
}

absl::Status ParseHistogramList(const KeySpec& spec, const YAML::Node& node,
                                const std::string& origin, Value* out) {
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError(
        Bad(spec.path, Where(node, origin),
            "expected a list such as - explicit: {boundaries: [0.005, 0.01, 0.025]}"));
  }
  HistogramList list;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node entry = node[i];
    const std::string entry_path = absl::StrCat(spec.path, "[", i, "]");
    if (!entry.IsMap()) {
      return absl::InvalidArgumentError(
          Bad(entry_path, Where(entry, origin), "expected a mapping with explicit.boundaries"));
    }
    ExplicitHistogram histogram;
    bool has_boundaries = false;
    for (const auto& kv : entry) {
      const std::string key = kv.first.Scalar();
      if (key != "explicit") {
        return UnknownField(absl::StrCat(entry_path, ".", key), entry_path, {"explicit"},
                            Where(kv.first, origin));
      }
      const std::string explicit_path = absl::StrCat(entry_path, ".explicit");
      if (!kv.second.IsMap()) {
        return absl::InvalidArgumentError(
            Bad(explicit_path, Where(kv.second, origin), "expected a mapping with boundaries"));
      }
      for (const auto& field : kv.second) {
        const std::string name = field.first.Scalar();
        if (name != "boundaries") {
          return UnknownField(absl::StrCat(explicit_path, ".", name), explicit_path, {"boundaries"},
                              Where(field.first, origin));
        }
        RETURN_IF_ERROR(ParseNumberSeq(absl::StrCat(explicit_path, ".boundaries"), field.second,
                                       origin, &histogram.boundaries));
        has_boundaries = true;
      }
    }
    if (!has_boundaries) {
      return absl::InvalidArgumentError(
          Bad(entry_path, Where(entry, origin), "has no explicit.boundaries"));
    }
    list.push_back(std::move(histogram));
  }
  *out = std::move(list);
  return absl::OkStatus();
}

absl::Status ParseCidrList(const KeySpec& spec, const YAML::Node& node, const std::string& origin,
                           Value* out) {
  if (!node.IsSequence()) {
    return absl::InvalidArgumentError(
        Bad(spec.path, Where(node, origin), "expected a list of CIDRs (- 10.0.0.0/8)"));
  }
  CidrList list;
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node entry = node[i];
    const std::string entry_path = absl::StrCat(spec.path, "[", i, "]");
    if (entry.IsScalar()) {
      list.push_back(NamedCidr{entry.Scalar(), ""});
      continue;
    }
    if (!entry.IsMap()) {
      return absl::InvalidArgumentError(
          Bad(entry_path, Where(entry, origin), "expected a CIDR or {cidr: ..., name: ...}"));
    }
    NamedCidr cidr;
    for (const auto& kv : entry) {
      const std::string key = kv.first.Scalar();
      if (key != "cidr" && key != "name") {
        return UnknownField(absl::StrCat(entry_path, ".", key), entry_path, {"cidr", "name"},
                            Where(kv.first, origin));
      }
      if (!kv.second.IsScalar()) {
        return absl::InvalidArgumentError(
            Bad(absl::StrCat(entry_path, ".", key), Where(kv.second, origin), "expected a string"));
      }
      (key == "cidr" ? cidr.cidr : cidr.name) = kv.second.Scalar();
    }
    if (cidr.cidr.empty()) {
      return absl::InvalidArgumentError(Bad(entry_path, Where(entry, origin), "has no cidr"));
    }
    list.push_back(std::move(cidr));
  }
  *out = std::move(list);
  return absl::OkStatus();
}

absl::Status ParseStringListMap(const KeySpec& spec, const YAML::Node& node,
                                const std::string& origin, Value* out) {
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(
        Bad(spec.path, Where(node, origin), "expected a mapping of name -> [strings]"));
  }
  StringListMap map;
  if (spec.merge_with_default) map = std::get<StringListMap>(spec.default_value);
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      return absl::InvalidArgumentError(
          Bad(spec.path, Where(kv.first, origin), "keys must be strings"));
    }
    const std::string key = kv.first.Scalar();
    std::vector<std::string>& list = map[key];
    list.clear();
    if (kv.second.IsNull()) continue;  // `key:` or `key: []`: nothing for this key
    RETURN_IF_ERROR(ParseStringSeq(absl::StrCat(spec.path, ".", key), kv.second, origin, &list));
  }
  *out = std::move(map);
  return absl::OkStatus();
}

absl::Status ParseAttributeSelect(const KeySpec& spec, const YAML::Node& node,
                                  const std::string& origin, Value* out) {
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(
        Bad(spec.path, Where(node, origin),
            "expected a mapping of metric name -> {include: [...], exclude: [...]}"));
  }
  AttributeSelect select;
  for (const auto& metric : node) {
    if (!metric.first.IsScalar()) {
      return absl::InvalidArgumentError(
          Bad(spec.path, Where(metric.first, origin), "metric names must be strings"));
    }
    const std::string name = metric.first.Scalar();
    const std::string metric_path = absl::StrCat(spec.path, ".", name);
    AttributeSelection selection;
    if (!metric.second.IsNull()) {
      if (!metric.second.IsMap()) {
        return absl::InvalidArgumentError(Bad(metric_path, Where(metric.second, origin),
                                              "expected a mapping with include and/or exclude"));
      }
      for (const auto& kv : metric.second) {
        const std::string key = kv.first.Scalar();
        if (key != "include" && key != "exclude") {
          return UnknownField(absl::StrCat(metric_path, ".", key), metric_path,
                              {"exclude", "include"}, Where(kv.first, origin));
        }
        if (kv.second.IsNull()) continue;
        RETURN_IF_ERROR(ParseStringSeq(absl::StrCat(metric_path, ".", key), kv.second, origin,
                                       key == "include" ? &selection.include : &selection.exclude));
      }
    }
    select[name] = std::move(selection);
  }
  *out = std::move(select);
  return absl::OkStatus();
}

absl::Status ParseStringMap(const KeySpec& spec, const YAML::Node& node, const std::string& origin,
                            Value* out) {
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(
        Bad(spec.path, Where(node, origin), "expected a mapping of name: value"));
  }
  StringMap map;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar() || !(kv.second.IsScalar() || kv.second.IsNull())) {
      return absl::InvalidArgumentError(
          Bad(spec.path, Where(kv.first, origin), "names and values must be strings"));
    }
    map[kv.first.Scalar()] = kv.second.IsNull() ? "" : kv.second.Scalar();
  }
  *out = std::move(map);
  return absl::OkStatus();
}

absl::Status ParseLeaf(const KeySpec& spec, const YAML::Node& node, const std::string& where,
                       Value* out) {
  if (!node.IsScalar()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad value for '", spec.path, "' (", where, "): expected a ", TypeName(spec.type),
        spec.type == ValueType::kEnum ? absl::StrCat(" ", absl::StrJoin(spec.allowed, ", ")) : "",
        ", got a ", node.IsSequence() ? "list" : "mapping"));
  }
  absl::Status status = ParseText(spec, node.Scalar(), out);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(status.message(), " (", where, ")"));
  }
  return absl::OkStatus();
}

// Parses the YAML value of one schema key, including its validation.
absl::Status ParseKey(const KeySpec& spec, const YAML::Node& node, const std::string& origin,
                      Value* out) {
  const std::string where = Where(node, origin);
  // A scalar is always read as text: lists and maps from text, like environment variables.
  if (node.IsScalar() && spec.type != ValueType::kSelectorList &&
      spec.type != ValueType::kHistogramList && spec.type != ValueType::kAttributeSelect &&
      spec.type != ValueType::kStringListMap) {
    return ParseLeaf(spec, node, where, out);
  }
  switch (spec.type) {
    case ValueType::kSelectorList:
      RETURN_IF_ERROR(ParseSelectorList(spec, node, origin, out));
      break;
    case ValueType::kStringList: {
      std::vector<std::string> list;
      RETURN_IF_ERROR(ParseStringSeq(spec.path, node, origin, &list));
      *out = std::move(list);
      break;
    }
    case ValueType::kFloatList: {
      std::vector<double> list;
      RETURN_IF_ERROR(ParseNumberSeq(spec.path, node, origin, &list));
      *out = std::move(list);
      break;
    }
    case ValueType::kStringMap:
      RETURN_IF_ERROR(ParseStringMap(spec, node, origin, out));
      break;
    case ValueType::kHistogramList:
      RETURN_IF_ERROR(ParseHistogramList(spec, node, origin, out));
      break;
    case ValueType::kCidrList:
      RETURN_IF_ERROR(ParseCidrList(spec, node, origin, out));
      break;
    case ValueType::kAttributeSelect:
      RETURN_IF_ERROR(ParseAttributeSelect(spec, node, origin, out));
      break;
    case ValueType::kStringListMap:
      RETURN_IF_ERROR(ParseStringListMap(spec, node, origin, out));
      break;
    default:
      return ParseLeaf(spec, node, where, out);
  }
  absl::Status status = ValidateValue(spec, *out);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(status.message(), " (", where, ")"));
  }
  return absl::OkStatus();
}

absl::Status Walk(const YAML::Node& node, const std::string& section, const std::string& origin,
                  std::map<std::string, Setting>* settings) {
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        section.empty() ? std::string("the configuration") : absl::StrCat("'", section, "'"), " (",
        Where(node, origin),
        ") must be a mapping with keys: ", absl::StrJoin(ChildrenOf(section), ", ")));
  }
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      return absl::InvalidArgumentError(
          absl::StrCat("configuration keys must be strings (", Where(entry.first, origin), ")"));
    }
    const std::string key = entry.first.Scalar();
    const std::string path = section.empty() ? key : absl::StrCat(section, ".", key);
    const std::string where = Where(entry.first, origin);
    if (const KeySpec* spec = FindKey(path)) {
      if (entry.second.IsNull()) continue;  // `key:` with no value keeps the default
      Value value;
      RETURN_IF_ERROR(ParseKey(*spec, entry.second, origin, &value));
      (*settings)[path] = Setting{std::move(value), absl::StrCat("file:", where)};
    } else if (IsSection(path)) {
      if (entry.second.IsNull()) continue;
      RETURN_IF_ERROR(Walk(entry.second, path, origin, settings));
    } else {
      return UnknownKey(path, section, where);
    }
  }
  return absl::OkStatus();
}

// yaml-cpp parses recursively: bound the input so a hostile file cannot exhaust the stack.
absl::Status CheckYamlLimits(const std::string& text, const std::string& origin) {
  if (text.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(absl::StrCat(origin, " is larger than ", kMaxConfigBytes,
                                                   " bytes; this is not a Loupe configuration"));
  }
  int depth = 0;
  int max_depth = 0;
  size_t indent = 0;
  bool line_start = true;
  for (char c : text) {
    if (line_start && c == ' ') {
      if (++indent > kMaxIndent) {
        return absl::InvalidArgumentError(
            absl::StrCat(origin, " nests deeper than ", kMaxIndent, " columns of indentation"));
      }
      continue;
    }
    line_start = c == '\n';
    if (line_start) indent = 0;
    if (c == '[' || c == '{') max_depth = std::max(max_depth, ++depth);
    if (c == ']' || c == '}') --depth;
  }
  if (max_depth > kMaxFlowDepth) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, " nests [ ] or { } deeper than ", kMaxFlowDepth, " levels"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> Config::Finish(std::map<std::string, Setting> settings,
                                      const EnvLookup& env) {
  for (const auto& spec : Schema()) {
    for (const auto& var : spec.env) {
      std::optional<std::string> text = env(var);
      if (!text.has_value()) continue;
      Value value;
      absl::Status status;
      double millis = 0;
      if (std::find(spec.env_millis.begin(), spec.env_millis.end(), var) != spec.env_millis.end() &&
          ParseDouble(StripWhitespace(*text), &millis) && millis >= 0) {
        value = std::chrono::nanoseconds(static_cast<int64_t>(millis * 1e6));
        status = ValidateValue(spec, value);
      } else {
        status = ParseText(spec, *text, &value);
      }
      if (!status.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat(status.message(), " (from environment variable ", var, ")"));
      }
      settings[spec.path] = Setting{std::move(value), absl::StrCat("env:", var)};
      break;  // the first variable set wins
    }
    if (!settings.contains(spec.path)) settings[spec.path] = Setting{spec.default_value, "default"};
  }
  Config config;
  config.settings_ = std::move(settings);
  RETURN_IF_ERROR(config.BuildViews());
  return config;
}

namespace {

// Where a setting came from, for messages: "(test.yml:3)", "(from environment variable X)".
std::string SourceNote(const Setting& setting) {
  if (setting.source.starts_with("env:")) {
    return absl::StrCat("(from environment variable ", setting.source.substr(4), ")");
  }
  if (setting.source.starts_with("file:")) return absl::StrCat("(", setting.source.substr(5), ")");
  return "(default)";
}

// Beyla's GuessProtocol: a port ending in 4317 is OTLP/gRPC, anything else OTLP/HTTP.
OtlpProtocol GuessProtocol(const std::string& endpoint) {
  std::string_view rest = endpoint;
  const size_t scheme = rest.find("://");
  if (scheme != std::string_view::npos) rest.remove_prefix(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  const size_t colon = rest.rfind(':');
  const size_t bracket = rest.rfind(']');
  if (colon == std::string_view::npos || (bracket != std::string_view::npos && colon < bracket)) {
    return OtlpProtocol::kHttpProtobuf;
  }
  return rest.substr(colon + 1).ends_with("4317") ? OtlpProtocol::kGrpc
                                                  : OtlpProtocol::kHttpProtobuf;
}

}  // namespace

bool FeatureEnabled(const std::vector<std::string>& features, std::string_view feature) {
  for (const auto& f : features) {
    if (f == feature || f == "all" || f == "*") return true;
    if (f == "stats" && feature.starts_with("stats_")) return true;
  }
  return false;
}

absl::Status Config::BuildViews() {
  auto buckets = [&](const std::string& section) {
    return HistogramBuckets{GetFloatList(section + ".buckets.duration_histogram"),
                            GetFloatList(section + ".buckets.request_size_histogram"),
                            GetFloatList(section + ".buckets.response_size_histogram")};
  };
  auto target = [&](const std::string& section, std::string_view url_path) {
    OtlpTarget t;
    t.endpoint = GetString(section + ".endpoint");
    t.enabled = !t.endpoint.empty();
    const std::string& protocol = GetString(section + ".protocol");
    if (protocol == "grpc") {
      t.protocol = OtlpProtocol::kGrpc;
    } else if (protocol == "http/protobuf") {
      t.protocol = OtlpProtocol::kHttpProtobuf;
    } else {
      t.protocol = GuessProtocol(t.endpoint);
    }
    t.url = t.endpoint;
    if (t.enabled && t.protocol == OtlpProtocol::kHttpProtobuf &&
        Get(section + ".endpoint").source == "env:OTEL_EXPORTER_OTLP_ENDPOINT") {
      while (t.url.ends_with("/")) t.url.pop_back();
      t.url += url_path;
    }
    t.headers = GetStringMap(section + ".headers");
    t.insecure_skip_verify = GetBool(section + ".insecure_skip_verify");
    return t;
  };

  PrometheusExportConfig& prom = prometheus_export_;
  prom.port = static_cast<int>(GetInt("prometheus_export.port"));
  prom.path = GetString("prometheus_export.path");
  prom.features = GetList("prometheus_export.features");
  prom.instrumentations = GetList("prometheus_export.instrumentations");
  prom.ttl = GetDuration("prometheus_export.ttl");
  prom.buckets = buckets("prometheus_export");
  prom.allow_service_graph_self_references =
      GetBool("prometheus_export.allow_service_graph_self_references");

  OtelMetricsExportConfig& metrics = otel_metrics_export_;
  metrics.target = target("otel_metrics_export", "/v1/metrics");
  metrics.interval = GetDuration("otel_metrics_export.interval");
  metrics.features = GetList("otel_metrics_export.features");
  metrics.instrumentations = GetList("otel_metrics_export.instrumentations");
  metrics.ttl = GetDuration("otel_metrics_export.ttl");
  metrics.temporality = GetString("otel_metrics_export.temporality") == "delta"
                            ? Temporality::kDelta
                            : Temporality::kCumulative;
  metrics.buckets = buckets("otel_metrics_export");
  metrics.histograms = GetHistograms("otel_metrics_export.histograms");
  if (!metrics.histograms.empty()) metrics.buckets.duration = metrics.histograms[0].boundaries;
  metrics.allow_service_graph_self_references =
      GetBool("otel_metrics_export.allow_service_graph_self_references");

  OtelTracesExportConfig& traces = otel_traces_export_;
  traces.target = target("otel_traces_export", "/v1/traces");
  SamplerConfig& sampler = traces.sampler;
  sampler.name = GetString("otel_traces_export.sampler.name");
  sampler.arg = GetString("otel_traces_export.sampler.arg");
  sampler.parent_based = sampler.name.starts_with("parentbased_");
  if (SamplerTakesRatio(sampler.name)) {
    if (!ParseSamplerRatio(sampler.arg, &sampler.ratio)) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad value for 'otel_traces_export.sampler.arg': '", sampler.arg,
                       "' is not a ratio in [0, 1], which sampler ", sampler.name, " needs ",
                       SourceNote(Get("otel_traces_export.sampler.arg"))));
    }
  } else {
    sampler.ratio = sampler.name.ends_with("always_off") ? 0.0 : 1.0;
  }
  traces.instrumentations = GetList("otel_traces_export.instrumentations");
  traces.batch_max_size = GetInt("otel_traces_export.batch_max_size");
  traces.queue_size = GetInt("otel_traces_export.queue_size");
  if (traces.queue_size < 2 * traces.batch_max_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bad value for 'otel_traces_export.queue_size': ", traces.queue_size,
        " must be at least twice otel_traces_export.batch_max_size (", traces.batch_max_size, ") ",
        SourceNote(Get("otel_traces_export.queue_size"))));
  }
  traces.batch_timeout = GetDuration("otel_traces_export.batch_timeout");
  traces.backoff_initial_interval = GetDuration("otel_traces_export.backoff_initial_interval");
  traces.backoff_max_interval = GetDuration("otel_traces_export.backoff_max_interval");
  traces.backoff_max_elapsed_time = GetDuration("otel_traces_export.backoff_max_elapsed_time");

  BeylaNetworkConfig& net = network_;
  net.enable = GetBool("network.enable") || FeatureEnabled(prom.features, "network") ||
               (metrics.target.enabled && FeatureEnabled(metrics.features, "network"));
  net.cidrs = GetCidrs("network.cidrs");
  net.source = GetString("network.source");
  net.agent_ip = GetString("network.agent_ip");
  net.agent_ip_iface = GetString("network.agent_ip_iface");
  net.agent_ip_type = GetString("network.agent_ip_type");
  net.interfaces = GetList("network.interfaces");
  net.exclude_interfaces = GetList("network.exclude_interfaces");
  net.protocols = GetList("network.protocols");
  net.exclude_protocols = GetList("network.exclude_protocols");
  net.cache_max_flows = GetInt("network.cache_max_flows");
  net.cache_active_timeout = GetDuration("network.cache_active_timeout");
  net.deduper = GetString("network.deduper");
  net.direction = GetString("network.direction");
  net.sampling = GetInt("network.sampling");
  net.print_flows = GetBool("network.print_flows");

  KubernetesConfig& kube = kubernetes_;
  const std::string& enable = GetString("attributes.kubernetes.enable");
  kube.enable = enable == "true"    ? KubeEnable::kTrue
                : enable == "false" ? KubeEnable::kFalse
                                    : KubeEnable::kAutodetect;
  kube.kubeconfig_path = GetString("attributes.kubernetes.kubeconfig_path");
  kube.cluster_name = GetString("attributes.kubernetes.cluster_name");
  kube.informers_sync_timeout = GetDuration("attributes.kubernetes.informers_sync_timeout");
  kube.informers_resync_period = GetDuration("attributes.kubernetes.informers_resync_period");
  kube.reconnect_initial_interval = GetDuration("attributes.kubernetes.reconnect_initial_interval");
  kube.meta_restrict_local_node = GetBool("attributes.kubernetes.meta_restrict_local_node");
  kube.disable_informers = GetList("attributes.kubernetes.disable_informers");
  kube.meta_cache_address = GetString("attributes.kubernetes.meta_cache_address");
  kube.drop_external = GetBool("attributes.kubernetes.drop_external");
  kube.service_name_template = GetString("attributes.kubernetes.service_name_template");
  kube.resource_labels = GetStringListMap("attributes.kubernetes.resource_labels");

  AttributesConfig& attrs = attributes_;
  attrs.host_id_override = GetString("attributes.host_id.override");
  attrs.host_id_fetch_timeout = GetDuration("attributes.host_id.fetch_timeout");
  attrs.instance_id_dns = GetBool("attributes.instance_id.dns");
  attrs.instance_id_override_hostname = GetString("attributes.instance_id.override_hostname");
  attrs.select = GetAttributeSelect("attributes.select");
  attrs.metric_span_names_limit = GetInt("attributes.metric_span_names_limit");
  attrs.rename_unresolved_hosts = GetString("attributes.rename_unresolved_hosts");
  attrs.rename_unresolved_hosts_outgoing = GetString("attributes.rename_unresolved_hosts_outgoing");
  attrs.rename_unresolved_hosts_incoming = GetString("attributes.rename_unresolved_hosts_incoming");

  RoutesConfig& routes = routes_;
  routes.patterns = GetList("routes.patterns");
  routes.ignored_patterns = GetList("routes.ignored_patterns");
  routes.ignore_mode = GetString("routes.ignore_mode");
  routes.unmatched = GetString("routes.unmatched");
  routes.wildcard_char = GetString("routes.wildcard_char");
  routes.max_path_segment_cardinality = GetInt("routes.max_path_segment_cardinality");

  LoupeMetricsConfig& lm = loupe_metrics_;
  lm.hubble.clear();
  for (const auto& text : GetList("loupe.metrics.hubble")) {
    auto spec = ParseHubbleMetricSpec(text);
    if (!spec.ok()) return spec.status();  // validated already; kept for safety
    lm.hubble.push_back(*std::move(spec));
  }
  lm.max_series_per_family = GetInt("loupe.metrics.max_series_per_family");
  lm.openmetrics = GetBool("loupe.metrics.openmetrics");
  return absl::OkStatus();
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<Config> Config::LoadFromString(const std::string& yaml_text,
                                              const std::string& origin, const EnvLookup& env) {
  RETURN_IF_ERROR(CheckYamlLimits(yaml_text, origin));
  std::map<std::string, Setting> settings;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse ", origin, " as YAML: ", e.what()));
  }
  if (!root.IsNull()) RETURN_IF_ERROR(Walk(root, "", origin, &settings));
  return Finish(std::move(settings), env);
}

absl::StatusOr<Config> Config::Load(const std::string& yaml_path, const EnvLookup& env) {
  if (yaml_path.empty()) return Finish({}, env);
  // A directory or an unreadable file is an error, not an empty configuration.
  auto text = ReadWholeFile(yaml_path, "configuration file");
  if (!text.ok()) return text.status();
  return LoadFromString(*text, yaml_path, env);
}

const Setting& Config::Get(const std::string& path) const {
  auto it = settings_.find(path);
  if (it == settings_.end()) {
    // A typo in our own code, not user input: every schema key has a setting after Load().
    LOG_ERROR("internal error: configuration key '{}' is not in the schema", path);
    std::abort();
  }
  return it->second;
}

bool Config::GetBool(const std::string& path) const { return std::get<bool>(Get(path).value); }
int64_t Config::GetInt(const std::string& path) const { return std::get<int64_t>(Get(path).value); }
const std::string& Config::GetString(const std::string& path) const {
  return std::get<std::string>(Get(path).value);
}
std::chrono::nanoseconds Config::GetDuration(const std::string& path) const {
  return std::get<std::chrono::nanoseconds>(Get(path).value);
}
const std::vector<std::string>& Config::GetList(const std::string& path) const {
  return std::get<std::vector<std::string>>(Get(path).value);
}
const SelectorList& Config::GetSelectors(const std::string& path) const {
  return std::get<SelectorList>(Get(path).value);
}
const std::vector<double>& Config::GetFloatList(const std::string& path) const {
  return std::get<std::vector<double>>(Get(path).value);
}
const StringMap& Config::GetStringMap(const std::string& path) const {
  return std::get<StringMap>(Get(path).value);
}
const HistogramList& Config::GetHistograms(const std::string& path) const {
  return std::get<HistogramList>(Get(path).value);
}
const CidrList& Config::GetCidrs(const std::string& path) const {
  return std::get<CidrList>(Get(path).value);
}
const AttributeSelect& Config::GetAttributeSelect(const std::string& path) const {
  return std::get<AttributeSelect>(Get(path).value);
}

const StringListMap& Config::GetStringListMap(const std::string& path) const {
  return std::get<StringListMap>(Get(path).value);
}

}  // namespace loupe::config
