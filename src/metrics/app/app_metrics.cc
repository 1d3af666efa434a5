#include "src/metrics/app/app_metrics.h"

#include <arpa/inet.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <span>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "src/base/build_info.h"
#include "src/base/clock.h"
#include "src/base/strings.h"
#include "src/metrics/app/process_stats.h"

namespace loupe::metrics::app {
namespace {

constexpr std::string_view kSourceValue = "loupe";
constexpr size_t kMaxEndpoints = 16384;

struct FeatureName {
  std::string_view name;
  uint32_t bit;
};
constexpr FeatureName kFeatures[] = {
    {"application", kFeatureApplication},
    {"application_process", kFeatureApplicationProcess},
    {"application_service_graph", kFeatureApplicationServiceGraph},
    {"application_span", kFeatureApplicationSpan},
    {"network", kFeatureNetwork},
};
// Beyla features that Loupe does not implement (reference beyla.md §3 metrics.features).
constexpr std::string_view kUnsupportedBeylaFeatures[] = {
    "application_span_otel",
    "application_span_sizes",
    "application_host",
    "application_runtime",
    "network_flow_packets",
    "network_inter_zone",
    "stats",
    "stats_tcp_rtt",
    "stats_tcp_failed_connections",
    "stats_tcp_retransmits",
    "stats_tcp_io",
    "ebpf",
};

std::string PromLabel(std::string_view otel_name) {
  std::string out(otel_name);
  std::replace(out.begin(), out.end(), '.', '_');
  return out;
}

absl::Status CheckBuckets(const std::vector<double>& bounds, std::string_view what) {
  if (bounds.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(what), ": no bucket boundaries"));
  }
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(what), ": boundary ", i, " is not a finite number"));
    }
    if (i > 0 && !(bounds[i] > bounds[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(what), ": boundaries must be strictly ascending (",
                       bounds[i - 1], " is followed by ", bounds[i], ")"));
    }
  }
  return absl::OkStatus();
}

bool ParseCidr(std::string_view text, std::array<uint8_t, 16>* bytes, uint8_t* version,
               uint8_t* prefix) {
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos) return false;
  flow::IpAddress ip;
  if (!flow::IpAddress::Parse(std::string(text.substr(0, slash)), &ip)) return false;
  int bits = 0;
  if (!ParseInt(text.substr(slash + 1), &bits)) return false;
  if (bits < 0 || bits > (ip.version == 4 ? 32 : 128)) return false;
  *bytes = ip.bytes;
  *version = ip.version;
  *prefix = static_cast<uint8_t>(bits);
  return true;
}

bool InPrefix(const std::array<uint8_t, 16>& net, uint8_t prefix, const flow::IpAddress& ip) {
  const size_t full = prefix / 8;
  if (std::memcmp(net.data(), ip.bytes.data(), full) != 0) return false;
  const unsigned rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFFu << (8 - rest));
  return (net[full] & mask) == (ip.bytes[full] & mask);
}

template <size_t N>
std::string_view FormatInt(int64_t v, char (&buf)[N]) {
  const auto [end, ec] = std::to_chars(buf, buf + N, v);
  if (ec != std::errc()) return {};
  return {buf, static_cast<size_t>(end - buf)};
}

