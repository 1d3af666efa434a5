"""Background traffic between pods, for demos and soak tests.

Each round sends one request to every workload of the lab, from the next pod in turn that is not
the workload's own pod (from the workload's pod itself if it is the only one): HTTP GET of / and of
/status/404 alternately, a gRPC unary call (every fourth one ending NOT_FOUND), Redis PING,
PostgreSQL ``SELECT 1`` and a DNS query for the first pod's name.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter

from lab._util import LabError, log
from lab.core import Lab, Pod
from lab.workloads import POSTGRES_BIN, Workload


class TrafficGenerator:
    def __init__(self, lab: Lab, interval: float = 1.0) -> None:
        self.lab = lab
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._round = itertools.count()

    def __enter__(self) -> "TrafficGenerator":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="lab-traffic", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _client_for(self, w: Workload, n: int) -> Pod:
        others = [p for p in self.lab.pods if p is not w.pod] or [w.pod]
        return others[n % len(others)]

    def _loop(self) -> None:
        while not self._stop.is_set():
            n = next(self._round)
            for w in self.lab.workloads:
                if self._stop.is_set():
                    return
                try:
                    ok = self.send(w, self._client_for(w, n), n)
                    self.counts[f"{w.kind}:{'ok' if ok else 'failed'}"] += 1
                except LabError as e:
                    self.counts[f"{w.kind}:failed"] += 1
                    log(f"traffic to {w.kind} in {w.pod.name}: {e}")
            self._stop.wait(self.interval)

    def send(self, w: Workload, client: Pod, n: int) -> bool:
        """Sends one request to ``w`` from ``client``; True if it got the expected answer."""
        if w.kind in ("nginx", "gohttp", "pyhttp"):
            path = "/status/404" if (n % 2 and w.kind != "pyhttp") else "/"
            result = client.curl(w.url + path, timeout=5)
            return result.status == (404 if path != "/" else 200)
        if w.kind == "grpc":
            code = "5" if n % 4 == 3 else "0"
            return client.grpcclient("unary", w.addr, "-code", code, "-message", f"round {n}", timeout=15).ok
        if w.kind == "redis":
            return client.exec(["redis-cli", "-h", w.ip, "-p", str(w.port), "PING"], timeout=5).stdout.strip() == "PONG"
        if w.kind == "postgres":
            proc = client.exec([str(POSTGRES_BIN / "psql"), "-h", w.ip, "-p", str(w.port), "-U", "postgres",
                                "-Atc", "SELECT 1"], timeout=10)
            return proc.stdout.strip() == "1"
        if w.kind == "dns":
            name = f"{self.lab.pods[0].name}.lab"
            proc = client.exec(["dig", "+short", "+time=2", "+tries=1", "-p", str(w.port), f"@{w.ip}", name], timeout=10)
            return proc.stdout.strip() == self.lab.pods[0].ip
        return False
