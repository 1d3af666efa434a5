#include "src/identity/identity_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <mutex>

#include "src/base/strings.h"
#include "src/identity/cgroup.h"

namespace loupe::identity {
namespace {

uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (char c : s) {
    h ^= static_cast<uint8_t>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

std::string JoinLabels(const std::vector<std::string>& labels) {
  std::string key;
  for (const auto& l : labels) {
    key += l;
    key.push_back('\n');
  }
  return key;
}

// Hubble's source/destination_names carry names without the root dot.
std::string NormalizeName(std::string name) {
  while (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string ReadLink(const std::string& path) {
  char buf[4096];
  const ssize_t n = readlink(path.c_str(), buf, sizeof(buf) - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<size_t>(n));
}

// Field 22 of /proc/<proc_root>/<pid>/stat; nullopt when the file is gone or malformed. One
// read(2) into a stack buffer: the sweep calls this for every cached process.
std::optional<uint64_t> ReadStartTime(const std::string& proc_root, uint32_t pid) {
  const std::string path = proc_root + "/" + std::to_string(pid) + "/stat";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  const ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n <= 0) return std::nullopt;
  return ParseProcStatStartTime(std::string_view(buf, static_cast<size_t>(n)));
}

std::string StripUnitSuffix(const std::string& unit) {
  for (const char* suffix : {".service", ".scope"}) {
    const std::string_view s(suffix);
    if (unit.size() > s.size() && unit.compare(unit.size() - s.size(), s.size(), s) == 0) {
      return unit.substr(0, unit.size() - s.size());
    }
  }
  return unit;
}

// The address's identity `base` with the process's labels and workload.
std::shared_ptr<const flow::PeerInfo> ProcessPeer(const flow::PeerInfo& base, uint32_t pid,
                                                  const ProcessMetadata& meta) {
  auto peer = std::make_shared<flow::PeerInfo>(base);
  flow::Endpoint& ep = peer->endpoint;
  ep.id = pid;
  // A Kubernetes pod identity stays as it is; local processes get their own labels.
  if (ep.pod_name.empty()) {
    ep.labels.push_back("process:comm=" + meta.comm);
    if (!meta.exe.empty()) ep.labels.push_back("process:exe=" + meta.exe);
    if (!meta.container_id.empty()) ep.labels.push_back("container:id=" + meta.container_id);
    if (!meta.systemd_unit.empty()) ep.labels.push_back("systemd:unit=" + meta.systemd_unit);
    std::sort(ep.labels.begin(), ep.labels.end());
    ep.workloads.clear();
    if (!meta.container_id.empty()) {
      ep.workloads.push_back({meta.container_id.substr(0, 12), "Container"});
    } else if (!meta.systemd_unit.empty() && meta.systemd_unit.rfind("session-", 0) != 0) {
      ep.workloads.push_back({StripUnitSuffix(meta.systemd_unit), "SystemdUnit"});
    } else {
      ep.workloads.push_back({meta.comm, "Process"});
    }
  }
  return peer;
}

}  // namespace

size_t IpHash::operator()(const flow::IpAddress& ip) const noexcept {
  uint64_t a = 0;
  uint64_t b = 0;
  std::memcpy(&a, ip.bytes.data(), 8);
  std::memcpy(&b, ip.bytes.data() + 8, 8);
  uint64_t h = (a * 0x9E3779B97F4A7C15ULL) ^ (b + 0x632BE59BD9B4E019ULL + ip.version);
  h ^= h >> 31;
  return static_cast<size_t>(h * 0xBF58476D1CE4E5B9ULL);
}

uint32_t IdentityAllocator::Allocate(const std::vector<std::string>& sorted_labels) {
  const std::string key = JoinLabels(sorted_labels);
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = by_labels_.find(key); it != by_labels_.end()) return it->second;
  constexpr uint32_t kRange = kMaxLabelIdentity - kMinLabelIdentity + 1;
  uint32_t id = kMinLabelIdentity + static_cast<uint32_t>(Fnv1a(key) % kRange);
  for (uint32_t probes = 0; probes < kRange && by_id_.count(id) != 0; ++probes) {
    id = id == kMaxLabelIdentity ? kMinLabelIdentity : id + 1;
  }
  by_labels_.emplace(key, id);
  by_id_.emplace(id, key);
  return id;
}

IdentityCache::IdentityCache(Options options) : options_(std::move(options)) {
  auto world = [](std::vector<std::string> labels) {
    auto peer = std::make_shared<flow::PeerInfo>();
    peer->endpoint.identity = kIdentityWorld;
    peer->endpoint.labels = std::move(labels);
    return peer;
  };
  world_v4_ = world({"reserved:world"});
  world_v6_ = world({"reserved:world"});
}

std::shared_ptr<const flow::PeerInfo> IdentityCache::WorldPeer(const flow::IpAddress& ip) const {
  return ip.version == 6 ? world_v6_ : world_v4_;
}

void IdentityCache::SetHostAddresses(const std::vector<flow::IpAddress>& addresses) {
  std::unique_lock lock(mu_);
  for (auto& [ip, slot] : entries_) {
    if (slot.entry->host) {
      slot.entry->host = false;
      Rebuild(ip, &slot);
    }
  }
  for (const auto& ip : addresses) {
    Slot& slot = SlotFor(ip);
    slot.entry->host = true;
    Rebuild(ip, &slot);
  }
}

void IdentityCache::UpsertEndpoint(const flow::IpAddress& ip, const flow::Endpoint& endpoint,
                                   int64_t since_ns) {
  flow::Endpoint ep = endpoint;
  std::sort(ep.labels.begin(), ep.labels.end());
  if (ep.identity == 0) ep.identity = allocator_.Allocate(ep.labels);
  if (ep.cluster_name.empty()) ep.cluster_name = options_.cluster_name;
  std::unique_lock lock(mu_);
  Slot& slot = SlotFor(ip);
  Entry& entry = *slot.entry;
  PruneLocked(&entry, since_ns);
  if (!entry.owners.empty()) {
    Owner& last = entry.owners.back();
    const bool same_pod =
        last.endpoint.namespace_name == ep.namespace_name && last.endpoint.pod_name == ep.pod_name;
    if (same_pod && last.until_ns == INT64_MAX) {
      last.endpoint = std::move(ep);  // an update of the live owner
      Rebuild(ip, &slot);
      return;
    }
    // A new owner: the previous one ends where this one starts (unless it already ended).
    if (last.until_ns == INT64_MAX || last.until_ns > since_ns) last.until_ns = since_ns;
  }
  entry.owners.push_back(Owner{since_ns, INT64_MAX, std::move(ep)});
  Rebuild(ip, &slot);
}

void IdentityCache::DeleteEndpoint(const flow::IpAddress& ip, int64_t deleted_at_ns) {
  std::unique_lock lock(mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end() || it->second.entry->owners.empty()) return;
  Owner& last = it->second.entry->owners.back();
  if (last.until_ns == INT64_MAX) {
    last.until_ns =
        deleted_at_ns +
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.deleted_grace).count();
    Rebuild(ip, &it->second);
  }
}

void IdentityCache::UpsertService(const flow::IpAddress& ip, const std::string& name,
                                  const std::string& namespace_name) {
  std::unique_lock lock(mu_);
  Slot& slot = SlotFor(ip);
  Entry& entry = *slot.entry;
  if (entry.service_name == name && entry.service_namespace == namespace_name) return;
  entry.service_name = name;
  entry.service_namespace = namespace_name;
  Rebuild(ip, &slot);
}

void IdentityCache::DeleteService(const flow::IpAddress& ip) {
  std::unique_lock lock(mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end()) return;
  it->second.entry->service_name.clear();
  it->second.entry->service_namespace.clear();
  Rebuild(ip, &it->second);
}

void IdentityCache::OnDnsAnswer(const std::vector<std::string>& names,
                                const std::vector<std::string>& ips, uint32_t ttl_seconds,
                                int64_t now_ns) {
  if (names.empty() || ips.empty()) return;
  const int64_t ttl_ns =
      std::max<int64_t>(ttl_seconds, options_.dns_min_ttl.count()) * 1'000'000'000LL;
  std::unique_lock lock(mu_);
  for (const auto& text : ips) {
    flow::IpAddress ip;
    if (!flow::IpAddress::Parse(text, &ip)) continue;
    Slot& slot = SlotFor(ip);
    Entry& entry = *slot.entry;
    bool changed = false;
    for (const auto& raw : names) {
      std::string name = NormalizeName(raw);
      if (name.empty()) continue;
      auto it = std::find_if(entry.names.begin(), entry.names.end(),
                             [&](const auto& n) { return n.first == name; });
      if (it == entry.names.end()) {
        entry.names.emplace_back(std::move(name), now_ns + ttl_ns);
        changed = true;
      } else {
        it->second = std::max(it->second, now_ns + ttl_ns);
      }
    }
    // Drop expired names while here.
    const size_t before = entry.names.size();
    std::erase_if(entry.names, [&](const auto& n) { return n.second < now_ns; });
    changed = changed || entry.names.size() != before;
    if (entry.in_dns_lru) {
      dns_lru_.splice(dns_lru_.begin(), dns_lru_, entry.dns_lru);
    } else {
      dns_lru_.push_front(ip);
      entry.dns_lru = dns_lru_.begin();
      entry.in_dns_lru = true;
      ++dns_addresses_;
    }
    if (changed) {
      std::sort(entry.names.begin(), entry.names.end());
      Rebuild(ip, &slot);
    }
  }
  // Bound the addresses that carry names: forget the least recently answered ones.
  while (dns_addresses_ > options_.max_dns_addresses && !dns_lru_.empty()) {
    const flow::IpAddress victim = dns_lru_.back();
    dns_lru_.pop_back();
    --dns_addresses_;
    auto it = entries_.find(victim);
    if (it == entries_.end()) continue;
    Entry& entry = *it->second.entry;
    entry.in_dns_lru = false;
    entry.names.clear();
    if (entry.owners.empty() && !entry.host && entry.service_name.empty()) {
      entries_.erase(it);
    } else {
      Rebuild(victim, &it->second);
    }
  }
}

void IdentityCache::PruneLocked(Entry* entry, int64_t now_ns) {
  // Keep the newest owner always; drop older ones whose validity ended long ago.
  while (entry->owners.size() > 1 && entry->owners.front().until_ns < now_ns) {
    entry->owners.erase(entry->owners.begin());
  }
  while (entry->owners.size() > 4) entry->owners.erase(entry->owners.begin());
}

std::shared_ptr<const flow::PeerInfo> IdentityCache::BuildPeer(const flow::IpAddress& ip,
                                                               const Entry& entry,
                                                               const Owner* owner) {
  auto peer = std::make_shared<flow::PeerInfo>();
  if (owner != nullptr) {
    peer->endpoint = owner->endpoint;
  } else if (entry.host) {
    peer->endpoint.identity = kIdentityHost;
    peer->endpoint.labels = {"reserved:host"};
  } else {
    peer->endpoint = WorldPeer(ip)->endpoint;
  }
  peer->service_name = entry.service_name;
  peer->service_namespace = entry.service_namespace;
  for (const auto& [name, expiry] : entry.names) peer->names.push_back(name);
  return peer;
}

IdentityCache::Slot& IdentityCache::SlotFor(const flow::IpAddress& ip) {
  Slot& slot = entries_[ip];
  if (!slot.entry) slot.entry = std::make_unique<Entry>();
  return slot;
}

void IdentityCache::Rebuild(const flow::IpAddress& ip, Slot* slot) {
  Entry* entry = slot->entry.get();
  entry->built.clear();
  for (const Owner& owner : entry->owners) entry->built.push_back(BuildPeer(ip, *entry, &owner));
  entry->built_unowned = BuildPeer(ip, *entry, nullptr);
  // The fast path: a live newest owner answers every flow from its start on; an address without
  // owners answers every flow with its unowned identity.
  if (entry->owners.empty()) {
    slot->current = entry->built_unowned;
    slot->current_since = INT64_MIN;
  } else if (entry->owners.back().until_ns == INT64_MAX) {
    slot->current = entry->built.back();
    slot->current_since = entry->owners.back().since_ns;
  } else {
    slot->current.reset();
    slot->current_since = INT64_MAX;
  }
}

std::shared_ptr<const flow::PeerInfo> IdentityCache::Lookup(const flow::IpAddress& ip,
                                                            int64_t time_ns) {
  if (time_ns == 0) time_ns = NowNs();
  std::shared_lock lock(mu_);
  auto it = entries_.find(ip);
  if (it == entries_.end()) return WorldPeer(ip);
  if (time_ns >= it->second.current_since) return it->second.current;
  const Entry& entry = *it->second.entry;
  // Newest owner first: the one whose validity covers the flow's time.
  for (size_t i = entry.owners.size(); i-- > 0;) {
    const Owner& owner = entry.owners[i];
    if (time_ns >= owner.since_ns && time_ns < owner.until_ns) return entry.built[i];
  }
  // Before the first known owner (flows that raced the informer) the first owner is the best
  // evidence, as long as it is still valid.
  if (!entry.owners.empty() && time_ns < entry.owners.front().since_ns &&
      entry.owners.front().until_ns == INT64_MAX) {
    return entry.built.front();
  }
  return entry.built_unowned;
}

std::optional<uint64_t> ParseProcStatStartTime(std::string_view stat) {
  const size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  // After ") ": field 3 (state) onwards; the start time is the 20th of them.
  std::string_view rest = stat.substr(paren + 1);
  for (int field = 3; field <= 22; ++field) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    size_t end = 0;
    while (end < rest.size() && rest[end] != ' ' && rest[end] != '\n') ++end;
    if (end == 0) return std::nullopt;
    if (field == 22) {
      uint64_t value = 0;
      const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + end, value);
      if (ec != std::errc() || ptr != rest.data() + end) return std::nullopt;
      return value;
    }
    rest.remove_prefix(end);
  }
  return std::nullopt;
}

