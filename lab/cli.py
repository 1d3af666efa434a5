"""Command line of the lab: ``python3 -m lab {up,down,list,build}`` (or ``lab/labctl ...``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from lab._util import LabError, log
from lab.build import build_go, cache_root
from lab.cleanup import down, list_runs
from lab.core import Lab
from lab.workloads import KINDS


def parse_workloads(spec: str, pods: list[str]) -> dict[str, list[str]]:
    """``nginx,gohttp`` (one per pod in order, wrapping) and/or ``pod2=redis+postgres``."""
    result: dict[str, list[str]] = {}
    position = 0
    for item in filter(None, (s.strip() for s in spec.split(","))):
        if "=" in item:
            pod, kinds = item.split("=", 1)
            result.setdefault(pod, []).extend(k for k in kinds.split("+") if k)
        else:
            result.setdefault(pods[position % len(pods)], []).append(item)
            position += 1
    return result


def parse_placement(spec: str | None) -> dict[str, int]:
    placement: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in (spec or "").split(","))):
        pod, _, node = item.partition("=")
        try:
            placement[pod] = int(node.removeprefix("node"))
        except ValueError:
            raise LabError(f"bad placement {item!r}: use pod=<node index>, e.g. pod0=1") from None
    return placement


def cmd_up(args: argparse.Namespace) -> int:
    pods: int | list[str] = int(args.pods) if args.pods.isdigit() else args.pods.split(",")
    names = [f"pod{i}" for i in range(pods)] if isinstance(pods, int) else pods
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    lab = Lab(pods, nodes=args.nodes, placement=parse_placement(args.placement),
              workloads=parse_workloads(args.workloads or "", names), keep_logs=args.keep_logs)
    try:
        lab.start()
        if stop.is_set():
            return 130
        description = lab.describe()
        print(json.dumps(description) if args.json else json.dumps(description, indent=2), flush=True)
        generator = None
        if args.traffic:
            from lab.traffic import TrafficGenerator
            generator = TrafficGenerator(lab, interval=args.traffic)
            generator.start()
        log(f"run {lab.run_id} is up; Ctrl-C or SIGTERM tears it down")
        stop.wait(args.duration if args.duration else None)
        if generator:
            generator.stop()
            log(f"traffic sent: {dict(generator.counts)}")
    finally:
        lab.close()
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    cleaned = down(run_id=args.run, include_live=args.all)
    print(json.dumps({"removed": cleaned}))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    runs = list_runs()
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print("no lab runs")
        return 0
    for r in runs:
        state = "live" if r["live"] else "leftover"
        print(f"{r['run']}  {state:8}  owner={r['owner_pid']}  netns={len(r['netns'])}  links={len(r['links'])}  "
              f"processes={len(r['processes'])}  dir={r['run_dir'] or '-'}")
        for pod in r["pods"]:
            print(f"    {pod['name']:10} {pod['ip']:15} node={pod['node']:6} {','.join(pod['workloads'])}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    binaries = build_go(force=args.force)
    print(binaries.dir)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m lab", description="Loupe test lab (needs root).")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="create a lab, print it as JSON, keep it until Ctrl-C/SIGTERM")
    up.add_argument("--pods", default="2", help="number of pods, or comma-separated pod names (default 2)")
    up.add_argument("--nodes", type=int, default=0, help="node namespaces (default 0: pods on the host node)")
    up.add_argument("--placement", help="pod=<node index>,... (default: round robin)")
    up.add_argument("--workloads", help=f"kinds, one per pod in order, or pod=kind+kind; kinds: {', '.join(KINDS)}")
    up.add_argument("--traffic", type=float, metavar="SECONDS", help="send a request to every workload this often")
    up.add_argument("--duration", type=float, help="tear down after this many seconds")
    up.add_argument("--json", action="store_true", help="print the description as one JSON line")
    up.add_argument("--keep-logs", metavar="DIR", help="copy the run dir (logs, configs) here at teardown")
    up.set_defaults(fn=cmd_up)

    dn = sub.add_parser("down", help="remove leftovers of runs whose owner is gone")
    dn.add_argument("--run", help="only this run id")
    dn.add_argument("--all", action="store_true", help="also stop live runs (SIGTERM to their owner first)")
    dn.set_defaults(fn=cmd_down)

    ls = sub.add_parser("list", help="list runs and what is left of them")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(fn=cmd_list)

    bd = sub.add_parser("build", help=f"build the Go workloads offline into {cache_root()}/<hash>")
    bd.add_argument("--force", action="store_true", help="rebuild even if cached")
    bd.set_defaults(fn=cmd_build)

    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except LabError as e:
        print(f"lab: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
