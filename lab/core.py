"""The lab: pods (network namespaces) on a bridge, optionally grouped into nodes, with workloads.

Typical use::

    from lab import Lab
    with Lab(pods=3, workloads=["nginx", "gohttp", "grpc"]) as lab:
        web = lab.pod("pod0").workloads[0]
        result = lab.pod("pod1").curl(web.url + "/")
        assert result.status == 200 and result.body == b"nginx ok\\n"

Everything a run creates carries its run id (see ``lab.naming``); ``close()`` (also called by the
context manager, at interpreter exit, and on SIGTERM/SIGHUP) removes all of it, and
``lab.cleanup.down()`` removes the leftovers of a run that could not clean up after itself.
"""

from __future__ import annotations

import atexit
import fcntl
import ipaddress
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from lab import naming
from lab._util import LabError, log, pid_start_time, run, wait_until
from lab.build import Binaries, build_go
from lab.netns import Namespace, kill_netns_processes, list_links, list_netns
from lab.wires import Wire, create_wire
from lab.workloads import KINDS, Workload, start_workload, wait_stopped

WorkloadSpec = Sequence[str] | Mapping[str, str | Sequence[str]] | None


@dataclass
class HttpResult:
    """Outcome of one curl request."""

    status: int  # 0 when no HTTP response arrived
    body: bytes
    returncode: int
    stderr: str

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


@dataclass
class WrkResult:
    requests: int
    non_2xx: int
    socket_errors: int
    returncode: int
    stdout: str


@dataclass
class ClientResult:
    """Outcome of one run of a lab Go client (grpcclient, httpclient): exit code and its JSON line."""

    returncode: int
    data: dict[str, Any]
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


_STATUS_MARK = b"\n@@loupe-lab-status@@"


class Pod(Namespace):
    """A pod: its own netns with ``lo`` and ``eth0`` (one end of a veth on its node's bridge)."""

    def __init__(self, lab: "Lab", name: str, index: int, node: "Node | None", subnet: naming.Subnet,
                 host_number: int) -> None:
        super().__init__(name, naming.netns_name(lab.run_id, name))
        self.lab = lab
        self.index = index
        self.node = node
        self.subnet = subnet
        self.ip = subnet.host4(host_number)
        self.ip6 = subnet.host6(host_number)
        self.gateway = subnet.host4(1)
        self.gateway6 = subnet.host6(1)
        self.host_veth = naming.pod_veth_name(lab.run_id, index)
        self.ifname = "eth0"
        self.workloads: list[Workload] = []
        self.dir = lab.run_dir / "pods" / name

    @property
    def node_name(self) -> str:
        return self.node.name if self.node else "host"

    def start(self, kind: str, port: int | None = None, **options: Any) -> Workload:
        """Starts a workload (see lab.workloads) in this pod and waits until it is ready."""
        return start_workload(self, kind, port, **options)

    def workload(self, kind: str) -> Workload:
        for w in self.workloads:
            if w.kind == kind:
                return w
        raise LabError(f"{self.name} runs no {kind} workload (it runs: "
                       f"{', '.join(w.kind for w in self.workloads) or 'nothing'})")

    def curl(self, url: str, *args: str, method: str | None = None, data: str | bytes | None = None,
             timeout: float = 10.0) -> HttpResult:
        """One request with curl from this pod; returns the status, the body and curl's exit code."""
        cmd = ["curl", "-sS", "--max-time", str(timeout), "-w", _STATUS_MARK.decode() + "%{http_code}"]
        if method:
            cmd += ["-X", method]
        if data is not None:
            cmd += ["--data-binary", "@-"]
        cmd += [*args, url]
        try:
            proc = subprocess.run(self.argv(cmd), input=data.encode() if isinstance(data, str) else data,
                                  capture_output=True, timeout=timeout + 10, check=False)
        except subprocess.TimeoutExpired as e:
            raise LabError(f"{self.name}: curl {url} did not finish in {timeout + 10}s") from e
        body, _, code = proc.stdout.rpartition(_STATUS_MARK)
        return HttpResult(status=int(code or b"0"), body=body, returncode=proc.returncode,
                          stderr=proc.stderr.decode(errors="replace"))

    def wrk(self, url: str, duration: float = 2.0, connections: int = 2, threads: int = 1,
            *args: str) -> WrkResult:
        """A wrk load run from this pod."""
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, int(round(duration)))}s", *args, url]
        proc = self.exec(cmd, timeout=duration + 30)
        requests = re.search(r"(\d+) requests in", proc.stdout)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", proc.stdout)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", proc.stdout)
        return WrkResult(requests=int(requests.group(1)) if requests else 0,
                         non_2xx=int(non2xx.group(1)) if non2xx else 0,
                         socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
                         returncode=proc.returncode, stdout=proc.stdout + proc.stderr)

    def grpcclient(self, command: str, addr: str, *args: str, timeout: float = 60.0) -> ClientResult:
        """Runs the lab's Go gRPC client: ``command`` is health|unary|sstream|cstream|bidi."""
        return self._client(["grpcclient", command, "-addr", addr, *args], timeout)

    def httpclient(self, url: str, *args: str, timeout: float = 120.0) -> ClientResult:
        """Runs the lab's Go HTTP client (``-n``, ``-c``, ``-method``, ``-body``, ``-h2c`` ...)."""
        return self._client(["httpclient", "-url", url, *args], timeout)

    def _client(self, cmd: list[str], timeout: float) -> ClientResult:
        binary = str(self.lab.binaries.path(cmd[0]))
        proc = self.exec([binary, *cmd[1:]], timeout=timeout)
        data: dict[str, Any] = {}
        for line in reversed(proc.stdout.strip().splitlines()):
            try:
                data = json.loads(line)
                break
            except ValueError:
                continue
        return ClientResult(returncode=proc.returncode, data=data, stdout=proc.stdout, stderr=proc.stderr)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "netns": self.netns, "node": self.node_name, "ip": self.ip, "ip6": self.ip6,
                "subnet": str(self.subnet.v4), "subnet6": str(self.subnet.v6), "host_veth": self.host_veth,
                "workloads": [w.describe() for w in self.workloads]}


