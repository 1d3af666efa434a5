#include "src/metrics/hubble/hubble_metrics.h"

#include <initializer_list>
#include <utility>

#include "src/api/convert.h"
#include "src/metrics/hubble/context.h"
#include "src/metrics/hubble/names.h"
#include "src/protocols/common/traceparent.h"

namespace loupe::metrics::hubble {

class HubbleMetrics::Handler {
 public:
  virtual ~Handler() = default;
  // `values` is empty on entry; handlers fill and reuse it.
  virtual void OnFlow(const flow::Flow& f, const TraceIds& trace, LabelValues* values) = 0;
};

namespace {

// Prometheus client_golang's DefBuckets, which Hubble's http and kafka histograms use.
const std::vector<double> kDefaultBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                             0.5,   1,    2.5,   5,    10};

enum class ContextPosition { kFirst, kLast };

// Label names: the context labels before or after the handler's own, as each Hubble handler's
// Init orders them.
std::vector<std::string> LabelNames(const ContextOptions& context, ContextPosition position,
                                    std::initializer_list<const char*> own) {
  std::vector<std::string> names;
  if (position == ContextPosition::kFirst) names = context.LabelNames();
  for (const char* name : own) names.emplace_back(name);
  if (position == ContextPosition::kLast) {
    for (std::string& name : context.LabelNames()) names.push_back(std::move(name));
  }
  return names;
}

struct FamilyFactory {
  Registry& registry;
  const HubbleMetricsOptions& options;

  Family<Counter>* AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> labels) const {
    auto& family = registry.AddCounter(name, help, std::move(labels));
    family.SetOptions({options.max_series_per_family, options.series_ttl});
    return &family;
  }
  Family<Histogram>* AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> labels,
                                  const std::vector<double>& bounds) const {
    auto& family = registry.AddHistogram(name, help, std::move(labels), bounds);
    family.SetOptions({options.max_series_per_family, options.series_ttl});
    // Hubble's exemplars are {traceID="..."} (cilium pkg/hubble/metrics/http): dashboards and
    // Grafana datasources set up for Hubble look the trace up under that name.
    family.SetExemplarLabels(metrics::ExemplarLabels::kHubble);
    return &family;
  }
};

void Inc(Family<Counter>* family, const LabelValues& values) {
  family->Update(values.span(), [](metrics::Counter& c) { c.Inc(); });
}

void IncIf(Family<Counter>* family, const LabelValues& values, bool condition) {
  if (condition) Inc(family, values);
}

bool ForwardedOrRedirected(const flow::Flow& f) {
  return f.verdict == flow::Verdict::kForwarded || f.verdict == flow::Verdict::kRedirected;
}

// The destination port as the wire message carries it (TCP, UDP, SCTP); false for other L4.
bool DestinationPort(const flow::Flow& f, uint16_t* port) {
  switch (f.l4) {
    case flow::L4Protocol::kTcp:
    case flow::L4Protocol::kUdp:
    case flow::L4Protocol::kSctp:
      *port = f.dst_port;
      return true;
    default:
      return false;
  }
}

class DnsHandler final : public HubbleMetrics::Handler {
 public:
  DnsHandler(const HandlerSpec& spec, const FamilyFactory& make) : spec_(spec) {
    const ContextOptions& ctx = spec.context;
    std::vector<std::string> counts =
        LabelNames(ctx, ContextPosition::kFirst, {"rcode", "qtypes", "ips_returned"});
    std::vector<std::string> types = LabelNames(ctx, ContextPosition::kFirst, {"type", "qtypes"});
    if (spec.query) {
      counts.emplace_back("query");
      types.emplace_back("query");
    }
    // Hubble gives all three the same help text.
    queries_ =
        make.AddCounter("hubble_dns_queries_total", "Number of DNS queries observed", counts);
    responses_ =
        make.AddCounter("hubble_dns_responses_total", "Number of DNS queries observed", counts);
    response_types_ =
        make.AddCounter("hubble_dns_response_types_total", "Number of DNS queries observed", types);
  }

