// The further attributes of a service's OTLP metric resource (otel_metrics_export): its process's
// own OTEL_RESOURCE_ATTRIBUTES and its pod's resource labels (service.version, ...), found among
// the processes the service namer knows, by service.instance.id (one process), else by pod (every
// process of a pod has the pod's ones).
//
// What was found is kept while the resource is still exported: the namer forgets a process when
// it exits, but its series go on being exported until they expire (the metrics TTL), and their
// resource must not change meanwhile (a changed resource is another target in Mimir or
// Prometheus). An entry not asked for during `linger` is dropped (its series expired); at most
// `max_entries` are kept, the least recently asked for dropped first.
//
// Thread expectations: thread-safe (the exporter's thread calls Of()).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "src/base/clock.h"
#include "src/metrics/app/service_name.h"

namespace loupe::agent {

class ServiceResources {
 public:
  using Attributes = std::vector<std::pair<std::string, std::string>>;
  using KnownFn =
      std::function<std::vector<std::shared_ptr<const metrics::app::ServiceIdentity>>()>;

  // `linger` 0: entries are dropped only when `max_entries` are kept.
  ServiceResources(KnownFn known, std::chrono::nanoseconds linger, size_t max_entries,
                   const Clock& clock = RealClock::Get());

  // The attributes for a resource whose metric labels gave `resource` (OTel names): those of the
  // process with its service.instance.id, else of a process of its k8s.namespace.name and
  // k8s.pod.name; else what was found for it earlier; else none.
  Attributes Of(const std::vector<std::pair<std::string_view, std::string>>& resource);

  size_t size() const;

 private:
  struct Entry {
    Attributes attributes;
    int64_t last_used_ns = 0;
  };
  void Keep(std::string key, const Attributes& attributes, int64_t now);  // mu_
  void Prune(int64_t now);                                                // mu_

  const KnownFn known_;
  const int64_t linger_ns_;
  const size_t max_entries_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> found_;  // "i:<instance>" or "p:<namespace>/<pod>"
  int64_t last_prune_ns_ = 0;
};

}  // namespace loupe::agent
