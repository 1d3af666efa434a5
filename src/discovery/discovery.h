// Which processes get application instrumentation (Beyla's discovery): selectors on the ports a
// process listens on and on its executable path, with exclusions. Processes are found by scanning
// /proc periodically and when told that a process started or exited; the result is a set of pids
// handed to the socket-data sensor's in-kernel filter.
//
// Threads: Discovery runs its own scan thread; callbacks are called from it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "re2/re2.h"
#include "src/config/schema.h"
#include "src/identity/pod_metadata.h"

namespace loupe::discovery {

// Kubernetes metadata of the pod a process runs in (and its container), for the k8s_*,
// k8s_pod_labels, k8s_pod_annotations and container_name selector fields.
using PodMetadata = identity::PodMetadata;
// The pod of a process, null when it runs in none (or Kubernetes metadata is off).
using PodResolver = std::function<std::shared_ptr<const PodMetadata>(uint32_t pid)>;

struct ProcessInfo {
  uint32_t pid = 0;
  std::string exe;  // resolved /proc/<pid>/exe ("" for kernel threads)
  std::string comm;
  std::vector<uint16_t> listen_ports;  // TCP ports it listens on (v4 and v6)
  // Runs in a network namespace other than the agent's: what Beyla's containers_only calls
  // "in a container" (OBI compares the process's network namespace with its own).
  bool other_netns = false;
};

// One selector entry: every field it sets must match (AND).
struct Rule {
  std::vector<std::pair<uint16_t, uint16_t>> ports;  // empty: any
  std::shared_ptr<const RE2> exe_regex;              // Go regexp syntax, as Beyla
  std::string exe_glob;                              // "" when not set
  std::vector<uint32_t> target_pids;
  // containers_only: true: the process must run in a network namespace other than the agent's.
  bool containers_only = false;
  // k8s_* fields, container_name, and k8s_pod_labels/<key> / k8s_pod_annotations/<key>: every
  // one must match the process's pod (a label or annotation the pod lacks does not match); a
  // process in no pod matches none. container_name and k8s_container_name match the name of the
  // pod's container the process runs in. Values are regexes (services) or globs (instrument).
  struct K8sCriterion {
    std::string field;  // "k8s_pod_labels" / "k8s_pod_annotations" for the maps
    std::string key;    // the label or annotation name
    std::string glob;
    std::shared_ptr<const RE2> regex;
  };
  std::vector<K8sCriterion> k8s;
  bool never = false;  // a field Loupe cannot evaluate
  bool Matches(const ProcessInfo& p, const PodResolver& pods) const;
};

class Selection {
 public:
  // Builds the selection from the configuration: discovery.instrument (globs) when set,
  // otherwise discovery.services (regexes) plus the open_port / executable_name shortcuts;
  // exclusions from exclude_instrument / exclude_services plus Beyla's default exclusions.
  static absl::StatusOr<Selection> FromConfig(const config::SelectorList& services,
                                              const config::SelectorList& exclude_services,
                                              const config::SelectorList& instrument,
                                              const config::SelectorList& exclude_instrument,
                                              const std::string& open_port,
                                              const std::string& executable_name);
  // True when no include rule exists: every process (but the excluded ones) is instrumented.
  bool instrument_all() const { return include_.empty(); }
  // True when some rule selects or excludes by open_ports (the scan then looks up listeners).
  bool needs_listen_ports() const;
  bool Selected(const ProcessInfo& p, const PodResolver& pods = nullptr) const;
  // The pod annotations any rule names (k8s_pod_annotations), sorted: the only annotations the
  // pod informer needs to keep for discovery.
  std::vector<std::string> annotation_keys() const;

 private:
  std::vector<Rule> include_;
  std::vector<Rule> exclude_;
};

// Listening TCP sockets of a network namespace: socket inode -> local port.
using ListeningSockets = std::map<uint64_t, uint16_t>;

// What a scan learnt about the host's processes, kept for the next scan so that a scan reads /proc
// only where something changed:
// - a process's exe, comm and network namespace are read when its pid is new, or after
//   Invalidate(pid) (the agent calls it for every exec and exit, so a reused pid or a new image is
//   read again);
// - its fds are walked for listening sockets when its pid is new, and for every process of a
//   network namespace in which a listening socket appeared that no earlier scan saw (a process
//   bound a new port); a forked worker that inherits a listener is new, so it is found at once;
// - every kFullRefreshEvery scans, and after InvalidateAll() (exec/exit events were lost),
//   everything is read again. That bounds what the cache can miss: a change of comm, a listener
//   passed to a running process over a unix socket, or a port one of several holders closed is
//   seen within kFullRefreshEvery scans (10 s at the 500 ms default interval).
// Not thread-safe: one scanning thread.
class ScanCache {
 public:
  static constexpr int kFullRefreshEvery = 20;
  // What a scan reads of a process.
  struct Details {
    std::string exe;  // empty: a kernel thread (no exe link)
    std::string comm;
    uint64_t netns = 0;
    bool other_netns = false;
  };