  void OnFlow(const flow::Flow& f, const TraceIds& /*trace*/, LabelValues* values) override {
    if (f.l7 == nullptr || f.l7->dns == nullptr) return;
    const flow::DnsInfo& dns = *f.l7->dns;
    if (spec_.ignore_aaaa && dns.qtypes.size() == 1 && dns.qtypes[0] == "AAAA") return;
    AppendContextValues(spec_.context, f, /*invert=*/false, values);
    const size_t context_size = values->size();

    // The wire message carries answers only on non-request records (src/api FlowToProto).
    const bool answers = f.l7->type != flow::L7Type::kRequest;
    const bool dropped = f.verdict == flow::Verdict::kDropped;
    const bool response = !dropped && f.is_reply == 1;
    if (dropped) {
      values->Push("Policy denied");
    } else if (response) {
      values->Push(DnsRcodeMetricName(answers ? dns.rcode : 0));
    } else {
      values->Push("");
    }
    values->Begin();
    for (size_t i = 0; i < dns.qtypes.size(); ++i) {
      if (i > 0) values->Append(",");
      values->Append(dns.qtypes[i]);
    }
    const std::string_view qtypes = values->Finish();
    values->Push(qtypes);
    values->PushUint(answers ? dns.ips.size() : 0);
    if (spec_.query) values->Push(dns.query);
    Inc(response ? responses_ : queries_, *values);
    if (!response || !answers) return;
    for (const std::string& rrtype : dns.rrtypes) {
      values->Truncate(context_size);
      values->Push(rrtype);
      values->Push(qtypes);
      if (spec_.query) values->Push(dns.query);
      Inc(response_types_, *values);
    }
  }

 private:
  const HandlerSpec spec_;
  Family<Counter>* queries_;
  Family<Counter>* responses_;
  Family<Counter>* response_types_;
};

class DropHandler final : public HubbleMetrics::Handler {
 public:
  DropHandler(const HandlerSpec& spec, const FamilyFactory& make) : spec_(spec) {
    drops_ =
        make.AddCounter("hubble_drop_total", "Number of drops",
                        LabelNames(spec.context, ContextPosition::kFirst, {"reason", "protocol"}));
  }

  void OnFlow(const flow::Flow& f, const TraceIds& /*trace*/, LabelValues* values) override {
    if (f.verdict != flow::Verdict::kDropped) return;
    AppendContextValues(spec_.context, f, /*invert=*/false, values);
    values->Push(DropReasonName(f.drop_reason));
    values->Push(FlowProtocol(f));
    Inc(drops_, *values);
  }

 private:
  const HandlerSpec spec_;
  Family<Counter>* drops_;
};

class TcpHandler final : public HubbleMetrics::Handler {
 public:
  TcpHandler(const HandlerSpec& spec, const FamilyFactory& make) : spec_(spec) {
    flags_ = make.AddCounter("hubble_tcp_flags_total", "TCP flag occurrences",
                             LabelNames(spec.context, ContextPosition::kLast, {"flag", "family"}));
  }

  void OnFlow(const flow::Flow& f, const TraceIds& /*trace*/, LabelValues* values) override {
    // L7 records carry no TCP flags on the wire; flows without addresses have no IP message.
    if (!ForwardedOrRedirected(f) || f.l4 != flow::L4Protocol::kTcp ||
        f.type == flow::FlowType::kL7 || (f.src_ip.version == 0 && f.dst_ip.version == 0)) {
      return;
    }
    const uint8_t flags = f.tcp_flags;
    if ((flags & (flow::kTcpFin | flow::kTcpSyn | flow::kTcpRst)) == 0) return;
    values->Push("");
    values->Push(IpFamilyName(f));
    AppendContextValues(spec_.context, f, /*invert=*/false, values);
    // Hubble's order: FIN, then SYN or SYN-ACK, then RST.
    values->Set(0, "FIN");
    IncIf(flags_, *values, (flags & flow::kTcpFin) != 0);
    values->Set(0, (flags & flow::kTcpAck) != 0 ? "SYN-ACK" : "SYN");
    IncIf(flags_, *values, (flags & flow::kTcpSyn) != 0);
    values->Set(0, "RST");
    IncIf(flags_, *values, (flags & flow::kTcpRst) != 0);
  }

