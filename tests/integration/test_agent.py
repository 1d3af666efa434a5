"""The agent skeleton: configuration errors, endpoints, self-metrics, clean stop, single instance."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import AgentProcess, free_port, http_get, wait_for


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)


def host_state() -> dict:
    """What an agent may add to the host: qdiscs, TC filters, pinned objects, links, programs."""
    links = sorted(json.loads(run(["ip", "-j", "link", "show"]).stdout), key=lambda l: l["ifname"])
    names = [l["ifname"] for l in links]
    qdiscs = run(["tc", "qdisc", "show"]).stdout.splitlines()
    filters = []
    for dev in names:
        for direction in ("ingress", "egress"):
            out = run(["tc", "filter", "show", "dev", dev, direction]).stdout.strip()
            if out:
                filters.append(f"{dev} {direction}: {out}")
    pinned = sorted(str(p) for p in Path("/sys/fs/bpf").rglob("*")) if Path("/sys/fs/bpf").is_dir() else []
    progs = json.loads(run(["bpftool", "-j", "prog", "show"]).stdout or "[]")
    ours = {p["id"]: p["name"] for p in progs if p.get("name", "") in ("tc__ingress", "tc__egress")}
    # tcx links (BPF link type 11; the packaged bpftool prints the number) holding our programs.
    bpf_links = json.loads(run(["bpftool", "-j", "link", "show"]).stdout or "[]")
    tcx = sorted(ours[l["prog_id"]] for l in bpf_links
                 if l.get("type") in (11, "tcx") and l.get("prog_id") in ours)
    agents = run(["pgrep", "-f", "loupe agent"]).stdout.split()
    return {"links": names, "qdiscs": qdiscs, "filters": filters, "pinned": pinned,
            "programs": sorted(ours.values()), "tcx_links": tcx, "agents": agents}


@pytest.fixture
def veth_ns():
    """A namespace behind a veth pair in the root namespace, for traffic the agent can see."""
    suffix = uuid.uuid4().hex[:5]
    ns, host, peer = f"lpa{suffix}", f"lpah{suffix}", f"lpap{suffix}"
    cmds = [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns],
        ["ip", "addr", "add", "198.19.251.1/30", "dev", host],
        ["ip", "link", "set", host, "up"],
        ["ip", "-n", ns, "addr", "add", "198.19.251.2/30", "dev", peer],
        ["ip", "-n", ns, "link", "set", peer, "up"],
        # No IPv6 on the pair: neighbour discovery would add packets the tests do not send.
        ["sysctl", "-qw", f"net.ipv6.conf.{host}.disable_ipv6=1"],
        ["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{peer}.disable_ipv6=1"],
    ]
    try:
        for cmd in cmds:
            subprocess.run(cmd, check=True, capture_output=True)
        yield {"ns": ns, "host_if": host, "peer_ip": "198.19.251.2"}
    finally:
        run(["ip", "link", "del", host])
        run(["ip", "netns", "del", ns])


@pytest.mark.parametrize("config, expected", [
    ("prometheus_export:\n  prot: 9999\n",
     "unknown configuration key 'prometheus_export.prot'"),
    ("log_level: chatty\n",
     "bad value for 'log_level': 'chatty' is not one of: debug, info, warn, error"),
    ("prometheus_export:\n  port: 99999\n",
     "bad value for 'prometheus_export.port': '99999' is not an integer in [1, 65535]"),
    ("loupe:\n  network:\n    enable: sometimes\n", "'loupe.network.enable'"),
    ("- just\n- a list\n", "must be a mapping"),
    ("attributes:\n  kubernetes:\n    service_name_template: '{{ range .Meta.Labels }}x{{ end }}'\n",
     "attributes.kubernetes.service_name_template: at offset 0: {{range}} is not supported"),
    ("attributes:\n  kubernetes:\n    service_name_template: '{{ .Meta.Pod.NodeName }}'\n",
     "field .Meta.Pod.NodeName is not supported"),
    ("attributes:\n  kubernetes:\n    resource_labels:\n      service.name: app\n",
     "bad value for 'attributes.kubernetes.resource_labels.service.name'"),
])
def test_bad_config_exits_2_naming_the_key(loupe_bin, tmp_path, config, expected):
    cfg = tmp_path / "bad.yml"
    cfg.write_text(config)
    result = run([loupe_bin, "agent", "--config", str(cfg)])
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr


def test_bad_environment_value_exits_2_naming_the_variable(loupe_bin):
    result = run([loupe_bin, "agent"], env={**os.environ, "BEYLA_PROMETHEUS_PORT": "http"})
    assert result.returncode == 2
    assert "'prometheus_export.port'" in result.stderr
    assert "BEYLA_PROMETHEUS_PORT" in result.stderr


def test_missing_config_file_exits_2(loupe_bin, tmp_path):
    result = run([loupe_bin, "agent", "--config", str(tmp_path / "nope.yml")])
    assert result.returncode == 2
    assert "cannot read configuration file" in result.stderr
    assert "ENOENT" in result.stderr


def test_config_path_that_is_a_directory_exits_2(loupe_bin, tmp_path):
    result = run([loupe_bin, "agent", "--config", str(tmp_path)])
    assert result.returncode == 2
    assert f"cannot read configuration file {tmp_path}: EISDIR" in result.stderr


def test_serves_health_and_self_metrics_and_counts_packets(start_agent, veth_ns):
    agent = start_agent(config="log_level: debug\nloupe:\n  network:\n    interfaces: [lpah*]\n")
    health = agent.health()
    assert health["http_status"] == 200
    assert health["status"] == "ok"
    assert [s["name"] for s in health["sensors"]] == ["netflow", "drops", "tcp_lifecycle",
                                                     "socket_trace"]
    assert all(s["up"] for s in health["sensors"])

    m = agent.metrics()
    for sensor in ("netflow", "drops", "tcp_lifecycle", "socket_trace"):
        assert m[f'loupe_sensor_up{{sensor="{sensor}"}}'] == 1
    assert m["loupe_netflow_interfaces"] == 1
    assert m["loupe_uptime_seconds"] >= 0
    build = [k for k in m if k.startswith("loupe_build_info{")]
    assert len(build) == 1 and 'version="0.1.0"' in build[0] and m[build[0]] == 1

    before = m['loupe_bpf_events_total{program="netflow"}']
    # 5 echo requests leave through the host veth and 5 replies come back. At the default
    # aggregation (medium) an ICMP flow is reported once per direction: exactly 2 events (ARP is
    # not IP and IPv6 is off on this pair).
    subprocess.run(["ping", "-c", "5", "-i", "0.2", "-W", "1", veth_ns["peer_ip"]], check=True,
                   capture_output=True)
    after = wait_for(lambda: (v := agent.metrics()['loupe_bpf_events_total{program="netflow"}'])
                     - before >= 2 and v, timeout=5, what="2 packet events")
    time.sleep(0.3)  # nothing more may arrive
    assert agent.metrics()['loupe_bpf_events_total{program="netflow"}'] - before == 2
    assert agent.metrics()['loupe_bpf_events_lost_total{program="netflow"}'] == 0
    assert agent.stop() == 0


def test_mounts_tracefs_when_it_is_missing(loupe_bin, tmp_path):
    """On a host that has not mounted tracefs (minimal VMs do not), every tracepoint program
    failed to attach and three of the four sensors stayed down. The agent runs here in a mount
    namespace of its own where tracefs is unmounted, so the host's mounts are not touched."""
    wrapper = tmp_path / "loupe-without-tracefs"
    wrapper.write_text(
        "#!/bin/sh\n"
        "exec unshare --mount --propagation private -- sh -c '"
        "umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; "
        "if [ -d /sys/kernel/tracing/events ]; then echo tracefs still mounted >&2; exit 99; fi; "
        f"exec {loupe_bin} \"$@\"' sh \"$@\"\n")
    wrapper.chmod(0o755)
    agent = AgentProcess(str(wrapper), None, None, free_port())
    try:
        agent.wait_ready()
        wait_for(lambda: agent.metrics().get('loupe_sensor_up{sensor="socket_trace"}') == 1,
                 timeout=20, what="socket_trace up")
        m = agent.metrics()
        for sensor in ("netflow", "drops", "tcp_lifecycle", "socket_trace"):
            assert m[f'loupe_sensor_up{{sensor="{sensor}"}}'] == 1, agent.output()
        assert ("tracefs was not mounted: mounted it at /sys/kernel/tracing"
                in agent.output()), agent.output()
        assert agent.stop() == 0
    finally:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()


