// Identity caches: who is behind an address or a process, as flows and requests name them.
//
//  - IP → endpoint: Kubernetes pods (fed by the informers), this node's addresses (reserved:host),
//    everything else reserved:world. An address keeps a short history, so a pod deleted and
//    recreated with the same IP is attributed by the flow's time: to the old pod before the
//    change and to the new one after it. Deleted pods stay resolvable for a grace period
//    (default 1 min, as Hubble).
//  - ClusterIP/backend IP → Service.
//  - IP → DNS names seen in DNS answers (bounded, TTL with a floor).
//  - PID → process metadata (comm, exe, container ID and pod UID from the cgroup, systemd unit):
//    the local-mode endpoint of a flow whose process is known.
//
// Lookups return a shared, immutable PeerInfo built once per address and rebuilt only when what
// it is made of changes, so attaching identity to a flow is a hash lookup and a reference count.
//
// Thread expectations: every method is thread-safe. Lookups take a reader lock; updates (informer
// events, DNS answers) take the writer lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/flow/flow.h"

namespace loupe::identity {

// Cilium's reserved numeric identities.
inline constexpr uint32_t kIdentityHost = 1;
inline constexpr uint32_t kIdentityWorld = 2;
inline constexpr uint32_t kIdentityUnmanaged = 3;
inline constexpr uint32_t kIdentityRemoteNode = 6;
inline constexpr uint32_t kIdentityKubeApiserver = 7;
// Label-set identities are allocated in Cilium's cluster-local range.
inline constexpr uint32_t kMinLabelIdentity = 256;
inline constexpr uint32_t kMaxLabelIdentity = 65535;

// A numeric identity per label set, stable across agent restarts: a hash of the sorted labels
// into [256, 65535]. On a collision the later label set probes to the next free value.
class IdentityAllocator {
 public:
  uint32_t Allocate(const std::vector<std::string>& sorted_labels);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, uint32_t> by_labels_;
  std::unordered_map<uint32_t, std::string> by_id_;
};

struct ProcessMetadata {
  uint32_t pid = 0;
  // When the process started (/proc/<pid>/stat field 22, clock ticks after boot); 0 = unknown.
  // A pid reused by another process has another start time.
  uint64_t start_time = 0;
  std::string comm;
  std::string exe;
  std::string container_id;
  std::string container_runtime;
  std::string pod_uid;
  std::string systemd_unit;
};

// The start time (field 22) of a /proc/<pid>/stat line; nullopt when the line is malformed. The
// command (field 2) is parenthesised and may itself hold spaces and parentheses.
std::optional<uint64_t> ParseProcStatStartTime(std::string_view stat);

struct IpHash {
  size_t operator()(const flow::IpAddress& ip) const noexcept;
};

class IdentityCache {
 public:
  struct Options {
    std::string cluster_name = "default";
    std::string proc_root = "/proc";
    std::chrono::seconds deleted_grace{60};
    size_t max_dns_addresses = 65536;
    std::chrono::seconds dns_min_ttl{300};  // names outlive short DNS TTLs this long
    size_t max_processes = 16384;
  };

  IdentityCache() : IdentityCache(Options{}) {}
  explicit IdentityCache(Options options);

  // This node's addresses: they resolve to reserved:host.
  void SetHostAddresses(const std::vector<flow::IpAddress>& addresses);

  // Kubernetes endpoints (pods). `since_ns` is when the pod got the address (wall clock); the
  // previous owner of the address stays valid for flows before that time.
  void UpsertEndpoint(const flow::IpAddress& ip, const flow::Endpoint& endpoint, int64_t since_ns);
  // The pod at `ip` is gone: still resolvable for flows up to deleted_at + grace.
  void DeleteEndpoint(const flow::IpAddress& ip, int64_t deleted_at_ns);
  // A Service reachable at `ip` (ClusterIP) or backed by the endpoint at `ip`.
  void UpsertService(const flow::IpAddress& ip, const std::string& name,
                     const std::string& namespace_name);
  void DeleteService(const flow::IpAddress& ip);
  // A DNS answer: `names` (query and CNAMEs, with or without the trailing dot) resolved to `ips`.
  void OnDnsAnswer(const std::vector<std::string>& names, const std::vector<std::string>& ips,
                   uint32_t ttl_seconds, int64_t now_ns);

