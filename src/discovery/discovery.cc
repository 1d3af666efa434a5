#include "src/discovery/discovery.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "src/base/status.h"
#include "src/base/strings.h"

namespace loupe::discovery {
namespace {

// Beyla's default exclusions (reference/beyla.md §2.1): observability agents never instrument
// each other.
const char* const kDefaultExcludedExeGlobs[] = {
    "*beyla",           "*alloy", "*prometheus-config-reloader",
    "*ebpf-instrument", "*obi",   "*otelcol",
    "*otelcol-contrib", "*loupe"};

// The selector fields matched against the process's pod (or container).
bool IsPodField(const std::string& field) {
  static const char* const kFields[] = {
      "k8s_namespace",      "k8s_pod_name",         "k8s_deployment_name", "k8s_replicaset_name",
      "k8s_daemonset_name", "k8s_statefulset_name", "k8s_cronjob_name",    "k8s_job_name",
      "k8s_owner_name",     "k8s_container_name",   "container_name"};
  for (const char* f : kFields) {
    if (field == f) return true;
  }
  return (field.starts_with("k8s_pod_labels/") && field.size() > 15) ||
         (field.starts_with("k8s_pod_annotations/") && field.size() > 20);
}

// Beyla compiles selector values with Go's regexp; RE2 has its syntax and matches in linear time
// (std::regex backtracks recursively and can overflow the stack on long values).
absl::StatusOr<std::shared_ptr<const RE2>> CompileRegex(const std::string& field,
                                                        const std::string& value) {
  auto re = std::make_shared<const RE2>(value, RE2::Quiet);
  if (!re->ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad ", field, " regular expression '", value, "': ", re->error()));
  }
  return re;
}

absl::StatusOr<Rule> CompileRule(const config::Selector& selector, bool glob) {
  Rule rule;
  for (const auto& [field, value] : selector) {
    if (field == "open_ports") {
      if (!config::ParsePortRanges(value, &rule.ports)) {
        return absl::InvalidArgumentError(absl::StrCat("bad open_ports '", value, "'"));
      }
    } else if (field == "exe_path" || field == "exe_path_regexp") {
      if (glob && field == "exe_path") {
        rule.exe_glob = value;
      } else {
        ASSIGN_OR_RETURN(rule.exe_regex, CompileRegex("exe_path", value));
      }
    } else if (field == "target_pids") {
      for (std::string_view pid : SplitSkipEmpty(value, ',')) {
        uint32_t p = 0;
        if (!ParseInt(StripWhitespace(pid), &p)) {
          return absl::InvalidArgumentError(absl::StrCat("bad target_pids '", value, "'"));
        }
        rule.target_pids.push_back(p);
      }
    } else if (field == "containers_only") {
      const std::string lower = AsciiLower(StripWhitespace(value));
      if (lower != "true" && lower != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("containers_only '", value, "' is not a boolean (true or false)"));
      }
      rule.containers_only = lower == "true";
    } else if (IsPodField(field)) {
      Rule::K8sCriterion c;
      for (const char* map : {"k8s_pod_labels/", "k8s_pod_annotations/"}) {
        const std::string_view prefix(map);
        if (field.starts_with(prefix)) {
          c.field = std::string(prefix.substr(0, prefix.size() - 1));
          c.key = field.substr(prefix.size());
        }
      }
      if (c.field.empty()) c.field = field;
      if (glob) {
        c.glob = value;
      } else {
        ASSIGN_OR_RETURN(c.regex, CompileRegex(field, value));
      }
      rule.k8s.push_back(std::move(c));
    } else if (field.starts_with("k8s_")) {
      rule.never = true;  // a Kubernetes field Loupe does not know: the entry selects nothing
    }
    // name, namespace, exports, languages, cmd_args: do not select (or not yet supported).
  }
  return rule;
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

constexpr uint8_t kTcpListen = 10;  // TCP_LISTEN in the kernel's TCP state numbering

// One SOCK_DIAG_BY_FAMILY dump of `family`'s TCP sockets in the LISTEN state on `fd`.
bool DumpListeningFamily(int fd, uint8_t family, ListeningSockets* out) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof(msg);
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = family;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << kTcpListen;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, &msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) !=
      static_cast<ssize_t>(sizeof(msg))) {
    return false;
  }
  alignas(nlmsghdr) char buf[16384];
  while (true) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) return true;
      if (h->nlmsg_type == NLMSG_ERROR) return false;
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
          h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) {
        continue;
      }
      const auto* d = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (d->idiag_state != kTcpListen || d->idiag_inode == 0) continue;
      (*out)[d->idiag_inode] = ntohs(d->id.idiag_sport);
    }
  }
}

