#include "src/cli/observe_filters.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <optional>

#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "src/cli/printer.h"

namespace loupe::cli {
namespace {

using Update = std::function<void(flowpb::FlowFilter*)>;

// A side of the request (allowlist or denylist): hubble's left/right pair of filters; the result
// is `left OR right`, or one filter when both are equal.
class FilterTracker {
 public:
  void Apply(const Update& update) {
    ApplyLeft(update);
    ApplyRight(update);
  }
  void ApplyLeft(const Update& update) {
    if (!left_) left_.emplace();
    update(&*left_);
  }
  void ApplyRight(const Update& update) {
    if (!right_) right_.emplace();
    update(&*right_);
  }
  std::vector<flowpb::FlowFilter> Filters() const {
    std::vector<flowpb::FlowFilter> out;
    if (left_ && right_ && google::protobuf::util::MessageDifferencer::Equals(*left_, *right_)) {
      out.push_back(*left_);
      return out;
    }
    if (left_) out.push_back(*left_);
    if (right_) out.push_back(*right_);
    return out;
  }

 private:
  std::optional<flowpb::FlowFilter> left_;
  std::optional<flowpb::FlowFilter> right_;
};

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

absl::Status BadFlag(const std::string& flag, const std::string& value, const std::string& why) {
  return absl::InvalidArgumentError("invalid --" + flag + " \"" + value + "\": " + why);
}

bool ParseUint(const std::string& s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    const uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return false;
    v = next;
  }
  if (v > max) return false;
  *out = v;
  return true;
}

std::optional<uint32_t> ReservedIdentity(const std::string& name) {
  static const std::map<std::string, uint32_t> kReserved = {
      {"host", 1},       {"world", 2},       {"unmanaged", 3},      {"health", 4},
      {"init", 5},       {"remote-node", 6}, {"kube-apiserver", 7}, {"ingress", 8},
      {"world-ipv4", 9}, {"world-ipv6", 10},
  };
  auto it = kReserved.find(name);
  if (it == kReserved.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<flowpb::EventTypeFilter> ParseEventType(const std::string& value) {
  static const std::map<std::string, int> kTypes = {
      {"drop", 1},           {"debug", 2},      {"capture", 3}, {"trace", 4},
      {"policy-verdict", 5}, {"trace-sock", 7}, {"l7", 129},    {"agent", 130},
  };
  static const std::map<std::string, int> kTraceSubtypes = {
      {"to-endpoint", 0},  {"to-proxy", 1},      {"to-host", 2},       {"to-stack", 3},
      {"to-overlay", 4},   {"from-endpoint", 5}, {"from-proxy", 6},    {"from-host", 7},
      {"from-stack", 8},   {"from-overlay", 9},  {"from-network", 10}, {"to-network", 11},
      {"from-crypto", 12}, {"to-crypto", 13},
  };
  const size_t colon = value.find(':');
  const std::string type = Lower(value.substr(0, colon));
  flowpb::EventTypeFilter f;
  uint64_t number = 0;
  if (auto it = kTypes.find(type); it != kTypes.end()) {
    f.set_type(it->second);
  } else if (ParseUint(type, 255, &number)) {
    f.set_type(static_cast<int32_t>(number));
  } else {
    return BadFlag("type", value,
                   "types are drop, debug, capture, trace, policy-verdict, trace-sock, l7, agent "
                   "or a number");
  }
  if (colon != std::string::npos) {
    const std::string sub = Lower(value.substr(colon + 1));
    f.set_match_sub_type(true);
    if (auto it = kTraceSubtypes.find(sub); f.type() == 4 && it != kTraceSubtypes.end()) {
      f.set_sub_type(it->second);
    } else if (ParseUint(sub, 255, &number)) {
      f.set_sub_type(static_cast<int32_t>(number));
    } else {
      return BadFlag("type", value,
                     "trace subtypes are to-/from- endpoint, proxy, host, stack, overlay, "
                     "network, crypto, or a number");
    }
  }
  return f;
}

absl::StatusOr<flowpb::TCPFlags> ParseTcpFlags(const std::string& value) {
  flowpb::TCPFlags flags;
  size_t start = 0;
  while (start <= value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    const std::string name = Upper(value.substr(start, comma - start));
    if (name == "SYN") {
      flags.set_syn(true);
    } else if (name == "ACK") {
      flags.set_ack(true);
    } else if (name == "FIN") {
      flags.set_fin(true);
    } else if (name == "RST") {
      flags.set_rst(true);
    } else if (name == "PSH") {
      flags.set_psh(true);
    } else if (name == "URG") {
      flags.set_urg(true);
    } else if (name == "ECE") {
      flags.set_ece(true);
    } else if (name == "CWR") {
      flags.set_cwr(true);
    } else if (name == "NS") {
      flags.set_ns(true);
    } else {
      return BadFlag("tcp-flags", value, "flags are syn, ack, fin, rst, psh, urg, ece, cwr, ns");
    }
    start = comma + 1;
  }
  return flags;
}

bool ValidHttpStatus(const std::string& s) {
  // "404"
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return s.size() == 3 && s[0] >= '1' && s[0] <= '5' && digit(s[1]) && digit(s[2]);
}

bool ValidHttpStatusPrefix(const std::string& s) {
  // "5+", "40+"
  if (s.size() < 2 || s.size() > 3 || s.back() != '+') return false;
  if (s[0] < '1' || s[0] > '5') return false;
  return s.size() == 2 || (s[1] >= '0' && s[1] <= '9');
}

// "500-599": two status codes 100..599, the first not above the second. Sent as the fewest of
// Hubble's exact codes and prefixes that cover the range ("5+" for 500-599; "400", "401", "41+"
// for 400-419... ), so the filter means the same to a Hubble server.
std::optional<std::vector<std::string>> ExpandHttpStatusRange(const std::string& s) {
  const size_t dash = s.find('-');
  if (dash == std::string::npos) return std::nullopt;
  const std::string low = s.substr(0, dash);
  const std::string high = s.substr(dash + 1);
  if (!ValidHttpStatus(low) || !ValidHttpStatus(high)) return std::nullopt;
  int code = std::stoi(low);
  const int last = std::stoi(high);
  if (code > last) return std::nullopt;
  std::vector<std::string> out;
  while (code <= last) {
    if (code % 100 == 0 && code + 99 <= last) {
      out.push_back(std::to_string(code / 100) + "+");
      code += 100;
    } else if (code % 10 == 0 && code + 9 <= last) {
      out.push_back(std::to_string(code / 10) + "+");
      code += 10;
    } else {
      out.push_back(std::to_string(code));
      code += 1;
    }
  }
  return out;
}

struct Namespaces {
  std::string both;  // -n
  std::string from;
  std::string to;
  bool all = false;
  bool from_all = false;
  bool to_all = false;
  bool pod_or_service_any = false;
  bool pod_or_service_from = false;
  bool pod_or_service_to = false;
};

// "[ns/]name" with the namespace flags applied the way hubble documents them: no namespace means
// the --namespace value, or "default"; with --all-namespaces, any namespace ("/name").
std::string Qualify(const std::string& name, const std::string& ns, bool all) {
  if (name.find('/') != std::string::npos) return name;
  if (all) return "/" + name;
  return (ns.empty() ? "default" : ns) + "/" + name;
}

}  // namespace

const std::vector<FilterFlagSpec>& FilterFlagSpecs() {
  static const auto* specs = new std::vector<FilterFlagSpec>{
      {"not", "", false, "Reverse the next filter"},
      {"uuid", "", true, "Show the flow with this UUID"},
      {"ip", "", true, "Show flows to or from this IP address or CIDR"},
      {"from-ip", "", true, "Show flows from this IP address or CIDR"},
      {"to-ip", "", true, "Show flows to this IP address or CIDR"},
      {"snat-ip", "", true, "Show flows with this translated source address (never on Loupe yet)"},
      {"ipv4", "4", false, "Show only IPv4 flows"},
      {"ipv6", "6", false, "Show only IPv6 flows"},
      {"ip-version", "", true, "Show only flows of this IP version (none, v4, v6)"},
      {"pod", "", true, "Show flows to or from this pod ([namespace/]pod prefix)"},
      {"from-pod", "", true, "Show flows from this pod"},
      {"to-pod", "", true, "Show flows to this pod"},
      {"namespace", "n", true, "Show flows to or from pods in this namespace"},
      {"from-namespace", "", true, "Show flows from pods in this namespace"},
      {"to-namespace", "", true, "Show flows to pods in this namespace"},
      {"all-namespaces", "A", false, "Pods and services of any namespace"},
      {"from-all-namespaces", "", false, "Source pods and services of any namespace"},
      {"to-all-namespaces", "", false, "Destination pods and services of any namespace"},
      {"service", "", true, "Show flows to or from this service ([namespace/]service)"},
      {"from-service", "", true, "Show flows from this service"},
      {"to-service", "", true, "Show flows to this service"},
      {"label", "l", true, "Show flows to or from endpoints with this label selector"},
      {"from-label", "", true, "Show flows from endpoints with this label selector"},
      {"to-label", "", true, "Show flows to endpoints with this label selector"},
      {"fqdn", "", true, "Show flows to or from this FQDN pattern"},
      {"from-fqdn", "", true, "Show flows from this FQDN pattern"},
      {"to-fqdn", "", true, "Show flows to this FQDN pattern"},
      {"identity", "", true, "Show flows to or from this security identity"},
      {"from-identity", "", true, "Show flows from this security identity"},
      {"to-identity", "", true, "Show flows to this security identity"},
      {"workload", "", true, "Show flows to or from this workload ([kind/]name)"},
      {"from-workload", "", true, "Show flows from this workload"},
      {"to-workload", "", true, "Show flows to this workload"},
      {"cluster", "", true, "Show flows to or from this cluster"},
      {"from-cluster", "", true, "Show flows from this cluster"},
      {"to-cluster", "", true, "Show flows to this cluster"},
      {"port", "", true, "Show flows to or from this port"},
      {"from-port", "", true, "Show flows from this port"},
      {"to-port", "", true, "Show flows to this port"},
      {"protocol", "", true, "Show flows of this L4 or L7 protocol (tcp, udp, icmp, dns, http...)"},
      {"verdict", "", true, "Show flows with this verdict (FORWARDED, DROPPED, ...)"},
      {"drop-reason-desc", "", true, "Show drops with this reason (POLICY_DENIED, ...)"},
      {"type", "t", true, "Show flows of this event type (TYPE[:SUBTYPE], e.g. trace:to-stack)"},
      {"http-status", "", true, "Show flows with this HTTP status (404, 5+)"},
      {"http-method", "", true, "Show flows with this HTTP method"},
      {"http-path", "", true, "Show flows whose HTTP path matches this regex"},
      {"http-url", "", true, "Show flows whose HTTP URL matches this regex"},
      {"http-header", "", true, "Show flows with this HTTP header (key:value; not on Loupe yet)"},
      {"tcp-flags", "", true, "Show flows with these TCP flags set (syn,ack,...)"},
      {"traffic-direction", "", true, "Show flows in this direction (ingress, egress)"},
      {"node-name", "", true, "Show flows of nodes matching this pattern"},
      {"node-label", "", true, "Show flows of nodes with this label selector (not on Loupe yet)"},
      {"interface", "", true, "Show flows on this network interface (name or index)"},
      {"trace-id", "", true, "Show flows with this trace id"},
      {"ip-trace-id", "", true, "Show flows with this IP option trace id"},
      {"encrypted", "", false, "Show only encrypted flows"},
      {"unencrypted", "", false, "Show only unencrypted flows"},
      {"cel-expression", "", true, "CEL filter expression (not supported by Loupe)"},
  };
  return *specs;
}

std::vector<FilterFlag> ExtractFilterFlags(const std::vector<std::string>& args) {
  std::map<std::string, const FilterFlagSpec*> by_long;
  std::map<std::string, const FilterFlagSpec*> by_short;
  for (const auto& spec : FilterFlagSpecs()) {
    by_long[spec.name] = &spec;
    if (spec.short_name[0] != '\0') by_short[spec.short_name] = &spec;
  }
  std::vector<FilterFlag> out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    const FilterFlagSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2);
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      auto it = by_long.find(name);
      if (it != by_long.end()) spec = it->second;
    } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      auto it = by_short.find(arg.substr(1, 1));
      if (it != by_short.end()) {
        spec = it->second;
        if (arg.size() > 2) inline_value = arg.substr(arg[2] == '=' ? 3 : 2);
      }
    }
    if (spec == nullptr) continue;
    if (!spec->takes_value) {
      out.emplace_back(spec->name, "");
    } else if (inline_value) {
      out.emplace_back(spec->name, *inline_value);
    } else if (i + 1 < args.size()) {
      out.emplace_back(spec->name, args[++i]);
    }
  }
  return out;
}

