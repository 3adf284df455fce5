"""The metadata keeps each table's data key versions (encryption at rest)."""

from __future__ import annotations

from cluster.meta import MetaState

SPEC = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}


def _state(**extra) -> MetaState:
    s = MetaState.bootstrap([{"id": "n1", "addr": "a:1", "az": "z1"}])
    index = {"name": "t1#index#g", "spec": {**SPEC, "IndexOf": "t1"}, "placements": [["n1"]]}
    assert s.apply({"op": "create_table", "name": "t1", "uuid": "u", "now": 1.0, "spec": SPEC,
                    "placements": [["n1"]], "indexes": [index], **extra})["ok"]
    return s


def test_each_new_table_takes_its_own_key_as_version_1():
    s = _state(data_keys=["m1:base", "m1:index"])
    assert s.tables["t1"].keys == [{"id": 1, "wrapped": "m1:base", "created": 1.0}]
    assert s.tables["t1#index#g"].keys[0]["wrapped"] == "m1:index"
    assert s.tables["t1"].key_version == s.tables["t1#index#g"].key_version == 1
    assert MetaState.from_json(s.to_json()).tables["t1"].keys == s.tables["t1"].keys


def test_without_keys_a_table_has_none():
    s = _state()
    assert s.tables["t1"].keys == [] and s.tables["t1"].key_version == 0


def test_rotation_adds_a_version_and_rewrapping_replaces_the_wrapping_only():
    s = _state(data_keys=["m1:a", "m1:b"])
    r = s.apply({"op": "table_keys", "name": "t1", "wrapped": "m1:c", "now": 5.0})
    assert r["ok"] and r["key_version"] == 2
    t = s.tables["t1"]
    assert [k["id"] for k in t.keys] == [1, 2] and t.key_version == 2
    assert s.apply({"op": "table_keys", "name": "t1", "rewrapped": {"1": "m2:a", "2": "m2:c"}})["ok"]
    assert [k["wrapped"] for k in s.tables["t1"].keys] == ["m2:a", "m2:c"]
    assert s.tables["t1"].key_version == 2
    assert s.apply({"op": "table_keys", "name": "nope", "wrapped": "x", "now": 1.0})["error"] == \
        "ResourceNotFoundException"
