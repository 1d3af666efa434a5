"""Wires: point-to-point links between two pods with one-way delay and loss, in userspace.

The kernel may lack netem (and fq), so impairments are applied by a forwarder process
(``lab/wire_forwarder.py``) that bridges two TAP devices, one in each pod::

    pod A: wire0 (198.18.x.1/30) <-TAP-> forwarder (in pod A's netns) <-TAP-> wire0 (198.18.x.2/30) :pod B

Use it through ``Lab.wire(pod_a, pod_b, delay_ms_a_to_b=20, loss_b_to_a=0.3, ...)``; it returns a
``Wire``. Addresses come from a /24 of the lab range allocated for the run's wires (recorded in
``state.json`` under the allocation lock, so concurrent runs never collide), 64 /30s per /24, with
the matching /126s of its IPv6 /64.
"""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from lab import naming
from lab._util import LabError, log, run
from lab.netns import stop_processes

if TYPE_CHECKING:
    from lab.core import Lab, Pod

FORWARDER = Path(__file__).resolve().with_name("wire_forwarder.py")
WIRES_PER_SUBNET = 64
PRIORITIES = ("realtime", "nice", "normal")
DROP_KINDS = ("ip", "tcp", "syn", "synack", "tcp-data", "udp", "icmp")


@dataclass
class WireEnd:
    """One end of a wire: the TAP ``ifname`` in ``pod`` with ``ip``/``ip6`` (peer is the other end)."""

    pod: "Pod"
    ifname: str
    ip: str
    ip6: str | None
    prefixlen: int = 30
    prefixlen6: int = 126

    def describe(self) -> dict[str, Any]:
        return {"pod": self.pod.name, "ifname": self.ifname, "ip": self.ip, "ip6": self.ip6,
                "cidr": f"{self.ip}/{self.prefixlen}"}