absl::StatusOr<FlowFilters> BuildFlowFilters(const std::vector<FilterFlag>& flags) {
  Namespaces ns;
  for (const auto& [name, value] : flags) {
    if (name == "namespace") ns.both = value;
    if (name == "from-namespace") ns.from = value;
    if (name == "to-namespace") ns.to = value;
    if (name == "all-namespaces") ns.all = true;
    if (name == "from-all-namespaces") ns.from_all = true;
    if (name == "to-all-namespaces") ns.to_all = true;
    if (name == "pod" || name == "service") ns.pod_or_service_any = true;
    if (name == "from-pod" || name == "from-service") ns.pod_or_service_from = true;
    if (name == "to-pod" || name == "to-service") ns.pod_or_service_to = true;
  }
  const std::string from_ns = ns.from.empty() ? ns.both : ns.from;
  const std::string to_ns = ns.to.empty() ? ns.both : ns.to;
  const bool from_all = ns.from_all || ns.all;
  const bool to_all = ns.to_all || ns.all;

  FilterTracker allow;
  FilterTracker deny;
  bool negate_next = false;
  for (const auto& [name, value] : flags) {
    if (name == "not") {
      negate_next = true;
      continue;
    }
    FilterTracker& t = negate_next ? deny : allow;
    bool consumed = true;
    const std::string v = value;

    if (name == "uuid") {
      t.Apply([&](auto* f) { f->add_uuid(v); });
    } else if (name == "ip") {
      t.ApplyLeft([&](auto* f) { f->add_source_ip(v); });
      t.ApplyRight([&](auto* f) { f->add_destination_ip(v); });
    } else if (name == "from-ip") {
      t.Apply([&](auto* f) { f->add_source_ip(v); });
    } else if (name == "to-ip") {
      t.Apply([&](auto* f) { f->add_destination_ip(v); });
    } else if (name == "snat-ip") {
      t.Apply([&](auto* f) { f->add_source_ip_xlated(v); });
    } else if (name == "ipv4") {
      t.Apply([&](auto* f) { f->add_ip_version(flowpb::IPv4); });
    } else if (name == "ipv6") {
      t.Apply([&](auto* f) { f->add_ip_version(flowpb::IPv6); });
    } else if (name == "ip-version") {
      const std::string l = Lower(v);
      flowpb::IPVersion version;
      if (l == "none") {
        version = flowpb::IP_NOT_USED;
      } else if (l == "v4" || l == "4" || l == "ipv4") {
        version = flowpb::IPv4;
      } else if (l == "v6" || l == "6" || l == "ipv6") {
        version = flowpb::IPv6;
      } else {
        return BadFlag(name, v, "use none, v4 or v6");
      }
      t.Apply([&](auto* f) { f->add_ip_version(version); });
    } else if (name == "pod") {
      t.ApplyLeft([&](auto* f) { f->add_source_pod(Qualify(v, from_ns, from_all)); });
      t.ApplyRight([&](auto* f) { f->add_destination_pod(Qualify(v, to_ns, to_all)); });
    } else if (name == "from-pod") {
      t.Apply([&](auto* f) { f->add_source_pod(Qualify(v, from_ns, from_all)); });
    } else if (name == "to-pod") {
      t.Apply([&](auto* f) { f->add_destination_pod(Qualify(v, to_ns, to_all)); });
    } else if (name == "service") {
      t.ApplyLeft([&](auto* f) { f->add_source_service(Qualify(v, from_ns, from_all)); });
      t.ApplyRight([&](auto* f) { f->add_destination_service(Qualify(v, to_ns, to_all)); });
    } else if (name == "from-service") {
      t.Apply([&](auto* f) { f->add_source_service(Qualify(v, from_ns, from_all)); });
    } else if (name == "to-service") {
      t.Apply([&](auto* f) { f->add_destination_service(Qualify(v, to_ns, to_all)); });
    } else if (name == "namespace") {
      // Alone, a namespace selects its pods on either side; with pods/services it qualifies them.
      if (!ns.pod_or_service_any && !ns.pod_or_service_from && !ns.pod_or_service_to) {
        t.ApplyLeft([&](auto* f) { f->add_source_pod(v + "/"); });
        t.ApplyRight([&](auto* f) { f->add_destination_pod(v + "/"); });
      }
    } else if (name == "from-namespace") {
      if (!ns.pod_or_service_any && !ns.pod_or_service_from) {
        t.Apply([&](auto* f) { f->add_source_pod(v + "/"); });
      }
    } else if (name == "to-namespace") {
      if (!ns.pod_or_service_any && !ns.pod_or_service_to) {
        t.Apply([&](auto* f) { f->add_destination_pod(v + "/"); });
      }
    } else if (name == "label") {
      t.ApplyLeft([&](auto* f) { f->add_source_label(v); });
      t.ApplyRight([&](auto* f) { f->add_destination_label(v); });
    } else if (name == "from-label") {
      t.Apply([&](auto* f) { f->add_source_label(v); });
    } else if (name == "to-label") {
      t.Apply([&](auto* f) { f->add_destination_label(v); });
    } else if (name == "fqdn") {
      t.ApplyLeft([&](auto* f) { f->add_source_fqdn(v); });
      t.ApplyRight([&](auto* f) { f->add_destination_fqdn(v); });
    } else if (name == "from-fqdn") {
      t.Apply([&](auto* f) { f->add_source_fqdn(v); });
    } else if (name == "to-fqdn") {
      t.Apply([&](auto* f) { f->add_destination_fqdn(v); });
    } else if (name == "identity" || name == "from-identity" || name == "to-identity") {
      uint64_t id = 0;
      if (auto reserved = ReservedIdentity(v)) {
        id = *reserved;
      } else if (!ParseUint(v, UINT32_MAX, &id)) {
        return BadFlag(name, v, "use a numeric identity or a reserved name (host, world, ...)");
      }
      const auto id32 = static_cast<uint32_t>(id);
      if (name != "to-identity") {
        auto add = [&](auto* f) { f->add_source_identity(id32); };
        name == "identity" ? t.ApplyLeft(add) : t.Apply(add);
      }
      if (name != "from-identity") {
        auto add = [&](auto* f) { f->add_destination_identity(id32); };
        name == "identity" ? t.ApplyRight(add) : t.Apply(add);
      }
    } else if (name == "workload" || name == "from-workload" || name == "to-workload") {
      flowpb::Workload w;
      const size_t slash = v.find('/');
      if (slash == std::string::npos) {
        w.set_name(v);
      } else {
        w.set_kind(v.substr(0, slash));
        w.set_name(v.substr(slash + 1));
      }
      if (w.name().empty()) return BadFlag(name, v, "use [kind/]name");
      if (name == "workload") {
        t.ApplyLeft([&](auto* f) { *f->add_source_workload() = w; });
        t.ApplyRight([&](auto* f) { *f->add_destination_workload() = w; });
      } else if (name == "from-workload") {
        t.Apply([&](auto* f) { *f->add_source_workload() = w; });
      } else {
        t.Apply([&](auto* f) { *f->add_destination_workload() = w; });
      }
    } else if (name == "cluster") {
      t.ApplyLeft([&](auto* f) { f->add_source_cluster_name(v); });
      t.ApplyRight([&](auto* f) { f->add_destination_cluster_name(v); });
    } else if (name == "from-cluster") {
      t.Apply([&](auto* f) { f->add_source_cluster_name(v); });
    } else if (name == "to-cluster") {
      t.Apply([&](auto* f) { f->add_destination_cluster_name(v); });
    } else if (name == "port" || name == "from-port" || name == "to-port") {
      uint64_t port = 0;
      if (!ParseUint(v, 65535, &port)) return BadFlag(name, v, "use a port number 0-65535");
      if (name == "port") {
        t.ApplyLeft([&](auto* f) { f->add_source_port(v); });
        t.ApplyRight([&](auto* f) { f->add_destination_port(v); });
      } else if (name == "from-port") {
        t.Apply([&](auto* f) { f->add_source_port(v); });
      } else {
        t.Apply([&](auto* f) { f->add_destination_port(v); });
      }
    } else if (name == "protocol") {
      t.Apply([&](auto* f) { f->add_protocol(Lower(v)); });
    } else if (name == "verdict") {
      flowpb::Verdict verdict;
      if (!flowpb::Verdict_Parse(Upper(v), &verdict)) {
        return BadFlag(name, v,
                       "verdicts are FORWARDED, DROPPED, AUDIT, REDIRECTED, ERROR, TRACED, "
                       "TRANSLATED");
      }
      t.Apply([&](auto* f) { f->add_verdict(verdict); });
    } else if (name == "drop-reason-desc") {
      flowpb::DropReason reason;
      if (!flowpb::DropReason_Parse(Upper(v), &reason)) {
        return BadFlag(name, v, "use a DropReason name such as POLICY_DENIED");
      }
      t.Apply([&](auto* f) { f->add_drop_reason_desc(reason); });
    } else if (name == "type") {
      auto et = ParseEventType(v);
      if (!et.ok()) return et.status();
      t.Apply([&](auto* f) { *f->add_event_type() = *et; });
    } else if (name == "http-status") {
      if (auto codes = ExpandHttpStatusRange(v)) {
        t.Apply([&](auto* f) {
          for (const auto& c : *codes) f->add_http_status_code(c);
        });
      } else if (ValidHttpStatus(v) || ValidHttpStatusPrefix(v)) {
        t.Apply([&](auto* f) { f->add_http_status_code(v); });
      } else {
        return BadFlag(name, v, "use a status code (404), a prefix (5+, 40+) or a range (500-599)");
      }
    } else if (name == "http-method") {
      t.Apply([&](auto* f) { f->add_http_method(v); });
    } else if (name == "http-path") {
      t.Apply([&](auto* f) { f->add_http_path(v); });
    } else if (name == "http-url") {
      t.Apply([&](auto* f) { f->add_http_url(v); });
    } else if (name == "http-header") {
      const size_t colon = v.find(':');
      if (colon == std::string::npos || colon == 0) return BadFlag(name, v, "use key:value");
      t.Apply([&](auto* f) {
        flowpb::HTTPHeader* h = f->add_http_header();
        h->set_key(v.substr(0, colon));
        h->set_value(v.substr(colon + 1));
      });
    } else if (name == "tcp-flags") {
      auto flags_or = ParseTcpFlags(v);
      if (!flags_or.ok()) return flags_or.status();
      t.Apply([&](auto* f) { *f->add_tcp_flags() = *flags_or; });
    } else if (name == "traffic-direction") {
      const std::string l = Lower(v);
      flowpb::TrafficDirection dir;
      if (l == "ingress") {
        dir = flowpb::INGRESS;
      } else if (l == "egress") {
        dir = flowpb::EGRESS;
      } else {
        return BadFlag(name, v, "use ingress or egress");
      }
      t.Apply([&](auto* f) { f->add_traffic_direction(dir); });
    } else if (name == "node-name") {
      t.Apply([&](auto* f) { f->add_node_name(v); });
    } else if (name == "node-label") {
      t.Apply([&](auto* f) { f->add_node_labels(v); });
    } else if (name == "interface") {
      uint64_t index = 0;
      const bool numeric = ParseUint(v, UINT32_MAX, &index);
      t.Apply([&](auto* f) {
        flowpb::NetworkInterface* i = f->add_interface();
        if (numeric) {
          i->set_index(static_cast<uint32_t>(index));
        } else {
          i->set_name(v);
        }
      });
    } else if (name == "trace-id") {
      t.Apply([&](auto* f) { f->add_trace_id(v); });
    } else if (name == "ip-trace-id") {
      uint64_t id = 0;
      if (!ParseUint(v, UINT64_MAX, &id)) return BadFlag(name, v, "use a number");
      t.Apply([&](auto* f) { f->add_ip_trace_id(id); });
    } else if (name == "encrypted") {
      t.Apply([&](auto* f) { f->add_encrypted(true); });
    } else if (name == "unencrypted") {
      t.Apply([&](auto* f) { f->add_encrypted(false); });
    } else if (name == "cel-expression") {
      t.Apply([&](auto* f) { f->mutable_experimental()->add_cel_expression(v); });
    } else {
      // Includes --all-namespaces / --from-all-namespaces / --to-all-namespaces, which only
      // qualify pod and service names.
      consumed = false;
    }
    if (consumed) negate_next = false;
  }
  if (negate_next) return absl::InvalidArgumentError("--not must be followed by a filter flag");
  FlowFilters out;
  out.allowlist = allow.Filters();
  out.denylist = deny.Filters();
  return out;
}

std::string RawFiltersYaml(const FlowFilters& filters) {
  auto quote = [](const std::string& json) {
    std::string out = "'";
    for (char c : json) {
      out += c;
      if (c == '\'') out += '\'';
    }
    return out + "'";
  };
  std::string out;
  if (!filters.allowlist.empty()) {
    out += "allowlist:\n";
    for (const auto& f : filters.allowlist) out += "- " + quote(ToJson(f)) + "\n";
  }
  if (!filters.denylist.empty()) {
    out += "denylist:\n";
    for (const auto& f : filters.denylist) out += "- " + quote(ToJson(f)) + "\n";
  }
  return out;
}

}  // namespace loupe::cli