std::string_view NormalizeMethod(std::string_view m) {
  static constexpr std::string_view kKnown[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  for (std::string_view k : kKnown) {
    if (m == k) return k;
  }
  return "_OTHER";
}

std::string_view TransportName(flow::L4Protocol p) {
  switch (p) {
    case flow::L4Protocol::kTcp:
      return "TCP";
    case flow::L4Protocol::kUdp:
      return "UDP";
    case flow::L4Protocol::kIcmpv4:
      return "ICMP";
    case flow::L4Protocol::kIcmpv6:
      return "IPv6-ICMP";
    case flow::L4Protocol::kSctp:
      return "SCTP";
    case flow::L4Protocol::kNone:
      break;
  }
  return "";
}

constexpr std::string_view kGrpcStatusNames[] = {
    "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
    "DATA_LOSS", "UNAUTHENTICATED"};

std::string AttrOtelName(AppMetrics::Attr a, RpcNaming naming) {
  using A = AppMetrics;
  switch (a) {
    case A::kServiceName:
      return "service.name";
    case A::kServiceNamespace:
      return "service.namespace";
    case A::kInstance:
      return "instance";
    case A::kJob:
      return "job";
    case A::kHttpRequestMethod:
      return "http.request.method";
    case A::kHttpResponseStatusCode:
      return "http.response.status_code";
    case A::kUrlScheme:
      return "url.scheme";
    case A::kHttpRoute:
      return "http.route";
    case A::kUrlPath:
      return "url.path";
    case A::kServerAddress:
      return "server.address";
    case A::kServerPort:
      return "server.port";
    case A::kClientAddress:
      return "client.address";
    case A::kRpcMethod:
      return "rpc.method";
    case A::kRpcSystem:
      return naming == RpcNaming::kLegacy ? "rpc.system" : "rpc.system.name";
    case A::kRpcStatus:
      return naming == RpcNaming::kLegacy ? "rpc.grpc.status_code" : "rpc.response.status_code";
    case A::kSpanName:
      return "span_name";
    case A::kSpanKind:
      return "span_kind";
    case A::kStatusCode:
      return "status_code";
    case A::kSource:
      return "source";
    case A::kClient:
      return "client";
    case A::kClientNamespace:
      return "client_service_namespace";
    case A::kServer:
      return "server";
    case A::kServerNamespace:
      return "server_service_namespace";
    case A::kConnectionType:
      return "connection_type";
    case A::kServiceAlias:
      return "service";
    case A::kHttpStatusCodeAlias:
      return "http.status_code";
    case A::kK8sNamespaceName:
      return "k8s.namespace.name";
    case A::kK8sPodName:
      return "k8s.pod.name";
    case A::kK8sDeploymentName:
      return "k8s.deployment.name";
    case A::kK8sDaemonSetName:
      return "k8s.daemonset.name";
    case A::kK8sStatefulSetName:
      return "k8s.statefulset.name";
    case A::kK8sJobName:
      return "k8s.job.name";
    case A::kK8sCronJobName:
      return "k8s.cronjob.name";
    case A::kK8sOwnerName:
      return "k8s.owner.name";
    case A::kK8sKind:
      return "k8s.kind";
    case A::kK8sNodeName:
      return "k8s.node.name";
    case A::kK8sClusterName:
      return "k8s.cluster.name";
    case A::kK8sReplicaSetName:
      return "k8s.replicaset.name";
    case A::kK8sPodUid:
      return "k8s.pod.uid";
    case A::kK8sPodStartTime:
      return "k8s.pod.start_time";
    case A::kK8sContainerName:
      return "k8s.container.name";
    case A::kAttrCount:
      break;
  }
  return "";
}

std::string NetAttrOtelName(AppMetrics::NetAttr a) {
  using A = AppMetrics;
  switch (a) {
    case A::kNetBeylaIp:
      return "beyla.ip";
    case A::kNetTransport:
      return "transport";
    case A::kNetSrcAddress:
      return "src.address";
    case A::kNetDstAddress:
      return "dst.address";
    case A::kNetSrcPort:
      return "src.port";
    case A::kNetDstPort:
      return "dst.port";
    case A::kNetSrcName:
      return "src.name";
    case A::kNetDstName:
      return "dst.name";
    case A::kNetSrcCidr:
      return "src.cidr";
    case A::kNetDstCidr:
      return "dst.cidr";
    case A::kNetDirection:
      return "direction";
    case A::kNetIfaceDirection:
      return "iface.direction";
    case A::kNetK8sSrcNamespace:
      return "k8s.src.namespace";
    case A::kNetK8sDstNamespace:
      return "k8s.dst.namespace";
    case A::kNetK8sSrcName:
      return "k8s.src.name";
    case A::kNetK8sDstName:
      return "k8s.dst.name";
    case A::kNetK8sSrcType:
      return "k8s.src.type";
    case A::kNetK8sDstType:
      return "k8s.dst.type";
    case A::kNetK8sSrcOwnerName:
      return "k8s.src.owner.name";
    case A::kNetK8sDstOwnerName:
      return "k8s.dst.owner.name";
    case A::kNetK8sSrcOwnerType:
      return "k8s.src.owner.type";
    case A::kNetK8sDstOwnerType:
      return "k8s.dst.owner.type";
    case A::kNetK8sClusterName:
      return "k8s.cluster.name";
    case A::kNetAttrCount:
      break;
  }
  return "";
}

// Resolves `defs` against the selector: fills the selected ids and their Prometheus labels.
template <typename AttrId, typename NameFn>
std::vector<AttrId> SelectAttrs(const AttributeSelector& selector, std::string_view prom_name,
                                const std::vector<std::pair<AttrId, bool>>& defs, NameFn name_of,
                                std::vector<std::string>* labels) {
  std::vector<AttributeDef> attribute_defs;
  for (const auto& [id, shown] : defs) attribute_defs.push_back({name_of(id), shown});
  const std::vector<bool> enabled =
      selector.Resolve(NormalizeMetricName(prom_name), attribute_defs);
  std::vector<AttrId> out;
  for (size_t i = 0; i < defs.size(); ++i) {
    if (!enabled[i]) continue;
    out.push_back(defs[i].first);
    labels->push_back(PromLabel(attribute_defs[i].otel_name));
  }
  return out;
}

// The packed label key of the last attribute list applied, so that metrics selecting the same
// attributes (a request's duration and body sizes, by default) pack and hash the values once.
// `values` is read at the first Apply of each attribute list and must not change after it.
template <typename AttrId, size_t N>
class SharedKey {
 public:
  explicit SharedKey(const std::array<std::string_view, N>& values) : values_(values) {}

  template <typename Cell, typename Fn>
  void Apply(const AppMetrics::Metric<Cell, AttrId>& metric, Fn&& fn) {
    if (attrs_ == nullptr || *attrs_ != metric.attrs) {
      n_ = 0;
      for (AttrId a : metric.attrs) labels_[n_++] = values_[a];
      key_.reset();
      key_.emplace(std::span<const std::string_view>(labels_.data(), n_));
      attrs_ = &metric.attrs;
    }
    metric.family->Update(*key_, std::span<const std::string_view>(labels_.data(), n_),
                          std::forward<Fn>(fn));
  }

 private:
  const std::array<std::string_view, N>& values_;
  const std::vector<AttrId>* attrs_ = nullptr;
  std::array<std::string_view, N> labels_;
  size_t n_ = 0;
  std::optional<internal::PackedKey> key_;
};

// Label values of one series: the selected attributes of `values`, in label order.
template <typename Cell, typename AttrId, size_t N, typename Fn>
void Apply(const AppMetrics::Metric<Cell, AttrId>& metric,
           const std::array<std::string_view, N>& values, Fn&& fn) {
  std::array<std::string_view, N> labels;
  size_t n = 0;
  for (AttrId a : metric.attrs) labels[n++] = values[a];
  metric.family->Update(std::span<const std::string_view>(labels.data(), n), std::forward<Fn>(fn));
}

void Observe(Histogram& h, double v, const ExemplarRef* exemplar) {
  if (exemplar != nullptr && !exemplar->trace_id.empty()) {
    h.Observe(v, *exemplar);
  } else {
    h.Observe(v);
  }
}

std::string ReadMachineId() {
  for (const char* path : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
    std::ifstream in(path);
    std::string id;
    if (in && std::getline(in, id) && !StripWhitespace(id).empty()) {
      return std::string(StripWhitespace(id));
    }
  }
  return "";
}

}  // namespace

