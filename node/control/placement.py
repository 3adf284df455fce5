"""Where replicas live: consistent hashing over virtual-node tokens, three
replicas in three distinct AZs.

Each node owns `VNODES` tokens on a 64-bit ring; a partition's replicas are
the first nodes clockwise from the partition's position whose AZs are all
distinct. With fewer AZs than replicas the rest are filled with distinct
nodes. Adding or removing a node moves only the partitions whose walk meets
its tokens.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from ddb.encoding import hash64

VNODES = 64
REPLICAS = 3


def _token(text: str) -> int:
    return hash64(text.encode())


def ring(nodes: Iterable[str], vnodes: int = VNODES) -> list[tuple[int, str]]:
    return sorted((_token(f"{n}#{i}"), n) for n in nodes for i in range(vnodes))


def place(partition: str, nodes: dict[str, str], replicas: int = REPLICAS) -> list[str]:
    """Replicas for `partition` among `nodes` ({id: az})."""
    tokens = ring(nodes)
    if not tokens:
        return []
    start = bisect.bisect_left(tokens, (_token(partition), ""))
    chosen: list[str] = []
    azs: set[str] = set()
    n = len(tokens)
    for i in range(n):  # distinct AZs first
        node = tokens[(start + i) % n][1]
        if node not in chosen and nodes[node] not in azs:
            chosen.append(node)
            azs.add(nodes[node])
            if len(chosen) == replicas:
                return chosen
    for i in range(n):  # then any distinct nodes
        node = tokens[(start + i) % n][1]
        if node not in chosen:
            chosen.append(node)
            if len(chosen) == replicas:
                break
    return chosen


def replacement(partition: str, members: list[str], lost: str, live: dict[str, str],
                lost_az: str) -> str | None:
    """A live node to take `lost`'s place: same AZ when one exists, else an AZ
    the survivors do not use, else none (stay degraded rather than stack AZs)."""
    survivors = [m for m in members if m != lost]
    used = {live[m] for m in survivors if m in live}
    candidates = {n: az for n, az in live.items() if n not in members}
    if not candidates:
        return None
    order = [n for n in place(partition, candidates, len(candidates))]
    for n in order:
        if candidates[n] == lost_az:
            return n
    for n in order:
        if candidates[n] not in used:
            return n
    return None