@dataclass
class Wire:
    """A running wire. ``a``/``b`` are its ends; ``a.ip``→``b.ip`` traffic crosses the forwarder."""

    name: str
    index: int
    a: WireEnd
    b: WireEnd
    proc: subprocess.Popen[bytes]
    config_path: Path
    log_path: Path
    priority: str = ""  # the forwarder's scheduling as achieved: realtime, nice or normal
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _reader: selectors.BaseSelector | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stats(self) -> dict[str, Any]:
        """Counters per direction: ``{"a_to_b": {"frames", "forwarded", "dropped", "dropped_loss",
        "dropped_rule", "dropped_by_kind", "queued", "late_ms_max", "late_ms_mean", ...}, "b_to_a": ...}``."""
        answer = self._call({"op": "stats"})
        return {"a_to_b": answer["a_to_b"], "b_to_a": answer["b_to_a"]}

    def set(self, *, delay_ms_a_to_b: float | None = None, delay_ms_b_to_a: float | None = None,
            loss_a_to_b: float | None = None, loss_b_to_a: float | None = None,
            drop_a_to_b: Mapping[str, int] | None = None, drop_b_to_a: Mapping[str, int] | None = None,
            seed: int | None = None) -> None:
        """Changes impairments of the running wire (None leaves a setting as it is).

        Frames already queued keep their due time. ``drop_*`` replaces the pending drop rules;
        ``seed`` restarts both directions' random streams.
        """
        cmd: dict[str, Any] = {"op": "set",
                               "a_to_b": _direction(delay_ms_a_to_b, loss_a_to_b, drop_a_to_b),
                               "b_to_a": _direction(delay_ms_b_to_a, loss_b_to_a, drop_b_to_a)}
        if seed is not None:
            cmd["a_to_b"]["seed"] = seed * 2 + 1
            cmd["b_to_a"]["seed"] = seed * 2 + 2
        self._call(cmd)

    def close(self, timeout: float = 3.0) -> None:
        """Stops the forwarder (EOF on its control pipe, then signals); the TAPs vanish with it."""
        if self.proc.stdin and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_processes([self.proc], signal.SIGTERM, 2.0)
        if self.proc.stdout and not self.proc.stdout.closed:
            self.proc.stdout.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "a": self.a.describe(), "b": self.b.describe(), "pid": self.pid,
                "priority": self.priority, "config": str(self.config_path), "log": str(self.log_path)}

    def _call(self, cmd: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        with self._lock:
            if not self.alive or self.proc.stdin is None or self.proc.stdin.closed:
                raise LabError(f"wire {self.name}: forwarder is not running (exit {self.proc.poll()}); "
                               f"log {self.log_path}:\n{_tail(self.log_path)}")
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            self.proc.stdin.flush()
            answer = _read_line(self, timeout)
        if not answer.get("ok"):
            raise LabError(f"wire {self.name}: {cmd.get('op')} failed: {answer.get('error')}")
        return answer


def _direction(delay_ms: float | None, loss: float | None, drop: Mapping[str, int] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if delay_ms is not None:
        if delay_ms < 0:
            raise LabError(f"delay must be >= 0 ms, got {delay_ms}")
        out["delay_ms"] = float(delay_ms)
    if loss is not None:
        if not 0.0 <= loss <= 1.0:
            raise LabError(f"loss must be a probability in [0, 1], got {loss}")
        out["loss"] = float(loss)
    if drop is not None:
        for kind, count in drop.items():
            if kind not in DROP_KINDS or int(count) < 0:
                raise LabError(f"bad drop rule {kind!r}: {count!r}; kinds are {', '.join(DROP_KINDS)}")
        out["drop"] = {k: int(v) for k, v in drop.items()}
    return out


def _tail(path: Path) -> str:
    from lab._util import tail
    return tail(path, 20)


def _read_line(wire: Wire, timeout: float) -> dict[str, Any]:
    """One JSON line from the forwarder's stdout (raw fd reads; no buffering across calls)."""
    assert wire.proc.stdout is not None
    fd = wire.proc.stdout.fileno()
    if wire._reader is None:
        wire._reader = selectors.DefaultSelector()
        wire._reader.register(fd, selectors.EVENT_READ)
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not wire._reader.select(left):
            raise LabError(f"wire {wire.name}: no answer from the forwarder in {timeout}s; "
                           f"log {wire.log_path}:\n{_tail(wire.log_path)}")
        chunk = os.read(fd, 1)  # byte-wise: never swallow the start of a later answer
        if not chunk:
            raise LabError(f"wire {wire.name}: forwarder exited (code {wire.proc.wait()}); "
                           f"log {wire.log_path}:\n{_tail(wire.log_path)}")
        buf += chunk
    try:
        return json.loads(buf)
    except ValueError as e:
        raise LabError(f"wire {wire.name}: bad answer from the forwarder: {buf!r}") from e


def allocate_wire_subnet(lab: "Lab") -> naming.Subnet:
    """Takes one more free /24 for the run's wires, recorded in state.json under the allocation lock."""
    from lab.core import _subnets_in_use
    root = naming.lab_root()
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        used = _subnets_in_use(root) | {s.index for s in lab.subnets} | {s.index for s in lab.wire_subnets}
        free = [i for i in range(naming.SUBNET_COUNT) if i not in used]
        if not free:
            raise LabError(f"no free /24 left in {naming.IPV4_RANGE} for a wire; run `python3 -m lab down`")
        subnet = naming.Subnet(free[-1])  # from the top, away from where pod subnets start
        lab.wire_subnets.append(subnet)
        lab._write_state()
    return subnet


def create_wire(lab: "Lab", pod_a: "Pod | str", pod_b: "Pod | str", *,
                delay_ms_a_to_b: float = 0.0, delay_ms_b_to_a: float = 0.0,
                loss_a_to_b: float = 0.0, loss_b_to_a: float = 0.0,
                drop_a_to_b: Mapping[str, int] | None = None, drop_b_to_a: Mapping[str, int] | None = None,
                seed: int = 0, ipv6: bool = True, ifname: str | None = None, priority: str | None = None,
                timeout: float = 10.0) -> Wire:
    a = lab.pod(pod_a) if isinstance(pod_a, str) else pod_a
    b = lab.pod(pod_b) if isinstance(pod_b, str) else pod_b
    if a is b:
        raise LabError(f"a wire needs two different pods (got {a.name} twice)")
    if a.lab is not lab or b.lab is not lab:
        raise LabError("both pods of a wire must belong to this lab")
    index = len(lab.wires)
    name = ifname or f"wire{index}"
    if not naming.NAME_RE.match(name) or len(name) > 15:
        raise LabError(f"bad wire interface name {name!r}")
    for pod in (a, b):
        if name in _pod_links(pod):
            raise LabError(f"{pod.name} already has an interface {name}")
    priority = priority or os.environ.get("LOUPE_LAB_WIRE_PRIORITY", "realtime")
    if priority not in PRIORITIES:
        raise LabError(f"bad forwarder priority {priority!r}; use one of {', '.join(PRIORITIES)}")
    cfg_a = _direction(delay_ms_a_to_b, loss_a_to_b, drop_a_to_b or {})
    cfg_b = _direction(delay_ms_b_to_a, loss_b_to_a, drop_b_to_a or {})
    slot = index % WIRES_PER_SUBNET
    if slot == 0 or not lab.wire_subnets:
        allocate_wire_subnet(lab)
    subnet = lab.wire_subnets[-1]
    end_a = WireEnd(a, name, subnet.host4(slot * 4 + 1), subnet.host6(slot * 4 + 1) if ipv6 else None)
    end_b = WireEnd(b, name, subnet.host4(slot * 4 + 2), subnet.host6(slot * 4 + 2) if ipv6 else None)

    wires_dir = lab.run_dir / "wires"
    wires_dir.mkdir(exist_ok=True)
    config_path = wires_dir / f"{name}-{a.name}-{b.name}.json"
    log_path = wires_dir / f"{name}-{a.name}-{b.name}.log"
    config_path.write_text(json.dumps({
        "tap_a": name, "tap_b": name, "netns_a": a.netns, "netns_b": b.netns, "seed": seed,
        "priority": priority,
        "a_to_b": cfg_a, "b_to_a": cfg_b}, indent=2) + "\n")
    with open(log_path, "wb") as logfile:
        # The run dir in the command line makes the forwarder show up in cleanup.leftovers(); living
        # in pod A's netns makes teardown and `lab down` kill it with the pod's other processes.
        proc = a.popen([sys.executable, str(FORWARDER), "--config", str(config_path)],
                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logfile)
    wire = Wire(name=name, index=index, a=end_a, b=end_b, proc=proc, config_path=config_path, log_path=log_path)
    lab.wires.append(wire)
    try:
        hello = _read_line(wire, timeout)
        if not hello.get("ready"):
            raise LabError(f"wire {name} {a.name}<->{b.name}: {hello.get('error')}")
        wire.priority = hello.get("priority", "")
        for end in (end_a, end_b):
            pod = end.pod
            if not ipv6:
                pod.exec(["sysctl", "-qw", f"net.ipv6.conf.{name}.disable_ipv6=1"], check=True)
            run(["ip", "-n", pod.netns, "addr", "add", f"{end.ip}/{end.prefixlen}", "dev", name])
            if end.ip6:
                run(["ip", "-n", pod.netns, "addr", "add", f"{end.ip6}/{end.prefixlen6}", "dev", name, "nodad"])
            run(["ip", "-n", pod.netns, "link", "set", name, "up"])
        # Static neighbours: no ARP/ND round trip (which the delay would slow down as well) before
        # the first packet, so even the first connect over a delayed wire takes exactly the delay.
        for end, peer in ((end_a, end_b), (end_b, end_a)):
            for ip in filter(None, (peer.ip, peer.ip6)):
                run(["ip", "-n", end.pod.netns, "neigh", "replace", ip, "lladdr", _mac(peer.pod, name),
                     "dev", name, "nud", "permanent"])
    except BaseException:
        wire.close()
        lab.wires.remove(wire)
        raise
    lab._write_state()
    log(f"run {lab.run_id}: wire {name} {a.name} {end_a.ip} <-> {b.name} {end_b.ip} "
        f"(a->b {cfg_a}, b->a {cfg_b}, seed {seed}, forwarder pid {proc.pid}, {wire.priority})")
    return wire


def _mac(pod: "Pod", ifname: str) -> str:
    return json.loads(run(["ip", "-n", pod.netns, "-j", "link", "show", ifname]).stdout)[0]["address"]


def _pod_links(pod: "Pod") -> list[str]:
    from lab.netns import list_links
    return list_links(pod.netns)
