import itertools
from collections import Counter

import pytest

from cluster.meta import partition_id
from node.control.placement import lead_evenly, place


def _nodes(per_az: int) -> dict[str, str]:
    return {f"n{i}": "abc"[(i - 1) % 3] for i in range(1, 3 * per_az + 1)}


def _least_max(placements: list[list[str]]) -> int:
    """The fewest partitions the busiest node can lead, by trying every choice."""
    return min(max(Counter(choice).values()) for choice in itertools.product(*placements))


@pytest.mark.parametrize("per_az,partitions", [(1, 6), (2, 6), (2, 9), (3, 9)])
@pytest.mark.parametrize("table_id", range(1, 7))
def test_first_voters_spread_as_evenly_as_members_allow(per_az: int, partitions: int, table_id: int) -> None:
    nodes = _nodes(per_az)
    raw = [place(partition_id(table_id, i), nodes) for i in range(partitions)]
    out = lead_evenly(raw)
    assert [sorted(a) for a in out] == [sorted(b) for b in raw]  # membership untouched
    assert [a[1:] for a in out] == [[m for m in b if m != a[0]] for a, b in zip(out, raw)]  # the rest in ring order
    # the ring alone: a 6-node, 6-partition table led by 4 nodes, one of them leading 3
    assert max(Counter(p[0] for p in out).values()) == _least_max(raw)


def test_a_chain_of_moves_evens_what_one_move_cannot() -> None:
    # greedily b leads p0, then a leads p1 and p2 (its only member), c none; no single move helps a
    # (b already leads one): p0 goes to c and p1 to b
    assert lead_evenly([["b", "c"], ["a", "b"], ["a"]]) == [["c", "b"], ["b", "a"], ["a"]]


def test_ties_go_to_the_node_leading_fewest_elsewhere_then_ring_order() -> None:
    assert lead_evenly([["a", "b", "c"]], Counter({"a": 3, "b": 1})) == [["c", "a", "b"]]
    assert lead_evenly([["a", "b", "c"]]) == [["a", "b", "c"]]
    assert lead_evenly([[], ["a"]]) == [[], ["a"]]
