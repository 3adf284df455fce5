"""The metadata keeps a global table's replica regions."""

from __future__ import annotations

from cluster.meta import MetaState


def _state() -> MetaState:
    s = MetaState.bootstrap([{"id": "n1", "addr": "a:1", "az": "z1"}])
    spec = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
    assert s.apply({"op": "create_table", "name": "t1", "uuid": "u", "now": 1.0, "spec": spec,
                    "placements": [["n1"]]})["ok"]
    return s


def test_replicas_are_set_as_a_whole_and_survive_snapshots():
    s = _state()
    assert s.tables["t1"].replicas == [] and s.tables["t1"].global_version is None
    r = s.apply({"op": "set_table_replicas", "name": "t1", "global_version": "2019.11.21",
                 "replicas": [{"region": "eu-west-1", "status": "CREATING"}]})
    assert r["ok"] and r["table"]["replicas"] == [{"region": "eu-west-1", "status": "CREATING"}]
    t = MetaState.from_json(s.to_json()).tables["t1"]
    assert t.replica("eu-west-1") == {"region": "eu-west-1", "status": "CREATING"}
    assert t.global_version == "2019.11.21"
    s.apply({"op": "set_table_replicas", "name": "t1", "replicas": []})
    assert s.tables["t1"].global_version is None  # regional again
    old = s.to_json()
    del old["tables"]["t1"]["replicas"], old["tables"]["t1"]["global_version"]
    assert MetaState.from_json(old).tables["t1"].replicas == []  # metadata written before global tables


def test_unknown_table():
    r = _state().apply({"op": "set_table_replicas", "name": "nope", "replicas": []})
    assert r["ok"] is False and r["error"] == "ResourceNotFoundException"