// The listening TCP sockets of the calling thread's network namespace (v4 and v6).
std::optional<ListeningSockets> DumpListening() {
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return std::nullopt;
  timeval timeout{.tv_sec = 2, .tv_usec = 0};  // never hang the scan on a silent kernel
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ListeningSockets out;
  const bool ok = DumpListeningFamily(fd, AF_INET, &out) && DumpListeningFamily(fd, AF_INET6, &out);
  close(fd);
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace

namespace internal {

ForeignNetnsDumper::~ForeignNetnsDumper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ForeignNetnsDumper::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || request_ns_fd_ >= 0; });
    if (stop_) return;
    const int ns = request_ns_fd_;
    lock.unlock();
    // The dump's socket lives only for the dump: no socket outlives it to keep a deleted namespace
    // (and its interfaces) alive.
    std::optional<ListeningSockets> dumped;
    if (setns(ns, CLONE_NEWNET) == 0) dumped = DumpListening();
    lock.lock();
    result_ = std::move(dumped);
    request_ns_fd_ = -1;
    done_ = true;
    cv_.notify_all();
  }
}

std::optional<ListeningSockets> ForeignNetnsDumper::Dump(uint32_t pid) {
  if (thread_failed_) return std::nullopt;
  const int ns = open(absl::StrCat("/proc/", pid, "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) return std::nullopt;
  std::unique_lock<std::mutex> lock(mu_);
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { Run(); });
      ++threads_started_;
    } catch (const std::system_error&) {
      // No thread to be had: the caller falls back to /proc/<pid>/net/tcp.
      thread_failed_ = true;
      lock.unlock();
      close(ns);
      return std::nullopt;
    }
  }
  request_ns_fd_ = ns;
  done_ = false;
  cv_.notify_all();
  cv_.wait(lock, [this] { return done_; });
  std::optional<ListeningSockets> out = std::move(result_);
  result_.reset();
  lock.unlock();
  close(ns);
  return out;
}

std::optional<ListeningSockets> ListeningSocketsNetlink(uint32_t pid, bool same_netns,
                                                        ForeignNetnsDumper* dumper) {
  if (same_netns) return DumpListening();
  if (dumper != nullptr) return dumper->Dump(pid);
  ForeignNetnsDumper own;
  return own.Dump(pid);
}

ListeningSockets ListeningSocketsProcfs(uint32_t pid) {
  ListeningSockets inodes;
  for (const char* file : {"tcp", "tcp6"}) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/net/", file));
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout;
      uint64_t inode = 0;
      fields >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >>
          inode;
      if (state != "0A" || inode == 0) continue;  // 0A = LISTEN
      const size_t colon = local.rfind(':');
      if (colon == std::string::npos) continue;
      uint16_t port = 0;
      const std::string_view hex = std::string_view(local).substr(colon + 1);
      const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), port, 16);
      if (ec != std::errc() || end != hex.data() + hex.size()) continue;
      inodes[inode] = port;
    }
  }
  return inodes;
}

}  // namespace internal

namespace {

ListeningSockets ListeningInodes(uint32_t pid, bool same_netns,
                                 internal::ForeignNetnsDumper* dumper) {
  if (auto dumped = internal::ListeningSocketsNetlink(pid, same_netns, dumper)) {
    return *std::move(dumped);
  }
  return internal::ListeningSocketsProcfs(pid);
}

}  // namespace