std::shared_ptr<const ProcessMetadata> IdentityCache::Process(uint32_t pid) {
  if (pid == 0) return nullptr;
  {
    std::lock_guard<std::mutex> lock(proc_mu_);
    if (auto it = processes_.find(pid); it != processes_.end()) return it->second;
  }
  const std::string dir = options_.proc_root + "/" + std::to_string(pid);
  auto meta = std::make_shared<ProcessMetadata>();
  meta->pid = pid;
  // The start time first: should the pid be reused while the rest is read, the entry names the
  // earlier process's start and the next sweep drops it.
  meta->start_time = ReadStartTime(options_.proc_root, pid).value_or(0);
  meta->comm = ReadFirstLine(dir + "/comm");
  if (meta->comm.empty()) return nullptr;  // gone
  meta->exe = ReadLink(dir + "/exe");
  if (auto path = ReadCgroupPath(static_cast<int>(pid), options_.proc_root); path.ok()) {
    CgroupInfo info = ParseCgroupPath(*path);
    meta->container_id = std::move(info.container_id);
    meta->container_runtime = std::move(info.runtime);
    meta->pod_uid = std::move(info.pod_uid);
    meta->systemd_unit = std::move(info.systemd_unit);
  }
  std::lock_guard<std::mutex> lock(proc_mu_);
  if (processes_.size() >= options_.max_processes) {
    processes_.clear();  // rare: a pid storm; the cache refills on demand
    process_peers_.clear();
  }
  return processes_.emplace(pid, std::move(meta)).first->second;
}

