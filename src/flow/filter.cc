#include "src/flow/filter.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "re2/re2.h"
#include "src/base/strings.h"
#include "src/flow/identity_filter.h"

namespace loupe::flow {
namespace {

struct Cidr {
  IpAddress network;
  int prefix = 0;  // bits

  bool Contains(const IpAddress& ip) const {
    if (ip.version != network.version) return false;
    int bits = prefix;
    for (size_t i = 0; bits > 0; ++i, bits -= 8) {
      const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
      if ((ip.bytes[i] & mask) != (network.bytes[i] & mask)) return false;
    }
    return true;
  }
};

absl::Status BadValue(const char* field, const std::string& value, const std::string& why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid ", field, " filter '", value, "': ", why));
}

absl::Status ParseCidr(const char* field, const std::string& text, Cidr* out) {
  const size_t slash = text.find('/');
  const std::string addr = text.substr(0, slash);
  if (!IpAddress::Parse(addr, &out->network)) return BadValue(field, text, "not an IP or CIDR");
  const int max_bits = out->network.version == 4 ? 32 : 128;
  out->prefix = max_bits;
  if (slash != std::string::npos &&
      (!ParseInt(std::string_view(text).substr(slash + 1), &out->prefix) || out->prefix < 0 ||
       out->prefix > max_bits)) {
    return BadValue(field, text, absl::StrCat("prefix length must be 0..", max_bits));
  }
  return absl::OkStatus();
}

absl::Status ParsePort(const char* field, const std::string& text, uint16_t* out) {
  if (!ParseInt(std::string_view(text), out)) return BadValue(field, text, "not a port number");
  return absl::OkStatus();
}

// RE2: the syntax of Go's regexp, which Hubble's filters use, and matching in linear time with
// bounded memory. (std::regex backtracks recursively: `^/api/.*$` against a 50 KB path from the
// wire overflowed the stack of the thread serving GetFlows.)
absl::Status CompileRegex(const char* field, const std::string& text,
                          std::vector<std::unique_ptr<const RE2>>* out) {
  auto re = std::make_unique<const RE2>(text, RE2::Quiet);
  if (!re->ok()) return BadValue(field, text, re->error());
  out->push_back(std::move(re));
  return absl::OkStatus();
}

// "404" exact, "5+" / "40+" prefix (Hubble's forms: the code's decimal text starts with the
// digits), "500-599" an inclusive range (Loupe's; the product brief's `--http-status 500-599`).
struct StatusMatcher {
  std::string prefix;
  bool exact = false;
  bool range = false;
  uint32_t low = 0;
  uint32_t high = 0;
  bool Matches(uint32_t code) const {
    if (range) return code >= low && code <= high;
    const std::string text = std::to_string(code);
    return exact ? text == prefix : text.starts_with(prefix);
  }
};

// A status code of three digits, 100..599.
bool ParseStatusCode(std::string_view text, uint32_t* out) {
  if (text.size() != 3 || text[0] < '1' || text[0] > '5' ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  *out = static_cast<uint32_t>((text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0'));
  return true;
}

absl::Status ParseStatus(const std::string& text, StatusMatcher* out) {
  const auto bad = [&] {
    return BadValue("http_status_code", text,
                    "use a code like 404, a prefix like 5+ or 40+, or a range like 500-599");
  };
  if (const size_t dash = text.find('-'); dash != std::string::npos) {
    const std::string_view all(text);
    if (!ParseStatusCode(all.substr(0, dash), &out->low) ||
        !ParseStatusCode(all.substr(dash + 1), &out->high) || out->low > out->high) {
      return bad();
    }
    out->range = true;
    return absl::OkStatus();
  }
  const bool plus = !text.empty() && text.back() == '+';
  const std::string digits = plus ? text.substr(0, text.size() - 1) : text;
  const bool digits_ok =
      !digits.empty() && digits.size() <= 3 && digits[0] >= '1' && digits[0] <= '5' &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits_ok || (!plus && digits.size() != 3) || (plus && digits.size() > 2)) return bad();
  out->prefix = digits;
  out->exact = !plus;
  return absl::OkStatus();
}

bool HasPorts(const Flow& flow) {
  return flow.l4 == L4Protocol::kTcp || flow.l4 == L4Protocol::kUdp || flow.l4 == L4Protocol::kSctp;
}

const HttpInfo* Http(const Flow& flow) { return flow.l7 ? flow.l7->http.get() : nullptr; }
const DnsInfo* Dns(const Flow& flow) { return flow.l7 ? flow.l7->dns.get() : nullptr; }

std::string UrlPath(const std::string& url) {
  // "http://host/path?q" -> "/path?q"; a bare path stays as it is.
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  const size_t slash = url.find('/', scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

bool ProtocolMatches(const std::string& name, const Flow& flow) {
  if (name == "tcp") return flow.l4 == L4Protocol::kTcp;
  if (name == "udp") return flow.l4 == L4Protocol::kUdp;
  if (name == "sctp") return flow.l4 == L4Protocol::kSctp;
  if (name == "icmp") return flow.l4 == L4Protocol::kIcmpv4 || flow.l4 == L4Protocol::kIcmpv6;
  if (name == "icmpv4") return flow.l4 == L4Protocol::kIcmpv4;
  if (name == "icmpv6") return flow.l4 == L4Protocol::kIcmpv6;
  if (name == "dns") return Dns(flow) != nullptr;
  if (name == "http") return Http(flow) != nullptr;
  return false;
}

const char* const kKnownProtocols[] = {"tcp",    "udp", "sctp", "icmp", "icmpv4",
                                       "icmpv6", "dns", "http", "kafka"};

}  // namespace

class CompiledFilter {
 public:
  static absl::StatusOr<std::unique_ptr<CompiledFilter>> Compile(const FilterSpec& spec) {
    auto f = std::unique_ptr<CompiledFilter>(new CompiledFilter());
    f->uuid_ = spec.uuid;
    for (const auto& text : spec.source_ip) {
      Cidr c;
      if (auto s = ParseCidr("source_ip", text, &c); !s.ok()) return s;
      f->source_ip_.push_back(c);
    }
    for (const auto& text : spec.destination_ip) {
      Cidr c;
      if (auto s = ParseCidr("destination_ip", text, &c); !s.ok()) return s;
      f->destination_ip_.push_back(c);
    }
    // Identity-derived fields: a flow end without identity matches none of them.
    IdentitySpec src{spec.source_pod,         spec.source_service,  spec.source_fqdn,
                     spec.source_label,       spec.source_workload, spec.source_identity,
                     spec.source_cluster_name};
    IdentitySpec dst{spec.destination_pod,         spec.destination_service,
                     spec.destination_fqdn,        spec.destination_label,
                     spec.destination_workload,    spec.destination_identity,
                     spec.destination_cluster_name};
    auto src_matcher = IdentityMatcher::Compile(src, "source");
    if (!src_matcher.ok()) return src_matcher.status();
    auto dst_matcher = IdentityMatcher::Compile(dst, "destination");
    if (!dst_matcher.ok()) return dst_matcher.status();
    f->source_identity_ = *std::move(src_matcher);
    f->destination_identity_ = *std::move(dst_matcher);
    f->traffic_direction_ = spec.traffic_direction;
    f->verdict_ = spec.verdict;
    f->drop_reason_desc_ = spec.drop_reason_desc;
    f->interface_ = spec.interface;
    f->event_type_ = spec.event_type;
    for (const auto& text : spec.http_status_code) {
      StatusMatcher m;
      if (auto s = ParseStatus(text, &m); !s.ok()) return s;
      f->http_status_.push_back(m);
    }
    for (const auto& text : spec.protocol) {
      const std::string lower = AsciiLower(text);
      if (std::none_of(std::begin(kKnownProtocols), std::end(kKnownProtocols),
                       [&](const char* p) { return lower == p; })) {
        return BadValue("protocol", text,
                        "known protocols: tcp, udp, sctp, icmp, icmpv4, icmpv6, dns, http, kafka");
      }
      f->protocol_.push_back(lower);
    }
    for (const auto& text : spec.source_port) {
      uint16_t p = 0;
      if (auto s = ParsePort("source_port", text, &p); !s.ok()) return s;
      f->source_port_.push_back(p);
    }
    for (const auto& text : spec.destination_port) {
      uint16_t p = 0;
      if (auto s = ParsePort("destination_port", text, &p); !s.ok()) return s;
      f->destination_port_.push_back(p);
    }
    f->reply_ = spec.reply;
    for (const auto& text : spec.dns_query) {
      if (auto s = CompileRegex("dns_query", text, &f->dns_query_); !s.ok()) return s;
    }
    for (const auto& text : spec.http_method) f->http_method_.push_back(AsciiLower(text));
    for (const auto& text : spec.http_path) {
      if (auto s = CompileRegex("http_path", text, &f->http_path_); !s.ok()) return s;
    }
    for (const auto& text : spec.http_url) {
      if (auto s = CompileRegex("http_url", text, &f->http_url_); !s.ok()) return s;
    }
    f->tcp_flags_ = spec.tcp_flags;
    f->node_name_ = spec.node_name;
    for (uint8_t v : spec.ip_version) {
      if (v > 2) return BadValue("ip_version", std::to_string(v), "use 0, 1 (IPv4) or 2 (IPv6)");
    }
    f->ip_version_ = spec.ip_version;
    return f;
  }

  bool Matches(const Flow& flow, const FilterContext& ctx) const {
    if (!source_identity_.empty() && !source_identity_.Matches(flow.src_info.get())) return false;
    if (!destination_identity_.empty() && !destination_identity_.Matches(flow.dst_info.get())) {
      return false;
    }
    if (!uuid_.empty() && std::find(uuid_.begin(), uuid_.end(), FlowUuid(flow.id)) == uuid_.end()) {
      return false;
    }
    if (!source_ip_.empty() && !AnyContains(source_ip_, flow.src_ip)) return false;
    if (!destination_ip_.empty() && !AnyContains(destination_ip_, flow.dst_ip)) return false;
    if (!traffic_direction_.empty() && !Contains(traffic_direction_, flow.direction)) return false;
    if (!verdict_.empty() && !Contains(verdict_, flow.verdict)) return false;
    if (!drop_reason_desc_.empty() && !Contains(drop_reason_desc_, flow.drop_reason)) return false;
    if (!interface_.empty() && !InterfaceMatches(flow, ctx)) return false;
    if (!event_type_.empty() && !EventTypeMatches(flow)) return false;
    if (!http_status_.empty()) {
      const HttpInfo* http = Http(flow);
      if (http == nullptr || http->code == 0 ||
          std::none_of(http_status_.begin(), http_status_.end(),
                       [&](const StatusMatcher& m) { return m.Matches(http->code); })) {
        return false;
      }
    }
    if (!protocol_.empty() &&
        std::none_of(protocol_.begin(), protocol_.end(),
                     [&](const std::string& p) { return ProtocolMatches(p, flow); })) {
      return false;
    }
    if (!source_port_.empty() && (!HasPorts(flow) || !Contains(source_port_, flow.src_port))) {
      return false;
    }
    if (!destination_port_.empty() &&
        (!HasPorts(flow) || !Contains(destination_port_, flow.dst_port))) {
      return false;
    }
    if (!reply_.empty() && (flow.is_reply < 0 || !Contains(reply_, flow.is_reply == 1))) {
      return false;
    }
    if (!dns_query_.empty()) {
      const DnsInfo* dns = Dns(flow);
      if (dns == nullptr || !AnySearch(dns_query_, dns->query)) return false;
    }
    if (!http_method_.empty()) {
      const HttpInfo* http = Http(flow);
      if (http == nullptr || !Contains(http_method_, AsciiLower(http->method))) return false;
    }
    if (!http_path_.empty()) {
      const HttpInfo* http = Http(flow);
      if (http == nullptr || !AnySearch(http_path_, UrlPath(http->url))) return false;
    }
    if (!http_url_.empty()) {
      const HttpInfo* http = Http(flow);
      if (http == nullptr || !AnySearch(http_url_, http->url)) return false;
    }
    if (!tcp_flags_.empty()) {
      if (flow.l4 != L4Protocol::kTcp ||
          std::none_of(tcp_flags_.begin(), tcp_flags_.end(), [&](uint8_t want) {
            return want != 0 && (flow.tcp_flags & want) == want;
          })) {
        return false;
      }
    }
    if (!node_name_.empty() &&
        std::none_of(node_name_.begin(), node_name_.end(), [&](const std::string& pattern) {
          return fnmatch(pattern.c_str(), ctx.node_name.c_str(), 0) == 0;
        })) {
      return false;
    }
    if (!ip_version_.empty()) {
      const uint8_t version = flow.src_ip.version == 4 ? 1 : flow.src_ip.version == 6 ? 2 : 0;
      if (!Contains(ip_version_, version)) return false;
    }
    return true;
  }

 private:
  template <typename T, typename U>
  static bool Contains(const std::vector<T>& values, const U& v) {
    return std::find(values.begin(), values.end(), v) != values.end();
  }
  static bool AnyContains(const std::vector<Cidr>& cidrs, const IpAddress& ip) {
    return std::any_of(cidrs.begin(), cidrs.end(), [&](const Cidr& c) { return c.Contains(ip); });
  }
  static bool AnySearch(const std::vector<std::unique_ptr<const RE2>>& regexes,
                        const std::string& text) {
    return std::any_of(regexes.begin(), regexes.end(),
                       [&](const auto& r) { return RE2::PartialMatch(text, *r); });
  }
  bool InterfaceMatches(const Flow& flow, const FilterContext& ctx) const {
    return std::any_of(interface_.begin(), interface_.end(), [&](const auto& want) {
      if (want.index != 0 && want.index != flow.ifindex) return false;
      if (!want.name.empty()) {
        if (ctx.interface_name == nullptr) return false;
        return ctx.interface_name(flow.ifindex) == want.name;
      }
      return true;
    });
  }
  bool EventTypeMatches(const Flow& flow) const {
    return std::any_of(event_type_.begin(), event_type_.end(), [&](const auto& want) {
      if (want.type != static_cast<int32_t>(flow.event_type)) return false;
      return !want.match_sub_type || want.sub_type == flow.event_subtype;
    });
  }

  std::vector<std::string> uuid_;
  std::vector<Cidr> source_ip_, destination_ip_;
  IdentityMatcher source_identity_;
  IdentityMatcher destination_identity_;
  std::vector<TrafficDirection> traffic_direction_;
  std::vector<Verdict> verdict_;
  std::vector<uint32_t> drop_reason_desc_;
  std::vector<FilterSpec::Interface> interface_;
  std::vector<FilterSpec::EventTypeFilter> event_type_;
  std::vector<StatusMatcher> http_status_;
  std::vector<std::string> protocol_;
  std::vector<uint16_t> source_port_, destination_port_;
  std::vector<bool> reply_;
  std::vector<std::unique_ptr<const RE2>> dns_query_;
  std::vector<std::string> http_method_;
  std::vector<std::unique_ptr<const RE2>> http_path_, http_url_;
  std::vector<uint8_t> tcp_flags_;
  std::vector<std::string> node_name_;
  std::vector<uint8_t> ip_version_;
};

FlowPredicate::FlowPredicate() = default;
FlowPredicate::FlowPredicate(FlowPredicate&&) noexcept = default;
FlowPredicate& FlowPredicate::operator=(FlowPredicate&&) noexcept = default;
FlowPredicate::~FlowPredicate() = default;

absl::StatusOr<FlowPredicate> FlowPredicate::Compile(const std::vector<FilterSpec>& whitelist,
                                                     const std::vector<FilterSpec>& blacklist,
                                                     FilterContext context) {
  FlowPredicate predicate;
  predicate.context_ = std::move(context);
  for (const auto& spec : whitelist) {
    auto compiled = CompiledFilter::Compile(spec);
    if (!compiled.ok()) return compiled.status();
    predicate.whitelist_.push_back(std::move(compiled).value());
  }
  for (const auto& spec : blacklist) {
    auto compiled = CompiledFilter::Compile(spec);
    if (!compiled.ok()) return compiled.status();
    predicate.blacklist_.push_back(std::move(compiled).value());
  }
  return predicate;
}

bool FlowPredicate::Matches(const Flow& flow) const {
  if (!whitelist_.empty() && std::none_of(whitelist_.begin(), whitelist_.end(), [&](const auto& f) {
        return f->Matches(flow, context_);
      })) {
    return false;
  }
  return std::none_of(blacklist_.begin(), blacklist_.end(),
                      [&](const auto& f) { return f->Matches(flow, context_); });
}

std::string FlowUuid(uint64_t flow_id) {
  // 64 random bits per agent process, then the flow id: unique across restarts, stable per flow.
  static const uint64_t prefix = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }();
  uint8_t b[16];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(prefix >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<uint8_t>(flow_id >> (56 - 8 * i));
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4 layout
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant (ids < 2^62)
  char out[37];
  std::snprintf(out, sizeof(out),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

}  // namespace loupe::flow
