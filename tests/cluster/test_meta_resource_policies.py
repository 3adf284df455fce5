"""The metadata keeps tables' and streams' resource policies, with revisions
checked in the state machine."""

from __future__ import annotations

from cluster.meta import MetaState

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/t1"


def _state(**spec_extra) -> MetaState:
    s = MetaState.bootstrap([{"id": "n1", "addr": "a:1", "az": "z1"}])
    spec = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}, **spec_extra}
    assert s.apply({"op": "create_table", "name": "t1", "uuid": "u", "now": 2.0, "spec": spec,
                    "placements": [["n1"]]})["ok"]
    return s


def put(s, policy, label="", expect=None, now_ms=5000):
    return s.apply({"op": "resource_policy", "name": "t1", "label": label, "arn": ARN, "policy": policy,
                    "expect": expect, "now_ms": now_ms})


def test_create_table_with_a_policy_keeps_it_out_of_the_spec():
    s = _state(ResourcePolicy="doc")
    t = s.tables["t1"]
    assert t.resource_policies == {"": {"policy": "doc", "revision": "2000"}}
    assert "ResourcePolicy" not in t.spec
    assert MetaState.from_json(s.to_json()).tables["t1"].resource_policies == t.resource_policies


def test_put_replace_and_delete():
    s = _state()
    label = s.tables["t1"].streams[0]["label"]
    r = put(s, "a")
    assert r["ok"] and r["revision"] == "5000"
    assert put(s, "s", label=label)["ok"]
    assert put(s, "b", expect="5000", now_ms=6000)["revision"] == "6000"
    v = s.version
    assert put(s, "b", now_ms=7000) == {"ok": False, "error": "", "message": "unchanged", "revision": "6000",
                                        "version": v}
    v = s.version
    r = put(s, "c", expect="5000")
    assert r["error"] == "PolicyNotFoundException" and s.version == v
    assert s.tables["t1"].resource_policies[""]["policy"] == "b"
    assert put(s, None)["revision"] == "6000"
    assert "" not in s.tables["t1"].resource_policies and label in s.tables["t1"].resource_policies
    assert put(s, None)["message"] == "unchanged"


def test_missing_table_or_stream():
    s = _state()
    r = put(s, "a", label="2000-01-01T00:00:00.000")
    assert r["error"] == "ResourceNotFoundException"
    r = s.apply({"op": "resource_policy", "name": "nope", "label": "", "arn": ARN, "policy": "a", "now_ms": 1})
    assert r == {"ok": False, "error": "ResourceNotFoundException",
                 "message": f"Requested resource not found: ResourceArn: {ARN} not found"}
