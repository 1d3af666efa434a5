#!/usr/bin/python3
"""Soak run of the application view: exact records and bounded memory under sustained load.

nginx in one lab pod, wrk in the other; `loupe agent` selects nginx (BEYLA_OPEN_PORT=80) with the
JSON trace printer on (its output read through a pipe, as `loupe agent | consumer` would) and the
network view on the lab's veths. For `--seconds` wrk alternates phases of `--phase` seconds:
keep-alive with `--connections` connections, then a new connection per request (`Connection:
close`, which fills the connection table with closed connections). Afterwards it checks:

- every response nginx logged has exactly one printed record and one count in
  loupe_requests_total (no record lost, none made twice), every printed line is one JSON object;
- no BPF ring loss (loupe_bpf_events_lost_total, loupe_socket_events_lost_total), no live
  connection tracker evicted (loupe_conn_tracker_evictions_total);
- the agent's RSS levels off: its peak over the last third of the run is at most `--rss-growth`
  MiB above its peak over the first third (after both kinds of phase have run once);
- the agent stops cleanly (exit 0) on SIGTERM.

Prints one line per phase (requests, agent RSS and CPU) and a verdict; exits 1 when a check fails.
Needs root; cleans up after itself. `make soak` runs it on the release build.
Usage: sudo python3 bench/soak.py [--loupe build/release/loupe] [--seconds 300]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lab import Lab  # noqa: E402
from wrk_overhead import Agent, cpu_seconds  # noqa: E402

MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PrinterReader(threading.Thread):
    """Reads the agent's stdout as it comes: counts lines, parses every 1000th one and keeps the
    first line that is not one JSON object."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines = 0
        self.bad = None
        self.tail = b""

    def run(self):
        while True:
            chunk = self.stream.read1(1 << 20)
            if not chunk:
                break
            data = self.tail + chunk
            cut = data.rfind(b"\n") + 1
            complete, self.tail = data[:cut], data[cut:]
            n = complete.count(b"\n")
            if self.lines // 1000 != (self.lines + n) // 1000 and self.bad is None:
                line = complete[:complete.find(b"\n")]
                try:
                    record = json.loads(line)
                    if record.get("role") != "server" or record.get("process") != "nginx":
                        self.bad = f"not an nginx server record: {line[:300]!r}"
                except ValueError:
                    self.bad = f"not JSON: {line[:300]!r}"
            self.lines += n


