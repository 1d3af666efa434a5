"""Loupe test lab: network namespaces as pods and nodes, real workloads, traffic.

See lab/README.md. Public API:

    Lab, Pod, Node, Wire, WireEnd, Workload, HttpResult, WrkResult, ClientResult, LabError
    build_go() -> Binaries        build (or reuse) the Go workloads offline
    down(), list_runs()           clean up / list runs by name
"""

from lab._util import LabError
from lab.build import Binaries, build_go
from lab.cleanup import down, list_runs
from lab.core import ClientResult, HttpResult, Lab, Node, Pod, WrkResult
from lab.wires import Wire, WireEnd
from lab.workloads import DEFAULT_PORTS, KINDS, NGINX_STATUS_CODES, Workload

__all__ = [
    "Binaries", "ClientResult", "DEFAULT_PORTS", "HttpResult", "KINDS", "Lab", "LabError", "NGINX_STATUS_CODES",
    "Node", "Pod", "Wire", "WireEnd", "Workload", "WrkResult", "build_go", "down", "list_runs",
]
