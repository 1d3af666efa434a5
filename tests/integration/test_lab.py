"""Integration tests of the lab itself (lab/): pods, nodes, workloads, traffic and cleanup.

Run as root from the repository root:  /usr/bin/python3 -m pytest -q tests/integration/test_lab.py
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from lab import Lab, LabError, naming  # noqa: E402
from lab.cleanup import leftovers  # noqa: E402
from lab.netns import list_links, list_netns  # noqa: E402

# Fixtures (lab_factory, lab_binaries, lab_root) come from lab.pytest_plugin, registered by the
# conftest with `pytest_plugins = ["lab.pytest_plugin"]`.


def _root_link(name: str) -> dict:
    out = subprocess.run(["ip", "-j", "-d", "link", "show", name], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def _assert_no_default_route(pod) -> None:
    for family in ("-4", "-6"):
        routes = pod.exec(["ip", family, "route", "show"], check=True).stdout
        assert "default" not in routes, f"{pod.name} has a default route:\n{routes}"
    unreachable = pod.exec(["ip", "route", "get", "192.0.2.1"])
    assert unreachable.returncode != 0 and "unreachable" in unreachable.stderr


def test_interface_names_fit_the_kernel_limit() -> None:
    run = "ffff"
    for name in (naming.bridge_name(run), naming.fabric_bridge_name(run), naming.pod_veth_name(run, 249),
                 naming.node_uplink_name(run, 7)):
        assert len(name) <= 15, name
        assert naming.LINK_RE.match(name).group(1) == run
    assert naming.NETNS_RE.match(naming.netns_name(run, "pod0")).group(1) == run
    assert naming.Subnet(0).v4.with_prefixlen == "198.18.0.0/24"
    assert naming.Subnet(511).v4.with_prefixlen == "198.19.255.0/24"
    assert naming.Subnet(511).v6.with_prefixlen == "fd4c:6f75:0:1ff::/64"


def test_three_pods_with_nginx_gohttp_grpc(lab_factory) -> None:
    lab = lab_factory(pods=3, workloads=["nginx", "gohttp", "grpc"])
    pod0, pod1, pod2 = lab.pods
    nginx, gohttp, grpc = pod0.workload("nginx"), pod1.workload("gohttp"), pod2.workload("grpc")

    # Addressing: one lab /24, bridge on .1 in the root namespace, pods from .2 on.
    subnet = lab.subnets[0]
    assert subnet.v4.subnet_of(naming.IPV4_RANGE)
    assert [p.ip for p in lab.pods] == [subnet.host4(2), subnet.host4(3), subnet.host4(4)]
    bridge = _root_link(lab.bridge)
    assert bridge["linkinfo"]["info_kind"] == "bridge"
    for pod in lab.pods:
        veth = _root_link(pod.host_veth)  # the host node's agent sees every pod's veth
        assert veth["master"] == lab.bridge and veth["linkinfo"]["info_kind"] == "veth"
        assert "UP" in pod.exec(["ip", "-br", "link", "show", "lo"], check=True).stdout
        _assert_no_default_route(pod)

    got = pod2.curl(nginx.url + "/")
    assert (got.returncode, got.status, got.body) == (0, 200, b"nginx ok\n")
    got = pod2.curl(nginx.url + "/status/404")
    assert (got.status, got.body) == (404, b"status 404\n")
    got = pod1.curl(nginx.url + "/post", data="payload")
    assert (got.status, got.body) == (200, b"posted\n")

    got = pod0.curl(gohttp.url + "/")
    assert (got.returncode, got.status, got.body) == (0, 200, b"gohttp ok\n")
    got = pod0.curl(gohttp.url + "/status/503")
    assert (got.status, got.body) == (503, b"status 503\n")
    got = pod2.curl(gohttp.url + "/echo", data="echo me")
    assert (got.status, got.body) == (200, b"echo me")
    got = pod2.curl(f"http://[{pod1.ip6}]:{gohttp.port}/")
    assert (got.status, got.body) == (200, b"gohttp ok\n")

    health = pod0.grpcclient("health", grpc.addr)
    assert health.ok, health.stderr
    assert health.data["status"] == "SERVING"
    unary = pod1.grpcclient("unary", grpc.addr, "-n", "3", "-code", "5")
    assert unary.ok and unary.data["codes"] == {"NotFound": 3}
    stream = pod1.grpcclient("sstream", grpc.addr, "-count", "4")
    assert stream.ok and stream.data["responses"] == 4 and stream.data["codes"] == {"OK": 1}

    load = pod0.httpclient(gohttp.url + "/status/201", "-n", "20", "-c", "4")
    assert load.ok and load.data["statuses"] == {"201": 20}


def test_two_nodes_are_connected(lab_factory) -> None:
    lab = lab_factory(pods=2, nodes=2, workloads={"pod1": "gohttp", "pod0": "nginx"})
    pod0, pod1 = lab.pods
    assert (pod0.node_name, pod1.node_name) == ("node0", "node1")
    assert pod0.subnet != pod1.subnet
    for pod in lab.pods:
        _assert_no_default_route(pod)
    # Forwarding is on inside the nodes only; the root namespace's setting is untouched.
    assert lab.node("node0").exec(["sysctl", "-n", "net.ipv4.ip_forward"], check=True).stdout.strip() == "1"

    got = pod0.curl(pod1.workload("gohttp").url + "/")
    assert (got.status, got.body) == (200, b"gohttp ok\n")
    got = pod0.curl(f"http://[{pod1.ip6}]:8080/status/404")
    assert (got.status, got.body) == (404, b"status 404\n")
    got = pod1.curl(pod0.workload("nginx").url + "/")
    assert (got.status, got.body) == (200, b"nginx ok\n")
    hops = pod0.exec(["ip", "route", "get", pod1.ip], check=True).stdout
    assert f"via {pod0.gateway}" in hops


def test_workload_failure_reports_its_log(lab_factory) -> None:
    lab = lab_factory(pods=1)
    pod = lab.pods[0]
    # A dual-stack listener on the wildcard address makes gohttp's own bind fail.
    squatter = pod.popen([sys.executable, "-c",
                          "import socket,time; s=socket.socket(socket.AF_INET6);"
                          "s.bind(('::', 8080)); s.listen(); print('bound', flush=True); time.sleep(60)"],
                         stdout=subprocess.PIPE, text=True)
    assert squatter.stdout.readline().strip() == "bound"
    with pytest.raises(LabError, match=r"gohttp exited with status 1.*\n(.|\n)*address already in use"):
        pod.start("gohttp", port=8080)


def test_teardown_leaves_nothing(lab_root, lab_binaries) -> None:
    with Lab(pods=2, nodes=0, workloads=["nginx", "gohttp"]) as lab:
        run_id, names = lab.run_id, lab.names()
        pids = [w.pid for w in lab.workloads]
        subnets = [str(s.v4) for s in lab.subnets] + [str(s.v6) for s in lab.subnets]
        assert set(names["netns"]) <= set(list_netns())
        assert set(names["links"]) <= set(list_links())
        assert leftovers(run_id, pids, subnets)  # the check sees a live run
    assert leftovers(run_id, pids, subnets) == {}
    netns_listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links_listing = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True, check=True).stdout
    for name in names["netns"]:
        assert name not in netns_listing
    assert run_id not in links_listing
    assert f"lp{run_id}" not in netns_listing


def test_down_cleans_a_killed_run(lab_root, lab_binaries) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), LOUPE_LAB_QUIET="1")
    proc = subprocess.Popen([sys.executable, "-m", "lab", "up", "--pods", "2", "--workloads", "nginx,gohttp",
                             "--json"], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = _read_line(proc, timeout=60)
        description = json.loads(line)
        run_id = description["run"]
        pids = [w["pid"] for p in description["pods"] for w in p["workloads"]]
        subnets = description["subnets"] + description["subnets6"]
        assert len(pids) == 2
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    left = leftovers(run_id, pids, subnets)
    assert {"netns", "links", "run_dir", "processes"} <= set(left), left

    listed = subprocess.run([sys.executable, "-m", "lab", "list", "--json"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, check=True)
    run = next(r for r in json.loads(listed.stdout) if r["run"] == run_id)
    assert run["live"] is False and len(run["netns"]) == 2

    down = subprocess.run([sys.executable, "-m", "lab", "down"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert run_id in json.loads(down.stdout)["removed"]
    assert leftovers(run_id, pids, subnets) == {}
    assert not [ns for ns in list_netns() if ns.startswith(f"lp{run_id}-")]


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    """First stdout line of ``proc`` within ``timeout``; fails with its stderr otherwise."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stdout.readline()
            if line:
                return line
        if proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"`lab up` printed no description within {timeout}s; stderr:\n{proc.stderr.read()}")
