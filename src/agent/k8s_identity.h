// Kubernetes metadata for the identity caches: pods (node-scoped) become endpoints of their IPs,
// Services name their ClusterIPs and, through EndpointSlices, their backends; other nodes'
// addresses are remote-node. Fed by the informers of src/k8s; the caches keep answering with the
// last known state while the API server is unreachable.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/config/config.h"
#include "src/identity/identity_cache.h"
#include "src/k8s/cluster.h"

namespace loupe::agent {

class KubernetesIdentity {
 public:
  // Null (and OK) when Kubernetes metadata is off: attributes.kubernetes.enable false, or
  // autodetect without a kubeconfig (KUBECONFIG, ~/.kube/config, attributes.kubernetes.
  // kubeconfig_path) or an in-cluster service account. An error when enable is true and no
  // configuration can be loaded.
  static absl::StatusOr<std::unique_ptr<KubernetesIdentity>> Create(
      const config::Config& config, const std::string& node_name,
      identity::IdentityCache& identity);
  ~KubernetesIdentity();

  void Start();
  void Stop();
  bool synced() const;
  std::vector<k8s::InformerStatus> Status() const;
  const std::string& server() const;
  k8s::Cluster& cluster() { return *cluster_; }

 private:
  KubernetesIdentity(std::unique_ptr<k8s::Cluster> cluster, std::string node_name,
                     std::string cluster_name, identity::IdentityCache& identity);
  void OnPod(const k8s::Pod* old_pod, const k8s::Pod* pod);
  flow::Endpoint PodEndpoint(const k8s::Pod& pod) const;

  std::unique_ptr<k8s::Cluster> cluster_;
  const std::string node_name_;
  const std::string cluster_name_;
  identity::IdentityCache& identity_;
  std::mutex pod_mu_;
};

}  // namespace loupe::agent