absl::StatusOr<uint32_t> ParseFeatures(const std::vector<std::string>& names) {
  uint32_t bits = 0;
  for (const std::string& name : names) {
    if (name == "all" || name == "*") {
      for (const FeatureName& f : kFeatures) bits |= f.bit;
      continue;
    }
    const auto* it = std::find_if(std::begin(kFeatures), std::end(kFeatures),
                                  [&](const FeatureName& f) { return f.name == name; });
    if (it != std::end(kFeatures)) {
      bits |= it->bit;
      continue;
    }
    if (std::find(std::begin(kUnsupportedBeylaFeatures), std::end(kUnsupportedBeylaFeatures),
                  name) != std::end(kUnsupportedBeylaFeatures)) {
      return absl::InvalidArgumentError(absl::StrCat("metrics.features: Beyla feature \"", name,
                                                     "\" is not implemented by Loupe"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("metrics.features: unknown feature \"", name,
                     "\" (known: application, application_process, application_service_graph, "
                     "application_span, network, all)"));
  }
  return bits;
}

int GrpcStatusOf(const telemetry::Request& r) {
  if (r.grpc_status >= 0) return r.grpc_status;
  switch (r.status) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

bool IsErrorRequest(const telemetry::Request& r) {
  const bool server = r.role == telemetry::Role::kServer;
  if (r.protocol == telemetry::Protocol::kGrpc) {
    const int code = GrpcStatusOf(r);
    if (!server) return code != 0;
    return code == 2 || code == 4 || code == 12 || code == 13 || code == 14 || code == 15;
  }
  if (r.status == 0) return true;
  return server ? r.status >= 500 : r.status >= 400;
}

size_t AppMetrics::EndpointHash::operator()(const EndpointKey& k) const {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (uint8_t b : k.ip) h = (h ^ b) * 1099511628211ull;
  h = (h ^ k.port) * 1099511628211ull;
  return static_cast<size_t>(h);
}

absl::StatusOr<std::unique_ptr<AppMetrics>> AppMetrics::Create(Registry& registry,
                                                               AppMetricsOptions options) {
  std::unique_ptr<AppMetrics> metrics(new AppMetrics());
  if (absl::Status s = metrics->Init(registry, std::move(options)); !s.ok()) return s;
  return metrics;
}

AppMetrics::~AppMetrics() {
  for (int id : collector_ids_) registry_->RemoveCollector(id);
}

absl::Status AppMetrics::Init(Registry& registry, AppMetricsOptions options) {
  registry_ = &registry;
  options_ = std::move(options);
  auto features = ParseFeatures(options_.features);
  if (!features.ok()) return features.status();
  features_ = *features;
  if (absl::Status s = CheckBuckets(options_.duration_buckets, "duration_histogram"); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckBuckets(options_.request_size_buckets, "request_size_histogram");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckBuckets(options_.response_size_buckets, "response_size_histogram");
      !s.ok()) {
    return s;
  }
  const char w = options_.routes.wildcard_char;
  if (w == '/' || w == '\0' || w == '?' || w == '#') {
    return absl::InvalidArgumentError("routes.wildcard_char must not be '/', '?', '#' or empty");
  }
  auto routes = RouteMatcher::Create(options_.routes);
  if (!routes.ok()) return routes.status();
  routes_ = *std::move(routes);
  auto selector_or = AttributeSelector::Create(options_.select);
  if (!selector_or.ok()) return selector_or.status();
  const AttributeSelector& selector = *selector_or;
  for (const NetworkCidr& c : options_.network_cidrs) {
    Cidr cidr;
    if (!ParseCidr(c.cidr, &cidr.bytes, &cidr.version, &cidr.prefix)) {
      return absl::InvalidArgumentError(
          absl::StrCat("network.cidrs: \"", c.cidr, "\" is not an address/prefix-length"));
    }
    cidr.label = c.name.empty() ? c.cidr : c.name;
    cidrs_.push_back(std::move(cidr));
  }
  std::stable_sort(cidrs_.begin(), cidrs_.end(),
                   [](const Cidr& a, const Cidr& b) { return a.prefix > b.prefix; });

  std::string ns = options_.service_namespace;
  if (ns.empty()) {
    if (const char* env = std::getenv("BEYLA_SERVICE_NAMESPACE")) ns = env;
  }
  namer_ = std::make_unique<ServiceNamer>(
      ServiceNamer::Options{ns, options_.host_name, options_.proc_root, 65536});
  host_id_ = options_.host_id.empty() ? ReadMachineId() : options_.host_id;

  const FamilyOptions family_options{options_.max_series_per_metric,
                                     std::chrono::seconds(options_.series_ttl_seconds)};
  const RpcNaming naming = options_.rpc_naming;
  auto attr_name = [naming](Attr a) { return AttrOtelName(a, naming); };
  auto histogram = [&](Metric<Histogram, Attr>* m, const std::string& name, const std::string& help,
                       const std::vector<std::pair<Attr, bool>>& defs,
                       const std::vector<double>& bounds) {
    std::vector<std::string> labels;
    m->attrs = SelectAttrs(selector, name, defs, attr_name, &labels);
    m->family = &registry.AddHistogram(name, help, std::move(labels), bounds);
    m->family->SetOptions(family_options);
  };
  auto counter = [&](Metric<Counter, Attr>* m, const std::string& name, const std::string& help,
                     const std::vector<std::pair<Attr, bool>>& defs) {
    std::vector<std::string> labels;
    m->attrs = SelectAttrs(selector, name, defs, attr_name, &labels);
    m->family = &registry.AddCounter(name, help, std::move(labels));
    m->family->SetOptions(family_options);
  };

  std::vector<std::pair<Attr, bool>> service = {
      {kServiceName, true}, {kServiceNamespace, true}, {kInstance, true}, {kJob, true}};
  if (options_.kubernetes) {
    // All shown by default in Beyla's Prometheus metrics (reference/beyla.md §4.5).
    for (Attr a :
         {kK8sNamespaceName, kK8sPodName, kK8sContainerName, kK8sDeploymentName, kK8sReplicaSetName,
          kK8sDaemonSetName, kK8sStatefulSetName, kK8sJobName, kK8sCronJobName, kK8sOwnerName,
          kK8sKind, kK8sNodeName, kK8sPodUid, kK8sPodStartTime, kK8sClusterName}) {
      service.emplace_back(a, true);
    }
  }
  auto with = [&](std::vector<std::pair<Attr, bool>> extra) {
    std::vector<std::pair<Attr, bool>> all = service;
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  };
  if (features_ & kFeatureApplication) {
    const auto http_server = with({{kHttpRequestMethod, true},
                                   {kHttpResponseStatusCode, true},
                                   {kServiceAlias, true},
                                   {kHttpStatusCodeAlias, true},
                                   {kUrlScheme, true},
                                   {kHttpRoute, true},
                                   {kUrlPath, false},
                                   {kServerAddress, true},
                                   {kServerPort, true},
                                   {kClientAddress, false}});
    const auto http_client = with({{kHttpRequestMethod, true},
                                   {kHttpResponseStatusCode, true},
                                   {kServiceAlias, true},
                                   {kHttpStatusCodeAlias, true},
                                   {kUrlScheme, true},
                                   {kHttpRoute, true},
                                   {kUrlPath, false},
                                   {kServerAddress, true},
                                   {kServerPort, true}});
    const auto rpc_server = with({{kRpcMethod, true},
                                  {kRpcSystem, true},
                                  {kRpcStatus, true},
                                  {kServerAddress, true},
                                  {kServerPort, true},
                                  {kClientAddress, false}});
    const auto rpc_client = with({{kRpcMethod, true},
                                  {kRpcSystem, true},
                                  {kRpcStatus, true},
                                  {kServerAddress, true},
                                  {kServerPort, false}});
    histogram(&http_server_duration_, "http_server_request_duration_seconds",
              "Duration of HTTP service calls from the server side, in seconds.", http_server,
              options_.duration_buckets);
    histogram(&http_client_duration_, "http_client_request_duration_seconds",
              "Duration of HTTP service calls from the client side, in seconds.", http_client,
              options_.duration_buckets);
    histogram(&http_server_request_size_, "http_server_request_body_size_bytes",
              "Size, in bytes, of the HTTP request body as received at the server side.",
              http_server, options_.request_size_buckets);
    histogram(&http_server_response_size_, "http_server_response_body_size_bytes",
              "Size, in bytes, of the HTTP response body as sent by the server side.", http_server,
              options_.response_size_buckets);
    histogram(&http_client_request_size_, "http_client_request_body_size_bytes",
              "Size, in bytes, of the HTTP request body as sent from the client side.", http_client,
              options_.request_size_buckets);
    histogram(&http_client_response_size_, "http_client_response_body_size_bytes",
              "Size, in bytes, of the HTTP response body as received at the client side.",
              http_client, options_.response_size_buckets);
    const bool legacy = naming == RpcNaming::kLegacy;
    histogram(&rpc_server_duration_,
              legacy ? "rpc_server_duration_seconds" : "rpc_server_call_duration_seconds",
              "Duration of RPC service calls from the server side, in seconds.", rpc_server,
              options_.duration_buckets);
    histogram(&rpc_client_duration_,
              legacy ? "rpc_client_duration_seconds" : "rpc_client_call_duration_seconds",
              "Duration of RPC service calls from the client side, in seconds.", rpc_client,
              options_.duration_buckets);
  }
  if (features_ & kFeatureApplicationSpan) {
    const auto span =
        with({{kSpanName, true}, {kStatusCode, true}, {kSpanKind, true}, {kSource, true}});
    histogram(&span_latency_, "traces_spanmetrics_latency",
              "Span duration, in seconds, per service, span name, kind and status.", span,
              options_.duration_buckets);
    counter(&span_calls_, "traces_spanmetrics_calls_total",
            "Spans per service, span name, kind and status.", span);
  }
  if (features_ & kFeatureApplicationServiceGraph) {
    const std::vector<std::pair<Attr, bool>> graph = {
        {kClient, true},          {kClientNamespace, true}, {kServer, true},
        {kServerNamespace, true}, {kConnectionType, true},  {kSource, true}};
    counter(&graph_total_, "traces_service_graph_request_total", "Requests between two services.",
            graph);
    counter(&graph_failed_, "traces_service_graph_request_failed_total",
            "Failed requests between two services.", graph);
    histogram(&graph_client_, "traces_service_graph_request_client_seconds",
              "Request duration between two services as seen by the client, in seconds.", graph,
              options_.duration_buckets);
    histogram(&graph_server_, "traces_service_graph_request_server_seconds",
              "Request duration between two services as seen by the server, in seconds.", graph,
              options_.duration_buckets);
  }
  if (features_ & kFeatureNetwork) {
    const bool cidrs = !cidrs_.empty();
    const std::vector<std::pair<NetAttr, bool>> defs = {
        {kNetBeylaIp, false},        {kNetTransport, false},      {kNetSrcAddress, false},
        {kNetDstAddress, false},     {kNetSrcPort, false},        {kNetDstPort, false},
        {kNetSrcName, false},        {kNetDstName, false},        {kNetSrcCidr, cidrs},
        {kNetDstCidr, cidrs},        {kNetDirection, true},       {kNetIfaceDirection, false},
        {kNetK8sSrcNamespace, true}, {kNetK8sDstNamespace, true}, {kNetK8sSrcName, false},
        {kNetK8sDstName, false},     {kNetK8sSrcType, false},     {kNetK8sDstType, false},
        {kNetK8sSrcOwnerName, true}, {kNetK8sDstOwnerName, true}, {kNetK8sSrcOwnerType, true},
        {kNetK8sDstOwnerType, true}, {kNetK8sClusterName, true}};
    std::vector<std::string> labels;
    network_bytes_.attrs =
        SelectAttrs(selector, "beyla_network_flow_bytes_total", defs, NetAttrOtelName, &labels);
    network_bytes_.family =
        &registry.AddCounter("beyla_network_flow_bytes_total",
                             "Bytes observed between two network endpoints.", std::move(labels));
    network_bytes_.family->SetOptions(family_options);
  }
  if (features_ & kFeatureApplicationProcess) {
    InitProcessMetrics(selector);
    collector_ids_.push_back(
        registry.AddCollector([this](std::vector<FamilySnapshot>* out) { CollectProcesses(out); }));
  }
  if (features_ & (kFeatureApplication | kFeatureApplicationSpan | kFeatureApplicationServiceGraph |
                   kFeatureApplicationProcess)) {
    collector_ids_.push_back(registry.AddCollector(
        [this](std::vector<FamilySnapshot>* out) { CollectTargetInfo(out); }));
  }
  return absl::OkStatus();
}

std::string_view AppMetrics::CidrOf(const flow::IpAddress& ip) const {
  for (const Cidr& c : cidrs_) {
    if (c.version == ip.version && InPrefix(c.bytes, c.prefix, ip)) return c.label;
  }
  return {};
}

void AppMetrics::SetPeerResolver(PeerResolver resolver) {
  std::unique_lock lock(endpoints_mu_);
  resolver_ = std::move(resolver);
}

std::shared_ptr<const PeerIdentity> AppMetrics::ResolvePeer(const flow::IpAddress& ip,
                                                            uint16_t port) {
  std::shared_lock lock(endpoints_mu_);
  auto it = endpoints_.find(EndpointKey{ip.bytes, port});
  if (it != endpoints_.end()) return it->second;
  if (resolver_) return resolver_(ip, port);
  return nullptr;
}

void AppMetrics::RememberEndpoint(const flow::IpAddress& ip, uint16_t port,
                                  const ServiceIdentity& service) {
  if (ip.version == 0 || port == 0) return;
  const EndpointKey key{ip.bytes, port};
  {
    std::shared_lock lock(endpoints_mu_);
    auto it = endpoints_.find(key);
    if (it != endpoints_.end() && it->second->name == service.name &&
        it->second->namespace_name == service.namespace_name) {
      return;
    }
  }
  auto peer = std::make_shared<const PeerIdentity>(
      PeerIdentity{service.name, service.namespace_name, /*instrumented=*/true});
  std::unique_lock lock(endpoints_mu_);
  if (endpoints_.size() >= kMaxEndpoints) endpoints_.clear();
  endpoints_[key] = std::move(peer);
}

void AppMetrics::OnRequest(const telemetry::Request& r) {
  // Without a span of its own, a request that carried a traceparent links to its parent's trace.
  if (!r.trace.trace_id.empty()) {
    const ExemplarRef incoming{r.trace.trace_id, {}};
    OnRequest(r, &incoming);
  } else {
    OnRequest(r, nullptr);
  }
}

void AppMetrics::OnRequest(const telemetry::Request& r, const ExemplarRef* exemplar) {
  constexpr uint32_t kRequestFeatures =
      kFeatureApplication | kFeatureApplicationSpan | kFeatureApplicationServiceGraph;
  if ((features_ & kRequestFeatures) == 0) return;
  const bool server = r.role == telemetry::Role::kServer;
  if (!server && r.role != telemetry::Role::kClient) return;
  const bool grpc = r.protocol == telemetry::Protocol::kGrpc;
  if (!grpc && r.protocol != telemetry::Protocol::kHttp1 &&
      r.protocol != telemetry::Protocol::kHttp2) {
    return;
  }
  RouteBuffer route_buffer;
  std::string_view route;
  if (!grpc) {
    // Within the pipeline's RouteScope the span stage has matched this path already.
    const RouteResult match = routes_->MatchOnce(r.path, &route_buffer);
    if (match.ignore_metrics) return;
    route = match.route;
  }
  const std::shared_ptr<const ServiceIdentity> svc = namer_->Get(r.pid, r.process, &r.local_ip);
  const double seconds =
      r.end_ns > r.start_ns ? static_cast<double>(r.end_ns - r.start_ns) / 1e9 : 0.0;
  const bool error = IsErrorRequest(r);

  std::array<std::string_view, kAttrCount> v{};
  v[kServiceName] = svc->name;
  v[kServiceAlias] = svc->name;
  v[kK8sNamespaceName] = svc->k8s_namespace;
  v[kK8sPodName] = svc->k8s_pod_name;
  v[kK8sOwnerName] = svc->k8s_owner_name;
  v[kK8sKind] = svc->k8s_owner_kind;
  v[kK8sNodeName] = svc->k8s_node_name;
  v[kK8sClusterName] = svc->k8s_cluster_name;
  v[kK8sReplicaSetName] = svc->k8s_replicaset_name;
  v[kK8sPodUid] = svc->k8s_pod_uid;
  v[kK8sPodStartTime] = svc->k8s_pod_start_time;
  v[kK8sContainerName] = svc->k8s_container_name;
  const std::string_view kind = svc->k8s_owner_kind;
  v[kK8sDeploymentName] = kind == "Deployment" ? svc->k8s_owner_name : std::string_view();
  v[kK8sDaemonSetName] = kind == "DaemonSet" ? svc->k8s_owner_name : std::string_view();
  v[kK8sStatefulSetName] = kind == "StatefulSet" ? svc->k8s_owner_name : std::string_view();
  v[kK8sJobName] = kind == "Job" ? svc->k8s_owner_name : std::string_view();
  v[kK8sCronJobName] = kind == "CronJob" ? svc->k8s_owner_name : std::string_view();
  v[kServiceNamespace] = svc->namespace_name;
  v[kInstance] = svc->instance;
  v[kJob] = svc->job;
  v[kSource] = kSourceValue;

  if (features_ & (kFeatureApplication | kFeatureApplicationSpan)) {
    const std::string_view method = NormalizeMethod(r.method);
    char status_buf[16];
    char port_buf[8];
    char server_ip[INET6_ADDRSTRLEN];
    char client_ip[INET6_ADDRSTRLEN];
    v[kHttpRequestMethod] = method;
    v[kHttpResponseStatusCode] = FormatInt(r.status, status_buf);
    v[kHttpStatusCodeAlias] = v[kHttpResponseStatusCode];
    v[kUrlScheme] = "http";
    v[kHttpRoute] = route;
    v[kUrlPath] = r.path;
    v[kServerAddress] = (server ? r.local_ip : r.remote_ip).Format(server_ip);
    v[kServerPort] = FormatInt(server ? r.local_port : r.remote_port, port_buf);
    v[kClientAddress] = server ? r.remote_ip.Format(client_ip) : std::string_view();
    char grpc_buf[16];
    if (grpc) {
      const int code = GrpcStatusOf(r);
      v[kRpcMethod] = r.path;
      v[kRpcSystem] = "grpc";
      if (options_.rpc_naming == RpcNaming::kLegacy || code < 0 || code > 16) {
        v[kRpcStatus] = FormatInt(code, grpc_buf);
      } else {
        v[kRpcStatus] = kGrpcStatusNames[code];
      }
    }
    if (features_ & kFeatureApplication) {
      if (grpc) {
        Apply(server ? rpc_server_duration_ : rpc_client_duration_, v,
              [&](Histogram& h) { Observe(h, seconds, exemplar); });
      } else {
        SharedKey<Attr, kAttrCount> key(v);
        key.Apply(server ? http_server_duration_ : http_client_duration_,
                  [&](Histogram& h) { Observe(h, seconds, exemplar); });
        const auto req_bytes = static_cast<double>(r.request_body_bytes);
        const auto resp_bytes = static_cast<double>(r.response_body_bytes);
        key.Apply(server ? http_server_request_size_ : http_client_request_size_,
                  [&](Histogram& h) { h.Observe(req_bytes); });
        key.Apply(server ? http_server_response_size_ : http_client_response_size_,
                  [&](Histogram& h) { h.Observe(resp_bytes); });
      }
    }
    if (features_ & kFeatureApplicationSpan) {
      // Beyla's span names: "<METHOD> <route>" (the method alone without a route); gRPC: the
      // full method path.
      char name_buf[sizeof(RouteBuffer::data) + 16];
      std::string_view span_name;
      if (grpc) {
        span_name = r.path;
      } else if (route.empty()) {
        span_name = method;
      } else {
        const size_t len = std::min(route.size(), sizeof(name_buf) - method.size() - 1);
        std::memcpy(name_buf, method.data(), method.size());
        name_buf[method.size()] = ' ';
        std::memcpy(name_buf + method.size() + 1, route.data(), len);
        span_name = std::string_view(name_buf, method.size() + 1 + len);
      }
      v[kSpanName] = LimitSpanName(*svc, span_name);
      v[kSpanKind] = server ? "SPAN_KIND_SERVER" : "SPAN_KIND_CLIENT";
      v[kStatusCode] = error ? "STATUS_CODE_ERROR" : "STATUS_CODE_UNSET";
      SharedKey<Attr, kAttrCount> key(v);
      key.Apply(span_latency_, [&](Histogram& h) { h.Observe(seconds); });
      key.Apply(span_calls_, [](Counter& c) { c.Inc(); });
    }
  }

  if (features_ & kFeatureApplicationServiceGraph) {
    // Local endpoints of instrumented processes name the peer in the other process's spans.
    RememberEndpoint(r.local_ip, r.local_port, *svc);
    const std::shared_ptr<const PeerIdentity> peer = ResolvePeer(r.remote_ip, r.remote_port);
    const std::string_view peer_name =
        peer ? std::string_view(peer->name)
             : std::string_view(server ? options_.unresolved_incoming
                                       : options_.unresolved_outgoing);
    const std::string_view peer_ns = peer ? std::string_view(peer->namespace_name) : "";
    v[kConnectionType] = "";
    SharedKey<Attr, kAttrCount> key(v);
    if (server) {
      v[kClient] = peer_name;
      v[kClientNamespace] = peer_ns;
      v[kServer] = svc->name;
      v[kServerNamespace] = svc->namespace_name;
      key.Apply(graph_server_, [&](Histogram& h) { h.Observe(seconds); });
    } else {
      v[kClient] = svc->name;
      v[kClientNamespace] = svc->namespace_name;
      v[kServer] = peer_name;
      v[kServerNamespace] = peer_ns;
      key.Apply(graph_client_, [&](Histogram& h) { h.Observe(seconds); });
    }
    // As Beyla: server spans count the request; client spans only when the server's own spans
    // are not reported (it is not instrumented), so one request is counted once.
    if (server || !peer || !peer->instrumented) {
      key.Apply(graph_total_, [](Counter& c) { c.Inc(); });
      if (error) key.Apply(graph_failed_, [](Counter& c) { c.Inc(); });
    }
  }
}

void AppMetrics::OnFlow(const flow::Flow& f) {
  if ((features_ & kFeatureNetwork) == 0) return;
  if (f.type != flow::FlowType::kL3L4 || f.verdict == flow::Verdict::kDropped || f.bytes == 0) {
    return;
  }
  std::array<std::string_view, kNetAttrCount> v{};
  char src_ip[INET6_ADDRSTRLEN];
  char dst_ip[INET6_ADDRSTRLEN];
  char src_port[8];
  char dst_port[8];
  v[kNetBeylaIp] = options_.agent_ip;
  v[kNetTransport] = TransportName(f.l4);
  v[kNetSrcAddress] = f.src_ip.Format(src_ip);
  v[kNetDstAddress] = f.dst_ip.Format(dst_ip);
  v[kNetSrcPort] = FormatInt(f.src_port, src_port);
  v[kNetDstPort] = FormatInt(f.dst_port, dst_port);
  v[kNetSrcCidr] = CidrOf(f.src_ip);
  v[kNetDstCidr] = CidrOf(f.dst_ip);
  v[kNetDirection] = f.is_reply == 0 ? "request" : f.is_reply == 1 ? "response" : "unknown";
  v[kNetIfaceDirection] = f.direction == flow::TrafficDirection::kIngress  ? "ingress"
                          : f.direction == flow::TrafficDirection::kEgress ? "egress"
                                                                           : "";
  v[kNetK8sClusterName] = options_.cluster_name;
  auto peer = [&](const flow::PeerInfo* info, std::string_view address, NetAttr name, NetAttr ns,
                  NetAttr k8s_name, NetAttr type, NetAttr owner, NetAttr owner_type) {
    v[name] = address;
    if (info == nullptr) return;
    const flow::Endpoint& e = info->endpoint;
    if (!e.pod_name.empty()) {
      v[name] = e.pod_name;
    } else if (!info->names.empty()) {
      v[name] = info->names.front();
    }
    v[ns] = e.namespace_name;
    v[k8s_name] = e.pod_name;
    v[type] = e.pod_name.empty() ? "" : "Pod";
    if (!e.workloads.empty()) {
      v[owner] = e.workloads.front().name;
      v[owner_type] = e.workloads.front().kind;
    } else {
      v[owner] = e.pod_name;
      v[owner_type] = e.pod_name.empty() ? "" : "Pod";
    }
    if (!e.cluster_name.empty()) v[kNetK8sClusterName] = e.cluster_name;
  };
  peer(f.src_info.get(), v[kNetSrcAddress], kNetSrcName, kNetK8sSrcNamespace, kNetK8sSrcName,
       kNetK8sSrcType, kNetK8sSrcOwnerName, kNetK8sSrcOwnerType);
  peer(f.dst_info.get(), v[kNetDstAddress], kNetDstName, kNetK8sDstNamespace, kNetK8sDstName,
       kNetK8sDstType, kNetK8sDstOwnerName, kNetK8sDstOwnerType);
  const uint64_t bytes = f.bytes;
  Apply(network_bytes_, v, [bytes](Counter& c) { c.Inc(bytes); });
}

void AppMetrics::SetProcesses(std::vector<uint32_t> pids) {
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  namer_->Retain(pids);
  std::lock_guard<std::mutex> lock(processes_mu_);
  processes_ = std::move(pids);
}

namespace {
// Beyla's Kubernetes target_info labels (KubernetesTargetInfoAttributes): the pod's, empty for
// a process outside pods.
void AddKubernetesTargetLabels(const ServiceIdentity& id,
                               std::vector<std::pair<std::string, std::string>>* labels) {
  const std::string& kind = id.k8s_owner_kind;
  auto if_kind = [&](const char* k) { return kind == k ? id.k8s_owner_name : std::string(); };
  const std::pair<const char*, std::string> k8s[] = {
      {"k8s_namespace_name", id.k8s_namespace},
      {"k8s_pod_name", id.k8s_pod_name},
      {"k8s_container_name", id.k8s_container_name},
      {"k8s_node_name", id.k8s_node_name},
      {"k8s_pod_uid", id.k8s_pod_uid},
      {"k8s_pod_start_time", id.k8s_pod_start_time},
      {"k8s_deployment_name", if_kind("Deployment")},
      {"k8s_replicaset_name", id.k8s_replicaset_name},
      {"k8s_statefulset_name", if_kind("StatefulSet")},
      {"k8s_job_name", if_kind("Job")},
      {"k8s_cronjob_name", if_kind("CronJob")},
      {"k8s_daemonset_name", if_kind("DaemonSet")},
      {"k8s_cluster_name", id.k8s_cluster_name},
      {"k8s_kind", id.k8s_owner_kind},
      {"k8s_owner_name", id.k8s_owner_name}};
  for (const auto& [name, value] : k8s) labels->emplace_back(name, value);
}

// A resource attribute name as a Prometheus label name: service.version -> service_version;
// anything outside [A-Za-z0-9_] becomes '_', and a leading digit gets a '_' in front.
std::string AttributeLabelName(std::string_view attribute) {
  std::string out;
  out.reserve(attribute.size() + 1);
  if (!attribute.empty() && attribute[0] >= '0' && attribute[0] <= '9') out.push_back('_');
  for (char c : attribute) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out.push_back(ok ? c : '_');
  }
  return out;
}

// The pod's other resource attributes (service.version, ...) as target_info labels, as an OTel
// Prometheus exporter writes resource attributes; a name that is already a label is left out.
void AddResourceAttributeLabels(const ServiceIdentity& id,
                                std::vector<std::pair<std::string, std::string>>* labels) {
  for (const auto& [attribute, value] : id.resource_attributes) {
    std::string name = AttributeLabelName(attribute);
    const bool taken = std::any_of(labels->begin(), labels->end(),
                                   [&](const auto& label) { return label.first == name; });
    if (!taken) labels->emplace_back(std::move(name), value);
  }
}
}  // namespace

std::string_view AppMetrics::LimitSpanName(const ServiceIdentity& svc, std::string_view span_name) {
  const size_t limit = options_.span_names_limit;
  if (limit == 0) return span_name;
  thread_local std::string key;  // reused: no allocation per request once grown
  key.assign(svc.name).push_back('\x1f');
  key.append(svc.namespace_name);
  std::lock_guard<std::mutex> lock(span_names_mu_);
  auto it = span_names_.find(std::string_view(key));
  if (it == span_names_.end()) it = span_names_.emplace(key, StringSet()).first;
  StringSet& names = it->second;
  if (names.contains(span_name)) return span_name;
  if (names.size() >= limit) return "AGGREGATED";
  names.emplace(span_name);
  return span_name;
}

void AppMetrics::CollectTargetInfo(std::vector<FamilySnapshot>* out) const {
  FamilySnapshot family{"target_info", "Target metadata", MetricType::kGauge, {}};
  const std::string sdk_version =
      options_.telemetry_sdk_version.empty() ? kVersion : options_.telemetry_sdk_version;
  for (const auto& id : namer_->Known()) {
    Sample sample;
    sample.labels = {{"host_id", host_id_},
                     {"host_name", namer_->host_name()},
                     {"instance", id->instance},
                     {"job", id->job},
                     {"os_type", "linux"},
                     {"service_name", id->name},
                     {"service_namespace", id->namespace_name},
                     {"telemetry_sdk_language", ""},
                     {"telemetry_sdk_name", std::string(kSourceValue)},
                     {"telemetry_sdk_version", sdk_version}};
    if (options_.kubernetes) AddKubernetesTargetLabels(*id, &sample.labels);
    AddResourceAttributeLabels(*id, &sample.labels);
    sample.value = 1;
    family.samples.push_back(std::move(sample));
  }
  if (!family.samples.empty()) out->push_back(std::move(family));
}

namespace {

enum ProcessAttr : uint8_t {
  kProcServiceName,
  kProcServiceNamespace,
  kProcInstance,
  kProcJob,
  kProcPid,
  kProcParentPid,
  kProcCommand,
  kProcOwner,
  kProcCommandLine,
  kProcCommandArgs,
  kProcExecutableName,
  kProcExecutablePath,
  kProcHostName,
  kProcAttrCount,
};

std::string ProcessAttrName(ProcessAttr a) {
  switch (a) {
    case kProcServiceName:
      return "service.name";
    case kProcServiceNamespace:
      return "service.namespace";
    case kProcInstance:
      return "instance";
    case kProcJob:
      return "job";
    case kProcPid:
      return "process.pid";
    case kProcParentPid:
      return "process.parent_pid";
    case kProcCommand:
      return "process.command";
    case kProcOwner:
      return "process.owner";
    case kProcCommandLine:
      return "process.command_line";
    case kProcCommandArgs:
      return "process.command_args";
    case kProcExecutableName:
      return "process.executable.name";
    case kProcExecutablePath:
      return "process.executable.path";
    case kProcHostName:
      return "host.name";
    case kProcAttrCount:
      break;
  }
  return "";
}

std::string UserName(uid_t uid) {
  struct passwd pw {};
  struct passwd* result = nullptr;
  std::array<char, 4096> buf{};
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &result) == 0 && result != nullptr) {
    return result->pw_name;
  }
  return std::to_string(uid);
}

}  // namespace

