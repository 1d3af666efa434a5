"""The lab's Kubernetes mode: the project's test API server (tests/k8s/apiserver.py, the real
list/watch protocol over TLS) with every lab pod registered as a Pod owned by a ReplicaSet and a
Deployment, and a kubeconfig for it in the run directory. No static inventory: the agent learns
the pods by listing and watching, as it would in a cluster."""
from __future__ import annotations

import importlib.util
import socket
import sys
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
        for pod in lab.pods:
            kinds = [w.kind for w in pod.workloads]
            name = kinds[0] if kinds and kinds[0] not in self.deployments else pod.name
            self.deployments[name] = k8s.create_deployment(
                self.api, namespace, name, [{"node": self.node, "ip": pod.ip, "name": pod.name}],
                labels={"app": name, "app.kubernetes.io/name": name})

    def env(self) -> dict[str, str]:
        """Environment for an agent of this lab's node."""
        return {"KUBECONFIG": self.kubeconfig, "LOUPE_NODE_NAME": self.node,
                "BEYLA_KUBE_METADATA_ENABLE": "true"}

    def close(self) -> None:
        self.api.stop()