def test_metrics_path_and_port_from_config(start_agent, loupe_bin):
    port = free_port()
    agent = start_agent(config="prometheus_export:\n  path: /custom-metrics\n",
                        env={"LOUPE_PROMETHEUS_PORT": str(port)})
    assert agent.port == port
    status, body = http_get(agent.base_url + "/custom-metrics")
    assert status == 200 and "loupe_sensor_up" in body
    assert http_get(agent.base_url + "/metrics")[0] == 404
    assert agent.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_leaves_nothing_behind(start_agent, veth_ns, sig):
    before = host_state()
    agent = start_agent()
    during = host_state()
    # The agent really attached: our programs are loaded, as tcx links (Linux 6.6+), one per
    # direction of each observed interface (the veth and at least one other), and no filter or
    # qdisc was added.
    assert during["programs"], "no TC programs loaded while the agent runs"
    ingress = during["tcx_links"].count("tc__ingress")
    assert ingress >= 2 and during["tcx_links"].count("tc__egress") == ingress, during
    assert during["filters"] == before["filters"] and during["qdiscs"] == before["qdiscs"]
    assert agent.stop(sig) == 0
    assert "stopped cleanly" in agent.output()
    after = wait_for(lambda: (s := host_state())["programs"] == before["programs"] and s,
                     timeout=5, what="programs unloaded")
    assert after == before


def test_sigkill_leaves_nothing_attached(start_agent, veth_ns):
    """A killed agent (SIGKILL, the OOM killer) cannot clean up: the kernel does. Its TC programs
    are tcx links, which go with the process, so nothing stays attached or keeps running (clsact
    filters, used before Linux 6.6, would)."""
    before = host_state()
    agent = start_agent()
    assert host_state()["tcx_links"], "no tcx links while the agent runs"
    agent.proc.kill()
    agent.proc.wait(timeout=10)
    after = wait_for(lambda: (s := host_state())["programs"] == before["programs"] and s,
                     timeout=5, what="programs unloaded")
    assert after == before


def test_second_agent_is_refused_with_clear_error(start_agent, loupe_bin):
    first = start_agent()
    second = start_agent(wait=False)
    assert second.proc.wait(timeout=20) == 1
    out = second.output()
    assert f"another loupe agent (pid {first.proc.pid}) is already running on this host" in out
    # The refused agent did not disturb the first one.
    assert first.health()["status"] == "ok"
    assert first.stop() == 0


def test_port_in_use_is_a_clear_error_and_attaches_nothing(start_agent):
    import socket
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        before = host_state()
        agent = start_agent(env={"LOUPE_PROMETHEUS_PORT": str(port)}, wait=False)
        assert agent.proc.wait(timeout=20) == 1
        assert f"cannot listen on 127.0.0.1:{port}" in agent.output()
        assert host_state() == before
