#include "src/agent/k8s_identity.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "absl/status/status.h"
#include "src/base/logging.h"

namespace loupe::agent {
namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool ParseIp(const std::string& text, flow::IpAddress* ip) {
  return flow::IpAddress::Parse(text, ip);
}

}  // namespace

absl::StatusOr<std::unique_ptr<KubernetesIdentity>> KubernetesIdentity::Create(
    const config::Config& config, const std::string& node_name, identity::IdentityCache& identity,
    std::vector<std::string> annotation_keys) {
  const auto& kube = config.kubernetes();
  if (kube.enable == config::KubeEnable::kFalse) return nullptr;
  absl::StatusOr<k8s::ClientConfig> client = absl::NotFoundError("no Kubernetes configuration");
  if (!kube.kubeconfig_path.empty()) {
    client = k8s::LoadKubeconfig(kube.kubeconfig_path);
  } else if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
    client = k8s::InClusterConfig();
  } else if (auto path = k8s::DefaultKubeconfigPath([](const std::string& name) {
               const char* v = std::getenv(name.c_str());
               return v == nullptr ? std::nullopt : std::optional<std::string>(v);
             })) {
    client = k8s::LoadKubeconfig(*path);
  }
  if (!client.ok()) {
    if (kube.enable == config::KubeEnable::kAutodetect &&
        client.status().code() == absl::StatusCode::kNotFound) {
      LOG_INFO("Kubernetes metadata off: {} (attributes.kubernetes.enable is autodetect)",
               std::string(client.status().message()));
      return nullptr;
    }
    return absl::FailedPreconditionError("attributes.kubernetes: " +
                                         std::string(client.status().message()));
  }
  k8s::ClusterOptions options;
  options.node_name = node_name;
  options.informer.decode.annotation_keys = std::move(annotation_keys);
  auto cluster = std::make_unique<k8s::Cluster>(*client, options);
  std::string cluster_name = kube.cluster_name.empty() ? "default" : kube.cluster_name;
  return std::unique_ptr<KubernetesIdentity>(
      new KubernetesIdentity(std::move(cluster), node_name, cluster_name, identity));
}

