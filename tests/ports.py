"""Loopback TCP ports for test servers and agents to bind a moment later.

Ports are taken below the kernel's ephemeral range (32768-60999 here), so that the source port of
some outgoing connection cannot take one in between (a CI run lost the race for 127.0.0.1:60699),
and none is handed out twice in one run (receivers rebind their ports after a restart). Import it
as `ports` (with tests/ on sys.path) so that every user shares the one record of handed-out ports.
"""

import random
import socket

_HANDED_OUT: set = set()
LOW, HIGH = 12000, 32000


def free_port() -> int:
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(LOW, HIGH)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {LOW}-{HIGH - 1}")
