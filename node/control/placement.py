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
from collections import Counter, deque
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


def lead_evenly(placements: list[list[str]], led: Counter[str] | None = None) -> list[list[str]]:
    """The same replica sets, each reordered so that its first voter (the one
    that campaigns at once, so its leader) spreads these partitions' leaders
    as evenly as their members allow (ties: fewest of `led`, the cluster's
    other partitions' first voters, then ring order). By the ring alone a
    6-partition table on 6 nodes was led by 4 of them (one led 3): with
    several nodes per AZ the leaders, who do the writes and strong reads,
    piled up. Membership is untouched, so the controller's rebalancing (by
    `place`) sees nothing to move."""
    led = led or Counter()
    count: Counter[str] = Counter()
    first: list[int] = []
    for members in placements:  # greedy, then shifts along chains until even
        i = min(range(len(members)), key=lambda i: (count[members[i]], led[members[i]], i)) if members else -1
        first.append(i)
        if members:
            count[members[i]] += 1
    while _shift_one(placements, first, count):
        pass
    return [[m[i]] + m[:i] + m[i + 1:] if m else m for m, i in zip(placements, first)]


def _shift_one(placements: list[list[str]], first: list[int], count: Counter[str]) -> bool:
    """One leadership moved along a chain of partitions (A leads p, p's
    member B leads q, q's member C ...) from a node to one leading at least
    two fewer; False when no such chain exists (the spread is then even)."""
    leads: dict[str, list[int]] = {}
    for k, members in enumerate(placements):
        if members:
            leads.setdefault(members[first[k]], []).append(k)
    for source in sorted(count, key=lambda n: -count[n]):
        back: dict[str, tuple[str, int]] = {source: ("", -1)}  # node -> (node before it, partition passed on)
        todo = deque([source])
        while todo:
            node = todo.popleft()
            for k in leads.get(node, ()):
                for m in placements[k]:
                    if m in back:
                        continue
                    back[m] = (node, k)
                    if count[m] + 2 <= count[source]:
                        count[source] -= 1
                        count[m] += 1
                        while m != source:  # walk back, handing each partition to the next node
                            prev, part = back[m]
                            first[part] = placements[part].index(m)
                            m = prev
                        return True
                    todo.append(m)
    return False


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