 private:
  const HandlerSpec spec_;
  Family<Counter>* flags_;
};

class FlowHandler final : public HubbleMetrics::Handler {
 public:
  FlowHandler(const HandlerSpec& spec, const FamilyFactory& make) : spec_(spec) {
    flows_ = make.AddCounter("hubble_flows_processed_total", "Total number of flows processed",
                             LabelNames(spec.context, ContextPosition::kLast,
                                        {"protocol", "type", "subtype", "verdict"}));
  }

  void OnFlow(const flow::Flow& f, const TraceIds& /*trace*/, LabelValues* values) override {
    values->Push(FlowProtocol(f));
    values->Push(FlowTypeName(f));
    values->Push(FlowSubtypeName(f));
    values->Push(VerdictName(f.verdict));
    AppendContextValues(spec_.context, f, /*invert=*/false, values);
    Inc(flows_, *values);
  }

 private:
  const HandlerSpec spec_;
  Family<Counter>* flows_;
};

class FlowsToWorldHandler final : public HubbleMetrics::Handler {
 public:
  FlowsToWorldHandler(const HandlerSpec& spec, const FamilyFactory& make) : spec_(spec) {
    std::vector<std::string> labels = {"protocol", "verdict"};
    if (spec.port) labels.emplace_back("port");
    for (std::string& name : spec.context.LabelNames()) labels.push_back(std::move(name));
    flows_ = make.AddCounter("hubble_flows_to_world_total",
                             "Total number of flows to reserved:world", std::move(labels));
  }

  void OnFlow(const flow::Flow& f, const TraceIds& /*trace*/, LabelValues* values) override {
    if (f.dst_info == nullptr || f.l4 == flow::L4Protocol::kNone || !ToWorld(*f.dst_info)) return;
    const bool dropped = f.verdict == flow::Verdict::kDropped;
    if (dropped && !spec_.any_drop && f.drop_reason != ::flow::POLICY_DENIED) return;
    const bool reply = f.is_reply == 1;
    if (!dropped && reply) return;  // forwarded replies would count ephemeral ports
    if (spec_.syn_only) {
      const bool syn = f.l4 == flow::L4Protocol::kTcp && f.type != flow::FlowType::kL7 &&
                       (f.tcp_flags & flow::kTcpSyn) != 0;
      if (!syn || reply) return;
    }
    values->Push(FlowProtocol(f));
    values->Push(VerdictName(f.verdict));
    if (spec_.port) {
      uint16_t port = 0;
      if (DestinationPort(f, &port)) {
        values->PushUint(port);
      } else {
        values->Push("");
      }
    }
    AppendContextValues(spec_.context, f, /*invert=*/false, values);
    Inc(flows_, *values);
  }

 private:
  static bool ToWorld(const flow::PeerInfo& dst) {
    for (const std::string& label : dst.endpoint.labels) {
      if (label == "reserved:world") return true;
    }
    return false;
  }

  const HandlerSpec spec_;
  Family<Counter>* flows_;
};

class PortDistributionHandler final : public HubbleMetrics::Handler {
 public:
  PortDistributionHandler(const HandlerSpec& spec, const FamilyFactory& make) : spec_(spec) {
    ports_ = make.AddCounter(
        "hubble_port_distribution_total", "Numbers of packets distributed by destination port",
        LabelNames(spec.context, ContextPosition::kLast, {"protocol", "port"}));
  }

