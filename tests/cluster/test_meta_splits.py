"""The metadata records a split its partition's replicas applied (node/partition/split.py)."""

from __future__ import annotations

from cluster.meta import LAST_HASH, MetaState, split_child_id


def _state() -> MetaState:
    s = MetaState.bootstrap([{"id": n, "addr": f"a:{n}", "az": n} for n in ("n1", "n2", "n3")])
    spec = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
    assert s.apply({"op": "create_table", "name": "t", "uuid": "u", "now": 1.0, "spec": spec,
                    "placements": [["n1", "n2", "n3"], ["n1", "n2", "n3"]]})["ok"]
    return s


def test_a_split_divides_the_parents_range_once_and_survives_snapshots():
    s = _state()
    t = s.tables["t"]
    parent = s.partitions[t.partitions[1]]
    lo, epoch, version = parent.lo, parent.epoch, s.version
    mid = lo + (LAST_HASH - lo) // 2
    child = split_child_id(t.id, mid)
    cmd = {"op": "split_partition", "parent": parent.id, "child": child, "mid": mid,
           "voters": ["n1", "n2", "n3"], "learners": []}
    assert s.apply(cmd)["ok"] and s.version == version + 1
    p, c = s.partitions[parent.id], s.partitions[child]
    assert (p.lo, p.hi, c.lo, c.hi) == (lo, mid - 1, mid, LAST_HASH)
    assert p.epoch == epoch + 1 and c.parent == parent.id and c.voters == ["n1", "n2", "n3"]
    assert t.partitions == [t.partitions[0], parent.id, child]  # in hash order
    assert s.apply(cmd)["ok"] is False and s.version == version + 1  # a repeat changes nothing
    again = MetaState.from_json(s.to_json())
    assert again.partitions[child] == c and again.tables["t"].partitions == t.partitions


def test_a_split_point_outside_the_parent_is_refused():
    s = _state()
    first = s.partitions[s.tables["t"].partitions[0]]
    for mid in (first.lo, first.hi + 1):
        r = s.apply({"op": "split_partition", "parent": first.id, "child": split_child_id(1, mid), "mid": mid,
                     "voters": ["n1"]})
        assert r["ok"] is False and r["error"] == "ValidationException"
