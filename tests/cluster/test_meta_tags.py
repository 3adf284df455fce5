"""The metadata keeps a table's tags and merges every tagging call into them."""

from __future__ import annotations

from cluster.meta import MetaState


def _state() -> MetaState:
    s = MetaState.bootstrap([{"id": "n1", "addr": "a:1", "az": "z1"}])
    spec = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "Tags": [{"Key": "team", "Value": "db"}]}
    assert s.apply({"op": "create_table", "name": "t1", "uuid": "u", "now": 1.0, "spec": spec,
                    "placements": [["n1"]]})["ok"]
    return s


def test_create_table_keeps_tags_and_tag_calls_merge():
    s = _state()
    assert s.tables["t1"].tags == [{"Key": "team", "Value": "db"}]
    v = s.version
    r = s.apply({"op": "tag_table", "name": "t1", "add": [{"Key": "env", "Value": "prod"}]})
    assert r["ok"] and r["version"] == s.version == v + 1
    s.apply({"op": "tag_table", "name": "t1", "remove": ["team"]})
    assert s.tables["t1"].tags == [{"Key": "env", "Value": "prod"}]
    assert s.apply({"op": "tag_table", "name": "t1", "remove": ["absent"]})["message"] == "unchanged"
    # Survives a snapshot, and older snapshots (tags only in the spec) still have them.
    assert MetaState.from_json(s.to_json()).tables["t1"].tags == [{"Key": "env", "Value": "prod"}]
    old = _state().to_json()
    del old["tables"]["t1"]["tags"]
    assert MetaState.from_json(old).tables["t1"].tags == [{"Key": "team", "Value": "db"}]


def test_errors_leave_the_state_alone():
    s = _state()
    v = s.version
    r = s.apply({"op": "tag_table", "name": "t1", "add": [{"Key": f"k{i}", "Value": "v"} for i in range(50)]})
    assert r == {"ok": False, "error": "ValidationException",
                 "message": "Number of Tags exceed the current limit for the provided ResourceArn"}
    r = s.apply({"op": "tag_table", "name": "nope", "add": [], "missing": "Requested resource not found"})
    assert r["error"] == "ResourceNotFoundException" and r["message"] == "Requested resource not found"
    assert s.version == v and s.tables["t1"].tags == [{"Key": "team", "Value": "db"}]
