"""The forwarder of a lab wire (see lab/wires.py): copies Ethernet frames between two TAP devices.

Started by the lab inside pod A's network namespace (so ``ip netns pids`` of pod A, and with it
teardown and ``python3 -m lab down``, find it), as::

    python3 wire_forwarder.py --config <run dir>/wires/<wire>.json

It creates TAP A (IFF_TAP|IFF_NO_PI) in its own namespace and TAP B after setns() into pod B's
namespace, then returns to pod A's. The TAPs are not persistent: they vanish when this process
exits. Frames are held for the configured one-way delay in a per-direction FIFO (the delay is the
same for every frame of a direction, so due times are monotonic) and written when due; the
process sleeps in select() until the next frame is due or a frame/command arrives — no polling.

Loss and drop rules apply only to IP packets that are not link control: ARP and ICMPv6 neighbour
discovery/MLD (types 130..143) are always forwarded (delayed like everything else), so spontaneous
link chatter neither gets lost nor consumes random numbers, and a seeded run is deterministic.

Control protocol: one JSON object per line on stdin, one JSON answer per line on stdout.
    {"op": "stats"}                                    -> counters per direction
    {"op": "set", "a_to_b": {...}, "b_to_a": {...}}    -> change delay_ms / loss / drop / seed
EOF on stdin (the lab closed the wire, or its owner died) or SIGTERM ends the process.
Stdlib only, no imports from the lab package: it runs as a plain script.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import errno
import fcntl
import json
import os
import random
import select
import signal
import struct
import sys
import time
from typing import Any

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MAX_FRAME = 65536
DROP_KINDS = ("ip", "tcp", "syn", "synack", "tcp-data", "udp", "icmp")


def open_tap(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def open_tap_in_netns(netns: str, name: str) -> int:
    """A TAP belongs to the namespace the /dev/net/tun fd was opened in: hop there and back."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({netns}): {os.strerror(err)}")
        try:
            return open_tap(name)
        finally:
            if libc.setns(home, CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns(back): {os.strerror(err)}")
    finally:
        os.close(target)
        os.close(home)


def classify(frame: bytes) -> tuple[bool, set[str]]:
    """(eligible for loss/drop rules, kinds the frame matches)."""
    if len(frame) < 14:
        return False, set()
    ethertype = int.from_bytes(frame[12:14], "big")
    off = 14
    if ethertype == 0x8100 and len(frame) >= 18:  # one VLAN tag
        ethertype = int.from_bytes(frame[16:18], "big")
        off = 18
    kinds = {"ip"}
    if ethertype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        proto = frame[off + 9]
        total = int.from_bytes(frame[off + 2:off + 4], "big")
        l4 = off + ihl
        payload_end = off + total
    elif ethertype == 0x86DD and len(frame) >= off + 40:
        proto = frame[off + 6]
        l4 = off + 40
        payload_end = l4 + int.from_bytes(frame[off + 4:off + 6], "big")
        # Skip extension headers (MLD reports carry a hop-by-hop Router Alert option).
        while proto in (0, 43, 44, 51, 60) and len(frame) >= l4 + 8:
            if proto == 44:
                length = 8
            elif proto == 51:
                length = (frame[l4 + 1] + 2) * 4
            else:
                length = (frame[l4 + 1] + 1) * 8
            proto = frame[l4]
            l4 += length
        if proto == 58 and len(frame) > l4 and 130 <= frame[l4] <= 143:
            return False, set()  # neighbour discovery, MLD: link control
    else:
        return False, set()  # ARP and anything else that is not IP
    if proto == 6 and len(frame) >= l4 + 14:
        kinds.add("tcp")
        flags = frame[l4 + 13]
        syn, ack = bool(flags & 0x02), bool(flags & 0x10)
        if syn and not ack:
            kinds.add("syn")
        elif syn and ack:
            kinds.add("synack")
        data_off = (frame[l4 + 12] >> 4) * 4
        if payload_end - (l4 + data_off) > 0:
            kinds.add("tcp-data")
    elif proto == 17:
        kinds.add("udp")
    elif proto in (1, 58):
        kinds.add("icmp")
    return True, kinds


class Direction:
    def __init__(self, name: str, src: int, dst: int, seed: int) -> None:
        self.name = name
        self.src = src
        self.dst = dst
        self.delay = 0.0
        self.loss = 0.0
        self.seed = seed
        self.rng = random.Random(seed)
        self.drop: dict[str, int] = {}
        self.queue: collections.deque[tuple[float, bytes]] = collections.deque()
        self.counters = collections.Counter()
        self.dropped_by_kind = collections.Counter()
        self.late_max = 0.0
        self.late_sum = 0.0
        self.late_n = 0

    def configure(self, cfg: dict[str, Any]) -> None:
        if "delay_ms" in cfg:
            delay = float(cfg["delay_ms"])
            if delay < 0:
                raise ValueError("delay_ms must be >= 0")
            self.delay = delay / 1000.0
        if "loss" in cfg:
            loss = float(cfg["loss"])
            if not 0.0 <= loss <= 1.0:
                raise ValueError("loss must be in [0, 1]")
            self.loss = loss
        if "seed" in cfg:
            self.seed = int(cfg["seed"])
            self.rng = random.Random(self.seed)
        if "drop" in cfg:
            drop = {str(k): int(v) for k, v in (cfg["drop"] or {}).items()}
            for kind, count in drop.items():
                if kind not in DROP_KINDS or count < 0:
                    raise ValueError(f"bad drop rule {kind}={count}; kinds: {', '.join(DROP_KINDS)}")
            self.drop = {k: v for k, v in drop.items() if v > 0}

    def take(self, frame: bytes, now: float) -> bool:
        """Accepts a frame read from src: queues it, or drops it. Returns whether it was kept."""
        self.counters["frames"] += 1
        eligible, kinds = classify(frame)
        if eligible:
            for kind in kinds:
                if self.drop.get(kind, 0) > 0:
                    self.drop[kind] -= 1
                    self.counters["dropped_rule"] += 1
                    self.dropped_by_kind[kind] += 1
                    return False
            if self.loss > 0.0 and self.rng.random() < self.loss:
                self.counters["dropped_loss"] += 1
                for kind in kinds:
                    self.dropped_by_kind[kind] += 1
                return False
        if self.delay <= 0.0 and not self.queue:
            self._write(frame, 0.0)
        else:
            self.queue.append((now + self.delay, frame))
        return True

    def flush(self, now: float) -> None:
        while self.queue and self.queue[0][0] <= now:
            due, frame = self.queue.popleft()
            self._write(frame, now - due)

    def next_due(self) -> float | None:
        return self.queue[0][0] if self.queue else None

    def _write(self, frame: bytes, late: float) -> None:
        try:
            os.write(self.dst, frame)
            self.counters["forwarded"] += 1
        except OSError:
            self.counters["write_errors"] += 1
            return
        if late > 0.0 or self.delay > 0.0:
            self.late_n += 1
            self.late_sum += late
            self.late_max = max(self.late_max, late)
            if late > 0.001:
                self.counters["late_over_1ms"] += 1

    def stats(self) -> dict[str, Any]:
        return {"frames": self.counters["frames"], "forwarded": self.counters["forwarded"],
                "dropped_loss": self.counters["dropped_loss"], "dropped_rule": self.counters["dropped_rule"],
                "dropped": self.counters["dropped_loss"] + self.counters["dropped_rule"],
                "dropped_by_kind": dict(self.dropped_by_kind), "write_errors": self.counters["write_errors"],
                "queued": len(self.queue), "delay_ms": self.delay * 1000.0, "loss": self.loss,
                "drop_pending": dict(self.drop), "seed": self.seed,
                "late_over_1ms": self.counters["late_over_1ms"], "late_ms_max": round(self.late_max * 1000.0, 3),
                "late_ms_mean": round(self.late_sum / self.late_n * 1000.0, 3) if self.late_n else 0.0}


def read_frames(direction: Direction, limit: int = 256) -> None:
    for _ in range(limit):
        try:
            frame = os.read(direction.src, MAX_FRAME)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EINTR):
                return
            raise
        direction.take(frame, time.monotonic())


