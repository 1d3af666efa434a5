#include "src/identity/process_pods.h"

#include <algorithm>
#include <ctime>

#include "src/base/logging.h"
#include "src/base/strings.h"
#include "src/identity/cgroup.h"
#include "src/identity/netns_addresses.h"

namespace loupe::identity {
namespace {

constexpr std::string_view kResourceAnnotationPrefix = "resource.opentelemetry.io/";
constexpr std::string_view kServiceNameAnnotation = "resource.opentelemetry.io/service.name";
constexpr std::string_view kServiceNamespaceAnnotation =
    "resource.opentelemetry.io/service.namespace";

const std::string* Find(const std::map<std::string, std::string>& map, std::string_view key) {
  auto it = map.find(std::string(key));
  return it == map.end() || it->second.empty() ? nullptr : &it->second;
}

}  // namespace

std::string FormatPodStartTime(int64_t unix_seconds) {
  // 253402300799 = 9999-12-31T23:59:59Z: keeps the year at four digits.
  if (unix_seconds <= 0 || unix_seconds > 253402300799LL) return "";
  const auto t = static_cast<time_t>(unix_seconds);
  tm utc{};
  if (gmtime_r(&t, &utc) == nullptr) return "";
  char buf[40];
  const size_t n = strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S +0000 UTC", &utc);
  return std::string(buf, n);
}

std::string_view ContainerIdWithoutScheme(std::string_view container_id) {
  const size_t scheme = container_id.find("://");
  return scheme == std::string_view::npos ? container_id : container_id.substr(scheme + 3);
}

PodMetadata PodMetadataOf(const k8s::Pod& pod, const k8s::Workload& workload,
                          std::string_view cluster_name, std::string_view container_id) {
  PodMetadata out;
  out.namespace_name = pod.meta.namespace_;
  out.pod_name = pod.meta.name;
  out.uid = pod.meta.uid;
  out.start_time =
      FormatPodStartTime(pod.start_time_s > 0 ? pod.start_time_s : pod.meta.creation_timestamp_s);
  out.node_name = pod.node_name;
  out.cluster_name = std::string(cluster_name);
  if (!workload.name.empty() && workload.kind != "Pod") {
    out.owner_name = workload.name;
    out.owner_kind = workload.kind;
  }
  if (const k8s::OwnerReference* owner = pod.meta.ControllerOwner();
      owner != nullptr && owner->kind == "ReplicaSet") {
    out.replicaset_name = owner->name;
  }
  for (const auto& [key, value] : pod.meta.labels) out.labels.emplace(key, value);
  for (const auto& [key, value] : pod.meta.annotations) out.annotations.emplace(key, value);
  if (!container_id.empty()) {
    for (const k8s::ContainerStatus& c : pod.containers) {
      if (ContainerIdWithoutScheme(c.container_id) == container_id) {
        out.container_id = std::string(container_id);
        out.container_name = c.name;
        break;
      }
    }
  }
  return out;
}

void ContainerIndex::OnPod(const k8s::Pod* old_pod, const k8s::Pod* pod) {
  std::lock_guard<std::mutex> lock(mu_);
  if (old_pod != nullptr) {
    const std::string key = old_pod->meta.Key();
    for (const k8s::ContainerStatus& c : old_pod->containers) {
      auto it = keys_.find(std::string(ContainerIdWithoutScheme(c.container_id)));
      if (it != keys_.end() && it->second == key) keys_.erase(it);
    }
  }
  if (pod != nullptr) {
    const std::string key = pod->meta.Key();
    for (const k8s::ContainerStatus& c : pod->containers) {
      const std::string_view id = ContainerIdWithoutScheme(c.container_id);
      if (!id.empty()) keys_.insert_or_assign(std::string(id), key);
    }
  }
}

std::string ContainerIndex::PodKeyOf(std::string_view container_id) const {
  if (container_id.empty()) return "";
  const std::string id(container_id);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(id);
  return it == keys_.end() ? "" : it->second;
}

size_t ContainerIndex::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return keys_.size();
}