KubernetesIdentity::KubernetesIdentity(std::unique_ptr<k8s::Cluster> cluster, std::string node_name,
                                       std::string cluster_name, identity::IdentityCache& identity)
    : cluster_(std::move(cluster)),
      node_name_(std::move(node_name)),
      cluster_name_(std::move(cluster_name)),
      identity_(identity) {
  process_pods_ = std::make_unique<identity::ProcessPods>(
      identity::ProcessPods::Options{cluster_name_}, identity_, containers_,
      [this](const std::string& key) { return cluster_->pods().cache().Get(key); },
      [this](const k8s::Pod& pod) { return cluster_->ResolveWorkload(pod); });
  cluster_->pods().cache().AddHandlers(
      {[this](const k8s::Pod& p) { containers_.OnPod(nullptr, &p); },
       [this](const k8s::Pod& old_pod, const k8s::Pod& p) { containers_.OnPod(&old_pod, &p); },
       [this](const k8s::Pod& p) { containers_.OnPod(&p, nullptr); }});
  cluster_->pods().cache().AddHandlers(
      {[this](const k8s::Pod& p) { OnPod(nullptr, &p); },
       [this](const k8s::Pod& old_pod, const k8s::Pod& p) { OnPod(&old_pod, &p); },
       [this](const k8s::Pod& p) { OnPod(&p, nullptr); }});
  // A pod can arrive before its ReplicaSet or Job (the informers list in parallel): when an owner
  // appears or changes, name its pods' workload again.
  auto refresh_owned = [this](const k8s::ObjectMeta& owner, const char* kind) {
    for (const auto& pod : cluster_->pods().cache().List()) {
      const k8s::OwnerReference* ref = pod->meta.ControllerOwner();
      if (ref != nullptr && ref->kind == kind && ref->name == owner.name &&
          pod->meta.namespace_ == owner.namespace_) {
        OnPod(nullptr, pod.get());
      }
    }
  };
  if (auto* rs = cluster_->replica_sets()) {
    rs->cache().AddHandlers(
        {[refresh_owned](const k8s::ReplicaSet& r) { refresh_owned(r.meta, "ReplicaSet"); },
         [refresh_owned](const k8s::ReplicaSet&, const k8s::ReplicaSet& r) {
           refresh_owned(r.meta, "ReplicaSet");
         },
         nullptr});
  }
  if (auto* jobs = cluster_->jobs()) {
    jobs->cache().AddHandlers(
        {[refresh_owned](const k8s::Job& j) { refresh_owned(j.meta, "Job"); },
         [refresh_owned](const k8s::Job&, const k8s::Job& j) { refresh_owned(j.meta, "Job"); },
         nullptr});
  }
  auto service_ips = [](const k8s::Service& s) {
    std::vector<flow::IpAddress> out;
    for (const auto& text : s.cluster_ips) {
      flow::IpAddress ip;
      if (ParseIp(text, &ip)) out.push_back(ip);
    }
    return out;
  };
  if (auto* services = cluster_->services()) {
    services->cache().AddHandlers(
        {[this, service_ips](const k8s::Service& s) {
           for (const auto& ip : service_ips(s)) {
             identity_.UpsertService(ip, s.meta.name, s.meta.namespace_);
           }
         },
         [this, service_ips](const k8s::Service& old_s, const k8s::Service& s) {
           for (const auto& ip : service_ips(old_s)) identity_.DeleteService(ip);
           for (const auto& ip : service_ips(s)) {
             identity_.UpsertService(ip, s.meta.name, s.meta.namespace_);
           }
         },
         [this, service_ips](const k8s::Service& s) {
           for (const auto& ip : service_ips(s)) identity_.DeleteService(ip);
         }});
  }
  // Backends of a Service carry its name too (flows after kube-proxy's DNAT name the pod IP).
  auto backends = [](const k8s::EndpointSlice& slice) {
    std::vector<flow::IpAddress> out;
    for (const auto& ep : slice.endpoints) {
      for (const auto& text : ep.addresses) {
        flow::IpAddress ip;
        if (ParseIp(text, &ip)) out.push_back(ip);
      }
    }
    return out;
  };
  if (auto* slices = cluster_->endpoint_slices()) {
    slices->cache().AddHandlers(
        {[this, backends](const k8s::EndpointSlice& s) {
           if (s.service_name.empty()) return;
           for (const auto& ip : backends(s)) {
             identity_.UpsertService(ip, s.service_name, s.meta.namespace_);
           }
         },
         [this, backends](const k8s::EndpointSlice& old_s, const k8s::EndpointSlice& s) {
           for (const auto& ip : backends(old_s)) identity_.DeleteService(ip);
           if (s.service_name.empty()) return;
           for (const auto& ip : backends(s)) {
             identity_.UpsertService(ip, s.service_name, s.meta.namespace_);
           }
         },
         [this, backends](const k8s::EndpointSlice& s) {
           for (const auto& ip : backends(s)) identity_.DeleteService(ip);
         }});
  }
  if (auto* nodes = cluster_->nodes()) {
    auto on_node = [this](const k8s::Node& n) {
      if (n.meta.name == node_name_) return;  // this node's addresses are reserved:host
      flow::Endpoint ep;
      ep.identity = identity::kIdentityRemoteNode;
      ep.labels = {"reserved:remote-node"};
      ep.cluster_name = cluster_name_;
      for (const auto& a : n.addresses) {
        flow::IpAddress ip;
        if (a.type == "InternalIP" && ParseIp(a.address, &ip)) {
          identity_.UpsertEndpoint(ip, ep, 0);
        }
      }
    };
    nodes->cache().AddHandlers({on_node,
                                [on_node](const k8s::Node&, const k8s::Node& n) { on_node(n); },
                                [this](const k8s::Node& n) {
                                  for (const auto& a : n.addresses) {
                                    flow::IpAddress ip;
                                    if (a.type == "InternalIP" && ParseIp(a.address, &ip)) {
                                      identity_.DeleteEndpoint(ip, NowNs());
                                    }
                                  }
                                }});
  }
}

KubernetesIdentity::~KubernetesIdentity() { Stop(); }

void KubernetesIdentity::Start() { cluster_->Start(); }
void KubernetesIdentity::Stop() { cluster_->Stop(); }
bool KubernetesIdentity::synced() const { return cluster_->HasSynced(); }
std::vector<k8s::InformerStatus> KubernetesIdentity::Status() const { return cluster_->Status(); }
const std::string& KubernetesIdentity::server() const { return cluster_->config().server; }

flow::Endpoint KubernetesIdentity::PodEndpoint(const k8s::Pod& pod) const {
  flow::Endpoint ep;
  ep.namespace_name = pod.meta.namespace_;
  ep.pod_name = pod.meta.name;
  ep.cluster_name = cluster_name_;
  for (const auto& [key, value] : pod.meta.labels) {
    std::string label = "k8s:";
    label.append(key).append("=").append(value);
    ep.labels.push_back(std::move(label));
  }
  // The labels Cilium adds to every pod identity.
  ep.labels.push_back("k8s:io.kubernetes.pod.namespace=" + pod.meta.namespace_);
  if (!pod.service_account.empty()) {
    ep.labels.push_back("k8s:io.cilium.k8s.policy.serviceaccount=" + pod.service_account);
  }
  ep.labels.push_back("k8s:io.cilium.k8s.policy.cluster=" + cluster_name_);
  std::sort(ep.labels.begin(), ep.labels.end());
  const k8s::Workload w = cluster_->ResolveWorkload(pod);
  if (!w.name.empty() && w.kind != "Pod") ep.workloads.push_back({w.name, w.kind});
  return ep;
}