def boost_priority(mode: str) -> str:
    """Wakes up on time on a busy machine: SCHED_FIFO 1 ("realtime"; RT throttling still leaves
    5% of the CPU to others if a flood keeps it busy), nice -10 ("nice"), or as started ("normal")."""
    if mode == "realtime":
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            return "realtime"
        except OSError:
            mode = "nice"  # e.g. no RT budget in this cgroup
    if mode == "nice":
        try:
            os.setpriority(os.PRIO_PROCESS, 0, -10)
            return "nice"
        except OSError:
            pass  # best effort
    return "normal"


def reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON written by lab/wires.py")
    args = parser.parse_args()
    cfg = json.loads(open(args.config).read())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    priority = boost_priority(cfg.get("priority", "realtime"))
    try:
        tap_a = open_tap(cfg["tap_a"])
        tap_b = open_tap_in_netns(cfg["netns_b"], cfg["tap_b"])
    except OSError as e:
        reply({"ready": False, "error": f"creating the TAPs failed: {e}"})
        return 1
    seed = int(cfg.get("seed", 0))
    a_to_b = Direction("a_to_b", tap_a, tap_b, seed * 2 + 1)
    b_to_a = Direction("b_to_a", tap_b, tap_a, seed * 2 + 2)
    try:
        a_to_b.configure(cfg.get("a_to_b", {}))
        b_to_a.configure(cfg.get("b_to_a", {}))
    except ValueError as e:
        reply({"ready": False, "error": str(e)})
        return 1
    reply({"ready": True, "pid": os.getpid(), "priority": priority})
    by_fd = {tap_a: a_to_b, tap_b: b_to_a}
    stdin = sys.stdin.fileno()
    pending = b""
    while True:
        now = time.monotonic()
        a_to_b.flush(now)
        b_to_a.flush(now)
        dues = [d for d in (a_to_b.next_due(), b_to_a.next_due()) if d is not None]
        timeout = max(0.0, min(dues) - time.monotonic()) if dues else None
        try:
            readable, _, _ = select.select([tap_a, tap_b, stdin], [], [], timeout)
        except InterruptedError:
            continue
        for fd in readable:
            if fd in by_fd:
                read_frames(by_fd[fd])
                continue
            chunk = os.read(stdin, 65536)
            if not chunk:
                return 0  # the lab closed the control pipe (or its owner died)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                if line.strip():
                    handle(line, a_to_b, b_to_a)


def handle(line: bytes, a_to_b: Direction, b_to_a: Direction) -> None:
    try:
        cmd = json.loads(line)
        op = cmd.get("op")
        if op == "stats":
            reply({"ok": True, "a_to_b": a_to_b.stats(), "b_to_a": b_to_a.stats()})
        elif op == "set":
            for key, direction in (("a_to_b", a_to_b), ("b_to_a", b_to_a)):
                if key in cmd:
                    direction.configure(cmd[key])
            reply({"ok": True})
        else:
            reply({"ok": False, "error": f"unknown op {op!r}"})
    except (ValueError, TypeError, AttributeError) as e:
        reply({"ok": False, "error": str(e)})


if __name__ == "__main__":
    sys.exit(main())