bool Rule::Matches(const ProcessInfo& p, const PodResolver& pods) const {
  if (never) return false;
  if (!target_pids.empty() &&
      std::find(target_pids.begin(), target_pids.end(), p.pid) == target_pids.end()) {
    return false;
  }
  if (!ports.empty()) {
    const bool any = std::any_of(p.listen_ports.begin(), p.listen_ports.end(), [&](uint16_t port) {
      return std::any_of(ports.begin(), ports.end(),
                         [&](const auto& r) { return port >= r.first && port <= r.second; });
    });
    if (!any) return false;
  }
  if (exe_regex && !RE2::PartialMatch(p.exe, *exe_regex)) return false;
  if (!exe_glob.empty() && fnmatch(exe_glob.c_str(), p.exe.c_str(), 0) != 0) return false;
  if (containers_only && !p.other_netns) return false;
  if (!k8s.empty()) {
    // Last: resolving the pod reads /proc, the cheaper criteria decide most processes.
    const std::shared_ptr<const PodMetadata> pod = pods ? pods(p.pid) : nullptr;
    if (!pod) return false;
    for (const K8sCriterion& c : k8s) {
      std::string_view value;
      if (c.field == "k8s_namespace") {
        value = pod->namespace_name;
      } else if (c.field == "k8s_pod_name") {
        value = pod->pod_name;
      } else if (c.field == "k8s_owner_name") {
        value = pod->owner_name;
      } else if (c.field == "k8s_replicaset_name") {
        if (pod->replicaset_name.empty()) return false;
        value = pod->replicaset_name;
      } else if (c.field == "container_name" || c.field == "k8s_container_name") {
        if (pod->container_name.empty()) return false;
        value = pod->container_name;
      } else if (c.field == "k8s_pod_labels" || c.field == "k8s_pod_annotations") {
        const auto& map = c.field == "k8s_pod_labels" ? pod->labels : pod->annotations;
        auto it = map.find(c.key);
        if (it == map.end()) return false;
        value = it->second;
      } else {
        // k8s_<kind>_name: the pod's workload when it is of that kind.
        static const std::map<std::string, std::string> kKinds = {
            {"k8s_deployment_name", "Deployment"},
            {"k8s_daemonset_name", "DaemonSet"},
            {"k8s_statefulset_name", "StatefulSet"},
            {"k8s_cronjob_name", "CronJob"},
            {"k8s_job_name", "Job"}};
        auto kind = kKinds.find(c.field);
        if (kind == kKinds.end() || pod->owner_kind != kind->second) return false;
        value = pod->owner_name;
      }
      const std::string text(value);
      if (c.regex ? !RE2::PartialMatch(text, *c.regex)
                  : fnmatch(c.glob.c_str(), text.c_str(), 0) != 0) {
        return false;
      }
    }
  }
  return true;
}

absl::StatusOr<Selection> Selection::FromConfig(const config::SelectorList& services,
                                                const config::SelectorList& exclude_services,
                                                const config::SelectorList& instrument,
                                                const config::SelectorList& exclude_instrument,
                                                const std::string& open_port,
                                                const std::string& executable_name) {
  Selection s;
  // Beyla: when `instrument` is set, `services` and `exclude_services` are ignored.
  const bool use_instrument = !instrument.empty();
  for (const auto& sel : use_instrument ? instrument : services) {
    auto rule = CompileRule(sel, use_instrument);
    if (!rule.ok()) return rule.status();
    s.include_.push_back(std::move(rule).value());
  }
  for (const auto& sel : use_instrument ? exclude_instrument : exclude_services) {
    auto rule = CompileRule(sel, use_instrument);
    if (!rule.ok()) return rule.status();
    s.exclude_.push_back(std::move(rule).value());
  }
  // The top-level shortcuts form one more entry; with both set a process must match both.
  if (!open_port.empty() || !executable_name.empty()) {
    config::Selector shortcut;
    if (!open_port.empty()) shortcut["open_ports"] = open_port;
    if (!executable_name.empty()) shortcut["exe_path"] = executable_name;
    auto rule = CompileRule(shortcut, /*glob=*/false);
    if (!rule.ok()) return rule.status();
    s.include_.push_back(std::move(rule).value());
  }
  for (const char* glob : kDefaultExcludedExeGlobs) {
    Rule rule;
    rule.exe_glob = glob;
    s.exclude_.push_back(std::move(rule));
  }
  return s;
}

std::vector<std::string> Selection::annotation_keys() const {
  std::set<std::string> keys;
  for (const auto* rules : {&include_, &exclude_}) {
    for (const Rule& rule : *rules) {
      for (const Rule::K8sCriterion& c : rule.k8s) {
        if (c.field == "k8s_pod_annotations") keys.insert(c.key);
      }
    }
  }
  return {keys.begin(), keys.end()};
}

bool Selection::Selected(const ProcessInfo& p, const PodResolver& pods) const {
  if (p.exe.empty()) return false;  // kernel threads
  for (const auto& rule : exclude_) {
    if (rule.Matches(p, pods)) return false;
  }
  if (include_.empty()) return true;
  return std::any_of(include_.begin(), include_.end(),
                     [&](const Rule& rule) { return rule.Matches(p, pods); });
}

bool Selection::needs_listen_ports() const {
  const auto by_ports = [](const Rule& r) { return !r.never && !r.ports.empty(); };
  return std::any_of(include_.begin(), include_.end(), by_ports) ||
         std::any_of(exclude_.begin(), exclude_.end(), by_ports);
}