  void Invalidate(uint32_t pid);
  void InvalidateAll() { scans_until_full_ = 0; }
  // Of the last scan: the processes whose exe/comm/namespace it read, and whose fds it walked.
  const std::vector<uint32_t>& last_read() const { return last_read_; }
  const std::vector<uint32_t>& last_walked() const { return last_walked_; }

 private:
  friend std::vector<ProcessInfo> ScanProcesses(bool listen_ports, ScanCache* cache);
  std::unordered_map<uint32_t, Details> details_by_pid_;
  // Listening-socket inodes each walked process held at its walk (empty: none).
  std::unordered_map<uint32_t, std::vector<uint64_t>> inodes_by_pid_;
  // Listening-socket inodes of the previous scan (each was there at a walk of its namespace).
  std::unordered_set<uint64_t> known_;
  int scans_until_full_ = 0;
  std::vector<uint32_t> last_read_;
  std::vector<uint32_t> last_walked_;
};

// Reads the processes of the host from /proc (pid namespace of the agent). With `listen_ports`
// also the TCP ports each process listens on: one listening-socket dump per network namespace
// (NETLINK_SOCK_DIAG restricted to LISTEN, /proc/<pid>/net/tcp{,6} when that is unavailable) and
// an fd walk per process of a namespace that has listeners. With `cache`, only what changed since
// the previous scan given the same cache is read (see ScanCache).
std::vector<ProcessInfo> ScanProcesses(bool listen_ports = true, ScanCache* cache = nullptr);

namespace internal {
// Dumps the listening sockets of other processes' network namespaces from one helper thread that
// enters each namespace in turn (network namespaces are per thread; the calling thread never
// leaves its own). The thread starts at the first Dump() and ends with the object, and with it
// the reference it holds on the last namespace it entered: a scan makes one, so a scan costs one
// thread however many pod namespaces the node has. Not thread-safe: one caller.
class ForeignNetnsDumper {
 public:
  ForeignNetnsDumper() = default;
  ~ForeignNetnsDumper();
  ForeignNetnsDumper(const ForeignNetnsDumper&) = delete;
  ForeignNetnsDumper& operator=(const ForeignNetnsDumper&) = delete;
  // The listening sockets of `pid`'s network namespace; nullopt when it cannot be entered or
  // dumped (or no thread could be started).
  std::optional<ListeningSockets> Dump(uint32_t pid);
  // Helper threads started so far: 0, or 1 after the first Dump().
  int threads_started() const { return threads_started_; }

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  int request_ns_fd_ = -1;  // guarded by mu_: the namespace to dump next, -1 when none
  bool done_ = false;       // guarded by mu_: `result_` answers the last request
  bool stop_ = false;       // guarded by mu_
  std::optional<ListeningSockets> result_;  // guarded by mu_
  std::thread thread_;
  bool thread_failed_ = false;
  int threads_started_ = 0;
};

// The listening sockets of `pid`'s network namespace from a sock_diag dump (entering the namespace
// through `dumper`, or a dumper of its own when null, unless `same_netns`); nullopt when the dump
// is not possible. Reading /proc/<pid>/net/tcp makes the kernel walk every bucket of its
// established-connection hash (7 ms per namespace on a 24 GiB machine with no connections); the
// LISTEN-only dump does not.
std::optional<ListeningSockets> ListeningSocketsNetlink(uint32_t pid, bool same_netns,
                                                        ForeignNetnsDumper* dumper = nullptr);
// The same from /proc/<pid>/net/tcp and tcp6.
ListeningSockets ListeningSocketsProcfs(uint32_t pid);
}  // namespace internal

class Discovery {
 public:
  struct Callbacks {
    // A process became selected; also called again for a selected process that Poke(pid) or
    // PokeAll() had read again and that is still selected (it exec'd an image that is selected
    // too, or its pid now belongs to another selected process), with what was read now.
    std::function<void(const ProcessInfo&)> on_selected;
    std::function<void(uint32_t pid)> on_deselected;
    // After a scan that called on_selected or on_deselected, once, after the last of them: for
    // work over the whole selected set, which per announcement would cost O(n²) per scan.
    std::function<void()> on_scan_changed;
  };
  Discovery(Selection selection, Callbacks callbacks, std::chrono::milliseconds interval,
            uint32_t self_pid, PodResolver pods = nullptr);
  ~Discovery();

  void Start();
  void Stop();
  // Process `pid` exec'd or exited: rescan soon (within ~50 ms) instead of at the next tick, and
  // read `pid` again (its image or the process behind the pid changed).
  void Poke(uint32_t pid);
  // As Poke, and the next scan reads every process again (exec/exit events were lost).
  void PokeAll();

  std::set<uint32_t> selected() const;

 private:
  void Loop();
  void ScanOnce();

  const Selection selection_;
  const Callbacks callbacks_;
  const std::chrono::milliseconds interval_;
  const uint32_t self_pid_;
  const PodResolver pods_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool poked_ = false;
  bool stop_ = false;
  std::set<uint32_t> selected_;
  ScanCache scan_cache_;            // scan thread only
  std::set<uint32_t> invalidated_;  // pids to read again at the next scan (under mu_)
  bool invalidate_all_ = false;     // under mu_
  std::thread thread_;
};

}  // namespace loupe::discovery
