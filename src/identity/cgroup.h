// What a process's cgroup path says about it: the container it runs in (Docker, containerd,
// CRI-O, podman), the Kubernetes pod UID of that container, and the systemd unit.
//
// Paths handled (cgroup v2 unified line `0::<path>`, or the v1 hierarchy that carries them):
//   /docker/<id>                                              Docker, cgroupfs driver
//   /system.slice/docker-<id>.scope                           Docker, systemd driver
//   /kubepods/<qos>/pod<uid>/<id>                             kubelet cgroupfs driver
//   /kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice/cri-containerd-<id>.scope
//   .../crio-<id>.scope                                       CRI-O (crio-conmon-<id> is not the
//                                                             container)
//   .../libpod-<id>.scope                                     podman
//   /system.slice/nginx.service                               systemd unit "nginx.service"
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace loupe::identity {

struct CgroupInfo {
  std::string path;
  std::string container_id;  // 64 hex chars, "" when not in a container
  std::string runtime;       // "docker", "containerd", "cri-o", "podman", "" when unknown
  std::string pod_uid;       // Kubernetes pod UID with dashes, "" when not a pod
  std::string systemd_unit;  // innermost "*.service" / "*.scope" unit, "" when none
};

CgroupInfo ParseCgroupPath(std::string_view path);

// The cgroup path of `pid` from <proc_root>/<pid>/cgroup: the v2 line when present, else the
// v1 hierarchy most likely to name the container (name=systemd, then cpu/memory/pids).
absl::StatusOr<std::string> ReadCgroupPath(int pid, const std::string& proc_root = "/proc");

}  // namespace loupe::identity
