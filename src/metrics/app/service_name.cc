#include "src/metrics/app/service_name.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>

#include "src/base/read_file.h"
#include "src/base/strings.h"

namespace loupe::metrics::app {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = HexValue(s[i + 1]);
      const int lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

std::string BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string DefaultHostName() {
  std::array<char, 256> buf{};
  if (gethostname(buf.data(), buf.size() - 1) != 0) return "localhost";
  return std::string(buf.data());
}

void FillDerived(ServiceIdentity* id, std::string_view host) {
  id->instance = std::string(host) + ":" + std::to_string(id->pid);
  id->job = id->namespace_name.empty() ? id->name : id->namespace_name + "/" + id->name;
}

}  // namespace

EnvServiceInfo ParseServiceEnviron(std::string_view environ) {
  EnvServiceInfo info;
  std::optional<std::string> attr_name;
  std::map<std::string, std::string> others;  // sorted; a later entry replaces an earlier one
  size_t pos = 0;
  while (pos < environ.size()) {
    size_t end = environ.find('\0', pos);
    if (end == std::string_view::npos) end = environ.size();
    const std::string_view entry = environ.substr(pos, end - pos);
    pos = end + 1;
    const size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = entry.substr(0, eq);
    const std::string_view value = entry.substr(eq + 1);
    if (key == "OTEL_SERVICE_NAME") {
      if (!StripWhitespace(value).empty()) info.name = std::string(StripWhitespace(value));
    } else if (key == "OTEL_RESOURCE_ATTRIBUTES") {
      for (std::string_view pair : SplitSkipEmpty(value, ',')) {
        const size_t peq = pair.find('=');
        if (peq == std::string_view::npos) continue;
        const std::string_view k = StripWhitespace(pair.substr(0, peq));
        const std::string v = PercentDecode(StripWhitespace(pair.substr(peq + 1)));
        if (k.empty() || v.empty()) continue;
        if (k == "service.name") {
          attr_name = v;
        } else if (k == "service.namespace") {
          info.namespace_name = v;
        } else {
          others[std::string(k)] = v;
        }
      }
    }
  }
  // OTEL_SERVICE_NAME takes precedence over service.name in OTEL_RESOURCE_ATTRIBUTES.
  if (!info.name && attr_name) info.name = attr_name;
  info.resource_attributes.assign(others.begin(), others.end());
  return info;
}

ServiceNamer::ServiceNamer(Options options)
    : options_(std::move(options)), remembered_(kFactsLinger, options_.max_entries) {
  if (options_.host_name.empty()) options_.host_name = DefaultHostName();
}

void ServiceNamer::SetHook(Hook hook) {
  std::unique_lock lock(mu_);
  hook_ = std::move(hook);
  cache_.clear();
}

std::optional<ServiceNamer::Facts> ServiceNamer::ReadFacts(uint32_t pid) const {
  const std::string dir = options_.proc_root + "/" + std::to_string(pid);
  std::array<char, 4096> link{};
  const ssize_t n = readlink((dir + "/exe").c_str(), link.data(), link.size() - 1);
  if (n <= 0) return std::nullopt;  // gone, or a kernel thread
  std::string_view exe(link.data(), static_cast<size_t>(n));
  constexpr std::string_view kDeleted = " (deleted)";
  if (exe.size() > kDeleted.size() && exe.substr(exe.size() - kDeleted.size()) == kDeleted) {
    exe.remove_suffix(kDeleted.size());
  }
  return Facts{BaseName(exe), ParseServiceEnviron(ReadFileOrEmpty(dir + "/environ"))};
}

void ServiceNamer::Remember(uint32_t pid) {
  // What is cached for this pid was computed for an earlier process of the same pid (its last
  // requests may have been named after its exit was handled).
  Forget(pid);
  if (std::optional<Facts> facts = ReadFacts(pid)) remembered_.Put(pid, *std::move(facts));
}

