"""Backup, export and import records in the cluster metadata, and the
`Loading` mark that keeps a restored or imported table CREATING."""

from __future__ import annotations

from cluster.meta import MetaState, TableInfo


def record(status: str) -> dict:
    return {"arn": "arn:b1", "name": "b", "status": status, "created": 1.0, "table": {"name": "t"}}


def test_backup_records_are_created_once_updated_guarded_and_deleted():
    s = MetaState()
    assert s.apply({"op": "put_backup", "record": record("CREATING"), "create": True})["ok"]
    again = s.apply({"op": "put_backup", "record": record("CREATING"), "create": True})
    assert (again["ok"], again["error"]) == (False, "BackupInUseException")
    refused = s.apply({"op": "delete_backup", "arn": "arn:b1"})
    assert refused["error"] == "BackupInUseException"  # still being created
    stale = s.apply({"op": "put_backup", "record": record("AVAILABLE"), "expect_status": "AVAILABLE"})
    assert not stale["ok"] and stale["error"] == ""
    assert s.apply({"op": "put_backup", "record": record("AVAILABLE"), "expect_status": "CREATING"})["ok"]
    assert MetaState.from_json(s.to_json()).backups == {"arn:b1": record("AVAILABLE")}
    gone = s.apply({"op": "delete_backup", "arn": "arn:b1"})
    assert gone["ok"] and gone["replaced"]["status"] == "AVAILABLE" and s.backups == {}
    assert s.apply({"op": "delete_backup", "arn": "arn:b1"})["error"] == "BackupNotFoundException"
    missing = s.apply({"op": "put_backup", "record": record("AVAILABLE")})
    assert missing["error"] == "BackupNotFoundException"


def test_a_creator_may_withdraw_its_backup():
    s = MetaState()
    s.apply({"op": "put_backup", "record": record("CREATING"), "create": True})
    assert s.apply({"op": "delete_backup", "arn": "arn:b1", "withdraw": True})["ok"] and s.backups == {}


def test_load_done_clears_loading_and_ends_the_restore():
    s = MetaState()
    spec = {"Loading": True, "RestoreSummary": {"RestoreInProgress": True, "SourceTableArn": "a"}}
    s.tables["t"] = TableInfo("t", 1, "u1", "CREATING", 0.0, spec, [])
    assert not s.apply({"op": "load_done", "name": "t", "uuid": "other"})["ok"]
    assert s.apply({"op": "load_done", "name": "t", "uuid": "u1"})["ok"]
    assert s.tables["t"].spec == {"RestoreSummary": {"RestoreInProgress": False, "SourceTableArn": "a"}}
    assert not s.apply({"op": "load_done", "name": "t", "uuid": "u1"})["ok"]  # once


def test_a_lease_is_taken_over_once():
    s = MetaState()
    s.apply({"op": "put_backup", "record": {**record("CREATING"), "lease": 5.0}, "create": True})
    first = s.apply({"op": "put_backup", "record": {**record("CREATING"), "lease": 50.0},
                     "expect_status": "CREATING", "expect_lease": 5.0})
    second = s.apply({"op": "put_backup", "record": {**record("CREATING"), "lease": 60.0},
                      "expect_status": "CREATING", "expect_lease": 5.0})
    assert first["ok"] and not second["ok"] and s.backups["arn:b1"]["lease"] == 50.0


def test_a_restores_lease_is_renewed_or_taken_over_once():
    """Two routers that both saw a restore's lease run out: one takes it over."""
    s = MetaState()
    loading = {"kind": "backup", "arn": "arn:b1", "lease": 5.0}
    s.tables["t"] = TableInfo("t", 1, "u1", "CREATING", 0.0, {"Loading": loading}, [])
    assert not s.apply({"op": "load_lease", "name": "t", "uuid": "other", "lease": 50.0, "expect": 5.0})["ok"]
    first = s.apply({"op": "load_lease", "name": "t", "uuid": "u1", "lease": 50.0, "expect": 5.0})
    second = s.apply({"op": "load_lease", "name": "t", "uuid": "u1", "lease": 60.0, "expect": 5.0})
    assert first["ok"] and not second["ok"]
    assert s.tables["t"].spec["Loading"] == {**loading, "lease": 50.0}
    assert s.apply({"op": "load_done", "name": "t", "uuid": "u1"})["ok"] and "Loading" not in s.tables["t"].spec
    assert not s.apply({"op": "load_lease", "name": "t", "uuid": "u1", "lease": 70.0, "expect": 50.0})["ok"]