class Node(Namespace):
    """A node: a netns with its own bridge for its pods, linked to the lab fabric in the root ns."""

    def __init__(self, lab: "Lab", name: str, index: int, subnet: naming.Subnet, fabric: naming.Subnet) -> None:
        super().__init__(name, naming.netns_name(lab.run_id, name))
        self.lab = lab
        self.index = index
        self.subnet = subnet
        self.bridge = naming.bridge_name(lab.run_id)
        self.uplink = naming.node_uplink_name(lab.run_id, index)
        self.fabric_ip = fabric.host4(index + 2)
        self.fabric_ip6 = fabric.host6(index + 2)
        self.pods: list[Pod] = []

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "netns": self.netns, "subnet": str(self.subnet.v4),
                "subnet6": str(self.subnet.v6), "bridge": self.bridge, "fabric_ip": self.fabric_ip,
                "fabric_ip6": self.fabric_ip6, "uplink": self.uplink, "pods": [p.name for p in self.pods]}


_live_labs: "set[Lab]" = set()
_live_lock = threading.Lock()
_previous_handlers: dict[int, Any] = {}


def _exit_on_signal(signum: int, frame: Any) -> None:
    # Turn SIGTERM/SIGHUP into a normal exit so context managers and atexit tear labs down.
    raise SystemExit(128 + signum)


def _install_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if sig not in _previous_handlers and signal.getsignal(sig) == signal.SIG_DFL:
            _previous_handlers[sig] = signal.signal(sig, _exit_on_signal)


def _restore_signal_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for sig, handler in list(_previous_handlers.items()):
        if signal.getsignal(sig) == _exit_on_signal:
            signal.signal(sig, handler)
        del _previous_handlers[sig]


@atexit.register
def _close_all_labs() -> None:
    with _live_lock:
        labs = list(_live_labs)
    for lab in labs:
        lab.close()


