#!/usr/bin/python3
"""Overhead of the running agent on TCP throughput between two lab pods.

iperf3 runs from pod1 to pod0 (`--seconds` each) in `--rounds` rounds; each round measures once
without and once with `loupe agent` running (order alternating between rounds, so drift of the
shared machine falls on both sides), with the agent's TC programs on the pods' host veths
(LOUPE_NETWORK_INTERFACES). Prints one line per measurement and a summary with the ratio
with/without (issue 3 target: >= 0.97 at the default medium aggregation) and the agent's CPU
seconds (utime + stime from /proc/<pid>/stat) during each measured run.

Needs root. Cleans up after itself: the agent is stopped and the lab torn down, also on errors
and Ctrl-C. Usage: sudo python3 bench/iperf_overhead.py [--loupe build/loupe] [--rounds 3]
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lab import Lab  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Agent:
    """`loupe agent` observing `interfaces`, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, loupe: str, interfaces: list[str], aggregation: str, workdir: str):
        self.metrics_port = free_port()
        env = dict(os.environ,
                   LOUPE_NETWORK_INTERFACES=",".join(interfaces),
                   LOUPE_MONITOR_AGGREGATION=aggregation,
                   LOUPE_PROMETHEUS_PORT=str(self.metrics_port),
                   LOUPE_OBSERVER_LISTEN_ADDRESS=f"127.0.0.1:{free_port()}",
                   LOUPE_RUNTIME_DIR=os.path.join(workdir, "run"),
                   LOUPE_LOG_LEVEL="warn")
        self.log_path = os.path.join(workdir, "agent.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([loupe, "agent"], env=env, stdout=self.log, stderr=self.log,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}; see {self.log_path}")
            try:
                body = urllib.request.urlopen(url, timeout=1).read().decode()
                if any(line.startswith("loupe_netflow_interfaces") and not line.endswith(" 0")
                       for line in body.splitlines()):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"agent not ready after {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def iperf(client, server_ip: str, seconds: int) -> float:
    out = client.exec(["iperf3", "-c", server_ip, "-t", str(seconds), "-J"], timeout=seconds + 30)
    if out.returncode != 0:
        raise RuntimeError(f"iperf3 failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loupe", default="build/loupe")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--aggregation", default="medium")
    args = parser.parse_args()
    loupe = os.path.abspath(args.loupe)

    results = {"without": [], "with": [], "cpu": []}
    with tempfile.TemporaryDirectory(prefix="loupe-bench-") as workdir, Lab(pods=2) as lab:
        server_pod, client_pod = lab.pods
        server = server_pod.popen(["iperf3", "-s"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not client_pod.can_connect(server_pod.ip, 5201):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("iperf3 server did not start")
            time.sleep(0.05)
        interfaces = [p.host_veth for p in lab.pods]
        for r in range(args.rounds):
            order = ["without", "with"] if r % 2 == 0 else ["with", "without"]
            for mode in order:
                agent = None
                try:
                    if mode == "with":
                        agent = Agent(loupe, interfaces, args.aggregation, workdir)
                        agent.wait_ready()
                        cpu0 = cpu_seconds(agent.proc.pid)
                    bps = iperf(client_pod, server_pod.ip, args.seconds)
                    if agent is not None:
                        cpu = cpu_seconds(agent.proc.pid) - cpu0
                        results["cpu"].append(cpu)
                finally:
                    if agent is not None:
                        agent.stop()
                results[mode].append(bps)
                extra = f"  agent CPU {cpu:.2f} s" if mode == "with" else ""
                print(f"round {r + 1} {mode:7s} {bps / 1e9:7.2f} Gbit/s{extra}", flush=True)
    without = sum(results["without"]) / len(results["without"])
    with_agent = sum(results["with"]) / len(results["with"])
    cpu = sum(results["cpu"]) / len(results["cpu"])
    print(f"mean without {without / 1e9:.2f} Gbit/s, with {with_agent / 1e9:.2f} Gbit/s, "
          f"ratio {with_agent / without:.3f} (target >= 0.97); agent CPU {cpu:.2f} s per "
          f"{args.seconds} s run ({cpu / args.seconds * 100:.1f}% of one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
