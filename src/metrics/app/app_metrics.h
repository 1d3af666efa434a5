// Beyla-compatible application metrics (reference beyla.md §4): RED histograms of HTTP and gRPC
// requests, target_info, the service graph, legacy span metrics, process metrics from /proc and
// network flow bytes, with Beyla's Prometheus names, default buckets and default labels, and
// `attributes.select` applied per metric.
//
// Thread expectations: OnRequest/OnFlow may be called from any number of threads at once; they
// take no exclusive lock when the series already exists and allocate nothing themselves
// (labels are string_views into the request, the cached service identity and stack buffers).
// SetProcesses/SetPeerResolver may run concurrently with them. Features not enabled register
// nothing in the registry.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "src/flow/flow.h"
#include "src/metrics/app/options.h"
#include "src/metrics/app/routes.h"
#include "src/metrics/app/select.h"
#include "src/metrics/app/service_name.h"
#include "src/metrics/registry.h"
#include "src/telemetry/request.h"

namespace loupe::metrics::app {

// The service behind a remote address, as a resolver (Kubernetes, DNS) knows it.
struct PeerIdentity {
  std::string name;
  std::string namespace_name;
  bool instrumented = false;  // the peer's own spans are reported (by this or another agent)
};
using PeerResolver =
    std::function<std::shared_ptr<const PeerIdentity>(const flow::IpAddress& ip, uint16_t port)>;

class AppMetrics {
 public:
  static absl::StatusOr<std::unique_ptr<AppMetrics>> Create(Registry& registry,
                                                            AppMetricsOptions options);
  ~AppMetrics();
  AppMetrics(const AppMetrics&) = delete;
  AppMetrics& operator=(const AppMetrics&) = delete;

  void OnRequest(const telemetry::Request& request);
  // `exemplar`: the request's sampled span (trace and span id) for the duration histograms;
  // null for none.
  void OnRequest(const telemetry::Request& request, const ExemplarRef* exemplar);
  void OnFlow(const flow::Flow& flow);
  // The instrumented processes: process_* metrics are read for these at scrape time, and cached
  // service identities of other pids are dropped.
  void SetProcesses(std::vector<uint32_t> pids);
  // Names service-graph peers that are not local instrumented services.
  void SetPeerResolver(PeerResolver resolver);

  ServiceNamer& service_namer() { return *namer_; }
  const RouteMatcher& routes() const { return *routes_; }
  uint32_t features() const { return features_; }

  // One attribute value slot per label any request metric can carry.
  enum Attr : uint8_t {
    kServiceName,
    kServiceNamespace,
    kInstance,
    kJob,
    kHttpRequestMethod,
    kHttpResponseStatusCode,
    kUrlScheme,
    kHttpRoute,
    kUrlPath,
    kServerAddress,
    kServerPort,
    kClientAddress,
    kRpcMethod,
    kRpcSystem,
    kRpcStatus,
    kSpanName,
    kSpanKind,
    kStatusCode,
    kSource,
    kClient,
    kClientNamespace,
    kServer,
    kServerNamespace,
    kConnectionType,
    // Aliases the seed's Grafana queries use (`service`, `http_status_code`): same values as
    // service.name and http.response.status_code; remove with attributes.select exclude.
    kServiceAlias,
    kHttpStatusCodeAlias,
    // Kubernetes (reference/beyla.md §4.5, shown when Kubernetes metadata is on).
    kK8sNamespaceName,
    kK8sPodName,
    kK8sDeploymentName,
    kK8sDaemonSetName,
    kK8sStatefulSetName,
    kK8sJobName,
    kK8sCronJobName,
    kK8sOwnerName,
    kK8sKind,
    kK8sNodeName,
    kK8sClusterName,
    kK8sReplicaSetName,
    kK8sPodUid,
    kK8sPodStartTime,
    kK8sContainerName,
    kAttrCount,
  };
  // Network flow attributes.
  enum NetAttr : uint8_t {
    kNetBeylaIp,
    kNetTransport,
    kNetSrcAddress,
    kNetDstAddress,
    kNetSrcPort,
    kNetDstPort,
    kNetSrcName,
    kNetDstName,
    kNetSrcCidr,
    kNetDstCidr,
    kNetDirection,
    kNetIfaceDirection,
    kNetK8sSrcNamespace,
    kNetK8sDstNamespace,
    kNetK8sSrcName,
    kNetK8sDstName,
    kNetK8sSrcType,
    kNetK8sDstType,
    kNetK8sSrcOwnerName,
    kNetK8sDstOwnerName,
    kNetK8sSrcOwnerType,
    kNetK8sDstOwnerType,
    kNetK8sClusterName,
    kNetAttrCount,
  };

