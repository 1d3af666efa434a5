"""Identity on flows in local mode (issue 5): names from observed DNS answers on later flows,
container IDs from a process's cgroup, and the identity filters of `loupe observe` against them.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from conftest import free_port, observe_flows as observe, wait_for


@pytest.fixture
def dns_view(lab_factory, start_agent, loupe_bin, tmp_path):
    lab = lab_factory(pods=3, workloads={"pod1": ["nginx"], "pod2": ["dns"]})
    port = free_port()
    agent = start_agent(env={"LOUPE_NETWORK_INTERFACES": "lpv*",
                             "LOUPE_OBSERVER_LISTEN_ADDRESS": f"127.0.0.1:{port}",
                             "LOUPE_RUNTIME_DIR": str(tmp_path / "run")})
    yield lab, f"127.0.0.1:{port}"
    assert agent.stop() == 0


def test_flow_to_an_address_from_a_dns_answer_carries_the_name(dns_view, loupe_bin):
    lab, server = dns_view
    pod0, pod1, pod2 = lab.pods
    out = pod0.exec(["dig", "+short", "+tries=1", "+time=2", f"@{pod2.ip}", "pod1.lab", "A"],
                    check=True).stdout.split()
    assert out == [pod1.ip]
    # The answer must be processed before the connection for the name to be attached.
    wait_for(lambda: [f for f in observe(loupe_bin, server, "--protocol", "dns", "--ip", pod0.ip)
                      if f.get("l7", {}).get("type") == "RESPONSE"],
             timeout=10, what="the DNS answer")
    assert pod0.curl(f"http://{pod1.ip}/").status == 200

    def named():
        flows = observe(loupe_bin, server, "--to-fqdn", "pod1.lab", "--protocol", "tcp")
        return [f for f in flows if f["IP"]["destination"] == pod1.ip] or None

    flows = wait_for(named, timeout=10, what="flows to pod1.lab")
    for f in flows:
        assert f["destination_names"] == ["pod1.lab"]
        assert f["IP"]["source"] == pod0.ip
    # Replies carry the name on their source side.
    replies = observe(loupe_bin, server, "--from-fqdn", "*.lab", "--protocol", "tcp")
    assert replies and all(f["source_names"] == ["pod1.lab"] for f in replies)
    # Addresses nobody resolved carry no names, and a non-matching pattern matches nothing.
    assert observe(loupe_bin, server, "--to-fqdn", "*.example.com") == []
    untouched = observe(loupe_bin, server, "--to-ip", pod2.ip, "--protocol", "udp")
    assert untouched and all("destination_names" not in f for f in untouched)
    # Unknown lab addresses are the world, as Hubble calls them.
    assert all(f["destination"]["identity"] == 2 and f["destination"]["labels"] ==
               ["reserved:world"] for f in untouched)
    # Compact output names the destination.
    r = subprocess.run([loupe_bin, "observe", "--server", server, "--all", "--to-fqdn",
                        "pod1.lab", "-o", "compact"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "pod1.lab:80" in r.stdout, r.stdout


def unified_cgroup_root() -> Path | None:
    for candidate in (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup")):
        if (candidate / "cgroup.procs").exists() and (candidate / "cgroup.controllers").exists():
            return candidate
    return None


@pytest.fixture
def container_cgroup():
    """A cgroup v2 directory named the way Docker's systemd driver names a container's scope."""
    root = unified_cgroup_root()
    if root is None:
        pytest.fail("no cgroup v2 hierarchy mounted (looked at /sys/fs/cgroup[/unified])")
    container_id = secrets.token_hex(32)
    path = root / "loupe-test.slice" / f"docker-{container_id}.scope"
    path.mkdir(parents=True)
    yield container_id, path
    # Move anything left back to the root, then remove the directories.
    for pid in (path / "cgroup.procs").read_text().split():
        try:
            (root / "cgroup.procs").write_text(pid)
        except OSError:
            pass
    path.rmdir()
    path.parent.rmdir()


def test_process_in_a_container_cgroup_carries_its_container_id(container_cgroup, start_agent,
                                                                loupe_bin, tmp_path):
    container_id, cgroup = container_cgroup
    http_port = free_port()
    # The server joins the cgroup before it execs, as a container runtime would place it.
    server = subprocess.Popen(
        ["sh", "-c", f"echo $$ > {cgroup}/cgroup.procs && exec python3 -m http.server "
                     f"{http_port} --bind 127.0.0.1"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: subprocess.run(["curl", "-s", "-o", "/dev/null",
                                         f"http://127.0.0.1:{http_port}/"]).returncode == 0,
                 timeout=10, what="python http.server")
        obs_port = free_port()
        agent = start_agent(env={"LOUPE_NETWORK_ENABLE": "false",
                                 "BEYLA_OPEN_PORT": str(http_port),
                                 "LOUPE_OBSERVER_LISTEN_ADDRESS": f"127.0.0.1:{obs_port}",
                                 "LOUPE_RUNTIME_DIR": str(tmp_path / "run")})
        server_addr = f"127.0.0.1:{obs_port}"

        def traced():
            subprocess.run(["curl", "-s", "-o", "/dev/null", f"http://127.0.0.1:{http_port}/"])
            flows = observe(loupe_bin, server_addr, "--protocol", "http", "--to-label",
                            f"container:id={container_id}")
            return flows or None

        flows = wait_for(traced, timeout=20, what="requests to the containerised server")
        dst = flows[0]["destination"]
        assert f"container:id={container_id}" in dst["labels"]
        assert "process:comm=python3" in dst["labels"]
        assert dst["workloads"] == [{"name": container_id[:12], "kind": "Container"}]
        assert dst["ID"] == server.pid
        # Only the server's end is labelled: flows from it are its responses, never requests of
        # the client (curl, outside the cgroup).
        from_container = observe(loupe_bin, server_addr, "--protocol", "http", "--from-label",
                                 f"container:id={container_id}")
        assert from_container and all(f["l7"]["type"] == "RESPONSE" for f in from_container)
        assert agent.stop() == 0
    finally:
        server.kill()
        server.wait()


def test_process_started_with_otel_service_name_gets_that_service(start_agent, tmp_path,
                                                                  python_http_server):
    _, url = python_http_server({
        "OTEL_SERVICE_NAME": "checkout",
        "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=shop,deployment.environment=lab"})
    port = url.rsplit(":", 1)[1].strip("/")
    agent = start_agent(env={"LOUPE_NETWORK_ENABLE": "false", "BEYLA_OPEN_PORT": port,
                             "LOUPE_OBSERVER_LISTEN_ADDRESS": f"127.0.0.1:{free_port()}",
                             "LOUPE_RUNTIME_DIR": str(tmp_path / "run")})

    def counted():
        subprocess.run(["curl", "-s", "-o", "/dev/null", url])
        return [k for k in agent.metrics()
                if k.startswith("http_server_request_duration_seconds_count{")] or None

    series = wait_for(counted, timeout=20, what="the server's requests in /metrics")
    assert all('service_name="checkout"' in k and 'service_namespace="shop"' in k
               for k in series), series
    targets = [k for k in agent.metrics() if k.startswith("target_info{")]
    assert any('service_name="checkout"' in k for k in targets), targets
    assert agent.stop() == 0
