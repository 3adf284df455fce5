"""The functions' records in the cluster metadata: create, guarded replace, delete, snapshots."""

from __future__ import annotations

from cluster.meta import FUNCTION_CODE_TABLE, MetaState, TableInfo, hidden


def record(rev: str) -> dict:
    return {"name": "f", "revision_id": rev}


def test_create_replace_and_delete_a_function():
    s = MetaState()
    assert s.apply({"op": "put_function", "name": "f", "record": record("r1"), "code": "c1", "create": True})["ok"]
    again = s.apply({"op": "put_function", "name": "f", "record": record("r9"), "code": "c9", "create": True})
    assert (again["ok"], again["error"], again["message"]) == (False, "ResourceConflictException",
                                                             "Function already exist: f")
    # A replacement computed from an older revision is refused (a concurrent update came first).
    stale = s.apply({"op": "put_function", "name": "f", "record": record("r2"), "code": "c2",
                     "expect_revision": "r0"})
    assert not stale["ok"] and stale["error"] == ""
    version = s.version
    done = s.apply({"op": "put_function", "name": "f", "record": record("r2"), "code": "c2",
                    "expect_revision": "r1"})
    assert done["ok"] and done["replaced"] == {"record": record("r1"), "code": "c1"}
    assert s.version == version + 1 == done["version"]
    restored = MetaState.from_json(s.to_json())
    assert restored.functions == {"f": {"record": record("r2"), "code": "c2"}}
    gone = s.apply({"op": "delete_function", "name": "f"})
    assert gone["ok"] and gone["replaced"]["code"] == "c2" and s.functions == {}
    assert s.apply({"op": "delete_function", "name": "f"})["error"] == "ResourceNotFoundException"
    assert s.apply({"op": "put_function", "name": "f", "record": record("r3"), "code": "c3",
                    "expect_revision": "r2"})["error"] == "ResourceNotFoundException"


def test_a_snapshot_from_before_functions_loads():
    d = MetaState().to_json()
    del d["functions"]
    assert MetaState.from_json(d).functions == {}


def test_system_and_index_tables_are_hidden():
    def table(spec):
        return TableInfo("x", 1, "u", "ACTIVE", 0.0, spec)
    assert hidden(table({"System": "function-code", "TableName": FUNCTION_CODE_TABLE}))
    assert hidden(table({"IndexOf": "t"}))
    assert not hidden(table({"TableName": "t"}))


def test_a_function_url_config_is_created_once_kept_by_updates_and_deleted():
    s = MetaState()
    url = {"UrlId": "u1", "AuthType": "NONE"}
    assert s.apply({"op": "put_function_url", "name": "f", "mode": "create", "url": url})["error"] == "NoFunction"
    s.apply({"op": "put_function", "name": "f", "record": record("r1"), "code": "c1", "create": True})
    assert s.apply({"op": "put_function_url", "name": "f", "mode": "update", "url": url})["error"] == \
        "ResourceNotFoundException"
    snapshot = s.to_json()
    assert s.apply({"op": "put_function_url", "name": "f", "mode": "create", "url": url})["ok"]
    assert "url" not in snapshot["functions"]["f"]  # the entry is replaced, never changed under a snapshot
    assert s.apply({"op": "put_function_url", "name": "f", "mode": "create", "url": url})["error"] == \
        "ResourceConflictException"
    s.apply({"op": "put_function", "name": "f", "record": record("r2"), "code": "c2", "expect_revision": "r1"})
    assert MetaState.from_json(s.to_json()).functions["f"]["url"] == url  # a code or config update keeps it
    assert s.apply({"op": "put_function_url", "name": "f", "mode": "update", "url": {**url, "AuthType": "AWS_IAM"}})[
        "ok"] and s.functions["f"]["url"]["AuthType"] == "AWS_IAM"
    assert s.apply({"op": "put_function_url", "name": "f", "mode": "delete", "url": None})["ok"]
    assert s.functions["f"] == {"record": record("r2"), "code": "c2"}
    assert s.apply({"op": "put_function_url", "name": "f", "mode": "delete", "url": None})["error"] == \
        "ResourceNotFoundException"
