"""Fixtures of the Kubernetes informer tests: the test API server (in-process) and the C++ probe
(build/…/src/loupe_k8s_probe) that runs Loupe's informers against it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

REPO = Path(os.environ.get("LOUPE_SOURCE_DIR", Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(REPO))

from tests.k8s.apiserver import ApiServer  # noqa: E402


def wait_for(predicate, timeout: float, interval: float = 0.02, what: str = "condition"):
    """Polls `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def probe_binary() -> str:
    env = os.environ.get("LOUPE_K8S_PROBE")
    candidates = [Path(env)] if env else []
    candidates += [REPO / "build" / d / "src" / "loupe_k8s_probe" for d in ("dev", "h-k8s")]
    for c in candidates:
        if c.exists():
            return str(c)
    pytest.fail(f"loupe_k8s_probe not found (tried {[str(c) for c in candidates]}); "
                "build it: ninja -C build/dev loupe_k8s_probe")


class Probe:
    """The C++ informers in a subprocess; collects their JSON lines."""

    def __init__(self, args: list[str]):
        self.proc = subprocess.Popen([probe_binary(), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1)
        self.lines: list[dict] = []
        self._cv = threading.Condition()
        self._stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except json.JSONDecodeError:
                msg = {"type": "not-json", "text": raw}
            with self._cv:
                self.lines.append(msg)
                self._cv.notify_all()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self._stderr.append(raw)

    def stderr(self) -> str:
        return "".join(self._stderr)

    def wait_line(self, predicate, timeout: float = 10.0, start: int = 0, what: str = "line"):
        """Waits for a line (index >= start) matching predicate; returns (index, line)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for i in range(start, len(self.lines)):
                    if predicate(self.lines[i]):
                        return i, self.lines[i]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(
                        f"no {what} within {timeout}s; exit={self.proc.poll()}; "
                        f"last lines: {self.lines[-5:]}; stderr: {self.stderr()[-2000:]}")
                self._cv.wait(min(left, 0.2))

    def mark(self) -> int:
        with self._cv:
            return len(self.lines)

    def events(self, start: int = 0, kind: str | None = None) -> list[dict]:
        with self._cv:
            return [l for l in self.lines[start:] if l["type"] in ("add", "update", "delete")
                    and (kind is None or l["kind"] == kind)]

    def command(self, text: str, reply_type: str, timeout: float = 10.0) -> dict:
        start = self.mark()
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.wait_line(lambda l: l["type"] == reply_type, timeout, start, reply_type)[1]

    def dump(self, kind: str | None = None) -> dict:
        return self.command("dump" + (f" {kind}" if kind else ""), "dump")["caches"]

    def status(self, kind: str = "Pod") -> dict:
        informers = self.command("status", "status")["informers"]
        return next(s for s in informers if s["kind"] == kind)

    def stats(self) -> dict:
        return self.command("stats", "stats")

    def wait_synced(self, timeout: float = 15.0):
        self.wait_line(lambda l: l["type"] == "synced", timeout, what="synced")

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def api():
    server = ApiServer().start()
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(api, tmp_path):
    return api.write_kubeconfig(str(tmp_path / "kubeconfig"), auth="cert")


@pytest.fixture
def start_probe():
    probes: list[Probe] = []

    def start(*args: str) -> Probe:
        p = Probe(list(args))
        probes.append(p)
        return p

    yield start
    for p in probes:
        p.stop()