ServiceIdentity ServiceNamer::Compute(uint32_t pid, std::string_view comm, bool* live) const {
  ServiceIdentity id;
  id.pid = pid;
  std::optional<Facts> facts = ReadFacts(pid);
  *live = facts.has_value();
  if (!facts) facts = remembered_.Find(pid);  // exited: what was read while it ran
  EnvServiceInfo env;
  if (facts) {
    id.executable = std::move(facts->executable);
    env = std::move(facts->env);
  } else {
    std::string file_comm =
        ReadFileOrEmpty(options_.proc_root + "/" + std::to_string(pid) + "/comm");
    while (!file_comm.empty() && file_comm.back() == '\n') file_comm.pop_back();
    // Alive though its executable cannot be read (no ptrace access to it): cached all the same.
    *live = !file_comm.empty();
    id.executable = file_comm.empty() ? std::string(comm) : file_comm;
  }
  if (env.name) {
    id.name = *env.name;
    id.name_from_env = true;
  } else {
    id.name = id.executable;
  }
  if (env.namespace_name) {
    id.namespace_name = *env.namespace_name;
    id.namespace_from_env = true;
  } else {
    id.namespace_name = options_.default_namespace;
  }
  id.resource_attributes = std::move(env.resource_attributes);
  return id;
}

std::shared_ptr<const ServiceIdentity> ServiceNamer::Get(uint32_t pid, std::string_view comm,
                                                         const flow::IpAddress* local_address) {
  {
    std::shared_lock lock(mu_);
    auto it = cache_.find(pid);
    if (it != cache_.end()) return it->second;
  }
  bool live = false;
  ServiceIdentity id = Compute(pid, comm, &live);
  Hook hook;
  {
    std::shared_lock lock(mu_);
    hook = hook_;
  }
  if (hook) {
    hook(&id, HookContext{live, local_address});
    id.pid = pid;
  }
  FillDerived(&id, options_.host_name);
  auto shared = std::make_shared<const ServiceIdentity>(std::move(id));
  // A process that is gone is not cached: its exit may have been handled already (Forget), and
  // the entry would then name a later process of the same pid. Only its last requests ask.
  if (!live) return shared;
  std::unique_lock lock(mu_);
  if (cache_.size() >= options_.max_entries) cache_.clear();
  auto [it, inserted] = cache_.emplace(pid, std::move(shared));
  return it->second;  // a concurrent first Get() may have won; both computed the same
}

void ServiceNamer::Forget(uint32_t pid) {
  remembered_.Gone(pid, std::chrono::steady_clock::now());
  {
    // Every exec and exit on the host comes here; most pids were never named. Those cost a
    // shared lock, not a turn of the exclusive one that the naming of requests would wait on.
    std::shared_lock lock(mu_);
    if (!cache_.contains(pid)) return;
  }
  std::unique_lock lock(mu_);
  cache_.erase(pid);
}

void ServiceNamer::ForgetImage(uint32_t pid) {
  remembered_.Erase(pid);
  Forget(pid);
}

void ServiceNamer::ReadImage(uint32_t pid) {
  remembered_.Erase(pid);  // the old image's, also when the new one cannot be read
  Remember(pid);
}

void ServiceNamer::Retain(std::span<const uint32_t> pids) {
  std::vector<uint32_t> keep(pids.begin(), pids.end());
  std::sort(keep.begin(), keep.end());
  remembered_.Retain(keep, std::chrono::steady_clock::now());
  std::unique_lock lock(mu_);
  for (auto it = cache_.begin(); it != cache_.end();) {
    if (std::binary_search(keep.begin(), keep.end(), it->first)) {
      ++it;
    } else {
      it = cache_.erase(it);
    }
  }
}

std::vector<std::shared_ptr<const ServiceIdentity>> ServiceNamer::Known() const {
  std::vector<std::shared_ptr<const ServiceIdentity>> out;
  {
    std::shared_lock lock(mu_);
    out.reserve(cache_.size());
    for (const auto& [pid, id] : cache_) out.push_back(id);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->pid < b->pid; });
  return out;
}

}  // namespace loupe::metrics::app