  void OnFlow(const flow::Flow& f, const TraceIds& /*trace*/, LabelValues* values) override {
    // Only flows known not to be replies: a reply's destination port is ephemeral.
    if (!ForwardedOrRedirected(f) || f.l4 == flow::L4Protocol::kNone || f.is_reply != 0) return;
    switch (f.l4) {
      case flow::L4Protocol::kTcp:
        values->Push("TCP");
        values->PushUint(f.dst_port);
        break;
      case flow::L4Protocol::kUdp:
        values->Push("UDP");
        values->PushUint(f.dst_port);
        break;
      case flow::L4Protocol::kSctp:
        values->Push("SCTP");
        values->PushUint(f.dst_port);
        break;
      case flow::L4Protocol::kIcmpv4:
        values->Push("ICMPv4");
        values->Push("0");
        break;
      case flow::L4Protocol::kIcmpv6:
        values->Push("ICMPv6");
        values->Push("0");
        break;
      case flow::L4Protocol::kNone:
        return;
    }
    AppendContextValues(spec_.context, f, /*invert=*/false, values);
    Inc(ports_, *values);
  }

 private:
  const HandlerSpec spec_;
  Family<Counter>* ports_;
};

class IcmpHandler final : public HubbleMetrics::Handler {
 public:
  IcmpHandler(const HandlerSpec& spec, const FamilyFactory& make) : spec_(spec) {
    icmp_ = make.AddCounter("hubble_icmp_total", "Number of ICMP messages",
                            LabelNames(spec.context, ContextPosition::kLast, {"family", "type"}));
  }

  void OnFlow(const flow::Flow& f, const TraceIds& /*trace*/, LabelValues* values) override {
    const bool v4 = f.l4 == flow::L4Protocol::kIcmpv4;
    if (!v4 && f.l4 != flow::L4Protocol::kIcmpv6) return;
    // gopacket's TypeCode string, as the flow Summary shows it ("EchoRequest",
    // "DestinationUnreachable(Port)"). Hubble labels ICMPv6 with family "IPv4" (a bug in every
    // stored version of icmp/handler.go); Loupe says "IPv6".
    const std::string type = api::IcmpTypeCodeString(!v4, f.icmp_type, f.icmp_code);
    values->Push(v4 ? "IPv4" : "IPv6");
    values->Push(type);
    AppendContextValues(spec_.context, f, /*invert=*/false, values);
    Inc(icmp_, *values);
  }

 private:
  const HandlerSpec spec_;
  Family<Counter>* icmp_;
};

// http (v1) and httpV2.
class HttpHandler final : public HubbleMetrics::Handler {
 public:
  HttpHandler(const HandlerSpec& spec, const FamilyFactory& make)
      : spec_(spec), v2_(spec.kind == HandlerKind::kHttpV2) {
    const ContextOptions& ctx = spec.context;
    std::vector<std::string> with_status =
        LabelNames(ctx, ContextPosition::kFirst, {"method", "protocol", "status", "reporter"});
    if (spec.http_status_code_label) with_status.emplace_back("http_status_code");
    if (v2_) {
      requests_ =
          make.AddCounter("hubble_http_requests_total", "Count of HTTP requests", with_status);
    } else {
      requests_ = make.AddCounter(
          "hubble_http_requests_total", "Count of HTTP requests",
          LabelNames(ctx, ContextPosition::kFirst, {"method", "protocol", "reporter"}));
      responses_ =
          make.AddCounter("hubble_http_responses_total", "Count of HTTP responses", with_status);
    }
    duration_ = make.AddHistogram(
        "hubble_http_request_duration_seconds", "Quantiles of HTTP request duration in seconds",
        LabelNames(ctx, ContextPosition::kFirst, {"method", "reporter"}), kDefaultBuckets);
  }

