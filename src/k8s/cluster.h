// Cluster: the set of informers Loupe runs against one API server (Pods scoped to this node,
// Services, EndpointSlices, Nodes, Namespaces and the workload controllers), started and stopped
// together, with a combined status for /healthz and `loupe status`, and the owner walk that names
// a pod's workload (Pod → ReplicaSet → Deployment, Pod → Job → CronJob).
//
// Thread expectations: Start/Stop from the control thread; everything else from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "src/k8s/client_config.h"
#include "src/k8s/informer.h"
#include "src/k8s/objects.h"

namespace loupe::k8s {

// Which informers run. Pods are always needed; the rest can be turned off (as Beyla's
// attributes.kubernetes.disable_informers turns off node and service).
struct ClusterKinds {
  bool services = true;
  bool endpoint_slices = true;
  bool nodes = true;
  bool namespaces = true;
  bool replica_sets = true;
  bool deployments = true;
  bool daemon_sets = true;
  bool stateful_sets = true;
  bool jobs = true;
  bool cron_jobs = true;

  // Parses a comma-separated list of kinds to disable ("node,service,endpointslice,..."), plural
  // or singular, any case. InvalidArgument names an unknown kind.
  static absl::StatusOr<ClusterKinds> WithDisabled(const std::vector<std::string>& disabled);
};

struct ClusterOptions {
  // When set, the Pod informer watches only this node's pods (fieldSelector spec.nodeName=...).
  std::string node_name;
  ClusterKinds kinds;
  InformerOptions informer;  // shared by all informers (selectors are not applied to all kinds)
};

// The top-level workload of a pod: Deployment, DaemonSet, StatefulSet, CronJob, Job, ReplicaSet
// (when it has no Deployment), or the pod itself (kind "Pod") when it has no controller.
struct Workload {
  std::string kind;
  std::string name;
};

class Cluster {
 public:
  Cluster(const ClientConfig& config, const ClusterOptions& options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  void Start();
  void Stop();
  // True when every running informer completed its first list.
  bool HasSynced() const;
  bool WaitForSync(std::chrono::milliseconds timeout) const;
  std::vector<InformerStatus> Status() const;
  const ClientConfig& config() const { return config_; }

  // Informers; nullptr for kinds that are disabled. Pods are always present.
  Informer<Pod>& pods() { return *pods_; }
  Informer<Service>* services() { return services_.get(); }
  Informer<EndpointSlice>* endpoint_slices() { return endpoint_slices_.get(); }
  Informer<Node>* nodes() { return nodes_.get(); }
  Informer<Namespace>* namespaces() { return namespaces_.get(); }
  Informer<ReplicaSet>* replica_sets() { return replica_sets_.get(); }
  Informer<Deployment>* deployments() { return deployments_.get(); }
  Informer<DaemonSet>* daemon_sets() { return daemon_sets_.get(); }
  Informer<StatefulSet>* stateful_sets() { return stateful_sets_.get(); }
  Informer<Job>* jobs() { return jobs_.get(); }
  Informer<CronJob>* cron_jobs() { return cron_jobs_.get(); }

  // Walks the pod's controller owners through the cached ReplicaSets and Jobs.
  Workload ResolveWorkload(const Pod& pod) const;

 private:
  std::vector<InformerBase*> All() const;

  ClientConfig config_;
  std::unique_ptr<Informer<Pod>> pods_;
  std::unique_ptr<Informer<Service>> services_;
  std::unique_ptr<Informer<EndpointSlice>> endpoint_slices_;
  std::unique_ptr<Informer<Node>> nodes_;
  std::unique_ptr<Informer<Namespace>> namespaces_;
  std::unique_ptr<Informer<ReplicaSet>> replica_sets_;
  std::unique_ptr<Informer<Deployment>> deployments_;
  std::unique_ptr<Informer<DaemonSet>> daemon_sets_;
  std::unique_ptr<Informer<StatefulSet>> stateful_sets_;
  std::unique_ptr<Informer<Job>> jobs_;
  std::unique_ptr<Informer<CronJob>> cron_jobs_;
};

}  // namespace loupe::k8s
