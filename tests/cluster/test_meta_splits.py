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


def test_a_split_closes_the_parents_open_shard_and_opens_the_childs():
    """The stream lineage a split leaves in the metadata: the parent's open
    shard records the split (index, time), the child's shard starts there
    with the parent's closed generation as its parent; a shard that had
    ended leaves the child an empty one (cluster/meta.py `split_shards`)."""
    s = _state()
    t = s.tables["t"]
    pid = t.partitions[1]
    t.streams = [{"label": "old", "created_ms": 1, "view": "KEYS_ONLY", "status": "DISABLED", "disabled_ms": 2,
                  "shards": {pid: {"start": 3, "end": 9}}},
                 {"label": "new", "created_ms": 5, "view": "KEYS_ONLY", "status": "ENABLED", "disabled_ms": None,
                  "shards": {pid: {"start": 9}}}]
    p = s.partitions[pid]
    mid = p.lo + (p.hi - p.lo) // 2
    child = split_child_id(t.id, mid)
    assert s.apply({"op": "split_partition", "parent": pid, "child": child, "mid": mid, "index": 40,
                    "now_ms": 777, "voters": ["n1", "n2", "n3"]})["ok"]
    old, new = t.streams
    assert old["shards"] == {pid: {"start": 3, "end": 9}, child: {"start": 9, "end": 9, "empty": True}}
    assert new["shards"] == {pid: {"start": 9, "splits": [[40, 777]]},
                             child: {"start": 40, "ms": 777, "parent": [pid, 0]}}
    c = s.partitions[child]
    mid2 = c.lo + (c.hi - c.lo) // 2
    grandchild = split_child_id(t.id, mid2)
    assert s.apply({"op": "split_partition", "parent": child, "child": grandchild, "mid": mid2, "index": 90,
                    "now_ms": 888, "voters": ["n1", "n2", "n3"]})["ok"]
    assert new["shards"][child]["splits"] == [[90, 888]]
    assert new["shards"][grandchild] == {"start": 90, "ms": 888, "parent": [child, 0]}