void AppMetrics::InitProcessMetrics(const AttributeSelector& selector) {
  const std::vector<std::pair<ProcessAttr, bool>> defs = {{kProcServiceName, true},
                                                          {kProcServiceNamespace, true},
                                                          {kProcInstance, true},
                                                          {kProcJob, true},
                                                          {kProcPid, true},
                                                          {kProcParentPid, true},
                                                          {kProcCommand, true},
                                                          {kProcOwner, true},
                                                          {kProcCommandLine, false},
                                                          {kProcCommandArgs, false},
                                                          {kProcExecutableName, false},
                                                          {kProcExecutablePath, false},
                                                          {kProcHostName, true}};
  const std::tuple<const char*, const char*, MetricType> metrics[] = {
      {"process_cpu_time_seconds_total", "Total CPU seconds of the process, per cpu_mode.",
       MetricType::kCounter},
      {"process_memory_usage_bytes", "Physical memory (resident set) of the process, in bytes.",
       MetricType::kGauge},
      {"process_memory_virtual_bytes", "Virtual memory of the process, in bytes.",
       MetricType::kGauge},
      {"process_disk_io_bytes_total", "Bytes the process read from and wrote to storage.",
       MetricType::kCounter},
      {"process_network_io_bytes_total",
       "Bytes received and transmitted in the process's network namespace.", MetricType::kCounter},
      {"process_cpu_utilization_ratio",
       "CPU time of the process per cpu_mode since the previous collection, divided by the "
       "elapsed time and the number of CPUs.",
       MetricType::kGauge},
  };
  for (const auto& [name, help, type] : metrics) {
    ProcessMetric m;
    m.name = name;
    m.help = help;
    m.type = type;
    std::vector<ProcessAttr> ids = SelectAttrs(selector, m.name, defs, ProcessAttrName, &m.labels);
    m.attrs.assign(ids.begin(), ids.end());
    process_metrics_.push_back(std::move(m));
  }
}

