#include "src/sensors/drop_reasons.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <mutex>
#include <unordered_map>

#include "src/base/logging.h"

namespace loupe::sensors {
namespace {

// Reason names indexed by value (bounded by the enum's largest value below 65536).
struct ReasonTable {
  std::vector<std::string> names;
  std::unordered_map<std::string, int> values;
};

constexpr std::string_view kPrefix = "SKB_DROP_REASON_";

const ReasonTable& Table() {
  static ReasonTable* table = [] {
    auto* t = new ReasonTable;
    struct btf* btf = btf__load_vmlinux_btf();
    if (btf == nullptr) {
      LOG_WARN("drop reasons: kernel BTF not readable; drop reasons are reported by number");
      return t;
    }
    const int id = btf__find_by_name_kind(btf, "skb_drop_reason", BTF_KIND_ENUM);
    if (id > 0) {
      const struct btf_type* type = btf__type_by_id(btf, id);
      const struct btf_enum* e = btf_enum(type);
      for (int i = 0; i < btf_vlen(type); ++i, ++e) {
        const uint32_t value = static_cast<uint32_t>(e->val);
        std::string_view name = btf__name_by_offset(btf, e->name_off);
        if (name.substr(0, kPrefix.size()) == kPrefix) name.remove_prefix(kPrefix.size());
        if (value >= 65536) continue;  // SUBSYS_MASK and subsystem-specific ranges
        if (t->names.size() <= value) t->names.resize(value + 1);
        t->names[value] = std::string(name);
        t->values.emplace(std::string(name), static_cast<int>(value));
      }
    }
    btf__free(btf);
    return t;
  }();
  return *table;
}

}  // namespace

const char* KernelDropReasonName(uint16_t reason) {
  const ReasonTable& t = Table();
  return reason < t.names.size() ? t.names[reason].c_str() : "";
}

int KernelDropReasonValue(std::string_view name) {
  const ReasonTable& t = Table();
  auto it = t.values.find(std::string(name));
  return it == t.values.end() ? -1 : it->second;
}

uint32_t HubbleDropReasonForKernelName(std::string_view name) {
  // flow.proto DropReason values.
  constexpr uint32_t kInvalidSourceIp = 132;
  constexpr uint32_t kPolicyDenied = 133;
  constexpr uint32_t kInvalidPacketDropped = 134;
  constexpr uint32_t kUnsupportedL3Protocol = 139;
  constexpr uint32_t kUnknownL4Protocol = 142;
  constexpr uint32_t kStaleOrUnroutableIp = 151;
  constexpr uint32_t kInvalidIpv6ExtensionHeader = 156;
  constexpr uint32_t kFibLookupFailed = 169;
  constexpr uint32_t kSocketLookupFailed = 178;
  static const auto* map = new std::unordered_map<std::string_view, uint32_t>{
      {"NETFILTER_DROP", kPolicyDenied},         {"BPF_CGROUP_EGRESS", kPolicyDenied},
      {"NO_SOCKET", kSocketLookupFailed},        {"PKT_TOO_SMALL", kInvalidPacketDropped},
      {"HDR_TRUNC", kInvalidPacketDropped},      {"IP_INHDR", kInvalidPacketDropped},
      {"IP_CSUM", kInvalidPacketDropped},        {"TCP_CSUM", kInvalidPacketDropped},
      {"UDP_CSUM", kInvalidPacketDropped},       {"ICMP_CSUM", kInvalidPacketDropped},
      {"SKB_CSUM", kInvalidPacketDropped},       {"INVALID_PROTO", kInvalidPacketDropped},
      {"IP_NOPROTO", kUnknownL4Protocol},        {"UNHANDLED_PROTO", kUnsupportedL3Protocol},
      {"IP_OUTNOROUTES", kFibLookupFailed},      {"IP_INNOROUTES", kFibLookupFailed},
      {"IP_RPFILTER", kInvalidSourceIp},         {"IP_INVALID_SOURCE", kInvalidSourceIp},
      {"IP_LOCAL_SOURCE", kInvalidSourceIp},     {"IP_INADDRERRORS", kStaleOrUnroutableIp},
      {"IP_INVALID_DEST", kStaleOrUnroutableIp}, {"IPV6_BAD_EXTHDR", kInvalidIpv6ExtensionHeader},
  };
  auto it = map->find(name);
  return it == map->end() ? 0 : it->second;
}

uint32_t HubbleDropReasonForKernel(uint16_t reason) {
  return HubbleDropReasonForKernelName(KernelDropReasonName(reason));
}

const std::vector<std::string>& NormalConsumptionReasonNames() {
  static const auto* names = new std::vector<std::string>{
      "SKB_NOT_DROPPED_YET",
      "SKB_CONSUMED",
      "NOT_SPECIFIED",
      "QUEUE_PURGE",
  };
  return *names;
}

}  // namespace loupe::sensors