void KubernetesIdentity::OnPod(const k8s::Pod* old_pod, const k8s::Pod* pod) {
  // Serialised, and the workload resolved inside: a pod handler and an owner's refresh can't
  // leave a stale resolution last.
  std::lock_guard<std::mutex> lock(pod_mu_);
  const int64_t now = NowNs();
  auto ips = [](const k8s::Pod& p) {
    std::vector<flow::IpAddress> out;
    if (p.host_network) return out;  // the node's own addresses stay reserved:host
    for (const auto& text : p.pod_ips) {
      flow::IpAddress ip;
      if (ParseIp(text, &ip)) out.push_back(ip);
    }
    return out;
  };
  std::vector<flow::IpAddress> before = old_pod ? ips(*old_pod) : std::vector<flow::IpAddress>{};
  std::vector<flow::IpAddress> after = pod ? ips(*pod) : std::vector<flow::IpAddress>{};
  for (const auto& ip : before) {
    if (std::find(after.begin(), after.end(), ip) == after.end()) identity_.DeleteEndpoint(ip, now);
  }
  if (pod == nullptr || after.empty()) {
    NoteEndpointGone(pod != nullptr ? *pod : *old_pod, now);
    return;
  }
  const flow::Endpoint ep = PodEndpoint(*pod);
  // Flows after the pod was created belong to it (a pod that replaced another on the same IP).
  const int64_t since = pod->meta.creation_timestamp_s > 0
                            ? std::min<int64_t>(now, pod->meta.creation_timestamp_s * 1000000000LL)
                            : now;
  for (const auto& ip : after) identity_.UpsertEndpoint(ip, ep, since);
  NoteEndpoint(*pod, ep, after, now);
}

namespace {

std::string Cidr(const flow::IpAddress& ip) {
  return ip.ToString() + (ip.version == 6 ? "/128" : "/32");
}

bool Contains(const std::vector<flow::IpAddress>& ips, const flow::IpAddress& ip) {
  return std::find(ips.begin(), ips.end(), ip) != ips.end();
}

flow::AgentEvent PodEvent(flow::AgentEventType type, const k8s::Pod& pod, std::string host_ip,
                          int64_t now_ns) {
  flow::AgentEvent e;
  e.type = type;
  e.time_ns = now_ns;
  e.namespace_name = pod.meta.namespace_;
  e.pod_name = pod.meta.name;
  e.host_ip = std::move(host_ip);
  return e;
}

}  // namespace

void KubernetesIdentity::NoteEndpoint(const k8s::Pod& pod, const flow::Endpoint& ep,
                                      const std::vector<flow::IpAddress>& ips, int64_t now_ns) {
  if (events_ == nullptr) return;
  // The same numeric identity the cache gives the pod's flows (a deterministic allocation).
  const uint32_t identity = identity_.allocator().Allocate(ep.labels);
  const auto address = [&](flow::AgentEventType type, const flow::IpAddress& ip, uint32_t id,
                           std::optional<uint32_t> old_id) {
    flow::AgentEvent e = PodEvent(type, pod, pod.host_ip, now_ns);
    e.cidr = Cidr(ip);
    e.identity = id;
    e.old_identity = old_id;
    events_->Append(std::move(e));
  };
  const std::string key = pod.meta.namespace_ + "/" + pod.meta.name;
  auto [it, created] = endpoints_.try_emplace(key);
  KnownEndpoint& known = it->second;
  if (created) {
    flow::AgentEvent e = PodEvent(flow::AgentEventType::kEndpointCreated, pod, "", now_ns);
    e.labels = ep.labels;
    events_->Append(std::move(e));
    for (const auto& ip : ips) {
      address(flow::AgentEventType::kIpcacheUpserted, ip, identity, std::nullopt);
    }
  } else {
    for (const auto& ip : known.ips) {
      if (!Contains(ips, ip)) {
        address(flow::AgentEventType::kIpcacheDeleted, ip, known.identity, std::nullopt);
      }
    }
    for (const auto& ip : ips) {
      if (!Contains(known.ips, ip)) {
        address(flow::AgentEventType::kIpcacheUpserted, ip, identity, std::nullopt);
      } else if (identity != known.identity) {
        // New labels, a new identity for the same address.
        address(flow::AgentEventType::kIpcacheUpserted, ip, identity, known.identity);
      }
    }
  }
  known.identity = identity;
  known.ips = ips;
  known.labels = ep.labels;
  known.host_ip = pod.host_ip;
}

void KubernetesIdentity::NoteEndpointGone(const k8s::Pod& pod, int64_t now_ns) {
  if (events_ == nullptr) return;
  auto it = endpoints_.find(pod.meta.namespace_ + "/" + pod.meta.name);
  if (it == endpoints_.end()) return;
  const KnownEndpoint& known = it->second;
  for (const auto& ip : known.ips) {
    flow::AgentEvent e =
        PodEvent(flow::AgentEventType::kIpcacheDeleted, pod, known.host_ip, now_ns);
    e.cidr = Cidr(ip);
    e.identity = known.identity;
    events_->Append(std::move(e));
  }
  flow::AgentEvent e = PodEvent(flow::AgentEventType::kEndpointDeleted, pod, "", now_ns);
  e.labels = known.labels;
  events_->Append(std::move(e));
  endpoints_.erase(it);
}

}  // namespace loupe::agent