class Lab:
    """One lab run: pods, optional nodes, their workloads, and everything needed to remove them.

    pods       number of pods (named pod0..) or a list of pod names.
    nodes      0: pods attach to a bridge in the root namespace (the "host node"; an agent in the
               root ns sees their host-side veths). N>0: N node namespaces each with a bridge,
               linked through a fabric bridge in the root namespace, with routes between them.
    placement  pod name -> node index (default: round robin).
    workloads  list of kinds started on pods in order (wrapping), or {pod: kind or [kinds]}.
    """

    def __init__(self, pods: int | Sequence[str] = 2, nodes: int = 0, *, placement: Mapping[str, int] | None = None,
                 workloads: WorkloadSpec = None, keep_logs: str | Path | None = None,
                 kubernetes: bool = False) -> None:
        names = [f"pod{i}" for i in range(pods)] if isinstance(pods, int) else list(pods)
        if not names:
            raise LabError("a lab needs at least one pod")
        if len(set(names)) != len(names):
            raise LabError(f"pod names must be unique: {names}")
        for name in names:
            if not naming.NAME_RE.match(name) or re.fullmatch(r"node\d+", name):
                raise LabError(f"bad pod name {name!r}: use [a-z][a-z0-9-]{{0,15}}, not node<N>")
        if nodes < 0 or nodes > 8:
            raise LabError(f"nodes must be in 0..8, got {nodes}")
        if len(names) > 250:
            raise LabError("at most 250 pods per lab")
        placement = dict(placement or {})
        for pod_name, node_index in placement.items():
            if pod_name not in names:
                raise LabError(f"placement names unknown pod {pod_name!r}")
            if not 0 <= node_index < max(nodes, 1) or (nodes == 0 and node_index != 0):
                raise LabError(f"placement of {pod_name} on node {node_index} but the lab has {nodes} nodes")
        self._pod_names = names
        self._node_count = nodes
        self._placement = placement
        self._workload_spec = _normalise_workloads(workloads, names)
        self._keep_logs = Path(keep_logs) if keep_logs else (
            Path(os.environ["LOUPE_LAB_KEEP_LOGS"]) if os.environ.get("LOUPE_LAB_KEEP_LOGS") else None)
        self.run_id = ""
        self.run_dir = Path()
        self.subnets: list[naming.Subnet] = []
        self.pods: list[Pod] = []
        self.nodes: list[Node] = []
        self.bridge = ""
        self.wires: list[Wire] = []
        self.wire_subnets: list[naming.Subnet] = []
        self._binaries: Binaries | None = None
        self._iptables_rules: list[list[str]] = []
        self._kubernetes_mode = kubernetes
        self.kubernetes: Any = None  # lab.kubernetes.KubernetesMode in Kubernetes mode
        self._started = False
        self._closed = False
        self._close_lock = threading.Lock()

    # ----- lifecycle

    def __enter__(self) -> "Lab":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> "Lab":
        if self._started:
            return self
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces, veths, bridges)")
        for tool in ("ip", "setpriv"):
            if shutil.which(tool) is None:
                raise LabError(f"{tool} not found; install iproute2 and util-linux")
        self._started = True
        with _live_lock:
            _live_labs.add(self)
        _install_signal_handlers()
        try:
            self._allocate()
            log(f"run {self.run_id}: {len(self._pod_names)} pods, {self._node_count or 'host'} node(s), "
                f"subnets {', '.join(str(s.v4) for s in self.subnets)}, dir {self.run_dir}")
            self._build_network()
            self._allow_in_host_firewall()
            if any(kind in ("gohttp", "grpc") for kinds in self._workload_spec.values() for kind in kinds):
                _ = self.binaries
            for pod in self.pods:
                for kind in self._workload_spec.get(pod.name, []):
                    pod.start(kind)
            if self._kubernetes_mode:
                from .kubernetes import KubernetesMode
                self.kubernetes = KubernetesMode(self)
                log(f"run {self.run_id}: Kubernetes mode, API server {self.kubernetes.api.url}, "
                    f"kubeconfig {self.kubernetes.kubeconfig}")
            self._write_state()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Removes everything of this run. Idempotent; never raises (errors are logged)."""
        with self._close_lock:
            if self._closed or not self._started:
                return
            self._closed = True
        errors: list[str] = []

        def step(what: str, fn: Any) -> None:
            try:
                fn()
            except Exception as e:  # keep tearing down the rest
                errors.append(f"{what}: {e}")

        if self.kubernetes is not None:
            step("stop the Kubernetes API server", self.kubernetes.close)
        for wire in self.wires:
            step(f"stop wire {wire.name}", wire.close)
        step("stop workloads", lambda: wait_stopped([w for p in self.pods for w in p.workloads], 5.0))
        for ns in [*self.pods, *self.nodes]:
            step(f"stop processes of {ns.name}", lambda ns=ns: ns._stop_popens(3.0))
        if self.run_id:
            teardown_run(self.run_id, self._iptables_rules, errors, keep_logs=self._keep_logs)
        with _live_lock:
            _live_labs.discard(self)
            if not _live_labs:
                _restore_signal_handlers()
        if errors:
            log(f"run {self.run_id}: teardown problems:\n  " + "\n  ".join(errors))
        else:
            log(f"run {self.run_id}: torn down")

    # ----- wires

    def wire(self, pod_a: Pod | str, pod_b: Pod | str, *, delay_ms_a_to_b: float = 0.0,
             delay_ms_b_to_a: float = 0.0, loss_a_to_b: float = 0.0, loss_b_to_a: float = 0.0,
             drop_a_to_b: Mapping[str, int] | None = None, drop_b_to_a: Mapping[str, int] | None = None,
             seed: int = 0, ipv6: bool = True, ifname: str | None = None, priority: str | None = None) -> Wire:
        """A point-to-point link between two pods through a userspace forwarder (see lab.wires).

        Impairments per direction: a constant one-way delay, random loss with a seeded RNG, and
        ``drop_*`` rules ``{kind: n}`` that drop the next n packets of a kind (ip, tcp, syn,
        synack, tcp-data, udp, icmp). Returns a Wire: ``.a``/``.b`` ends with ``.ip``, ``.ip6``,
        ``.ifname``, ``.pod``; ``.stats()``, ``.set(...)``, ``.pid``. Stopped at teardown.
        """
        if not self._started or self._closed:
            raise LabError("start the lab before adding wires")
        return create_wire(self, pod_a, pod_b, delay_ms_a_to_b=delay_ms_a_to_b, delay_ms_b_to_a=delay_ms_b_to_a,
                           loss_a_to_b=loss_a_to_b, loss_b_to_a=loss_b_to_a, drop_a_to_b=drop_a_to_b,
                           drop_b_to_a=drop_b_to_a, seed=seed, ipv6=ipv6, ifname=ifname, priority=priority)

    # ----- accessors

    @property
    def binaries(self) -> Binaries:
        if self._binaries is None:
            self._binaries = build_go()
        return self._binaries

    def pod(self, name: str) -> Pod:
        for pod in self.pods:
            if pod.name == name:
                return pod
        raise LabError(f"no pod {name!r} in run {self.run_id} (pods: {', '.join(p.name for p in self.pods)})")

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise LabError(f"no node {name!r} in run {self.run_id}")

    @property
    def workloads(self) -> list[Workload]:
        return [w for p in self.pods for w in p.workloads]

    def workload(self, kind: str) -> Workload:
        """The first workload of ``kind`` in the lab."""
        for w in self.workloads:
            if w.kind == kind:
                return w
        raise LabError(f"run {self.run_id} has no {kind} workload")

    def names(self) -> dict[str, list[str]]:
        """Every name this run uses in the root namespace (for leak checks)."""
        links = [naming.fabric_bridge_name(self.run_id)] if self.nodes else [self.bridge]
        links += [n.uplink for n in self.nodes] if self.nodes else [p.host_veth for p in self.pods]
        return {"netns": [ns.netns for ns in [*self.pods, *self.nodes]], "links": links}

    def describe(self) -> dict[str, Any]:
        return {"run": self.run_id, "run_dir": str(self.run_dir), "owner_pid": os.getpid(),
                "subnets": [str(s.v4) for s in self.subnets], "subnets6": [str(s.v6) for s in self.subnets],
                "bridge": self.bridge, "nodes": [n.describe() for n in self.nodes],
                "pods": [p.describe() for p in self.pods], "wires": [w.describe() for w in self.wires],
                "wire_subnets": [str(s.v4) for s in self.wire_subnets]}

    # ----- setup

    def _allocate(self) -> None:
        root = naming.lab_root()
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o755)
        needed = 1 + self._node_count if self._node_count else 1
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            taken_ids = _ids_in_use(root)
            free_ids = [f"{i:04x}" for i in range(0x10000)]
            for _ in range(100):
                run_id = random.choice(free_ids)
                if run_id not in taken_ids:
                    break
            else:
                raise LabError("could not find a free run id; run `python3 -m lab down`")
            used = _subnets_in_use(root)
            free = [i for i in range(naming.SUBNET_COUNT) if i not in used]
            if len(free) < needed:
                raise LabError(f"no {needed} free /24 left in {naming.IPV4_RANGE}; run `python3 -m lab down`")
            start = random.randrange(len(free))
            chosen = (free[start:] + free[:start])[:needed]
            self.run_id = run_id
            self.run_dir = root / run_id
            self.run_dir.mkdir(mode=0o755)
            os.chmod(self.run_dir, 0o755)
            self.subnets = [naming.Subnet(i) for i in chosen]
            self._write_state()

    def _write_state(self) -> None:
        state = self.describe() if self.pods else {"run": self.run_id, "owner_pid": os.getpid()}
        state["owner_pid"] = os.getpid()
        state["owner_start"] = pid_start_time(os.getpid())
        state["subnet_indices"] = [s.index for s in [*self.subnets, *self.wire_subnets]]
        tmp = self.run_dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.rename(self.run_dir / "state.json")

    def _build_network(self) -> None:
        run_id = self.run_id
        self.bridge = naming.bridge_name(run_id)
        if self._node_count == 0:
            subnet = self.subnets[0]
            _add_bridge(None, self.bridge, subnet.host4(1), subnet.host6(1), subnet)
            for i, name in enumerate(self._pod_names):
                self.pods.append(Pod(self, name, i, None, subnet, i + 2))
        else:
            fabric, node_subnets = self.subnets[0], self.subnets[1:]
            fabric_bridge = naming.fabric_bridge_name(run_id)
            _add_bridge(None, fabric_bridge, fabric.host4(1), fabric.host6(1), fabric)
            for k in range(self._node_count):
                node = Node(self, f"node{k}", k, node_subnets[k], fabric)
                self.nodes.append(node)
                self._add_node(node, fabric, fabric_bridge)
            for node in self.nodes:
                for other in self.nodes:
                    if other is node:
                        continue
                    run(["ip", "-n", node.netns, "route", "add", str(other.subnet.v4), "via", other.fabric_ip])
                    run(["ip", "-n", node.netns, "-6", "route", "add", str(other.subnet.v6), "via", other.fabric_ip6])
                # The host reaches every pod through the node that holds it.
                run(["ip", "route", "add", str(node.subnet.v4), "via", node.fabric_ip, "dev", fabric_bridge])
                run(["ip", "-6", "route", "add", str(node.subnet.v6), "via", node.fabric_ip6, "dev", fabric_bridge])
            per_node = [0] * self._node_count
            for i, name in enumerate(self._pod_names):
                k = self._placement.get(name, i % self._node_count)
                node = self.nodes[k]
                per_node[k] += 1
                pod = Pod(self, name, i, node, node.subnet, per_node[k] + 1)
                node.pods.append(pod)
                self.pods.append(pod)
        for pod in self.pods:
            self._add_pod(pod)
        self._write_state()

    def _add_node(self, node: Node, fabric: naming.Subnet, fabric_bridge: str) -> None:
        _add_netns(node.netns)
        for key in ("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"):
            node.exec(["sysctl", "-qw", key], check=True)
        _add_bridge(node.netns, node.bridge, node.subnet.host4(1), node.subnet.host6(1), node.subnet)
        run(["ip", "link", "add", node.uplink, "type", "veth", "peer", "name", "fab0", "netns", node.netns])
        run(["ip", "link", "set", node.uplink, "master", fabric_bridge, "up"])
        run(["ip", "-n", node.netns, "addr", "add", f"{node.fabric_ip}/24", "dev", "fab0"])
        run(["ip", "-n", node.netns, "addr", "add", f"{node.fabric_ip6}/64", "dev", "fab0", "nodad"])
        run(["ip", "-n", node.netns, "link", "set", "fab0", "up"])

    def _add_pod(self, pod: Pod) -> None:
        _add_netns(pod.netns)
        pod.dir.mkdir(parents=True, exist_ok=True)
        side_ns = pod.node.netns if pod.node else None
        add = ["ip", "link", "add", pod.host_veth]
        if side_ns:
            add += ["netns", side_ns]
        run([*add, "type", "veth", "peer", "name", "eth0", "netns", pod.netns])
        run(_ip(side_ns, "link", "set", pod.host_veth, "master", naming.bridge_name(self.run_id), "up"))
        run(["ip", "-n", pod.netns, "addr", "add", f"{pod.ip}/24", "dev", "eth0"])
        run(["ip", "-n", pod.netns, "addr", "add", f"{pod.ip6}/64", "dev", "eth0", "nodad"])
        run(["ip", "-n", pod.netns, "link", "set", "eth0", "up"])
        if pod.node:
            # Only routes to the run's own subnets: there is no default route out of a pod.
            for subnet in self.subnets:
                if subnet != pod.subnet:
                    run(["ip", "-n", pod.netns, "route", "add", str(subnet.v4), "via", pod.gateway])
                    run(["ip", "-n", pod.netns, "-6", "route", "add", str(subnet.v6), "via", pod.gateway6])

    def _allow_in_host_firewall(self) -> None:
        """Accepts lab traffic in the root namespace's iptables if its chains could drop it.

        Bridged lab packets traverse FORWARD when br_netfilter is active, and host<->pod packets
        traverse INPUT/OUTPUT. Rules are only inserted into chains that are not a bare ACCEPT
        policy, carry the comment loupe-lab:<run>, and are deleted at teardown (or by `down`).
        """
        bridge = naming.fabric_bridge_name(self.run_id) if self.nodes else self.bridge
        comment = ["-m", "comment", "--comment", naming.iptables_comment(self.run_id)]
        wanted = {"FORWARD": ["-i", bridge, "-o", bridge], "INPUT": ["-i", bridge], "OUTPUT": ["-o", bridge]}
        for binary in ("iptables", "ip6tables"):
            if shutil.which(binary) is None:
                continue
            for chain, match in wanted.items():
                listing = run([binary, "-w", "5", "-S", chain], check=False)
                if listing.returncode != 0:
                    continue
                if listing.stdout.strip().splitlines() == [f"-P {chain} ACCEPT"]:
                    continue
                rule = [chain, *match, *comment, "-j", "ACCEPT"]
                run([binary, "-w", "5", "-I", *rule])
                self._iptables_rules.append([binary, *rule])
                log(f"run {self.run_id}: inserted temporary {binary} rule: -I {' '.join(rule)}")


def _ip(netns: str | None, *args: str) -> list[str]:
    return ["ip", *(["-n", netns] if netns else []), *args]


def _add_netns(netns: str) -> None:
    run(["ip", "netns", "add", netns])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])


def _add_bridge(netns: str | None, name: str, ip4: str, ip6: str, subnet: naming.Subnet) -> None:
    run(_ip(netns, "link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"))
    run(_ip(netns, "addr", "add", f"{ip4}/{subnet.v4.prefixlen}", "dev", name))
    run(_ip(netns, "addr", "add", f"{ip6}/{subnet.v6.prefixlen}", "dev", name, "nodad"))
    run(_ip(netns, "link", "set", name, "up"))


def _normalise_workloads(spec: WorkloadSpec, pods: list[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    if spec is None:
        return result
    if isinstance(spec, Mapping):
        for pod, kinds in spec.items():
            if pod not in pods:
                raise LabError(f"workloads name unknown pod {pod!r} (pods: {', '.join(pods)})")
            result[pod] = [kinds] if isinstance(kinds, str) else list(kinds)
    else:
        for i, kind in enumerate(spec):
            result.setdefault(pods[i % len(pods)], []).append(kind)
    for kinds in result.values():
        for kind in kinds:
            if kind not in KINDS:
                raise LabError(f"unknown workload kind {kind!r}; known: {', '.join(KINDS)}")
    return result


def _ids_in_use(root: Path) -> set[str]:
    ids = {p.name for p in root.iterdir() if naming.RUN_ID_RE.match(p.name)}
    for ns in list_netns():
        m = naming.NETNS_RE.match(ns)
        if m:
            ids.add(m.group(1))
    for link in list_links():
        m = naming.LINK_RE.match(link)
        if m:
            ids.add(m.group(1))
    return ids


def _subnets_in_use(root: Path) -> set[int]:
    used: set[int] = set()
    for state_file in root.glob("*/state.json"):
        try:
            used.update(json.loads(state_file.read_text()).get("subnet_indices", []))
        except (OSError, ValueError):
            continue
    for cmd in (["ip", "-4", "-o", "addr", "show"], ["ip", "-4", "route", "show", "table", "all"]):
        for token in run(cmd, check=False).stdout.split():
            if not token[:1].isdigit():
                continue
            try:
                net = ipaddress.IPv4Network(token, strict=False)
            except ValueError:
                continue
            used.update(naming.subnet_indices_overlapping(net))
    return used


def teardown_run(run_id: str, iptables_rules: Iterable[list[str]], errors: list[str],
                 keep_logs: Path | None = None) -> None:
    """Removes every trace of ``run_id`` in the root namespace and below; appends problems to errors."""

    def step(what: str, fn: Any) -> None:
        try:
            fn()
        except Exception as e:
            errors.append(f"{what}: {e}")

    prefix = f"lp{run_id}-"
    namespaces = [ns for ns in list_netns() if ns.startswith(prefix)]
    # Pods first: their processes die before the namespaces (and with them the veths) go.
    for ns in namespaces:
        step(f"kill processes in {ns}", lambda ns=ns: kill_netns_processes(ns))
    for ns in namespaces:
        step(f"delete netns {ns}", lambda ns=ns: run(["ip", "netns", "del", ns]))
    for link in _run_links(run_id):
        # Veths of deleted namespaces vanish on their own; delete explicitly what is left.
        run(["ip", "link", "del", link], check=False)
    step("wait for links to vanish", lambda: wait_until(
        lambda: not _run_links(run_id), timeout=10, what=f"links of run {run_id} to disappear",
        on_timeout=lambda: f"still present: {_run_links(run_id)}"))
    rules = list(iptables_rules) or _find_iptables_rules(run_id)
    for rule in rules:
        step(f"delete iptables rule {rule}", lambda rule=rule: run([rule[0], "-w", "5", "-D", *rule[1:]]))
    for rule in _find_iptables_rules(run_id):
        step(f"delete iptables rule {rule}", lambda rule=rule: run([rule[0], "-w", "5", "-D", *rule[1:]]))
    run_dir = naming.lab_root() / run_id
    if keep_logs and run_dir.is_dir():
        step("keep logs", lambda: shutil.copytree(run_dir, keep_logs / run_id, dirs_exist_ok=True,
                                                  ignore=shutil.ignore_patterns("data", "*.bin", "*.sock*")))
    if run_dir.is_dir():
        step(f"remove {run_dir}", lambda: shutil.rmtree(run_dir))


def _run_links(run_id: str) -> list[str]:
    return [link for link in list_links() if (m := naming.LINK_RE.match(link)) and m.group(1) == run_id]


def _find_iptables_rules(run_id: str) -> list[list[str]]:
    """Rules tagged with this run's comment, as [binary, chain, match...] ready for -D."""
    found: list[list[str]] = []
    tag = naming.iptables_comment(run_id)
    for binary in ("iptables", "ip6tables"):
        if shutil.which(binary) is None:
            continue
        listing = run([binary, "-w", "5", "-S"], check=False)
        for line in listing.stdout.splitlines():
            if tag in line and line.startswith("-A "):
                parts = _split_rule(line)
                found.append([binary, *parts[1:]])
    return found


def _split_rule(line: str) -> list[str]:
    return shlex.split(line)


def find_run_ids() -> set[str]:
    """Run ids that have any trace on this machine (dir, netns, link or iptables rule)."""
    root = naming.lab_root()
    ids = _ids_in_use(root) if root.is_dir() else set()
    for ns in list_netns():
        if m := naming.NETNS_RE.match(ns):
            ids.add(m.group(1))
    for link in list_links():
        if m := naming.LINK_RE.match(link):
            ids.add(m.group(1))
    for binary in ("iptables", "ip6tables"):
        if shutil.which(binary) is None:
            continue
        for m in re.finditer(re.escape(naming.IPTABLES_COMMENT_PREFIX) + r"([0-9a-f]{4})",
                             run([binary, "-w", "5", "-S"], check=False).stdout):
            ids.add(m.group(1))
    return ids
