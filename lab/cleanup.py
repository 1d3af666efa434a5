"""Finding and removing lab runs by name: ``python3 -m lab list`` and ``python3 -m lab down``."""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import signal
import time
from typing import Any

from lab import naming
from lab._util import log, pid_alive, run
from lab.core import find_run_ids, teardown_run
from lab.netns import list_links, list_netns, netns_pids


def _state(run_id: str) -> dict[str, Any]:
    try:
        return json.loads((naming.lab_root() / run_id / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def run_is_live(run_id: str) -> bool:
    """Whether the process that created the run still runs (so the run is not a leftover)."""
    state = _state(run_id)
    pid, start = state.get("owner_pid"), state.get("owner_start")
    return isinstance(pid, int) and pid_alive(pid, start)


def list_runs() -> list[dict[str, Any]]:
    """Every run with a trace on this machine, with what is left of it."""
    netns = list_netns()
    links = list_links()
    runs = []
    for run_id in sorted(find_run_ids()):
        state = _state(run_id)
        run_ns = [ns for ns in netns if ns.startswith(f"lp{run_id}-")]
        runs.append({
            "run": run_id,
            "live": run_is_live(run_id),
            "owner_pid": state.get("owner_pid"),
            "run_dir": str(naming.lab_root() / run_id) if (naming.lab_root() / run_id).is_dir() else None,
            "netns": run_ns,
            "links": [l for l in links if (m := naming.LINK_RE.match(l)) and m.group(1) == run_id],
            "processes": sorted({pid for ns in run_ns for pid in netns_pids(ns)}),
            "pods": [{"name": p["name"], "ip": p["ip"], "node": p["node"],
                      "workloads": [w["kind"] for w in p.get("workloads", [])]} for p in state.get("pods", [])],
        })
    return runs


def down(run_id: str | None = None, include_live: bool = False, wait_owner: float = 15.0) -> list[str]:
    """Removes leftovers of lab runs and returns the ids cleaned.

    By default only runs whose owner process is gone are removed, so `down` never pulls the floor
    from under a lab that is in use. ``include_live`` first asks live owners to tear down (SIGTERM)
    and then removes whatever remains. ``run_id`` restricts the operation to one run.
    """
    root = naming.lab_root()
    root.mkdir(parents=True, exist_ok=True)
    # Hold the allocation lock so a lab that is being created right now (run dir made, owner not
    # yet recorded) is never mistaken for a leftover.
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _down_locked(run_id, include_live, wait_owner)


def _down_locked(run_id: str | None, include_live: bool, wait_owner: float) -> list[str]:
    ids = sorted(find_run_ids()) if run_id is None else [run_id]
    cleaned = []
    for rid in ids:
        if not naming.RUN_ID_RE.match(rid):
            raise ValueError(f"bad run id {rid!r}")
        if run_is_live(rid):
            if _state(rid).get("owner_pid") == os.getpid():
                log(f"run {rid} belongs to this process; close it with Lab.close()")
                continue
            if not include_live:
                log(f"run {rid} is live (owner pid {_state(rid).get('owner_pid')}); skipped (use --all)")
                continue
            _stop_owner(rid, wait_owner)
        errors: list[str] = []
        teardown_run(rid, [], errors)
        for e in errors:
            log(f"run {rid}: {e}")
        log(f"run {rid}: removed")
        cleaned.append(rid)
    return cleaned


def _stop_owner(run_id: str, timeout: float) -> None:
    state = _state(run_id)
    pid, start = state["owner_pid"], state.get("owner_start")
    log(f"run {run_id}: asking owner pid {pid} to tear down")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid, start) and time.monotonic() < deadline:
        time.sleep(0.1)


def leftovers(run_id: str, pids: list[int] | None = None,
              subnets: list[str] | None = None) -> dict[str, list[str]]:
    """What still exists of ``run_id``: an empty dict means nothing (used by tests to prove cleanup).

    Checks namespaces, root-namespace links, iptables rules, the run dir, processes whose command
    line mentions the run dir, the given pids, and root-namespace routes on the given subnets.
    """
    from lab.core import _find_iptables_rules
    found: dict[str, list[str]] = {}
    prefix = f"lp{run_id}-"
    if ns := [n for n in list_netns() if n.startswith(prefix)]:
        found["netns"] = ns
    if links := [l for l in list_links() if (m := naming.LINK_RE.match(l)) and m.group(1) == run_id]:
        found["links"] = links
    if rules := _find_iptables_rules(run_id):
        found["iptables"] = [" ".join(r) for r in rules]
    run_dir = naming.lab_root() / run_id
    if run_dir.exists():
        found["run_dir"] = [str(run_dir)]
    marker = f"{run_dir}/".encode()
    procs = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker in f.read():
                    procs.append(entry)
        except OSError:
            continue
    procs += [str(p) for p in pids or [] if pid_alive(p) and str(p) not in procs]
    if procs:
        found["processes"] = procs
    nets = [ipaddress.ip_network(n) for n in subnets or []]
    routes = []
    for family in ("-4", "-6"):
        for line in run(["ip", family, "route", "show", "table", "all"], check=False).stdout.splitlines():
            token = line.split()[0] if line.split() else ""
            if token in ("local", "broadcast", "multicast", "anycast") and len(line.split()) > 1:
                token = line.split()[1]
            try:
                dest = ipaddress.ip_network(token, strict=False)
            except ValueError:
                continue
            if any(dest.version == n.version and dest.overlaps(n) for n in nets):
                routes.append(line)
    if routes:
        found["routes"] = routes
    return found