namespace {

// The listening-socket inodes among `pid`'s open fds.
std::vector<uint64_t> ListeningInodesOf(const std::string& base,
                                        const ListeningSockets& listening) {
  std::vector<uint64_t> inodes;
  DIR* fds = opendir((base + "/fd").c_str());
  if (fds == nullptr) return inodes;
  char buf[64];
  while (dirent* fd = readdir(fds)) {
    if (fd->d_name[0] == '.') continue;
    const ssize_t len =
        readlink(absl::StrCat(base, "/fd/", fd->d_name).c_str(), buf, sizeof(buf) - 1);
    if (len <= 0) continue;
    std::string_view target(buf, static_cast<size_t>(len));
    if (!target.starts_with("socket:[")) continue;
    uint64_t inode = 0;
    if (!ParseInt(target.substr(8, target.size() - 9), &inode)) continue;
    if (listening.contains(inode)) inodes.push_back(inode);
  }
  closedir(fds);
  return inodes;
}

// What a scan needs of a process from /proc/<pid> (`base`): exe link, comm, network namespace;
// the exe is empty for a kernel thread (no exe link), nullopt when the process is gone.
std::optional<ScanCache::Details> ReadDetails(const std::string& base, const ino_t* self_netns) {
  ScanCache::Details d;
  char buf[4096];
  const ssize_t n = readlink((base + "/exe").c_str(), buf, sizeof(buf) - 1);
  if (n <= 0) return d;
  struct stat ns {};
  if (stat((base + "/ns/net").c_str(), &ns) != 0) return std::nullopt;
  d.exe.assign(buf, static_cast<size_t>(n));
  d.comm = ReadFirstLine(base + "/comm");
  d.netns = ns.st_ino;
  d.other_netns = self_netns != nullptr && ns.st_ino != *self_netns;
  return d;
}

struct NetnsListeners {
  ListeningSockets sockets;
  bool walk_all = true;  // every process of the namespace has its fds walked this scan
};

}  // namespace

void ScanCache::Invalidate(uint32_t pid) {
  details_by_pid_.erase(pid);
  inodes_by_pid_.erase(pid);
}

std::vector<ProcessInfo> ScanProcesses(bool listen_ports, ScanCache* cache) {
  std::vector<ProcessInfo> out;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  std::map<uint64_t, NetnsListeners> listening_by_netns;
  internal::ForeignNetnsDumper foreign_netns;  // one helper thread for the scan's other namespaces
  struct stat self_ns {};
  const bool have_self_ns = stat("/proc/self/ns/net", &self_ns) == 0;
  bool full = true;
  if (cache != nullptr) {
    full = cache->scans_until_full_ <= 0;
    cache->scans_until_full_ = full ? ScanCache::kFullRefreshEvery : cache->scans_until_full_ - 1;
    cache->last_read_.clear();
    cache->last_walked_.clear();
    if (full) {
      cache->details_by_pid_.clear();
      cache->inodes_by_pid_.clear();
    }
  }
  std::unordered_set<uint32_t> seen;
  std::unordered_set<uint64_t> known;
  while (dirent* entry = readdir(proc)) {
    uint32_t pid = 0;
    if (!ParseInt(std::string_view(entry->d_name), &pid)) continue;
    seen.insert(pid);
    ProcessInfo p;
    p.pid = pid;
    const std::string base = absl::StrCat("/proc/", pid);
    uint64_t netns = 0;
    const ScanCache::Details* known_details = nullptr;
    if (cache != nullptr) {
      auto d = cache->details_by_pid_.find(pid);
      if (d != cache->details_by_pid_.end()) known_details = &d->second;
    }
    std::optional<ScanCache::Details> read;
    if (known_details == nullptr) {
      read = ReadDetails(base, have_self_ns ? &self_ns.st_ino : nullptr);
      if (!read) continue;  // gone meanwhile
      if (cache != nullptr) {
        known_details = &(cache->details_by_pid_[pid] = *read);
        cache->last_read_.push_back(pid);
      } else {
        known_details = &*read;
      }
    }
    if (known_details->exe.empty()) continue;  // a kernel thread
    p.exe = known_details->exe;
    p.comm = known_details->comm;
    netns = known_details->netns;
    p.other_netns = known_details->other_netns;
    if (!listen_ports) {
      out.push_back(std::move(p));
      continue;
    }
    auto it = listening_by_netns.find(netns);
    if (it == listening_by_netns.end()) {
      const bool same_netns = have_self_ns && netns == self_ns.st_ino;
      NetnsListeners l{ListeningInodes(pid, same_netns, &foreign_netns), true};
      if (cache != nullptr && !full) {
        // Walk the namespace's processes only if one of its listeners is new.
        l.walk_all = std::any_of(l.sockets.begin(), l.sockets.end(),
                                 [&](const auto& s) { return !cache->known_.contains(s.first); });
      }
      for (const auto& s : l.sockets) known.insert(s.first);
      it = listening_by_netns.emplace(netns, std::move(l)).first;
    }
    const NetnsListeners& listening = it->second;
    if (!listening.sockets.empty()) {
      const std::vector<uint64_t>* inodes = nullptr;
      std::vector<uint64_t> walked;
      if (cache != nullptr && !listening.walk_all) {
        auto cached = cache->inodes_by_pid_.find(pid);
        if (cached != cache->inodes_by_pid_.end()) inodes = &cached->second;
      }
      if (inodes == nullptr) {
        walked = ListeningInodesOf(base, listening.sockets);
        inodes = &walked;
        if (cache != nullptr) cache->last_walked_.push_back(pid);
      }
      for (uint64_t inode : *inodes) {
        // A cached inode may have been closed since: only the namespace's current listeners count.
        auto l = listening.sockets.find(inode);
        if (l != listening.sockets.end()) p.listen_ports.push_back(l->second);
      }
      if (cache != nullptr && inodes == &walked) cache->inodes_by_pid_[pid] = std::move(walked);
    }
    out.push_back(std::move(p));
  }
  closedir(proc);
  if (cache != nullptr) {
    std::erase_if(cache->details_by_pid_, [&](const auto& e) { return !seen.contains(e.first); });
    std::erase_if(cache->inodes_by_pid_, [&](const auto& e) { return !seen.contains(e.first); });
    if (listen_ports) cache->known_ = std::move(known);
  }
  return out;
}

