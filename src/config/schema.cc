#include "src/config/schema.h"

#include <algorithm>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "src/base/strings.h"

namespace loupe::config {
namespace {

using std::chrono::nanoseconds;
using Strings = std::vector<std::string>;

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

std::vector<std::string> SelectorFields() {
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

absl::Status ValidatePortRanges(const Value& v) {
  const auto& text = std::get<std::string>(v);
  if (text.empty()) return absl::OkStatus();
  if (!ParsePortRanges(text, nullptr)) {
    return absl::InvalidArgumentError("must be ports or ranges such as 80,443,8000-8999");
  }
  return absl::OkStatus();
}

absl::Status ValidateRegex(const Value& v) {
  const auto& text = std::get<std::string>(v);
  try {
    std::regex re(text, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("is not a valid regular expression: ", e.what()));
  }
  return absl::OkStatus();
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
  for (const char* section : {"services", "exclude_services", "instrument", "exclude_instrument"}) {
    const bool glob = std::string_view(section).find("instrument") != std::string_view::npos;
    s.push_back({.path = absl::StrCat("discovery.", section),
                 .type = ValueType::kSelectorList,
                 .default_value = SelectorList{},
                 .allowed = SelectorFields(),
                 .doc = absl::StrCat(
                     std::string_view(section).starts_with("exclude") ? "Processes never "
                                                                        "instrumented"
                                                                      : "Processes to instrument",
                     ": a list of selectors; a process matches an entry when it matches every "
                     "field of it (open_ports: ports or ranges it listens on; exe_path: ",
                     glob ? "a glob" : "a regular expression",
                     " on its executable path). Empty `services` and `instrument` (and no "
                     "open_port / executable_name) instruments every process."),
                 .equivalent = absl::StrCat("Beyla discovery.", section)});
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
               .doc = "Print every reconstructed request to standard output (debugging).",
               .equivalent = "Beyla trace_printer"});
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
               .default_value = std::chrono::nanoseconds(std::chrono::seconds(5)),
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
  s.push_back({.path = "loupe.network.enable",
               .type = ValueType::kBool,
               .default_value = true,
               .env = {"LOUPE_NETWORK_ENABLE"},
               .doc = "Run the network sensor (TC clsact programs on host interfaces).",
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
  return s;
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
      for (std::string_view item : SplitSkipEmpty(text, ',')) {
        item = StripWhitespace(item);
        if (!item.empty()) list.emplace_back(item);
      }
      *out = std::move(list);
      break;
    }
    case ValueType::kSelectorList:
      return absl::InvalidArgumentError(absl::StrCat(
          "bad value for '", spec.path, "': selector lists can only be set in the YAML file"));
    case ValueType::kEnum: {
      const std::string lower = AsciiLower(StripWhitespace(text));
      std::string canonical = lower == "warning" ? "warn" : lower;
      if (std::find(spec.allowed.begin(), spec.allowed.end(), canonical) == spec.allowed.end()) {
        return bad(absl::StrCat("one of: ", absl::StrJoin(spec.allowed, ", ")));
      }
      *out = std::move(canonical);
      break;
    }
  }
  if (spec.validate) {
    absl::Status status = spec.validate(*out);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("bad value for '", spec.path, "': '",
                                                     std::string(text), "' ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace loupe::config