void AppMetrics::CollectProcesses(std::vector<FamilySnapshot>* out) const {
  std::vector<uint32_t> pids;
  {
    std::lock_guard<std::mutex> lock(processes_mu_);
    pids = processes_;
  }
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  const double cpus = online > 0 ? static_cast<double>(online) : 1.0;
  std::vector<FamilySnapshot> families;
  for (const ProcessMetric& m : process_metrics_) {
    families.push_back(FamilySnapshot{m.name, m.help, m.type, {}});
  }
  for (uint32_t pid : pids) {
    absl::StatusOr<ProcessStats> stats = ReadProcessStats(options_.proc_root, pid);
    if (!stats.ok()) continue;  // exited since SetProcesses
    const std::shared_ptr<const ServiceIdentity> svc = namer_->Get(pid, stats->command);
    std::array<std::string, kProcAttrCount> v;
    v[kProcServiceName] = svc->name;
    v[kProcServiceNamespace] = svc->namespace_name;
    v[kProcInstance] = svc->instance;
    v[kProcJob] = svc->job;
    v[kProcPid] = std::to_string(pid);
    v[kProcParentPid] = std::to_string(stats->ppid);
    v[kProcCommand] = stats->command;
    v[kProcOwner] = UserName(stats->uid);
    v[kProcCommandLine] = stats->command_line;
    v[kProcCommandArgs] = stats->command_args;
    v[kProcExecutableName] = svc->executable;
    v[kProcExecutablePath] = stats->executable_path;
    v[kProcHostName] = namer_->host_name();
    auto add = [&](size_t metric, double value, const char* extra_label = nullptr,
                   const char* extra_value = nullptr) {
      const ProcessMetric& m = process_metrics_[metric];
      Sample sample;
      for (size_t i = 0; i < m.attrs.size(); ++i)
        sample.labels.emplace_back(m.labels[i], v[m.attrs[i]]);
      if (extra_label != nullptr) sample.labels.emplace_back(extra_label, extra_value);
      sample.value = value;
      families[metric].samples.push_back(std::move(sample));
    };
    add(0, stats->user_seconds, "cpu_mode", "user");
    add(0, stats->system_seconds, "cpu_mode", "system");
    add(0, stats->wait_seconds, "cpu_mode", "wait");
    add(1, static_cast<double>(stats->resident_bytes));
    add(2, static_cast<double>(stats->virtual_bytes));
    if (stats->disk_read_bytes && stats->disk_write_bytes) {
      add(3, static_cast<double>(*stats->disk_read_bytes), "disk_io_direction", "read");
      add(3, static_cast<double>(*stats->disk_write_bytes), "disk_io_direction", "write");
    }
    if (stats->net_receive_bytes && stats->net_transmit_bytes) {
      add(4, static_cast<double>(*stats->net_receive_bytes), "network_io_direction", "receive");
      add(4, static_cast<double>(*stats->net_transmit_bytes), "network_io_direction", "transmit");
    }
    // As Beyla's process.cpu.utilization: the CPU time since the previous collection over the
    // elapsed time and the CPUs. A process's first collection has no previous one: no sample.
    const CpuSample now{stats->user_seconds, stats->system_seconds, stats->wait_seconds,
                        RealClock::Get().NowMonotonicNs()};
    std::optional<CpuSample> previous;
    {
      std::lock_guard<std::mutex> lock(cpu_samples_mu_);
      auto [it, inserted] = cpu_samples_.try_emplace(pid, now);
      if (!inserted) {
        previous = it->second;
        it->second = now;
      }
    }
    if (previous && now.monotonic_ns > previous->monotonic_ns) {
      const double capacity =
          static_cast<double>(now.monotonic_ns - previous->monotonic_ns) / 1e9 * cpus;
      // A pid reused by a new process starts lower: clamp at 0.
      auto ratio = [capacity](double cur, double prev) {
        return cur > prev ? (cur - prev) / capacity : 0.0;
      };
      add(5, ratio(now.user, previous->user), "cpu_mode", "user");
      add(5, ratio(now.system, previous->system), "cpu_mode", "system");
      add(5, ratio(now.wait, previous->wait), "cpu_mode", "wait");
    }
  }
  {
    // Forget processes that left the set (sorted once: the set can hold thousands of pids).
    std::sort(pids.begin(), pids.end());
    std::lock_guard<std::mutex> lock(cpu_samples_mu_);
    std::erase_if(cpu_samples_, [&pids](const auto& entry) {
      return !std::binary_search(pids.begin(), pids.end(), entry.first);
    });
  }
  for (FamilySnapshot& f : families) {
    if (!f.samples.empty()) out->push_back(std::move(f));
  }
}

}  // namespace loupe::metrics::app
