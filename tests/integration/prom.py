"""A real Prometheus (Debian's `prometheus`) scraping the agent for the metrics tests: started
on a free port with a 1 s scrape interval and a throw-away TSDB, queried over its HTTP API."""
from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from conftest import free_port, wait_for


class Prometheus:
    def __init__(self, workdir: Path, targets: list[str], metrics_path: str = "/metrics"):
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: loupe\n    scrape_interval: 1s\n"
            f"    metrics_path: {metrics_path}\n"
            f"    static_configs:\n      - targets: {json.dumps(targets)}\n")
        self.log = open(workdir / "prometheus.log", "wb")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=1h",
             "--enable-feature=exemplar-storage"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_for(self._ready, timeout=30, what="prometheus /-/ready")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited:\n" +
                                 (self.workdir / "prometheus.log").read_text(errors="replace"))
        try:
            with urllib.request.urlopen(self.base + "/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def api(self, path: str, **params: str) -> dict:
        url = f"{self.base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:  # 400 = the query does not parse
            body = json.loads(e.read())
        return body

    def query(self, promql: str) -> list[dict]:
        """Instant query; asserts that it parses and runs. Returns the result vector."""
        body = self.api("query", query=promql)
        assert body.get("status") == "success", f"{promql!r}: {body}"
        return body["data"]["result"]

    def targets_up(self) -> bool:
        body = self.api("targets")
        active = body["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def scrapes(self) -> int:
        """Samples of `up` seen so far for the job (one per scrape)."""
        result = self.query('count_over_time(up{job="loupe"}[1h])')
        return int(float(result[0]["value"][1])) if result else 0

    def wait_scrapes(self, n: int, timeout: float = 30):
        start = self.scrapes()
        wait_for(lambda: self.scrapes() >= start + n, timeout=timeout, what=f"{n} more scrapes")

    def exemplars(self, promql: str, seconds: float = 600) -> list[dict]:
        now = time.time()
        body = self.api("query_exemplars", query=promql, start=str(now - seconds), end=str(now))
        assert body.get("status") == "success", body
        return body["data"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
