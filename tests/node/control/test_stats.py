"""The meta leader's sums of the partitions' reported counts (soft state)."""

from __future__ import annotations

from cluster.meta import MetaState
from node.control.stats import table_totals


def state_with_table() -> MetaState:
    s = MetaState.bootstrap([{"id": "n1", "addr": "a", "az": "z1"}])
    result = s.apply({"op": "create_table", "name": "t", "spec": {}, "uuid": "u", "now": 0.0,
                      "placements": [["n1"], ["n1"]]})
    assert result["ok"]
    return s


def test_a_table_is_summed_once_every_partition_reported():
    s = state_with_table()
    p0, p1 = s.tables["t"].partitions
    assert table_totals(s, {p0: [3, 300, {}]}) == {}
    got = table_totals(s, {p0: [3, 300, {"1": [1, 10]}], p1: [4, 400, {"1": [2, 20], "2": [5, 50]}]})
    assert got == {"t": {"id": s.tables["t"].id, "item_count": 7, "size_bytes": 700,
                         "index_stats": {"1": [3, 30], "2": [5, 50]}}}
    assert table_totals(s, {p0: [0, 0], p1: [0, 0]}, ["t", "missing"])["t"]["item_count"] == 0


def test_counts_never_enter_the_metadata():
    s = state_with_table()
    version = s.version
    assert "item_count" not in s.to_json()["tables"]["t"]
    legacy = s.to_json()
    legacy["tables"]["t"].update(item_count=9, size_bytes=90, index_stats={})
    assert MetaState.from_json(legacy).tables["t"] == s.tables["t"]  # snapshots from before: counts dropped
    assert s.apply({"op": "set_table_stats", "stats": {"t": [9, 90]}})["ok"]  # old logs replay their versions
    assert s.version == version + 1 and s.tables["t"] == MetaState.from_json(legacy).tables["t"]