void IdentityCache::ForgetProcess(uint32_t pid) {
  std::lock_guard<std::mutex> lock(proc_mu_);
  processes_.erase(pid);
  process_peers_.erase(pid);
}

size_t IdentityCache::SweepProcesses() {
  std::vector<std::shared_ptr<const ProcessMetadata>> cached;
  {
    std::lock_guard<std::mutex> lock(proc_mu_);
    exited_peers_.clear();  // only the last requests of an exited process need them
    cached.reserve(processes_.size());
    for (const auto& [pid, meta] : processes_) cached.push_back(meta);
  }
  std::vector<const ProcessMetadata*> stale;
  for (const auto& meta : cached) {
    const std::optional<uint64_t> start = ReadStartTime(options_.proc_root, meta->pid);
    if (!start || (meta->start_time != 0 && *start != meta->start_time)) {
      stale.push_back(meta.get());
    }
  }
  if (stale.empty()) return 0;
  size_t dropped = 0;
  std::lock_guard<std::mutex> lock(proc_mu_);
  for (const ProcessMetadata* meta : stale) {
    // Only the entry that was checked: the pid may have been cached afresh meanwhile.
    auto it = processes_.find(meta->pid);
    if (it == processes_.end() || it->second.get() != meta) continue;
    processes_.erase(it);
    process_peers_.erase(meta->pid);
    ++dropped;
  }
  return dropped;
}

