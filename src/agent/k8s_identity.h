// Kubernetes metadata for the identity caches: pods (node-scoped) become endpoints of their IPs,
// Services name their ClusterIPs and, through EndpointSlices, their backends; other nodes'
// addresses are remote-node. Fed by the informers of src/k8s; the caches keep answering with the
// last known state while the API server is unreachable. Also answers which pod (and container) a
// local process runs in (identity/process_pods.h), for discovery and the k8s_* metric attributes.
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "src/config/config.h"
#include "src/flow/agent_events.h"
#include "src/identity/identity_cache.h"
#include "src/identity/process_pods.h"
#include "src/k8s/cluster.h"

namespace loupe::agent {

class KubernetesIdentity {
 public:
  // Null (and OK) when Kubernetes metadata is off: attributes.kubernetes.enable false, or
  // autodetect without a kubeconfig (KUBECONFIG, ~/.kube/config, attributes.kubernetes.
  // kubeconfig_path) or an in-cluster service account. An error when enable is true and no
  // configuration can be loaded.
  // `annotation_keys`: pod annotations to keep in the cache besides resource.opentelemetry.io/*
  // (the ones discovery selectors name); every other annotation is dropped at decode time.
  static absl::StatusOr<std::unique_ptr<KubernetesIdentity>> Create(
      const config::Config& config, const std::string& node_name, identity::IdentityCache& identity,
      std::vector<std::string> annotation_keys = {});
  ~KubernetesIdentity();

  // Where the pods' endpoint and address changes go as agent events (before Start; may stay null).
  void SetAgentEvents(flow::AgentEventLog* events) { events_ = events; }

  void Start();
  void Stop();
  bool synced() const;
  std::vector<k8s::InformerStatus> Status() const;
  const std::string& server() const;
  k8s::Cluster& cluster() { return *cluster_; }
  // The pod of a local process; null when it runs in none of this node's pods. Cached 5 s.
  std::shared_ptr<const identity::PodMetadata> PodOf(uint32_t pid) {
    return process_pods_->PodOf(pid);
  }
  // The pod whose IP `address` is; null when none (identity::ProcessPods::PodOfAddress).
  std::shared_ptr<const identity::PodMetadata> PodOfAddress(const flow::IpAddress& address) {
    return process_pods_->PodOfAddress(address);
  }
  // See identity::ProcessPods::Remember and Retain: the pods of traced processes that exit.
  void RememberProcess(uint32_t pid) { process_pods_->Remember(pid); }
  void RetainProcesses(std::span<const uint32_t> pids) { process_pods_->Retain(pids); }

 private:
  KubernetesIdentity(std::unique_ptr<k8s::Cluster> cluster, std::string node_name,
                     std::string cluster_name, identity::IdentityCache& identity);
  void OnPod(const k8s::Pod* old_pod, const k8s::Pod* pod);
  flow::Endpoint PodEndpoint(const k8s::Pod& pod) const;
  // Agent events for a pod that is (still) an endpoint with `ips`, or is not one any more. Under
  // pod_mu_.
  void NoteEndpoint(const k8s::Pod& pod, const flow::Endpoint& ep,
                    const std::vector<flow::IpAddress>& ips, int64_t now_ns);
  void NoteEndpointGone(const k8s::Pod& pod, int64_t now_ns);

  std::unique_ptr<k8s::Cluster> cluster_;
  const std::string node_name_;
  const std::string cluster_name_;
  identity::IdentityCache& identity_;
  std::mutex pod_mu_;
  flow::AgentEventLog* events_ = nullptr;
  // The pods announced as endpoints (namespace/name), with what their events said: later events
  // tell what changed. Under pod_mu_.
  struct KnownEndpoint {
    uint32_t identity = 0;
    std::vector<flow::IpAddress> ips;
    std::vector<std::string> labels;
    std::string host_ip;
  };
  std::unordered_map<std::string, KnownEndpoint> endpoints_;
  identity::ContainerIndex containers_;
  std::unique_ptr<identity::ProcessPods> process_pods_;
};

}  // namespace loupe::agent