def wrk_phase(client, url: str, seconds: int, connections: int, close: bool) -> int:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    out = client.exec(cmd, timeout=seconds + 60)
    m = re.search(r"(\d+) requests in", out.stdout)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed:\n{out.stdout}\n{out.stderr}")
    return int(m.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loupe", default="build/release/loupe")
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--phase", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rss-growth", type=float, default=24.0,
                        help="MiB the RSS peak may grow from the first third to the last")
    args = parser.parse_args()
    loupe = os.path.abspath(args.loupe)
    phases = max(4, args.seconds // args.phase)
    failures = []
    with tempfile.TemporaryDirectory(prefix="loupe-soak-") as workdir, \
            Lab(pods=2, workloads={"pod0": ["nginx"]}) as lab:
        server_pod, client_pod = lab.pods
        nginx = server_pod.workload("nginx")
        url = nginx.url + "/"
        access_log = nginx.workdir / "access.log"
        # The churn phases open tens of thousands of connections: let wrk reuse ports in
        # TIME_WAIT, or it runs out of them after the first such phase.
        client_pod.exec(["sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1"], timeout=10)
        agent = Agent(loupe, [p.host_veth for p in lab.pods], False, workdir,
                      {"BEYLA_OPEN_PORT": "80", "BEYLA_TRACE_PRINTER": "json"},
                      stdout=subprocess.PIPE)
        reader = PrinterReader(agent.proc.stdout)
        reader.start()
        try:
            agent.wait_ready()
            time.sleep(1.5)  # nginx is selected within 1 s of the agent's start
            logged0 = len(access_log.read_bytes().splitlines()) if access_log.exists() else 0
            counted0 = agent.traced_requests()
            printed0 = reader.lines
            rss = []
            cpu0 = cpu_seconds(agent.proc.pid)
            started = time.monotonic()
            for i in range(phases):
                close = i % 2 == 1
                n = wrk_phase(client_pod, url, args.phase, args.connections // (5 if close else 1),
                              close)
                rss.append(rss_bytes(agent.proc.pid))
                print(f"phase {i + 1}/{phases} {'close     ' if close else 'keep-alive'} "
                      f"{n:8d} requests  agent RSS {rss[-1] / MIB:6.1f} MiB  CPU "
                      f"{cpu_seconds(agent.proc.pid) - cpu0:6.1f} s  printed "
                      f"{reader.lines - printed0}", flush=True)
            elapsed = time.monotonic() - started
            statuses = {}
            for line in access_log.read_bytes().splitlines()[logged0:]:
                parts = line.split(b'"')
                status = parts[2].split()[0].decode() if len(parts) > 2 else "?"
                statuses[status] = statuses.get(status, 0) + 1
            # 499: nginx's "client closed the request" (wrk stopping mid-request); nginx wrote
            # no response, so there is no exchange to record.
            logged = sum(n for status, n in statuses.items() if status != "499")

            def settled():
                return agent.traced_requests() - counted0 >= logged and \
                    reader.lines - printed0 >= logged
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not settled():
                time.sleep(0.2)
            time.sleep(1.5)  # anything more would be a record made twice
            m = agent.metrics()
            counted = agent.traced_requests() - counted0
            printed = reader.lines - printed0
            print(f"{elapsed:.0f} s: nginx logged {logged} responses (statuses {statuses}); the "
                  f"agent counted {counted:.0f} requests and printed {printed} records", flush=True)
            words = ("lost", "unmatched", "evict", "gap", "resync", "error", "partial", "reaped",
                     "stale", "reorder", "preexisting", "ignored", "unknown", "dropped", "cut")
            print("agent counters: " + ", ".join(
                f"{k} {v:.0f}" for k, v in sorted(m.items())
                if k.startswith("loupe_") and v and any(w in k for w in words)), flush=True)
            if counted != logged:
                failures.append(f"loupe_requests_total grew by {counted:.0f}, nginx logged "
                                f"{logged}")
            if printed != logged:
                failures.append(f"{printed} records printed, nginx logged {logged}")
            if reader.bad:
                failures.append(reader.bad)
            for name in ('loupe_bpf_events_lost_total{program="socket_trace"}',
                         "loupe_socket_events_lost_total", "loupe_conn_tracker_evictions_total"):
                value = sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))
                if value:
                    failures.append(f"{name} = {value:.0f}")
            third = max(1, len(rss) // 3)
            first, last = max(rss[:third + 1]), max(rss[-third:])
            print(f"agent RSS peak: first third {first / MIB:.1f} MiB, last third "
                  f"{last / MIB:.1f} MiB", flush=True)
            if last > first + args.rss_growth * MIB:
                failures.append(f"RSS grew from {first / MIB:.1f} to {last / MIB:.1f} MiB")
            agent.proc.send_signal(signal.SIGTERM)
            code = agent.proc.wait(timeout=20)
            if code != 0:
                failures.append(f"agent exited with {code}")
        finally:
            if agent.proc.poll() is None:
                os.killpg(agent.proc.pid, signal.SIGKILL)
                agent.proc.wait()
            reader.join(timeout=5)
            if failures:
                agent.log.flush()
                kept = os.path.join(tempfile.gettempdir(), "loupe-soak-agent.log")
                shutil.copy(agent.log_path, kept)
                print(f"agent log (kept in {kept}), last lines:\n{agent.log_tail()}",
                      file=sys.stderr)
    if failures:
        print("SOAK FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("soak passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
