"""Integration tests of lab wires (lab/wires.py): userspace one-way delay and loss between pods.

The kernel of the CI machines has no netem, so the lab impairs traffic with a forwarder process
between two TAP devices. These tests check the delay against real TCP connects and pings, the
seeded loss against ping, the drop rules against TCP retransmissions, and the cleanup.

Run as root from the repository root:
    /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_lab_wire.py
"""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lab import LabError, naming  # noqa: E402
from lab._util import pid_alive  # noqa: E402
from lab.cleanup import leftovers, list_runs  # noqa: E402
from lab.netns import list_links  # noqa: E402


def _listener(pod, host: str, port: int = 5000) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = pod.socket(family)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(128)
    return srv


def _connect_ms(pod, srv: socket.socket, host: str, port: int = 5000, count: int = 10) -> list[float]:
    """``count`` TCP connects from ``pod`` to ``srv`` (in another pod); the time each connect() took."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    times = []
    for _ in range(count):
        client = pod.socket(family)
        client.settimeout(10)
        start = time.perf_counter()
        client.connect((host, port))
        times.append((time.perf_counter() - start) * 1000.0)
        client.close()
        srv.accept()[0].close()
    return times


_PING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")
_PING_RTT = re.compile(r"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/")


def _ping(pod, host: str, count: int, interval: float = 0.02) -> tuple[int, int, list[float]]:
    """(transmitted, received, [min, avg, max] rtt in ms) of a ping from ``pod``."""
    cmd = ["ping", "-n", "-q", "-c", str(count), "-i", str(interval), "-W", "1", host]
    out = pod.exec(cmd, timeout=count * interval + 20).stdout
    summary = _PING_SUMMARY.search(out)
    assert summary, out
    rtt = _PING_RTT.search(out)
    return int(summary.group(1)), int(summary.group(2)), [float(x) for x in rtt.groups()] if rtt else []


def _snmp(pod, proto: str, field: str) -> int:
    """A counter of /proc/net/snmp as seen inside ``pod`` (e.g. Tcp RetransSegs)."""
    lines = [l.split() for l in pod.exec(["cat", "/proc/net/snmp"], check=True).stdout.splitlines()
             if l.startswith(proto + ":")]
    return int(lines[1][lines[0].index(field)])


def test_wire_one_way_delay(lab_factory) -> None:
    lab = lab_factory(pods=2)
    a, b = lab.pods
    wire = lab.wire(a, b, delay_ms_a_to_b=20)

    # The ends: a /30 (and /126) of the lab range, a TAP in each pod, a forwarder in pod A.
    assert wire.a.pod is a and wire.b.pod is b and wire.a.ifname == wire.b.ifname == "wire0"
    subnet = lab.wire_subnets[0]
    assert subnet.index not in {s.index for s in lab.subnets}
    for end, host in ((wire.a, 1), (wire.b, 2)):
        assert end.ip == subnet.host4(host) and end.ip6 == subnet.host6(host)
        link = json.loads(end.pod.exec(["ip", "-j", "-d", "addr", "show", end.ifname], check=True).stdout)[0]
        assert link["linkinfo"]["info_kind"] == "tun" and link["linkinfo"]["info_data"]["type"] == "tap"
        assert f"{end.ip}/30" in {f"{x['local']}/{x['prefixlen']}" for x in link["addr_info"]}
    assert wire.pid in a.pids()
    assert json.loads((lab.run_dir / "state.json").read_text())["wires"][0]["b"]["ip"] == wire.b.ip

    # A->B connects: the SYN waits 20 ms on the way, the SYN-ACK does not.
    srv = _listener(b, wire.b.ip)
    times = _connect_ms(a, srv, wire.b.ip)
    assert all(20.0 <= t <= 30.0 for t in times), times
    # B->A: now the SYN-ACK carries the delay, so the round trip is the same.
    srv_a = _listener(a, wire.a.ip)
    times_back = _connect_ms(b, srv_a, wire.a.ip, count=5)
    assert all(20.0 <= t <= 30.0 for t in times_back), times_back
    # IPv6 crosses the same wire.
    srv6 = _listener(b, wire.b.ip6)
    times6 = _connect_ms(a, srv6, wire.b.ip6, count=3)
    assert all(20.0 <= t <= 30.0 for t in times6), times6

    # Ping (neighbours already resolved by the connects): RTT = the one-way delay.
    sent, received, (rtt_min, rtt_avg, rtt_max) = _ping(a, wire.b.ip, count=10, interval=0.05)
    assert sent == received == 10
    assert 20.0 <= rtt_min <= 21.0 and rtt_avg <= 23.0 and rtt_max <= 50.0, (rtt_min, rtt_avg, rtt_max)

    stats = wire.stats()
    assert stats["a_to_b"]["dropped"] == stats["b_to_a"]["dropped"] == 0
    # Frames leave within ~0.1-0.3 ms of their due time; a loaded machine delays a few wake-ups more.
    late = stats["a_to_b"]
    assert late["forwarded"] > 0 and late["late_ms_mean"] < 1.0 and late["late_ms_max"] < 10.0, json.dumps(late)
    assert late["late_over_1ms"] <= max(2, late["forwarded"] // 20), json.dumps(late)

    # A second wire with no impairment between the same pods gets the next /30: fast connects.
    fast = lab.wire(a, b)
    assert fast.a.ifname == "wire1" and fast.a.ip == subnet.host4(5) and fast.b.ip == subnet.host4(6)
    srv_fast = _listener(b, fast.b.ip)
    fast_times = _connect_ms(a, srv_fast, fast.b.ip)
    assert all(t < 5.0 for t in fast_times), fast_times

    # Impairments change at runtime.
    wire.set(delay_ms_a_to_b=0)
    assert all(t < 5.0 for t in _connect_ms(a, srv, wire.b.ip, count=3))
    wire.set(delay_ms_b_to_a=25)
    assert all(25.0 <= t <= 35.0 for t in _connect_ms(a, srv, wire.b.ip, count=3))
    for s in (srv, srv_a, srv6, srv_fast):
        s.close()

    with pytest.raises(LabError, match="two different pods"):
        lab.wire(a, a)
    with pytest.raises(LabError, match="probability"):
        lab.wire(a, b, loss_a_to_b=1.5)
    with pytest.raises(LabError, match="bad drop rule"):
        lab.wire(a, b, drop_a_to_b={"rst": 1})
    assert len(lab.wires) == 2


def test_wire_seeded_loss_and_drop_rules(lab_factory) -> None:
    lab = lab_factory(pods=2)
    a, b = lab.pods
    seed = 7
    wire = lab.wire(a, b, loss_a_to_b=0.3, seed=seed)

    # Only the echo requests (A->B, IP, not link control) draw from the A->B stream, whose
    # generator is random.Random(2 * seed + 1): the losses are known in advance.
    rng = random.Random(2 * seed + 1)
    expected = sum(rng.random() < 0.3 for _ in range(200))
    sent, received, _ = _ping(a, wire.b.ip, count=200, interval=0.005)
    lost = sent - received
    assert sent == 200 and 0.15 * 200 <= lost <= 0.45 * 200, (sent, received)
    assert lost == expected, (lost, expected)
    stats = wire.stats()
    assert stats["a_to_b"]["dropped_loss"] == expected and stats["a_to_b"]["dropped_by_kind"]["icmp"] == expected
    assert stats["b_to_a"]["dropped"] == 0 and stats["b_to_a"]["forwarded"] >= received

    # Drop rules: the next SYN A->B is lost, so the connect waits for the SYN retransmission (1 s).
    wire.set(loss_a_to_b=0.0, drop_a_to_b={"syn": 1})
    srv = _listener(b, wire.b.ip)
    retrans_before = _snmp(a, "Tcp", "RetransSegs")
    (slow,) = _connect_ms(a, srv, wire.b.ip, count=1)
    assert 900.0 <= slow <= 2000.0, slow
    assert wire.stats()["a_to_b"]["dropped_by_kind"]["syn"] == 1
    assert all(t < 5.0 for t in _connect_ms(a, srv, wire.b.ip, count=3))  # the rule is used up

    # Drop the first data segment from B: B retransmits it and A still receives everything.
    wire.set(drop_b_to_a={"tcp-data": 1})
    server_retrans = _snmp(b, "Tcp", "RetransSegs")
    client = a.socket()
    client.settimeout(10)
    client.connect((wire.b.ip, 5000))
    conn, _ = srv.accept()
    conn.sendall(b"x" * 1000)
    got = b""
    while len(got) < 1000:
        chunk = client.recv(4096)
        assert chunk
        got += chunk
    assert got == b"x" * 1000
    assert _snmp(b, "Tcp", "RetransSegs") > server_retrans
    assert _snmp(a, "Tcp", "RetransSegs") > retrans_before  # the SYN retransmission above
    assert wire.stats()["b_to_a"]["dropped_by_kind"]["tcp-data"] == 1
    conn.close()
    client.close()
    srv.close()


def test_wire_teardown_leaves_nothing(lab_factory) -> None:
    lab = lab_factory(pods=3)
    a, b, c = lab.pods
    wires = [lab.wire(a, b, delay_ms_a_to_b=5), lab.wire(c, b, loss_b_to_a=0.5)]
    pids = [w.pid for w in wires]
    run_id = lab.run_id
    subnets = [str(s.v4) for s in [*lab.subnets, *lab.wire_subnets]]
    # The forwarders are discoverable like other processes of the run.
    found = leftovers(run_id)
    assert {str(p) for p in pids} <= set(found["processes"])
    listed = [r for r in list_runs() if r["run"] == run_id][0]
    assert set(pids) <= set(listed["processes"])
    # Wires are not in the root namespace.
    assert not [l for l in list_links() if l.startswith("wire")]

    # A forwarder that dies takes its TAPs along.
    wires[1].proc.kill()
    wires[1].proc.wait(timeout=5)
    deadline = time.monotonic() + 5
    while "wire1" in list_links(c.netns) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "wire1" not in list_links(c.netns) and "wire1" not in list_links(b.netns)
    with pytest.raises(LabError, match="not running"):
        wires[1].stats()
    assert "wire0" in list_links(a.netns)

    lab.close()
    assert not any(pid_alive(p) for p in pids)
    assert leftovers(run_id, pids=pids, subnets=subnets) == {}


_OWNER = """
import json, sys, time
sys.path.insert(0, {repo!r})
from lab import Lab
lab = Lab(pods=2).start()
wire = lab.wire(lab.pods[0], lab.pods[1], delay_ms_a_to_b=10)
print(json.dumps({{"run": lab.run_id, "pid": wire.pid, "pod_a": lab.pods[0].netns,
                  "subnets": [str(s.v4) for s in [*lab.subnets, *lab.wire_subnets]]}}), flush=True)
time.sleep(600)
"""


def test_wire_of_a_killed_owner_is_cleaned_by_down(lab_root) -> None:
    owner = subprocess.Popen([sys.executable, "-c", _OWNER.format(repo=str(REPO_ROOT))],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    info: dict = {}
    try:
        line = owner.stdout.readline()
        assert line, "the owner process printed nothing"
        info = json.loads(line)
    finally:
        owner.kill()
        owner.wait(timeout=10)
    try:
        # The owner is gone; its forwarder stops on its own (EOF on the control pipe) or is
        # killed by `down` with the rest of pod A's processes.
        down = subprocess.run([sys.executable, "-m", "lab", "down", "--run", info["run"]], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=60)
        assert down.returncode == 0, down.stderr
        assert info["run"] in json.loads(down.stdout)["removed"]
        assert not pid_alive(info["pid"])
        assert leftovers(info["run"], pids=[info["pid"]], subnets=info["subnets"]) == {}
    finally:
        if info.get("run") and naming.RUN_ID_RE.match(info["run"]):
            from lab.cleanup import down as lab_down
            lab_down(run_id=info["run"])