Discovery::Discovery(Selection selection, Callbacks callbacks, std::chrono::milliseconds interval,
                     uint32_t self_pid, PodResolver pods)
    : selection_(std::move(selection)),
      callbacks_(std::move(callbacks)),
      interval_(interval),
      self_pid_(self_pid),
      pods_(std::move(pods)) {}

Discovery::~Discovery() { Stop(); }

void Discovery::Start() {
  ScanOnce();
  thread_ = std::thread([this] { Loop(); });
}

void Discovery::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Discovery::Poke(uint32_t pid) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
    // Bounded: past this many pending pids, read everything again.
    if (invalidated_.size() < 4096) {
      invalidated_.insert(pid);
    } else {
      invalidate_all_ = true;
    }
  }
  cv_.notify_all();
}

void Discovery::PokeAll() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
    invalidate_all_ = true;
  }
  cv_.notify_all();
}

std::set<uint32_t> Discovery::selected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return selected_;
}

void Discovery::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, interval_, [&] { return stop_ || poked_; });
    if (stop_) break;
    if (poked_) {
      // Let a burst of exec/exit events settle, and give a new server a moment to bind.
      poked_ = false;
      cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stop_; });
      if (stop_) break;
    }
    lock.unlock();
    ScanOnce();
    lock.lock();
  }
}

void Discovery::ScanOnce() {
  // Processes read again because they exec'd or their pid was reused (Poke), or all of them
  // (PokeAll): one that is still selected is announced again, since what the agent read of it at
  // selection (its executable and environment, for its service name and pod) may be another
  // image's or another process's.
  std::set<uint32_t> reread;
  bool reread_all = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint32_t pid : invalidated_) scan_cache_.Invalidate(pid);
    reread.swap(invalidated_);
    if (invalidate_all_) scan_cache_.InvalidateAll();
    reread_all = invalidate_all_;
    invalidate_all_ = false;
  }
  std::set<uint32_t> now;
  std::vector<ProcessInfo> added;
  for (ProcessInfo& p : ScanProcesses(selection_.needs_listen_ports(), &scan_cache_)) {
    if (p.pid == self_pid_ || !selection_.Selected(p, pods_)) continue;
    now.insert(p.pid);
    added.push_back(std::move(p));
  }
  std::vector<uint32_t> removed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint32_t pid : selected_) {
      if (!now.contains(pid)) removed.push_back(pid);
    }
    std::erase_if(added, [&](const ProcessInfo& p) {
      return selected_.contains(p.pid) && !reread_all && !reread.contains(p.pid);
    });
    selected_ = std::move(now);
  }
  for (const auto& p : added) {
    if (callbacks_.on_selected) callbacks_.on_selected(p);
  }
  for (uint32_t pid : removed) {
    if (callbacks_.on_deselected) callbacks_.on_deselected(pid);
  }
  if ((!added.empty() || !removed.empty()) && callbacks_.on_scan_changed) {
    callbacks_.on_scan_changed();
  }
}

}  // namespace loupe::discovery
