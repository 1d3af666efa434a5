"""Names and addresses of lab objects.

Every object of a run carries the run id (4 hex digits), so a run's leftovers can be found and
removed by name alone (see ``lab.cleanup``):

    run dir          /tmp/loupe-lab/<run>/            (LOUPE_LAB_DIR overrides /tmp/loupe-lab)
    pod netns        lp<run>-<pod>                    e.g. lp3f2a-pod0
    node netns       lp<run>-<node>                   e.g. lp3f2a-node1
    bridge           lpbr<run>                        root ns (host node) or inside each node ns
    fabric bridge    lpfb<run>                        root ns, links the nodes
    pod veth         lpv<run><n> (host side), eth0 inside the pod
    node uplink      lpf<run><k> (root side), fab0 inside the node
    iptables rules   comment "loupe-lab:<run>"
    wire TAPs        wire<k> in both pods of a wire (pod namespaces only; see lab.wires)

Addresses: subnet index i (0..511) is the /24 198.18.0.0/15 + i*256 and the /64
fd4c:6f75:0:<i hex>::/64. A run takes one index (host node) or 1 + nodes indices (fabric first).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

IPV4_RANGE = ipaddress.IPv4Network("198.18.0.0/15")
IPV6_PREFIX = "fd4c:6f75"
IPV6_RANGE = ipaddress.IPv6Network(f"{IPV6_PREFIX}::/32")
SUBNET_COUNT = 512

RUN_ID_RE = re.compile(r"^[0-9a-f]{4}$")
NETNS_RE = re.compile(r"^lp([0-9a-f]{4})-[a-z0-9-]+$")
LINK_RE = re.compile(r"^lp(?:br|fb|v|f)([0-9a-f]{4})[0-9]*$")
IPTABLES_COMMENT_PREFIX = "loupe-lab:"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


def lab_root() -> Path:
    return Path(os.environ.get("LOUPE_LAB_DIR", "/tmp/loupe-lab"))


def netns_name(run: str, member: str) -> str:
    return f"lp{run}-{member}"


def bridge_name(run: str) -> str:
    return f"lpbr{run}"


def fabric_bridge_name(run: str) -> str:
    return f"lpfb{run}"


def pod_veth_name(run: str, index: int) -> str:
    return f"lpv{run}{index}"


def node_uplink_name(run: str, index: int) -> str:
    return f"lpf{run}{index}"


def iptables_comment(run: str) -> str:
    return f"{IPTABLES_COMMENT_PREFIX}{run}"


@dataclass(frozen=True)
class Subnet:
    """One lab /24 with its matching IPv6 /64."""

    index: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < SUBNET_COUNT:
            raise ValueError(f"subnet index {self.index} outside 0..{SUBNET_COUNT - 1}")

    @property
    def v4(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network((int(IPV4_RANGE.network_address) + self.index * 256, 24))

    @property
    def v6(self) -> ipaddress.IPv6Network:
        return ipaddress.IPv6Network(f"{IPV6_PREFIX}:0:{self.index:x}::/64")

    def host4(self, n: int) -> str:
        if not 1 <= n <= 254:
            raise ValueError(f"host number {n} outside 1..254")
        return str(self.v4.network_address + n)

    def host6(self, n: int) -> str:
        return str(self.v6.network_address + n)


def subnet_indices_overlapping(net: ipaddress.IPv4Network) -> range:
    """Subnet indices of the lab range that ``net`` overlaps (empty if none)."""
    if not net.overlaps(IPV4_RANGE):
        return range(0)
    start = max(int(net.network_address), int(IPV4_RANGE.network_address))
    end = min(int(net.broadcast_address), int(IPV4_RANGE.broadcast_address))
    base = int(IPV4_RANGE.network_address)
    return range((start - base) // 256, (end - base) // 256 + 1)
