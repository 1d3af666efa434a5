#include "src/agent/service_resources.h"

#include <algorithm>

namespace loupe::agent {

ServiceResources::ServiceResources(KnownFn known, std::chrono::nanoseconds linger,
                                   size_t max_entries, const Clock& clock)
    : known_(std::move(known)),
      linger_ns_(std::max<int64_t>(0, linger.count())),
      max_entries_(std::max<size_t>(1, max_entries)),
      clock_(clock) {}

ServiceResources::Attributes ServiceResources::Of(
    const std::vector<std::pair<std::string_view, std::string>>& resource) {
  std::string_view ns;
  std::string_view pod;
  std::string_view instance;
  for (const auto& [key, value] : resource) {
    if (key == "k8s.namespace.name") ns = value;
    if (key == "k8s.pod.name") pod = value;
    if (key == "service.instance.id") instance = value;
  }
  if (instance.empty() && pod.empty()) return {};
  std::string key;
  if (!instance.empty()) {
    key.append("i:").append(instance);
  } else {
    key.append("p:").append(ns).append("/").append(pod);
  }
  const auto known = known_();  // one snapshot for both matches
  const metrics::app::ServiceIdentity* found = nullptr;
  const metrics::app::ServiceIdentity* of_pod = nullptr;
  for (const auto& id : known) {
    if (!instance.empty() && id->instance == instance) {
      found = id.get();
      break;
    }
    if (of_pod == nullptr && !pod.empty() && id->k8s_pod_name == pod && id->k8s_namespace == ns) {
      of_pod = id.get();
    }
  }
  // What was found for this instance earlier (its process exited) goes before another process
  // of its pod: it holds the process's own extras.
  const int64_t now = clock_.NowMonotonicNs();
  std::lock_guard<std::mutex> lock(mu_);
  Prune(now);
  if (found != nullptr) {
    Keep(std::move(key), found->resource_attributes, now);
    return found->resource_attributes;
  }
  auto it = found_.find(key);
  if (it != found_.end()) {
    it->second.last_used_ns = now;
    return it->second.attributes;
  }
  if (of_pod != nullptr) {
    Keep(std::move(key), of_pod->resource_attributes, now);
    return of_pod->resource_attributes;
  }
  return {};
}

size_t ServiceResources::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return found_.size();
}

void ServiceResources::Keep(std::string key, const Attributes& attributes, int64_t now) {
  auto it = found_.find(key);
  if (it == found_.end() && found_.size() >= max_entries_) {
    auto oldest = std::min_element(found_.begin(), found_.end(), [](const auto& a, const auto& b) {
      return a.second.last_used_ns < b.second.last_used_ns;
    });
    found_.erase(oldest);
  }
  Entry& e = found_[std::move(key)];
  e.attributes = attributes;
  e.last_used_ns = now;
}

void ServiceResources::Prune(int64_t now) {
  // At most once per linger/4: the exporter asks once per resource per export.
  if (linger_ns_ == 0 || now - last_prune_ns_ < linger_ns_ / 4) return;
  last_prune_ns_ = now;
  std::erase_if(found_, [&](const auto& e) { return now - e.second.last_used_ns > linger_ns_; });
}

}  // namespace loupe::agent
