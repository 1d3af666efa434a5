#include "src/identity/cgroup.h"

#include <fstream>
#include <vector>

#include "absl/status/status.h"
#include "src/base/strings.h"

namespace loupe::identity {
namespace {

bool IsHex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "<prefix><64 hex>.scope" → the hex id.
std::string_view ScopeId(std::string_view component, std::string_view prefix) {
  if (!StartsWith(component, prefix) || !EndsWith(component, ".scope")) return {};
  std::string_view id = component.substr(prefix.size());
  id.remove_suffix(6);
  return IsHex64(id) ? id : std::string_view{};
}

bool IsPodUid(std::string_view s) {
  // 8-4-4-4-12 hex with dashes (cgroupfs) or underscores (systemd slices).
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-' && c != '_') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::string NormalizePodUid(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '_') c = '-';
  }
  return out;
}

// Pod UID from "pod<uid>" or "kubepods-<qos>-pod<uid_>.slice" / "kubepods-pod<uid_>.slice".
std::string_view PodUidOf(std::string_view component) {
  if (EndsWith(component, ".slice")) component.remove_suffix(6);
  const size_t at = component.rfind("pod");
  if (at == std::string_view::npos) return {};
  if (at != 0 && component[at - 1] != '-') return {};
  std::string_view uid = component.substr(at + 3);
  return IsPodUid(uid) ? uid : std::string_view{};
}

}  // namespace

CgroupInfo ParseCgroupPath(std::string_view path) {
  CgroupInfo info;
  info.path = std::string(path);
  bool in_kubepods = false;
  for (std::string_view component : SplitSkipEmpty(path, '/')) {
    if (StartsWith(component, "kubepods")) in_kubepods = true;
    if (std::string_view uid = PodUidOf(component); !uid.empty() && in_kubepods) {
      info.pod_uid = NormalizePodUid(uid);
      continue;
    }
    if (std::string_view id = ScopeId(component, "docker-"); !id.empty()) {
      info.container_id = std::string(id);
      info.runtime = "docker";
    } else if (std::string_view id = ScopeId(component, "cri-containerd-"); !id.empty()) {
      info.container_id = std::string(id);
      info.runtime = "containerd";
    } else if (std::string_view id = ScopeId(component, "crio-"); !id.empty()) {
      info.container_id = std::string(id);
      info.runtime = "cri-o";
    } else if (std::string_view id = ScopeId(component, "libpod-"); !id.empty()) {
      info.container_id = std::string(id);
      info.runtime = "podman";
    } else if (IsHex64(component)) {
      // cgroupfs drivers: /docker/<id>, /kubepods/<qos>/pod<uid>/<id>.
      info.container_id = std::string(component);
      if (info.runtime.empty()) info.runtime = in_kubepods ? "" : "docker";
    } else if (component == "docker") {
      info.runtime = "docker";
    } else if (EndsWith(component, ".service") ||
               (EndsWith(component, ".scope") && !StartsWith(component, "crio-conmon-"))) {
      info.systemd_unit = std::string(component);
    }
  }
  if (!info.container_id.empty()) info.systemd_unit.clear();  // the scope is the container
  return info;
}

absl::StatusOr<std::string> ReadCgroupPath(int pid, const std::string& proc_root) {
  const std::string file = proc_root + "/" + std::to_string(pid) + "/cgroup";
  std::ifstream in(file);
  if (!in) return absl::NotFoundError("cannot read " + file);
  std::string line;
  std::string v2;
  std::string best_v1;
  int best_rank = 0;
  while (std::getline(in, line)) {
    // "<id>:<controllers>:<path>"
    const size_t a = line.find(':');
    if (a == std::string::npos) continue;
    const size_t b = line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string_view controllers(line.data() + a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) {
      v2 = std::move(path);
      continue;
    }
    int rank = 1;
    if (controllers == "name=systemd") {
      rank = 4;
    } else if (Contains(controllers, "cpu")) {
      rank = 3;
    } else if (Contains(controllers, "memory") || Contains(controllers, "pids")) {
      rank = 2;
    }
    if (rank > best_rank) {
      best_rank = rank;
      best_v1 = std::move(path);
    }
  }
  // Hybrid hierarchies have an empty-ish v2 line ("/"); prefer the v1 path then.
  if (!v2.empty() && (v2 != "/" || best_v1.empty())) return v2;
  if (!best_v1.empty()) return best_v1;
  return absl::NotFoundError("no cgroup path in " + file);
}

}  // namespace loupe::identity
