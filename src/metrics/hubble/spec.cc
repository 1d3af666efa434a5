#include "src/metrics/hubble/spec.h"

#include <array>
#include <utility>

#include "absl/status/status.h"
#include "src/base/strings.h"

namespace loupe::metrics::hubble {
namespace {

constexpr std::array<std::pair<std::string_view, HandlerKind>, 10> kHandlers = {{
    {"dns", HandlerKind::kDns},
    {"drop", HandlerKind::kDrop},
    {"tcp", HandlerKind::kTcp},
    {"flow", HandlerKind::kFlow},
    {"flows-to-world", HandlerKind::kFlowsToWorld},
    {"port-distribution", HandlerKind::kPortDistribution},
    {"icmp", HandlerKind::kIcmp},
    {"http", HandlerKind::kHttp},
    {"httpV2", HandlerKind::kHttpV2},
    {"kafka", HandlerKind::kKafka},
}};

constexpr std::array<std::pair<std::string_view, ContextId>, 11> kContextIds = {{
    {"identity", ContextId::kIdentity},
    {"namespace", ContextId::kNamespace},
    {"pod", ContextId::kPod},
    {"pod-short", ContextId::kPodShort},
    {"pod-name", ContextId::kPodName},
    {"dns", ContextId::kDns},
    {"ip", ContextId::kIp},
    {"reserved-identity", ContextId::kReservedIdentity},
    {"workload", ContextId::kWorkload},
    {"workload-name", ContextId::kWorkloadName},
    {"app", ContextId::kApp},
}};

constexpr std::array<const char*, kContextLabelCount> kContextLabelNames = {
    "source_ip",
    "source_pod",
    "source_namespace",
    "source_workload",
    "source_workload_kind",
    "source_app",
    "destination_ip",
    "destination_pod",
    "destination_namespace",
    "destination_workload",
    "destination_workload_kind",
    "destination_app",
    "traffic_direction",
};

// Hubble handlers Loupe knows of but has no events for.
constexpr std::array<std::string_view, 5> kUnsupportedHandlers = {"policy", "sctp", "flows-per-pod",
                                                                  "nld", "flows_per_pod"};

absl::Status EntryError(std::string_view entry, const std::string& what) {
  return absl::InvalidArgumentError("hubble metrics entry \"" + std::string(entry) + "\": " + what);
}

absl::StatusOr<std::vector<ContextId>> ParseContextList(std::string_view entry,
                                                        std::string_view key,
                                                        std::string_view value) {
  std::vector<ContextId> ids;
  size_t start = 0;
  while (true) {
    const size_t bar = value.find('|', start);
    const std::string_view item =
        value.substr(start, bar == std::string_view::npos ? std::string_view::npos : bar - start);
    const std::string lower = AsciiLower(item);
    bool found = false;
    for (const auto& [name, id] : kContextIds) {
      if (lower == name) {
        ids.push_back(id);
        found = true;
        break;
      }
    }
    if (!found) {
      return EntryError(entry, "unknown context identifier \"" + std::string(item) + "\" in " +
                                   std::string(key) +
                                   " (one of identity, namespace, pod, pod-short, pod-name, dns, "
                                   "ip, reserved-identity, workload, workload-name, app)");
    }
    if (bar == std::string_view::npos) break;
    start = bar + 1;
  }
  return ids;
}

absl::StatusOr<uint32_t> ParseLabelsContext(std::string_view entry, std::string_view value) {
  uint32_t labels = 0;
  size_t start = 0;
  while (true) {
    const size_t comma = value.find(',', start);
    const std::string_view item = value.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    int found = -1;
    for (int i = 0; i < kContextLabelCount; ++i) {
      if (item == kContextLabelNames[i]) found = i;
    }
    if (found < 0) {
      return EntryError(entry, "invalid labelsContext value \"" + std::string(item) + "\"");
    }
    labels |= 1u << found;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return labels;
}

// A flag option: present (no value), or =true / =false.
absl::StatusOr<bool> ParseFlag(std::string_view entry, std::string_view key, std::string_view value,
                               bool has_value) {
  if (!has_value) return true;
  const std::string lower = AsciiLower(value);
  if (lower == "true") return true;
  if (lower == "false") return false;
  return EntryError(entry, "option \"" + std::string(key) +
                               "\" takes no value or true/false, got \"" + std::string(value) +
                               "\"");
}

absl::StatusOr<HandlerSpec> ParseEntry(std::string_view entry) {
  HandlerSpec spec;
  const size_t colon = entry.find(':');
  const std::string_view name = entry.substr(0, colon);
  bool known = false;
  for (const auto& [handler_name, kind] : kHandlers) {
    if (name == handler_name) {
      spec.kind = kind;
      known = true;
    }
  }
  if (!known) {
    for (std::string_view unsupported : kUnsupportedHandlers) {
      if (name == unsupported) {
        return EntryError(entry, "Hubble handler \"" + std::string(name) +
                                     "\" is not supported by Loupe (it has no such events); "
                                     "remove it");
      }
    }
    return EntryError(entry, "unknown handler \"" + std::string(name) +
                                 "\" (one of dns, drop, tcp, flow, flows-to-world, "
                                 "port-distribution, icmp, http, httpV2, kafka)");
  }
  if (colon == std::string_view::npos) return spec;

  std::string_view options = entry.substr(colon + 1);
  size_t start = 0;
  while (start <= options.size()) {
    const size_t semi = options.find(';', start);
    const std::string_view option = options.substr(
        start, semi == std::string_view::npos ? std::string_view::npos : semi - start);
    start = semi == std::string_view::npos ? options.size() + 1 : semi + 1;
    if (option.empty()) continue;
    const size_t eq = option.find('=');
    const std::string_view key = option.substr(0, eq);
    const bool has_value = eq != std::string_view::npos;
    const std::string_view value = has_value ? option.substr(eq + 1) : std::string_view();
    const std::string lower = AsciiLower(key);
    ContextOptions& ctx = spec.context;

    auto context_list = [&](std::vector<ContextId>* out) -> absl::Status {
      if (value.empty())
        return EntryError(entry, "option \"" + std::string(key) + "\" needs a value");
      auto ids = ParseContextList(entry, key, value);
      if (!ids.ok()) return ids.status();
      *out = std::move(*ids);
      return absl::OkStatus();
    };
    auto flag = [&](bool* out) -> absl::Status {
      auto v = ParseFlag(entry, key, value, has_value);
      if (!v.ok()) return v.status();
      *out = *v;
      return absl::OkStatus();
    };

    absl::Status status;
    const HandlerKind kind = spec.kind;
    const bool http = kind == HandlerKind::kHttp || kind == HandlerKind::kHttpV2;
    if (lower == "sourcecontext") {
      status = context_list(&ctx.source);
    } else if (lower == "sourceegresscontext") {
      status = context_list(&ctx.source_egress);
    } else if (lower == "sourceingresscontext") {
      status = context_list(&ctx.source_ingress);
    } else if (lower == "destinationcontext") {
      status = context_list(&ctx.destination);
    } else if (lower == "destinationegresscontext") {
      status = context_list(&ctx.destination_egress);
    } else if (lower == "destinationingresscontext") {
      status = context_list(&ctx.destination_ingress);
    } else if (lower == "labelscontext") {
      if (value.empty())
        return EntryError(entry, "option \"" + std::string(key) + "\" needs a value");
      auto labels = ParseLabelsContext(entry, value);
      if (!labels.ok()) return labels.status();
      ctx.labels = *labels;
    } else if (kind == HandlerKind::kDns && lower == "query") {
      status = flag(&spec.query);
    } else if (kind == HandlerKind::kDns && lower == "ignoreaaaa") {
      status = flag(&spec.ignore_aaaa);
    } else if (kind == HandlerKind::kFlowsToWorld && lower == "any-drop") {
      status = flag(&spec.any_drop);
    } else if (kind == HandlerKind::kFlowsToWorld && lower == "port") {
      status = flag(&spec.port);
    } else if (kind == HandlerKind::kFlowsToWorld && lower == "syn-only") {
      status = flag(&spec.syn_only);
    } else if (http && lower == "exemplars") {
      // Hubble enables exemplars only for the exact value "true".
      if (!has_value)
        return EntryError(entry, "option \"exemplars\" needs a value (true or false)");
      status = flag(&spec.exemplars);
    } else if (http && lower == "httpstatuscodelabel") {
      status = flag(&spec.http_status_code_label);
    } else {
      return EntryError(
          entry, "unknown option \"" + std::string(key) + "\" for handler " + HandlerName(kind));
    }
    if (!status.ok()) return status;
  }
  return spec;
}

}  // namespace

const char* HandlerName(HandlerKind kind) {
  for (const auto& [name, k] : kHandlers) {
    if (k == kind) return name.data();
  }
  return "unknown";
}

const char* ContextLabelName(ContextLabel label) {
  return kContextLabelNames[static_cast<size_t>(label)];
}

std::vector<std::string> ContextOptions::LabelNames() const {
  std::vector<std::string> names;
  for (int i = 0; i < kContextLabelCount; ++i) {
    if (Has(static_cast<ContextLabel>(i))) names.emplace_back(kContextLabelNames[i]);
  }
  if (HasSource()) names.emplace_back("source");
  if (HasDestination()) names.emplace_back("destination");
  return names;
}

size_t ContextOptions::LabelCount() const {
  return static_cast<size_t>(__builtin_popcount(labels)) + (HasSource() ? 1 : 0) +
         (HasDestination() ? 1 : 0);
}

absl::StatusOr<std::vector<HandlerSpec>> ParseHubbleMetrics(
    const std::vector<std::string>& entries) {
  std::vector<HandlerSpec> specs;
  for (const std::string& raw : entries) {
    const std::string_view entry = StripWhitespace(raw);
    if (entry.empty()) continue;
    auto spec = ParseEntry(entry);
    if (!spec.ok()) return spec.status();
    for (const HandlerSpec& other : specs) {
      if (other.kind == spec->kind) {
        return EntryError(
            entry, std::string("handler ") + HandlerName(spec->kind) + " is configured twice");
      }
      const bool http_pair =
          (other.kind == HandlerKind::kHttp && spec->kind == HandlerKind::kHttpV2) ||
          (other.kind == HandlerKind::kHttpV2 && spec->kind == HandlerKind::kHttp);
      if (http_pair) {
        return EntryError(entry,
                          "handlers http and httpV2 cannot be enabled together (both "
                          "define hubble_http_requests_total); keep httpV2");
      }
    }
    specs.push_back(std::move(*spec));
  }
  return specs;
}

std::vector<std::string> SplitHubbleMetricsFlag(std::string_view flag) {
  std::vector<std::string> entries;
  size_t i = 0;
  while (i < flag.size()) {
    while (i < flag.size() && IsAsciiSpace(flag[i])) ++i;
    const size_t begin = i;
    while (i < flag.size() && !IsAsciiSpace(flag[i])) ++i;
    if (i > begin) entries.emplace_back(flag.substr(begin, i - begin));
  }
  return entries;
}

}  // namespace loupe::metrics::hubble