size_t IdentityCache::process_count() {
  std::lock_guard<std::mutex> lock(proc_mu_);
  return processes_.size();
}

std::shared_ptr<const flow::PeerInfo> IdentityCache::LookupProcess(uint32_t pid,
                                                                   const flow::IpAddress& ip,
                                                                   int64_t time_ns,
                                                                   std::string_view exited_comm) {
  if (pid == 0) return nullptr;
  std::shared_ptr<const flow::PeerInfo> base = Lookup(ip, time_ns);
  {
    std::lock_guard<std::mutex> lock(proc_mu_);
    if (auto it = process_peers_.find(pid);
        it != process_peers_.end() && it->second.first == base) {
      return it->second.second;
    }
  }
  std::shared_ptr<const ProcessMetadata> meta = Process(pid);
  if (!meta) {
    if (exited_comm.empty()) return nullptr;
    std::lock_guard<std::mutex> lock(proc_mu_);
    if (auto it = exited_peers_.find(pid);
        it != exited_peers_.end() && it->second.base == base && it->second.comm == exited_comm) {
      return it->second.peer;
    }
    ProcessMetadata gone;
    gone.pid = pid;
    gone.comm = std::string(exited_comm);
    std::shared_ptr<const flow::PeerInfo> peer = ProcessPeer(*base, pid, gone);
    if (exited_peers_.size() >= kMaxExitedPeers) exited_peers_.clear();
    exited_peers_[pid] = {std::move(base), std::move(gone.comm), peer};
    return peer;
  }
  std::shared_ptr<const flow::PeerInfo> out = ProcessPeer(*base, pid, *meta);
  std::lock_guard<std::mutex> lock(proc_mu_);
  process_peers_[pid] = {base, out};
  return out;
}

void IdentityCache::Enrich(flow::Flow* flow, bool pid_is_source, std::string_view exited_comm) {
  const int64_t t = flow->time_ns;
  std::shared_ptr<const flow::PeerInfo> proc;
  if (flow->pid != 0) {
    proc = LookupProcess(flow->pid, pid_is_source ? flow->src_ip : flow->dst_ip, t, exited_comm);
  }
  if (flow->src_ip.version != 0) {
    flow->src_info = (proc && pid_is_source) ? proc : Lookup(flow->src_ip, t);
  }
  if (flow->dst_ip.version != 0) {
    flow->dst_info = (proc && !pid_is_source) ? proc : Lookup(flow->dst_ip, t);
  }
}

size_t IdentityCache::endpoint_count() const {
  std::shared_lock lock(mu_);
  size_t n = 0;
  for (const auto& [ip, slot] : entries_) n += slot.entry->owners.empty() ? 0 : 1;
  return n;
}

size_t IdentityCache::dns_address_count() const {
  std::shared_lock lock(mu_);
  return dns_addresses_;
}

}  // namespace loupe::identity
