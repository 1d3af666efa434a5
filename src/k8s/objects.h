// Compact Kubernetes objects: only the fields Loupe uses for identities and service naming, decoded
// from the API server's JSON. The informer caches hold these instead of the full objects, so memory
// is bounded by what Loupe keeps, not by what the cluster sends (managedFields, container specs,
// volumes and pod templates are never kept; annotations only under selected prefixes or keys).
//
// Thread expectations: plain values; decoding is reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"

namespace loupe::k8s {

using Json = nlohmann::json;
using StringPairs = std::vector<std::pair<std::string, std::string>>;  // sorted by key

// Where a kind is served and how its objects are keyed.
struct ResourceInfo {
  std::string_view kind;      // "Pod"
  std::string_view api_path;  // "/api/v1" or "/apis/apps/v1"
  std::string_view plural;    // "pods"
  bool namespaced = true;
};

struct OwnerReference {
  std::string kind;
  std::string name;
  bool controller = false;
};

struct ObjectMeta {
  std::string name;
  std::string namespace_;
  std::string uid;
  std::string resource_version;
  StringPairs labels;
  StringPairs annotations;  // only the keys DecodeOptions keeps
  std::vector<OwnerReference> owner_references;
  int64_t creation_timestamp_s = 0;  // Unix seconds; 0 when absent

  // "namespace/name", or "name" for cluster-scoped objects: the cache key.
  std::string Key() const;
  // The value of a label, or nullptr.
  const std::string* Label(std::string_view key) const;
  // The controller owner (ownerReferences entry with controller: true), or nullptr.
  const OwnerReference* ControllerOwner() const;
};

struct ContainerStatus {
  std::string name;
  std::string container_id;  // as reported: "containerd://<64 hex>"; empty before it starts
};

struct Pod {
  static constexpr ResourceInfo kResource{"Pod", "/api/v1", "pods", true};
  ObjectMeta meta;
  std::string node_name;
  std::string service_account;
  bool host_network = false;
  std::string phase;  // Pending, Running, Succeeded, Failed, Unknown
  std::string host_ip;
  std::vector<std::string> pod_ips;  // status.podIPs (falls back to status.podIP)
  int64_t start_time_s = 0;
  std::vector<ContainerStatus> containers;  // init containers first, then containers
};

struct ServicePort {
  std::string name;
  std::string protocol;
  int32_t port = 0;
};

struct Service {
  static constexpr ResourceInfo kResource{"Service", "/api/v1", "services", true};
  ObjectMeta meta;
  std::string type;  // ClusterIP, NodePort, LoadBalancer, ExternalName
  std::vector<std::string>
      cluster_ips;  // spec.clusterIPs (falls back to spec.clusterIP); no "None"
  StringPairs selector;
  std::vector<ServicePort> ports;
};

struct ObjectReference {
  std::string kind;
  std::string namespace_;
  std::string name;
};

struct Endpoint {
  std::vector<std::string> addresses;
  bool ready = true;  // conditions.ready; absent means ready
  std::string node_name;
  ObjectReference target_ref;
};

struct EndpointSlice {
  static constexpr ResourceInfo kResource{"EndpointSlice", "/apis/discovery.k8s.io/v1",
                                          "endpointslices", true};
  ObjectMeta meta;
  std::string service_name;  // label kubernetes.io/service-name
  std::string address_type;  // IPv4, IPv6, FQDN
  std::vector<Endpoint> endpoints;
  std::vector<ServicePort> ports;
};

struct NodeAddress {
  std::string type;  // InternalIP, ExternalIP, Hostname
  std::string address;
};

struct Node {
  static constexpr ResourceInfo kResource{"Node", "/api/v1", "nodes", false};
  ObjectMeta meta;
  std::vector<NodeAddress> addresses;
};

struct Namespace {
  static constexpr ResourceInfo kResource{"Namespace", "/api/v1", "namespaces", false};
  ObjectMeta meta;
};

// Workload controllers: Loupe needs their names, labels and owners (ReplicaSet → Deployment,
// Job → CronJob) to name a pod's workload.
struct ReplicaSet {
  static constexpr ResourceInfo kResource{"ReplicaSet", "/apis/apps/v1", "replicasets", true};
  ObjectMeta meta;
};
struct Deployment {
  static constexpr ResourceInfo kResource{"Deployment", "/apis/apps/v1", "deployments", true};
  ObjectMeta meta;
};
struct DaemonSet {
  static constexpr ResourceInfo kResource{"DaemonSet", "/apis/apps/v1", "daemonsets", true};
  ObjectMeta meta;
};
struct StatefulSet {
  static constexpr ResourceInfo kResource{"StatefulSet", "/apis/apps/v1", "statefulsets", true};
  ObjectMeta meta;
};
struct Job {
  static constexpr ResourceInfo kResource{"Job", "/apis/batch/v1", "jobs", true};
  ObjectMeta meta;
};
struct CronJob {
  static constexpr ResourceInfo kResource{"CronJob", "/apis/batch/v1", "cronjobs", true};
  ObjectMeta meta;
};

struct DecodeOptions {
  // Annotations kept on objects: keys under these prefixes, and these exact keys (the ones
  // discovery's k8s_pod_annotations selectors name); everything else is dropped at decode time,
  // so a pod costs no annotation memory unless a selector needs one.
  std::vector<std::string> annotation_prefixes = {"resource.opentelemetry.io/"};
  std::vector<std::string> annotation_keys;
};

// Decoders: fill `out` from one object of the kind. InvalidArgument when the value is not an
// object, lacks metadata.name, or a used field has the wrong JSON type. Unknown fields are ignored.
absl::Status Decode(const Json& object, const DecodeOptions& options, Pod* out);
absl::Status Decode(const Json& object, const DecodeOptions& options, Service* out);
absl::Status Decode(const Json& object, const DecodeOptions& options, EndpointSlice* out);
absl::Status Decode(const Json& object, const DecodeOptions& options, Node* out);
absl::Status Decode(const Json& object, const DecodeOptions& options, Namespace* out);
absl::Status Decode(const Json& object, const DecodeOptions& options, ReplicaSet* out);
absl::Status Decode(const Json& object, const DecodeOptions& options, Deployment* out);
absl::Status Decode(const Json& object, const DecodeOptions& options, DaemonSet* out);
absl::Status Decode(const Json& object, const DecodeOptions& options, StatefulSet* out);
absl::Status Decode(const Json& object, const DecodeOptions& options, Job* out);
absl::Status Decode(const Json& object, const DecodeOptions& options, CronJob* out);

// Decodes only metadata (used for BOOKMARK objects and by the typed decoders).
absl::Status DecodeMeta(const Json& object, const DecodeOptions& options, ObjectMeta* out);

// JSON renderings of the compact objects (debug output, `loupe status`, tests).
Json ToJson(const ObjectMeta& meta);
Json ToJson(const Pod& pod);
Json ToJson(const Service& service);
Json ToJson(const EndpointSlice& slice);
Json ToJson(const Node& node);
Json ToJson(const Namespace& ns);
Json ToJson(const ReplicaSet& rs);
Json ToJson(const Deployment& deployment);
Json ToJson(const DaemonSet& ds);
Json ToJson(const StatefulSet& sts);
Json ToJson(const Job& job);
Json ToJson(const CronJob& cronjob);

// Parses an RFC 3339 timestamp as the API server writes it ("2024-05-01T10:00:00Z", optional
// fraction and numeric offset) to Unix seconds. Returns false on malformed input.
bool ParseRfc3339(std::string_view text, int64_t* unix_seconds);

}  // namespace loupe::k8s
