"""The lab's Kubernetes mode: the project's test API server (tests/k8s/apiserver.py, the real
list/watch protocol over TLS) with every lab pod registered as a Pod owned by a ReplicaSet and a
Deployment, and a kubeconfig for it in the run directory. No static inventory: the agent learns
the pods by listing and watching, as it would in a cluster."""
from __future__ import annotations

import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_APISERVER = Path(__file__).resolve().parents[1] / "tests" / "k8s" / "apiserver.py"


def _apiserver_module() -> Any:
    if "loupe_test_apiserver" in sys.modules:
        return sys.modules["loupe_test_apiserver"]
    spec = importlib.util.spec_from_file_location("loupe_test_apiserver", _APISERVER)
    module = importlib.util.module_from_spec(spec)
    sys.modules["loupe_test_apiserver"] = module
    spec.loader.exec_module(module)
    return module


class KubernetesMode:
    """Started by Lab(kubernetes=True). `namespace`: where the pods go; each pod's Deployment is
    named after its first workload (nginx, gohttp, ...) or, without one, after the pod."""

    def __init__(self, lab: Any, namespace: str = "lab", node: str | None = None):
        k8s = _apiserver_module()
        self.module = k8s
        self.namespace = namespace
        self.node = node or socket.gethostname()
        self.api = k8s.ApiServer().start()
        self.kubeconfig = str(Path(lab.run_dir) / "kubeconfig")
        self.api.write_kubeconfig(self.kubeconfig)
        self.api.create(k8s.make_namespace(namespace))
        self.api.create(k8s.make_node(self.node, "192.0.2.1"))
        self.deployments: dict[str, dict] = {}
        self.lab = lab
        self._containers: list[tuple[subprocess.Popen, Path]] = []
        for pod in lab.pods:
            kinds = [w.kind for w in pod.workloads]
            name = kinds[0] if kinds and kinds[0] not in self.deployments else pod.name
            self.deployments[name] = k8s.create_deployment(
                self.api, namespace, name, [{"node": self.node, "ip": pod.ip, "name": pod.name}],
                labels={"app": name, "app.kubernetes.io/name": name})

    def pod_key(self, pod_name: str) -> str:
        """The API key ("namespace/name") of lab pod `pod_name`'s Pod."""
        return f"{self.namespace}/{pod_name}"

    def pod_object(self, pod_name: str) -> dict:
        """The Pod object the API server serves for lab pod `pod_name`."""
        obj = self.api.get("Pod", self.pod_key(pod_name))
        if obj is None:
            raise KeyError(f"no Pod {self.pod_key(pod_name)}")
        return obj

    def replicaset_of(self, pod_name: str) -> str:
        """The name of the ReplicaSet that owns lab pod `pod_name`'s Pod."""
        refs = self.pod_object(pod_name)["metadata"].get("ownerReferences", [])
        return next(r["name"] for r in refs if r["kind"] == "ReplicaSet")

    def update_pod(self, pod_name: str, *, annotations: dict | None = None,
                   containers: list[tuple[str, str]] | None = None,
                   start_time: str | None = None) -> dict:
        """Changes lab pod `pod_name`'s Pod (a MODIFIED watch event): `annotations` are merged
        into metadata.annotations; `containers` ((name, containerID) pairs such as
        ("web", "containerd://<64 hex>")) are added to status.containerStatuses (and
        spec.containers); `start_time` replaces status.startTime (RFC 3339). Returns the stored
        object."""
        obj = self.pod_object(pod_name)
        if annotations:
            obj["metadata"].setdefault("annotations", {}).update(annotations)
        if containers:
            statuses = obj["status"].setdefault("containerStatuses", [])
            specs = obj["spec"].setdefault("containers", [])
            for name, container_id in containers:
                statuses.append({"name": name, "containerID": container_id, "ready": True})
                specs.append({"name": name, "image": "example/app:1"})
        if start_time is not None:
            obj["status"]["startTime"] = start_time
        return self.api.update(obj)

    def start_container(self, pod: Any, name: str, argv: list[str]) -> tuple[subprocess.Popen, str]:
        """Runs `argv` in lab pod `pod` as container `name` of its Pod, the way a container
        runtime places it: in a cgroup v2 scope named cri-containerd-<id>.scope (the kubelet's
        systemd-driver naming), with <id> registered as the container's containerID
        ("containerd://<id>") in the Pod's status. Returns the process and the container ID; both
        are removed when the lab closes."""
        root = _unified_cgroup_root()
        container_id = secrets.token_hex(32)
        cgroup = root / f"loupe-lab-{self.lab.run_id}.slice" / f"cri-containerd-{container_id}.scope"
        cgroup.mkdir(parents=True)
        # `ip netns exec` remounts /sys, hiding the cgroup tree from inside the pod: the process
        # waits for a line on stdin while it is moved from here, then execs (same pid).
        proc = pod.popen(["sh", "-c", 'read go; exec "$@"', "sh", *argv], stdin=subprocess.PIPE)
        self._containers.append((proc, cgroup))
        (cgroup / "cgroup.procs").write_text(str(proc.pid))
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        self.update_pod(pod.name, containers=[(name, f"containerd://{container_id}")])
        return proc, container_id

    def env(self) -> dict[str, str]:
        """Environment for an agent of this lab's node."""
        return {"KUBECONFIG": self.kubeconfig, "LOUPE_NODE_NAME": self.node,
                "BEYLA_KUBE_METADATA_ENABLE": "true"}

    def close(self) -> None:
        try:
            self._remove_containers()
        finally:
            self.api.stop()

    def _remove_containers(self) -> None:
        root = _unified_cgroup_root() if self._containers else None
        for proc, cgroup in self._containers:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
            # Anything still in the scope goes back to the root before the directory goes.
            deadline = time.monotonic() + 5
            while cgroup.exists():
                for pid in (cgroup / "cgroup.procs").read_text().split():
                    try:
                        (root / "cgroup.procs").write_text(pid)
                    except OSError:
                        pass
                try:
                    cgroup.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            try:
                cgroup.parent.rmdir()
            except OSError:
                pass  # another container of the lab is still in it
        self._containers.clear()


def _unified_cgroup_root() -> Path:
    for candidate in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
        if (candidate / "cgroup.procs").exists() and (candidate / "cgroup.controllers").exists():
            return candidate
    raise RuntimeError("no cgroup v2 hierarchy mounted (looked at /sys/fs/cgroup[/unified])")
