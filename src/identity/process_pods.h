// Which pod (and which of its containers) a local process runs in, for discovery's k8s_*
// selectors and the k8s_* attributes of the process's metrics (Beyla's Kubernetes decorator).
//
// A process is matched to a pod of this node in two ways, in order:
//  1. the container ID in its cgroup path (containerd, CRI-O, Docker, podman scopes) against the
//     pods' status.containerStatuses[].containerID (ContainerIndex, fed by the pod informer);
//     this also names the container, and works for hostNetwork pods;
//  2. the addresses of its network namespace (netns_addresses.h) against the pod IPs the
//     identity cache knows.
//
// Thread expectations: ContainerIndex and ProcessPods are thread-safe; ProcessPods::PodOf is
// called from discovery's scan thread and from the metrics path (once per process).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/base/process_facts.h"
#include "src/identity/identity_cache.h"
#include "src/identity/pod_metadata.h"
#include "src/identity/service_name_template.h"
#include "src/k8s/cluster.h"
#include "src/k8s/objects.h"
#include "src/metrics/app/service_name.h"

namespace loupe::identity {

// Unix seconds → "2024-05-01 10:00:01 +0000 UTC" (Beyla's k8s.pod.start_time); "" for values
// <= 0 (absent) or past year 9999.
std::string FormatPodStartTime(int64_t unix_seconds);

// "containerd://<id>" → "<id>"; a value without "://" is returned unchanged.
std::string_view ContainerIdWithoutScheme(std::string_view container_id);

// The metadata of `pod` as seen by a process whose cgroup names `container_id` ("" if none).
PodMetadata PodMetadataOf(const k8s::Pod& pod, const k8s::Workload& workload,
                          std::string_view cluster_name, std::string_view container_id);

// Container ID (hex, no scheme) → "namespace/name" of the pod that runs it.
class ContainerIndex {
 public:
  // A pod informer event: add (old_pod null), update, delete (pod null).
  void OnPod(const k8s::Pod* old_pod, const k8s::Pod* pod);
  // "" when no pod of the node reports this container.
  std::string PodKeyOf(std::string_view container_id) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, std::string> keys_;
};

class ProcessPods {
 public:
  struct Options {
    std::string cluster_name;
    std::string proc_root = "/proc";
    // Discovery asks for every candidate process on each scan (every 500 ms): an answer is
    // reused for this long, so /proc/<pid> is read once per process every few seconds.
    std::chrono::milliseconds ttl{5000};
    size_t max_entries = 16384;  // the cache is cleared when it would grow past this
  };
  using PodByKey = std::function<std::shared_ptr<const k8s::Pod>(const std::string& key)>;
  using WorkloadOf = std::function<k8s::Workload(const k8s::Pod&)>;

  ProcessPods(Options options, IdentityCache& identity, const ContainerIndex& containers,
              PodByKey pod_by_key, WorkloadOf workload_of);

  // The pod of `pid`, null when it runs in none this node knows (or is gone and was not
  // remembered). Cached for ttl, including the null answer.
  std::shared_ptr<const PodMetadata> PodOf(uint32_t pid);
  // Uncached.
  std::shared_ptr<const PodMetadata> Resolve(uint32_t pid) const;

  // The pod whose IP `address` is (a process in a pod's network namespace sends and receives on
  // it), without a container name; null when the address is no pod's of this node's caches.
  // Uncached. For a process that is gone and was not remembered.
  std::shared_ptr<const PodMetadata> PodOfAddress(const flow::IpAddress& address) const;

  // Reads where `pid` runs now (its cgroup's container ID and its network namespace's
  // addresses), so that the pod of its requests read after it exited is still found, through
  // the pod informer at that time; drops a cached answer for an earlier process of the pid.
  // For processes discovery starts tracing (a Job's short-lived client, for one).
  void Remember(uint32_t pid);
  // `pids` (any order) are the processes traced now; what Remember() read of the others is kept
  // for kFactsLinger after they first were missing, then dropped.
  void Retain(std::span<const uint32_t> pids);

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::seconds kFactsLinger{30};
  struct Location {
    std::string container_id;                // from the cgroup path; "" when none
    std::vector<flow::IpAddress> addresses;  // of its network namespace
  };
  // nullopt when the process is gone.
  std::optional<Location> ReadLocation(uint32_t pid) const;
  // "namespace/name" of the pod whose IP `address` is; "" when none.
  std::string PodKeyOfAddress(const flow::IpAddress& address) const;
  // The metadata of the pod `key` names, seen from `container_id`; null when not known.
  std::shared_ptr<const PodMetadata> MetadataOf(const std::string& key,
                                                std::string_view container_id) const;

  const Options options_;
  IdentityCache& identity_;
  const ContainerIndex& containers_;
  const PodByKey pod_by_key_;
  const WorkloadOf workload_of_;
  std::mutex mu_;
  std::unordered_map<uint32_t, std::pair<Clock::time_point, std::shared_ptr<const PodMetadata>>>
      cache_;
  ProcessFacts<Location> remembered_;
};

// attributes.kubernetes.resource_labels: resource attribute -> pod label names, first present
// (and non-empty) wins.
using ResourceLabels = std::map<std::string, std::vector<std::string>>;

// Beyla's default (reference/beyla.md §2.3): service.name <- app.kubernetes.io/instance, then
// app.kubernetes.io/name; service.namespace <- app.kubernetes.io/part-of; service.version <-
// app.kubernetes.io/version. The configuration schema carries the same default.
const ResourceLabels& DefaultResourceLabels();

// Beyla's service naming for a process in a pod (reference/beyla.md §2.3) and the k8s_*
// attributes of its metrics (§4.5). Unless the process environment named it (name_from_env):
// service.name from the annotation resource.opentelemetry.io/service.name, else the first label
// of resource_labels["service.name"] the pod has, else the top workload, else the pod name.
// Unless namespace_from_env: service.namespace from the annotation
// resource.opentelemetry.io/service.namespace, else resource_labels["service.namespace"], else the
// pod's namespace. Every other attribute of resource_labels, and every other
// resource.opentelemetry.io/<attribute> annotation (which wins over labels), goes to
// id->resource_attributes, sorted by name; what it held on entry (the process's own
// OTEL_RESOURCE_ATTRIBUTES) wins over both. With `name_template`
// (attributes.kubernetes.service_name_template) the template names the service instead of the
// annotation, label and owner rules, as in Beyla; when it fails or gives an empty name, the pod
// name, and the result is false (true otherwise).
bool ApplyPodToService(const PodMetadata& pod, metrics::app::ServiceIdentity* id,
                       const ServiceNameTemplate* name_template = nullptr,
                       const ResourceLabels& resource_labels = DefaultResourceLabels());

// The k8s_* fields of `id` as OpenTelemetry resource attributes (k8s.namespace.name,
// k8s.pod.name, k8s.container.name, k8s.node.name, k8s.pod.uid, k8s.pod.start_time,
// k8s.<kind>.name of the top workload, k8s.replicaset.name, k8s.cluster.name, k8s.owner.name,
// k8s.kind), in that order, empty values left out: what a span's resource carries in Beyla.
std::vector<std::pair<std::string, std::string>> KubernetesResourceAttributes(
    const metrics::app::ServiceIdentity& id);

}  // namespace loupe::identity