ProcessPods::ProcessPods(Options options, IdentityCache& identity, const ContainerIndex& containers,
                         PodByKey pod_by_key, WorkloadOf workload_of)
    : options_(std::move(options)),
      identity_(identity),
      containers_(containers),
      pod_by_key_(std::move(pod_by_key)),
      workload_of_(std::move(workload_of)),
      remembered_(kFactsLinger, options_.max_entries) {}

std::shared_ptr<const PodMetadata> ProcessPods::PodOf(uint32_t pid) {
  const Clock::time_point now = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(pid);
    if (it != cache_.end() && now - it->second.first < options_.ttl) return it->second.second;
  }
  std::shared_ptr<const PodMetadata> pod = Resolve(pid);
  std::lock_guard<std::mutex> lock(mu_);
  if (cache_.size() >= options_.max_entries) cache_.clear();
  cache_[pid] = {now, pod};
  return pod;
}

std::optional<ProcessPods::Location> ProcessPods::ReadLocation(uint32_t pid) const {
  Location where;
  auto path = ReadCgroupPath(static_cast<int>(pid), options_.proc_root);
  if (path.ok()) where.container_id = ParseCgroupPath(*path).container_id;
  where.addresses = NetnsAddressesOf(pid, options_.proc_root);
  if (!path.ok() && where.addresses.empty()) return std::nullopt;  // gone
  return where;
}

void ProcessPods::Remember(uint32_t pid) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cache_.erase(pid);
  }
  if (std::optional<Location> where = ReadLocation(pid)) remembered_.Put(pid, *std::move(where));
}

void ProcessPods::Retain(std::span<const uint32_t> pids) {
  std::vector<uint32_t> live(pids.begin(), pids.end());
  std::sort(live.begin(), live.end());
  remembered_.Retain(live, Clock::now());
}

std::string ProcessPods::PodKeyOfAddress(const flow::IpAddress& address) const {
  const std::shared_ptr<const flow::PeerInfo> peer = identity_.Lookup(address);
  const flow::Endpoint& ep = peer->endpoint;
  return ep.pod_name.empty() ? std::string() : ep.namespace_name + "/" + ep.pod_name;
}

std::shared_ptr<const PodMetadata> ProcessPods::MetadataOf(const std::string& key,
                                                           std::string_view container_id) const {
  if (key.empty()) return nullptr;
  const std::shared_ptr<const k8s::Pod> pod = pod_by_key_(key);
  if (pod == nullptr) return nullptr;
  const k8s::Workload workload = workload_of_ ? workload_of_(*pod) : k8s::Workload{};
  return std::make_shared<const PodMetadata>(
      PodMetadataOf(*pod, workload, options_.cluster_name, container_id));
}

std::shared_ptr<const PodMetadata> ProcessPods::PodOfAddress(const flow::IpAddress& address) const {
  return MetadataOf(PodKeyOfAddress(address), "");
}

std::shared_ptr<const PodMetadata> ProcessPods::Resolve(uint32_t pid) const {
  std::optional<Location> where = ReadLocation(pid);
  if (!where) where = remembered_.Find(pid);  // exited: where it ran
  if (!where) return nullptr;
  std::string key = containers_.PodKeyOf(where->container_id);
  for (size_t i = 0; key.empty() && i < where->addresses.size(); ++i) {
    key = PodKeyOfAddress(where->addresses[i]);
  }
  return MetadataOf(key, where->container_id);
}

const ResourceLabels& DefaultResourceLabels() {
  static const ResourceLabels* const kDefault =
      new ResourceLabels{{"service.name", {"app.kubernetes.io/instance", "app.kubernetes.io/name"}},
                         {"service.namespace", {"app.kubernetes.io/part-of"}},
                         {"service.version", {"app.kubernetes.io/version"}}};
  return *kDefault;
}

namespace {

// The value of the first of resource_labels[attribute] the pod has, or nullptr.
const std::string* FromLabels(const PodMetadata& pod, const ResourceLabels& resource_labels,
                              const std::string& attribute) {
  auto it = resource_labels.find(attribute);
  if (it == resource_labels.end()) return nullptr;
  for (const std::string& label : it->second) {
    if (const std::string* value = Find(pod.labels, label)) return value;
  }
  return nullptr;
}

}  // namespace

