#include "src/k8s/cluster.h"

#include "absl/strings/str_cat.h"
#include "src/base/strings.h"

namespace loupe::k8s {
namespace {

template <typename T>
std::unique_ptr<Informer<T>> MakeIf(bool enabled, const ClientConfig& config,
                                    const InformerOptions& options) {
  if (!enabled) return nullptr;
  return std::make_unique<Informer<T>>(config, options);
}

}  // namespace

absl::StatusOr<ClusterKinds> ClusterKinds::WithDisabled(const std::vector<std::string>& disabled) {
  ClusterKinds kinds;
  for (const std::string& raw : disabled) {
    std::string name = AsciiLower(StripWhitespace(raw));
    if (name.empty()) continue;
    if (name.back() == 's') name.pop_back();
    bool* flag = nullptr;
    if (name == "service") flag = &kinds.services;
    if (name == "endpointslice") flag = &kinds.endpoint_slices;
    if (name == "node") flag = &kinds.nodes;
    if (name == "namespace") flag = &kinds.namespaces;
    if (name == "replicaset") flag = &kinds.replica_sets;
    if (name == "deployment") flag = &kinds.deployments;
    if (name == "daemonset") flag = &kinds.daemon_sets;
    if (name == "statefulset") flag = &kinds.stateful_sets;
    if (name == "job") flag = &kinds.jobs;
    if (name == "cronjob") flag = &kinds.cron_jobs;
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown Kubernetes kind '", raw,
          "' (known: service, endpointslice, node, namespace, replicaset, deployment, daemonset, "
          "statefulset, job, cronjob; pods cannot be disabled)"));
    }
    *flag = false;
  }
  return kinds;
}

Cluster::Cluster(const ClientConfig& config, const ClusterOptions& options) : config_(config) {
  InformerOptions pod_options = options.informer;
  if (!options.node_name.empty()) pod_options.field_selector = "spec.nodeName=" + options.node_name;
  // Selectors in the shared options are meant for pods; other kinds see every object.
  InformerOptions other = options.informer;
  other.field_selector.clear();
  other.label_selector.clear();
  const ClusterKinds& k = options.kinds;
  pods_ = std::make_unique<Informer<Pod>>(config, pod_options);
  services_ = MakeIf<Service>(k.services, config, other);
  endpoint_slices_ = MakeIf<EndpointSlice>(k.endpoint_slices, config, other);
  nodes_ = MakeIf<Node>(k.nodes, config, other);
  namespaces_ = MakeIf<Namespace>(k.namespaces, config, other);
  replica_sets_ = MakeIf<ReplicaSet>(k.replica_sets, config, other);
  deployments_ = MakeIf<Deployment>(k.deployments, config, other);
  daemon_sets_ = MakeIf<DaemonSet>(k.daemon_sets, config, other);
  stateful_sets_ = MakeIf<StatefulSet>(k.stateful_sets, config, other);
  jobs_ = MakeIf<Job>(k.jobs, config, other);
  cron_jobs_ = MakeIf<CronJob>(k.cron_jobs, config, other);
}

Cluster::~Cluster() { Stop(); }

std::vector<InformerBase*> Cluster::All() const {
  std::vector<InformerBase*> all;
  for (InformerBase* informer : std::initializer_list<InformerBase*>{
           pods_.get(), services_.get(), endpoint_slices_.get(), nodes_.get(), namespaces_.get(),
           replica_sets_.get(), deployments_.get(), daemon_sets_.get(), stateful_sets_.get(),
           jobs_.get(), cron_jobs_.get()}) {
    if (informer != nullptr) all.push_back(informer);
  }
  return all;
}

void Cluster::Start() {
  for (InformerBase* informer : All()) informer->Start();
}

void Cluster::Stop() {
  for (InformerBase* informer : All()) informer->Stop();
}

bool Cluster::HasSynced() const {
  for (InformerBase* informer : All()) {
    if (!informer->HasSynced()) return false;
  }
  return true;
}

bool Cluster::WaitForSync(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (InformerBase* informer : All()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!informer->WaitForSync(std::max(left, std::chrono::milliseconds(0)))) return false;
  }
  return true;
}

std::vector<InformerStatus> Cluster::Status() const {
  std::vector<InformerStatus> out;
  for (InformerBase* informer : All()) out.push_back(informer->Status());
  return out;
}

Workload Cluster::ResolveWorkload(const Pod& pod) const {
  const OwnerReference* owner = pod.meta.ControllerOwner();
  if (owner == nullptr) return {"Pod", pod.meta.name};
  const std::string key = pod.meta.namespace_ + "/" + owner->name;
  if (owner->kind == "ReplicaSet" && replica_sets_ != nullptr) {
    if (auto rs = replica_sets_->cache().Get(key)) {
      const OwnerReference* up = rs->meta.ControllerOwner();
      if (up != nullptr && up->kind == "Deployment") return {"Deployment", up->name};
    }
  }
  if (owner->kind == "Job" && jobs_ != nullptr) {
    if (auto job = jobs_->cache().Get(key)) {
      const OwnerReference* up = job->meta.ControllerOwner();
      if (up != nullptr && up->kind == "CronJob") return {"CronJob", up->name};
    }
  }
  return {owner->kind, owner->name};
}

}  // namespace loupe::k8s