  template <typename Cell, typename AttrId>
  struct Metric {
    Family<Cell>* family = nullptr;
    std::vector<AttrId> attrs;  // the selected attributes, in label order
  };

 private:
  AppMetrics() = default;
  absl::Status Init(Registry& registry, AppMetricsOptions options);
  std::shared_ptr<const PeerIdentity> ResolvePeer(const flow::IpAddress& ip, uint16_t port);
  void RememberEndpoint(const flow::IpAddress& ip, uint16_t port, const ServiceIdentity& service);
  void InitProcessMetrics(const AttributeSelector& selector);
  void CollectTargetInfo(std::vector<FamilySnapshot>* out) const;
  void CollectProcesses(std::vector<FamilySnapshot>* out) const;

  struct EndpointKey {
    std::array<uint8_t, 16> ip;
    uint16_t port;
    bool operator==(const EndpointKey&) const = default;
  };
  struct EndpointHash {
    size_t operator()(const EndpointKey& k) const;
  };
  struct Cidr {
    std::array<uint8_t, 16> bytes{};
    uint8_t version = 0;
    uint8_t prefix = 0;
    std::string label;
  };
  std::string_view CidrOf(const flow::IpAddress& ip) const;

  AppMetricsOptions options_;
  uint32_t features_ = 0;
  Registry* registry_ = nullptr;
  std::unique_ptr<RouteMatcher> routes_;
  std::unique_ptr<ServiceNamer> namer_;
  std::vector<Cidr> cidrs_;  // longest prefix first

  Metric<Histogram, Attr> http_server_duration_, http_client_duration_;
  Metric<Histogram, Attr> http_server_request_size_, http_server_response_size_;
  Metric<Histogram, Attr> http_client_request_size_, http_client_response_size_;
  Metric<Histogram, Attr> rpc_server_duration_, rpc_client_duration_;
  Metric<Histogram, Attr> span_latency_;
  Metric<Counter, Attr> span_calls_;
  Metric<Counter, Attr> graph_total_, graph_failed_;
  Metric<Histogram, Attr> graph_client_, graph_server_;
  Metric<Counter, NetAttr> network_bytes_;
  struct ProcessMetric {
    std::string name;
    std::string help;
    MetricType type = MetricType::kGauge;
    std::vector<int> attrs;           // process attribute ids in label order
    std::vector<std::string> labels;  // their Prometheus names
  };
  std::vector<ProcessMetric> process_metrics_;  // cpu time, memory, virtual, disk, network,
                                                // cpu utilization
  // CPU times of each process at the previous collection, for process_cpu_utilization_ratio.
  struct CpuSample {
    double user = 0, system = 0, wait = 0;
    int64_t monotonic_ns = 0;
  };
  mutable std::mutex cpu_samples_mu_;
  mutable std::unordered_map<uint32_t, CpuSample> cpu_samples_;

  // Span names seen per service (name '\x1f' namespace), for span_names_limit.
  std::string_view LimitSpanName(const ServiceIdentity& svc, std::string_view span_name);
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;
  std::mutex span_names_mu_;
  std::unordered_map<std::string, StringSet, StringHash, std::equal_to<>> span_names_;

  mutable std::shared_mutex endpoints_mu_;
  std::unordered_map<EndpointKey, std::shared_ptr<const PeerIdentity>, EndpointHash> endpoints_;
  PeerResolver resolver_;  // guarded by endpoints_mu_

  mutable std::mutex processes_mu_;
  std::vector<uint32_t> processes_;
  std::string host_id_;
  std::vector<int> collector_ids_;
};

// gRPC status of a request: grpc_status when known, else mapped from the HTTP status as gRPC
// clients do (400->13, 401->16, 403->7, 404->12, 429/502/503/504->14, other->2; 200->2).
int GrpcStatusOf(const telemetry::Request& request);
// OpenTelemetry span status: error for HTTP servers on 5xx (or no status), HTTP clients on 4xx
// and 5xx, gRPC servers on UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE and
// DATA_LOSS, and gRPC clients on any non-OK status.
bool IsErrorRequest(const telemetry::Request& request);

}  // namespace loupe::metrics::app