  void OnFlow(const flow::Flow& f, const TraceIds& trace, LabelValues* values) override {
    if (f.l7 == nullptr || f.l7->http == nullptr) return;
    const flow::L7Type type = f.l7->type;
    if (type != flow::L7Type::kResponse && (v2_ || type != flow::L7Type::kRequest)) return;
    const flow::HttpInfo& http = *f.l7->http;
    const std::string_view reporter = Reporter(f.direction);
    // httpV2 reads the response from the request's perspective: source = the client.
    AppendContextValues(spec_.context, f, /*invert=*/v2_, values);
    const size_t context_size = values->size();
    values->Push(http.method);
    if (type == flow::L7Type::kRequest) {
      values->Push(http.protocol);
      values->Push(reporter);
      Inc(requests_, *values);
      return;
    }
    values->Push(http.protocol);
    values->PushUint(http.code);
    const std::string_view status = (*values)[values->size() - 1];
    values->Push(reporter);
    if (spec_.http_status_code_label) values->Push(status);
    Inc(v2_ ? requests_ : responses_, *values);

    values->Truncate(context_size);
    values->Push(http.method);
    values->Push(reporter);
    const double seconds = static_cast<double>(f.l7->latency_ns) / 1e9;
    telemetry::TraceContext storage;
    const ExemplarRef exemplar =
        spec_.exemplars ? HttpExemplar(f, &trace, &storage) : ExemplarRef{};
    duration_->Update(values->span(), [&](Histogram& h) {
      if (exemplar.trace_id.empty()) {
        h.Observe(seconds);
      } else {
        h.Observe(seconds, exemplar);
      }
    });
  }

 private:
  const HandlerSpec spec_;
  const bool v2_;
  Family<Counter>* requests_ = nullptr;
  Family<Counter>* responses_ = nullptr;  // http (v1) only
  Family<Histogram>* duration_ = nullptr;
};

// Loupe's Flow record has no Kafka record yet (no Kafka parser): the families exist so that
// dashboards find them, and stay empty.
class KafkaHandler final : public HubbleMetrics::Handler {
 public:
  KafkaHandler(const HandlerSpec& spec, const FamilyFactory& make) {
    const ContextOptions& ctx = spec.context;
    make.AddCounter(
        "hubble_kafka_requests_total", "Count of Kafka requests",
        LabelNames(ctx, ContextPosition::kFirst, {"topic", "api_key", "error_code", "reporter"}));
    // Hubble's help text says "HTTP" here too.
    make.AddHistogram("hubble_kafka_request_duration_seconds",
                      "Quantiles of HTTP request duration in seconds",
                      LabelNames(ctx, ContextPosition::kFirst, {"topic", "api_key", "reporter"}),
                      kDefaultBuckets);
  }

  void OnFlow(const flow::Flow& /*f*/, const TraceIds& /*trace*/,
              LabelValues* /*values*/) override {}
};

std::unique_ptr<HubbleMetrics::Handler> MakeHandler(const HandlerSpec& spec,
                                                    const FamilyFactory& make) {
  switch (spec.kind) {
    case HandlerKind::kDns:
      return std::make_unique<DnsHandler>(spec, make);
    case HandlerKind::kDrop:
      return std::make_unique<DropHandler>(spec, make);
    case HandlerKind::kTcp:
      return std::make_unique<TcpHandler>(spec, make);
    case HandlerKind::kFlow:
      return std::make_unique<FlowHandler>(spec, make);
    case HandlerKind::kFlowsToWorld:
      return std::make_unique<FlowsToWorldHandler>(spec, make);
    case HandlerKind::kPortDistribution:
      return std::make_unique<PortDistributionHandler>(spec, make);
    case HandlerKind::kIcmp:
      return std::make_unique<IcmpHandler>(spec, make);
    case HandlerKind::kHttp:
    case HandlerKind::kHttpV2:
      return std::make_unique<HttpHandler>(spec, make);
    case HandlerKind::kKafka:
      return std::make_unique<KafkaHandler>(spec, make);
  }
  return nullptr;
}

}  // namespace