bool ApplyPodToService(const PodMetadata& pod, metrics::app::ServiceIdentity* id,
                       const ServiceNameTemplate* name_template,
                       const ResourceLabels& resource_labels) {
  static const std::string kName = "service.name";
  static const std::string kNamespace = "service.namespace";
  bool named = true;
  if (!id->name_from_env && name_template != nullptr) {
    auto name = name_template->Execute(pod);
    if (name.ok() && !name->empty()) {
      id->name = *std::move(name);
    } else {
      if (!name.ok()) {
        LOG_EVERY_SECONDS(warn, 60, "service_name_template failed for pod {}/{}: {}",
                          pod.namespace_name, pod.pod_name, std::string(name.status().message()));
      }
      id->name = pod.pod_name;
      named = false;
    }
  } else if (!id->name_from_env) {
    const std::string* name = Find(pod.annotations, kServiceNameAnnotation);
    if (name == nullptr) name = FromLabels(pod, resource_labels, kName);
    if (name != nullptr) {
      id->name = *name;
    } else {
      id->name = pod.owner_name.empty() ? pod.pod_name : pod.owner_name;
    }
  }
  if (!id->namespace_from_env) {
    const std::string* ns = Find(pod.annotations, kServiceNamespaceAnnotation);
    if (ns == nullptr) ns = FromLabels(pod, resource_labels, kNamespace);
    id->namespace_name = ns != nullptr ? *ns : pod.namespace_name;
  }
  // The other resource attributes: labels first, annotations win.
  std::map<std::string, std::string> attributes;
  for (const auto& [attribute, labels] : resource_labels) {
    if (attribute == kName || attribute == kNamespace) continue;
    if (const std::string* value = FromLabels(pod, resource_labels, attribute)) {
      attributes[attribute] = *value;
    }
  }
  for (const auto& [key, value] : pod.annotations) {
    if (!key.starts_with(kResourceAnnotationPrefix) || value.empty()) continue;
    std::string attribute = key.substr(kResourceAnnotationPrefix.size());
    if (attribute.empty() || attribute == kName || attribute == kNamespace) continue;
    attributes[std::move(attribute)] = value;
  }
  // The process's own OTEL_RESOURCE_ATTRIBUTES (what the identity holds on entry) win over both.
  for (auto& [attribute, value] : id->resource_attributes) attributes[attribute] = std::move(value);
  id->resource_attributes.assign(attributes.begin(), attributes.end());
  id->k8s_namespace = pod.namespace_name;
  id->k8s_pod_name = pod.pod_name;
  id->k8s_owner_name = pod.owner_name;
  id->k8s_owner_kind = pod.owner_kind;
  id->k8s_replicaset_name = pod.replicaset_name;
  id->k8s_pod_uid = pod.uid;
  id->k8s_pod_start_time = pod.start_time;
  id->k8s_container_name = pod.container_name;
  id->k8s_node_name = pod.node_name;
  id->k8s_cluster_name = pod.cluster_name;
  return named;
}

std::vector<std::pair<std::string, std::string>> KubernetesResourceAttributes(
    const metrics::app::ServiceIdentity& id) {
  std::string workload_key;
  if (!id.k8s_owner_kind.empty() && id.k8s_owner_kind != "ReplicaSet") {
    workload_key = "k8s." + AsciiLower(id.k8s_owner_kind) + ".name";
  }
  const std::pair<std::string, const std::string*> all[] = {
      {"k8s.namespace.name", &id.k8s_namespace},
      {"k8s.pod.name", &id.k8s_pod_name},
      {"k8s.container.name", &id.k8s_container_name},
      {"k8s.node.name", &id.k8s_node_name},
      {"k8s.pod.uid", &id.k8s_pod_uid},
      {"k8s.pod.start_time", &id.k8s_pod_start_time},
      {workload_key, &id.k8s_owner_name},
      {"k8s.replicaset.name", &id.k8s_replicaset_name},
      {"k8s.cluster.name", &id.k8s_cluster_name},
      {"k8s.owner.name", &id.k8s_owner_name},
      {"k8s.kind", &id.k8s_owner_kind}};
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, value] : all) {
    if (!key.empty() && !value->empty()) out.emplace_back(key, *value);
  }
  return out;
}

}  // namespace loupe::identity
