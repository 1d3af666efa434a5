"""Shared fixtures of the integration tests: the loupe binary, a running agent, host snapshots."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(os.environ.get("LOUPE_SOURCE_DIR", Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from ports import free_port  # noqa: E402,F401  (re-exported to the tests)

pytest_plugins = ["lab.pytest_plugin"]


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="integration tests need root (BPF, namespaces)")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def loupe_bin() -> str:
    path = Path(os.environ.get("LOUPE_BIN", REPO / "build" / "loupe"))
    if not path.exists():
        pytest.fail(f"loupe binary not found at {path}; run `make build` first")
    return str(path)


def wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@pytest.fixture
def python_http_server(tmp_path):
    """Starts `python3 -m http.server` on 127.0.0.1 with `environ` added to the environment and
    waits until it answers; returns (process, url). Killed at the end of the test."""
    started = []

    def start(environ: dict[str, str]) -> tuple[subprocess.Popen, str]:
        port = free_port()
        server = subprocess.Popen(
            ["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=tmp_path,
            env=dict(os.environ, **environ), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(server)
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: subprocess.run(["curl", "-s", "-o", "/dev/null", url]).returncode == 0,
                 timeout=10, what="python http.server")
        return server, url
    yield start
    for server in started:
        server.kill()
        server.wait()


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def observe_flows(loupe_bin: str, server: str, *args: str) -> list[dict]:
    """`loupe observe --all -o json` against `server` with `args`: the flows it printed."""
    r = subprocess.run([loupe_bin, "observe", "--server", server, "--all", "-o", "json", *args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return [json.loads(line)["flow"] for line in r.stdout.splitlines()
            if line.strip() and "flow" in json.loads(line)]


def parse_metrics(text: str) -> dict[str, float]:
    """Maps 'name{labels}' (as written in the exposition) to its value."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        samples[key] = float(value)
    return samples


class AgentProcess:
    def __init__(self, loupe_bin: str, config: str | None, env: dict[str, str] | None,
                 port: int):
        self.port = port
        self.workdir = Path(tempfile.mkdtemp(prefix="loupe-agent-test-"))
        self.log_path = self.workdir / "agent.log"
        args = [loupe_bin, "agent"]
        if config is not None:
            cfg = self.workdir / "config.yml"
            cfg.write_text(config)
            args += ["--config", str(cfg)]
        full_env = dict(os.environ)
        full_env["LOUPE_PROMETHEUS_PORT"] = str(port)
        full_env.update(env or {})
        self.log = open(self.log_path, "wb")
        # stdout carries trace_printer output (one request per line); logs go to stderr.
        self.stdout_path = self.workdir / "agent.stdout"
        self.stdout = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.stdout, stderr=self.log, env=full_env)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def printed(self) -> list[str]:
        """Complete lines the agent printed on stdout so far (trace_printer). A line the agent is
        still writing (no newline yet) is left for the next call: parsing it half-written failed
        a test now and then."""
        if not self.stdout.closed:
            self.stdout.flush()
        text = self.stdout_path.read_text(errors="replace")
        if self.proc.poll() is None:
            text = text[:text.rfind("\n") + 1]
        return text.splitlines()

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 20.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"agent exited with {self.proc.returncode}:\n{self.output()}")
            try:
                return http_get(self.base_url + "/healthz", timeout=0.5)[0] == 200
            except OSError:
                return False
        wait_for(ready, timeout, what="agent /healthz")

    def metrics(self) -> dict[str, float]:
        status, body = http_get(self.base_url + "/metrics")
        assert status == 200
        return parse_metrics(body)

    def loss_counters(self) -> dict[str, float]:
        """The agent's non-zero loss, gap, eviction and parse-error counters: printed when an
        exact-count assertion fails, so that a missing record names where it was lost."""
        words = ("lost", "unmatched", "evict", "gap", "resync", "error", "dropped", "partial", "cut",
                 "preexisting", "ignored")
        return {k: v for k, v in self.metrics().items()
                if k.startswith("loupe_") and v and any(w in k for w in words)}

    def health(self) -> dict:
        status, body = http_get(self.base_url + "/healthz")
        return {"http_status": status, **json.loads(body)}

    def stop(self, sig=signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"agent did not stop within {timeout}s:\n{self.output()}")
        self.log.close()
        self.stdout.close()
        return self.proc.returncode


@pytest.fixture
def start_agent(loupe_bin):
    """Starts agents that are stopped (SIGKILL as a last resort) when the test ends."""
    agents: list[AgentProcess] = []

    def start(config: str | None = None, env: dict[str, str] | None = None,
              wait: bool = True) -> AgentProcess:
        port = int((env or {}).get("LOUPE_PROMETHEUS_PORT", 0)) or free_port()
        agent = AgentProcess(loupe_bin, config, env, port)
        agents.append(agent)
        if wait:
            agent.wait_ready()
        return agent

    yield start
    for agent in agents:
        if agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()
        if not agent.log.closed:
            agent.log.close()
        if not agent.stdout.closed:
            agent.stdout.close()
