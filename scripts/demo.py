#!/usr/bin/python3
"""`make demo`: a lab of three pods (nginx, Go HTTP, Go gRPC), the agent observing it, traffic
between the pods, and what the agent counted. Everything is torn down at the end (or on Ctrl-C).

Usage: scripts/demo.py [--seconds N] [--keep]   (--keep waits for Ctrl-C before tearing down)
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lab import Lab  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of the wrk load")
    parser.add_argument("--keep", action="store_true", help="keep lab and agent until Ctrl-C")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("make demo needs root (network namespaces, BPF)", file=sys.stderr)
        return 1
    loupe = str(REPO / "build" / "loupe")
    with Lab(3, workloads={"pod0": ["nginx"], "pod1": ["gohttp"], "pod2": ["grpc"]}) as lab:
        pod0, pod1, pod2 = lab.pods
        print(json.dumps(lab.describe(), indent=2))
        port = free_port()
        env = dict(os.environ, LOUPE_PROMETHEUS_PORT=str(port),
                   LOUPE_NETWORK_INTERFACES=",".join(p.host_veth for p in lab.pods))
        agent = subprocess.Popen([loupe, "agent"], env=env)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    # /healthz answers 200 once every sensor has been started.
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                        pass
                    before = scrape(port)
                    break
                except OSError:
                    if agent.poll() is not None or time.monotonic() > deadline:
                        print("the agent did not start", file=sys.stderr)
                        return 1
                    time.sleep(0.1)
            print(f"\nagent: metrics on http://127.0.0.1:{port}/metrics, "
                  f"observing {', '.join(p.host_veth for p in lab.pods)}\n")
            r = pod1.curl(f"http://{pod0.ip}/")
            print(f"curl {pod1.name} -> nginx on {pod0.name}: HTTP {r.status} {r.body!r}")
            r = pod0.curl(f"http://{pod1.ip}:8080/status/404")
            print(f"curl {pod0.name} -> Go HTTP on {pod1.name}: HTTP {r.status} {r.body!r}")
            h = pod0.grpcclient("health", f"{pod2.ip}:50051")
            print(f"gRPC health {pod0.name} -> {pod2.name}: exit {h.returncode} {h.data}")
            w = pod2.wrk(f"http://{pod0.ip}/", duration=args.seconds, connections=4)
            print(f"wrk {pod2.name} -> nginx for {args.seconds:.0f}s: {w.requests} requests")
            time.sleep(0.5)
            after = scrape(port)
            key = 'loupe_bpf_events_total{program="netflow"}'
            lost = 'loupe_bpf_events_lost_total{program="netflow"}'
            print(f"\npacket events seen by the agent: {after[key] - before[key]:.0f} "
                  f"(lost: {after[lost]:.0f})")
            up = after['loupe_sensor_up{sensor="netflow"}']
            print(f"sensor up: {up:.0f}, interfaces: {after['loupe_netflow_interfaces']:.0f}")
            if args.keep:
                print("\nlab and agent keep running; Ctrl-C tears everything down")
                try:
                    signal.pause()
                except KeyboardInterrupt:
                    pass
        finally:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=20)
    print("\ntorn down: lab removed, agent stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
