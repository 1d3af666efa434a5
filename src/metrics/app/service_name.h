// Service naming in local mode, as Beyla derives service.name / service.namespace for a process
// (reference beyla.md §2.3): OTEL_SERVICE_NAME, then service.name in OTEL_RESOURCE_ATTRIBUTES,
// from the process's own environment (/proc/<pid>/environ); otherwise the executable's name.
// The namespace comes from service.namespace in OTEL_RESOURCE_ATTRIBUTES, otherwise the
// configured default (BEYLA_SERVICE_NAMESPACE). Kubernetes metadata plugs in through a hook
// that sees what the process environment gave and may fill or override the rest.
//
// Thread expectations: every method is thread-safe. Get() for a known pid takes a shared lock
// and copies a shared_ptr (no allocation); the first Get() of a pid reads /proc. The owner calls
// ForgetImage() when a process execs and Forget() when it exits, so that a pid's next image or
// process is read again.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "src/base/process_facts.h"
#include "src/flow/flow.h"

namespace loupe::metrics::app {

struct ServiceIdentity {
  uint32_t pid = 0;
  std::string name;
  std::string namespace_name;
  std::string instance;    // service.instance.id / Prometheus `instance`: "<host name>:<pid>"
  std::string job;         // Prometheus `job`: "<namespace>/<name>", or "<name>"
  std::string executable;  // base name of /proc/<pid>/exe (or comm)
  bool name_from_env = false;
  bool namespace_from_env = false;
  // Kubernetes metadata of the process's pod (empty outside Kubernetes); set by the hook.
  std::string k8s_namespace;
  std::string k8s_pod_name;
  std::string k8s_owner_name;  // the top workload (Deployment, DaemonSet, ...)
  std::string k8s_owner_kind;
  std::string k8s_replicaset_name;  // the pod's controller ReplicaSet
  std::string k8s_pod_uid;
  std::string k8s_pod_start_time;  // "2024-05-01 10:00:01 +0000 UTC", as Beyla writes it
  std::string k8s_container_name;  // the container of the process, when its cgroup names it
  std::string k8s_node_name;
  std::string k8s_cluster_name;
  // Other resource attributes, sorted by name: the process's own OTEL_RESOURCE_ATTRIBUTES
  // entries (set here) and, from the Kubernetes hook, the pod's attributes.kubernetes.
  // resource_labels and resource.opentelemetry.io/<attribute> annotations (e.g. service.version);
  // the process's own entries win.
  std::vector<std::pair<std::string, std::string>> resource_attributes;

  bool operator==(const ServiceIdentity&) const = default;
};

// What a process's environment says. `environ` is /proc/<pid>/environ: NUL-separated
// KEY=VALUE entries. Values of OTEL_RESOURCE_ATTRIBUTES are percent-decoded (W3C Baggage).
struct EnvServiceInfo {
  std::optional<std::string> name;
  std::optional<std::string> namespace_name;
  // The other OTEL_RESOURCE_ATTRIBUTES entries (deployment.environment=prod, ...), sorted by
  // name; of a name given twice the last one counts, empty values are left out.
  std::vector<std::pair<std::string, std::string>> resource_attributes;
};
EnvServiceInfo ParseServiceEnviron(std::string_view environ);

class ServiceNamer {
 public:
  struct Options {
    std::string default_namespace;
    std::string host_name;  // for `instance`; empty = gethostname()
    std::string proc_root = "/proc";
    size_t max_entries = 65536;  // the cache is cleared when it would grow past this
  };
  // What the hook is told besides the identity computed so far.
  struct HookContext {
    bool live = true;  // /proc/<pid> named the process (false: it is gone)
    // The local address of the request being named, when the caller has one (a process in a
    // pod's network namespace sends and receives on the pod's IP).
    const flow::IpAddress* local_address = nullptr;
  };
  // Called once per pid after the environment was read (for a gone process, on every Get); may
  // change anything but pid (e.g. a Kubernetes decorator fills namespace/name from pod metadata
  // when !name_from_env). instance and job are recomputed after it runs.
  using Hook = std::function<void(ServiceIdentity* identity, const HookContext& context)>;

  explicit ServiceNamer(Options options);

  void SetHook(Hook hook);

  // The identity of `pid`, computed on first use and cached while the process lives. When
  // /proc/<pid>/exe cannot be read (e.g. the process is gone), what Remember() read while it ran
  // names it, else `comm`; such an identity is computed again on every call, not cached.
  // `local_address`: the local address of the request being named, if any (for the hook).
  std::shared_ptr<const ServiceIdentity> Get(uint32_t pid, std::string_view comm,
                                             const flow::IpAddress* local_address = nullptr);

  // Reads what names `pid` now, while it runs (its executable and environment), so that its
  // requests read after it exited are named as when it ran, not by their command; drops an
  // identity cached for an earlier process of the pid. For processes discovery starts tracing.
  void Remember(uint32_t pid);
  // Drops the cached identity (the process exited; its pid may be reused). What Remember() read
  // stays for the requests still to come, for kFactsLinger.
  void Forget(uint32_t pid);
  // As Forget, for a process that exec'd: what Remember() read was the old image's and is
  // dropped too (discovery remembers the new image if it still selects the process), so that
  // the new image's requests named after it exited are not named as the old one.
  void ForgetImage(uint32_t pid);
  // As ForgetImage, then reads the new image at once (Remember). For exec events when every process
  // is traced, so that a short-lived process is named by its own OTEL_SERVICE_NAME after it exited,
  // as discovery's selection does for the processes it selects. Costs a readlink and a read of
  // /proc/<pid>/environ per exec.
  void ReadImage(uint32_t pid);
  // Keeps only the identities of `pids`, the processes traced now. What Remember() read of the
  // others is kept for kFactsLinger after they first were missing, then dropped.
  void Retain(std::span<const uint32_t> pids);
  // Identities cached now (for target_info), in pid order.
  std::vector<std::shared_ptr<const ServiceIdentity>> Known() const;

  const std::string& host_name() const { return options_.host_name; }

 private:
  static constexpr std::chrono::seconds kFactsLinger{30};
  struct Facts {
    std::string executable;  // base name of /proc/<pid>/exe
    EnvServiceInfo env;
  };
  // nullopt when /proc/<pid>/exe cannot be read (gone, or a kernel thread).
  std::optional<Facts> ReadFacts(uint32_t pid) const;
  // `live`: /proc/<pid> named it (its executable, or its command when the executable cannot be
  // read); else what Remember() read, or `comm`, named it.
  ServiceIdentity Compute(uint32_t pid, std::string_view comm, bool* live) const;

  Options options_;
  ProcessFacts<Facts> remembered_;
  mutable std::shared_mutex mu_;
  Hook hook_;
  std::unordered_map<uint32_t, std::shared_ptr<const ServiceIdentity>> cache_;
};

}  // namespace loupe::metrics::app