const std::vector<double>& TcpConnectBuckets() {
  static const auto* buckets = new std::vector<double>{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.025, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return *buckets;
}

ExemplarRef HttpExemplar(const flow::Flow& f, const TraceIds* trace,
                         telemetry::TraceContext* storage) {
  if (trace != nullptr && !trace->trace_id.empty()) return {trace->trace_id, trace->span_id};
  if (f.l7 == nullptr || f.l7->http == nullptr) return {};
  for (const auto& [key, value] : f.l7->http->headers) {
    if (key.size() != 11) continue;
    bool match = true;
    for (size_t i = 0; i < key.size() && match; ++i) {
      const char c =
          key[i] >= 'A' && key[i] <= 'Z' ? static_cast<char>(key[i] - 'A' + 'a') : key[i];
      match = c == "traceparent"[i];
    }
    if (match && protocols::ParseTraceparent(value, storage)) {
      return {storage->trace_id, storage->parent_span_id};
    }
  }
  return {};
}

HubbleMetrics::HubbleMetrics(Registry& registry, std::vector<HandlerSpec> specs,
                             const HubbleMetricsOptions& options)
    : specs_(std::move(specs)) {
  const FamilyFactory make{registry, options};
  for (const HandlerSpec& spec : specs_) handlers_.push_back(MakeHandler(spec, make));

  // The connect histogram always names both workloads (the seed's PromQL groups by
  // destination_workload, destination_namespace) and follows the `tcp` handler's context.
  auto bit = [](ContextLabel label) { return 1u << static_cast<int>(label); };
  connect_context_.labels =
      bit(ContextLabel::kSourceNamespace) | bit(ContextLabel::kSourceWorkload) |
      bit(ContextLabel::kDestinationNamespace) | bit(ContextLabel::kDestinationWorkload);
  for (const HandlerSpec& spec : specs_) {
    if (spec.kind != HandlerKind::kTcp) continue;
    connect_context_.labels |= spec.context.labels;
    connect_context_.source = spec.context.source;
    connect_context_.source_egress = spec.context.source_egress;
    connect_context_.source_ingress = spec.context.source_ingress;
    connect_context_.destination = spec.context.destination;
    connect_context_.destination_egress = spec.context.destination_egress;
    connect_context_.destination_ingress = spec.context.destination_ingress;
  }
  connect_duration_ = make.AddHistogram(
      "hubble_tcp_connect_duration_seconds",
      "TCP connect latency (SYN sent to ESTABLISHED) of outgoing connections, from the "
      "sock:inet_sock_set_state tracepoint.",
      connect_context_.LabelNames(), TcpConnectBuckets());
}

HubbleMetrics::~HubbleMetrics() = default;

absl::StatusOr<std::unique_ptr<HubbleMetrics>> HubbleMetrics::Create(
    Registry& registry, const std::vector<std::string>& entries,
    const HubbleMetricsOptions& options) {
  auto specs = ParseHubbleMetrics(entries);
  if (!specs.ok()) return specs.status();
  return CreateFromSpecs(registry, std::move(*specs), options);
}

std::unique_ptr<HubbleMetrics> HubbleMetrics::CreateFromSpecs(Registry& registry,
                                                              std::vector<HandlerSpec> specs,
                                                              const HubbleMetricsOptions& options) {
  return std::unique_ptr<HubbleMetrics>(new HubbleMetrics(registry, std::move(specs), options));
}

void HubbleMetrics::OnFlow(const flow::Flow& f, const TraceIds& trace) {
  LabelValues values;
  for (const auto& handler : handlers_) {
    values.Reset();
    handler->OnFlow(f, trace, &values);
  }
}

void HubbleMetrics::OnTcpConnect(const flow::Flow& tuple, double seconds) {
  LabelValues values;
  AppendContextValues(connect_context_, tuple, /*invert=*/false, &values);
  connect_duration_->Update(values.span(), [seconds](Histogram& h) { h.Observe(seconds); });
}

}  // namespace loupe::metrics::hubble
