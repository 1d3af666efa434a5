// Kubernetes metadata of the pod a local process runs in: what discovery's k8s_* selectors match
// on and what the application metrics and spans of the process carry as k8s_* attributes.
//
// Thread expectations: a plain value; shared as std::shared_ptr<const PodMetadata>.
#pragma once

#include <map>
#include <string>

namespace loupe::identity {

struct PodMetadata {
  std::string namespace_name;
  std::string pod_name;
  std::string uid;
  // k8s.pod.start_time as Beyla writes it (Go's time.Time.String() in UTC):
  // "2024-05-01 10:00:01 +0000 UTC"; from status.startTime, else metadata.creationTimestamp.
  std::string start_time;
  std::string node_name;
  std::string cluster_name;
  // Top workload: Deployment, DaemonSet, StatefulSet, CronJob, Job, or a ReplicaSet without a
  // Deployment; both empty for a pod without a controller.
  std::string owner_name;
  std::string owner_kind;
  std::string replicaset_name;  // the pod's controller ReplicaSet, "" when it has none
  std::map<std::string, std::string> labels;
  // Only the annotations the informer keeps: resource.opentelemetry.io/* and the keys that
  // discovery selectors name (k8s_pod_annotations).
  std::map<std::string, std::string> annotations;
  // The process's container, from the container ID in its cgroup matched against the pod's
  // status.containerStatuses[].containerID; both empty when the process's cgroup names no
  // container of the pod.
  std::string container_id;  // hex, without the runtime scheme
  std::string container_name;
};

}  // namespace loupe::identity