  // Identity of `ip` for a flow observed at `time_ns` (0 = now). Never null.
  std::shared_ptr<const flow::PeerInfo> Lookup(const flow::IpAddress& ip, int64_t time_ns = 0);
  // Local mode: identity of the process `pid` that owns the local address `ip`: the address's
  // identity plus process labels (process:comm=, process:exe=, container:id=, systemd:unit=) and
  // a workload (the container, the systemd unit, or the command). When the process is gone and
  // not cached (a curl that exited before the agent read its request, or a process forgotten at
  // its exit event before its last requests were read), `exited_comm` (the command its events
  // carried) stands in: the labels are then process:comm= alone and the workload is the
  // command. Null when pid is 0, or gone without `exited_comm`.
  std::shared_ptr<const flow::PeerInfo> LookupProcess(uint32_t pid, const flow::IpAddress& ip,
                                                      int64_t time_ns = 0,
                                                      std::string_view exited_comm = {});
  std::shared_ptr<const ProcessMetadata> Process(uint32_t pid);
  void ForgetProcess(uint32_t pid);
  // Re-verifies every cached process without BPF: drops those whose /proc/<pid>/stat is gone or
  // names another start time than when cached (the process exited, or its pid was reused).
  // Exec/exit events forget processes only when the application view runs; this sweep keeps
  // the cache right with the network view alone. Reads one /proc file per cached process, with
  // the cache lock released. Returns how many entries it dropped.
  size_t SweepProcesses();
  size_t process_count();

  // Fills src_info/dst_info of `flow`. When the flow carries a pid, the local end (`pid_is_source`
  // tells which) gets the process identity (`exited_comm` as for LookupProcess).
  void Enrich(flow::Flow* flow, bool pid_is_source, std::string_view exited_comm = {});

  IdentityAllocator& allocator() { return allocator_; }
  size_t endpoint_count() const;
  size_t dns_address_count() const;

 private:
  struct Owner {
    int64_t since_ns = 0;
    int64_t until_ns = INT64_MAX;  // deletion time + grace
    flow::Endpoint endpoint;
  };
  struct Entry {
    std::vector<Owner> owners;  // oldest first; at most a few
    bool host = false;
    std::string service_name;
    std::string service_namespace;
    std::vector<std::pair<std::string, int64_t>> names;  // name, expiry (ns)
    // PeerInfo per owner (same index) plus one for "no owner"; rebuilt on change.
    std::vector<std::shared_ptr<const flow::PeerInfo>> built;
    std::shared_ptr<const flow::PeerInfo> built_unowned;
    std::list<flow::IpAddress>::iterator dns_lru;
    bool in_dns_lru = false;
  };
  // The map's value: the answer for flows at or after `current_since` inline (one probe and a
  // reference count on the flow path), the rest behind a pointer.
  struct Slot {
    std::shared_ptr<const flow::PeerInfo> current;
    int64_t current_since = INT64_MAX;
    std::unique_ptr<Entry> entry;
  };

  void Rebuild(const flow::IpAddress& ip, Slot* slot);
  Slot& SlotFor(const flow::IpAddress& ip);
  std::shared_ptr<const flow::PeerInfo> BuildPeer(const flow::IpAddress& ip, const Entry& entry,
                                                  const Owner* owner);
  void PruneLocked(Entry* entry, int64_t now_ns);
  std::shared_ptr<const flow::PeerInfo> WorldPeer(const flow::IpAddress& ip) const;

  const Options options_;
  IdentityAllocator allocator_;
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<flow::IpAddress, Slot, IpHash> entries_;
  std::list<flow::IpAddress> dns_lru_;  // front = most recently answered
  size_t dns_addresses_ = 0;
  std::shared_ptr<const flow::PeerInfo> world_v4_;
  std::shared_ptr<const flow::PeerInfo> world_v6_;

  std::mutex proc_mu_;
  std::unordered_map<uint32_t, std::shared_ptr<const ProcessMetadata>> processes_;
  // pid → (address identity it was built on, process PeerInfo)
  std::unordered_map<uint32_t, std::pair<std::shared_ptr<const flow::PeerInfo>,
                                         std::shared_ptr<const flow::PeerInfo>>>
      process_peers_;
  // Identities of exited processes built from the event's command: pid → (address identity,
  // command, PeerInfo). What they hold follows from the key alone, so a reused pid cannot get a
  // wrong one; the sweep empties the map, and it is emptied when it reaches kMaxExitedPeers.
  struct ExitedPeer {
    std::shared_ptr<const flow::PeerInfo> base;
    std::string comm;
    std::shared_ptr<const flow::PeerInfo> peer;
  };
  static constexpr size_t kMaxExitedPeers = 4096;
  std::unordered_map<uint32_t, ExitedPeer> exited_peers_;
};

}  // namespace loupe::identity
