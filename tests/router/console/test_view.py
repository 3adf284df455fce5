"""The console's picture of the cluster and its timeline (router/console/view.py)."""

from __future__ import annotations

from router.console.view import changes, snapshot

META = {
    "version": 7,
    "nodes": {n: {"id": n, "addr": f"127.0.0.1:{i}", "az": f"az{i}", "state": "up"}
              for i, n in enumerate(("n1", "n2", "n3"), 1)},
    "tables": {"Music": {"name": "Music", "id": 1, "status": "ACTIVE", "partitions": ["t1.p0"],
                         "spec": {"BillingMode": "PAY_PER_REQUEST"}, "item_count": 2, "size_bytes": 90},
               "_sys": {"name": "_sys", "id": 2, "status": "ACTIVE", "partitions": [], "spec": {"System": True}}},
    "partitions": {"t1.p0": {"id": "t1.p0", "table_id": 1, "lo": 0, "hi": 2 ** 64 - 1, "voters": ["n1", "n2", "n3"],
                             "learners": [], "epoch": 1}},
}


def replica(role: str, term: int = 2, last: int = 10, applied: int = 10, match: dict | None = None) -> dict:
    return {"group": "t1.p0", "role": role, "term": term, "commit": applied, "applied": applied,
            "last_index": last, "match": match or {}}


def answers(leader: str = "n1", term: int = 2, down: tuple[str, ...] = ()) -> dict:
    out = {}
    for n in ("n1", "n2", "n3"):
        if n in down:
            out[n] = {"error": "UNAVAILABLE: connection refused"}
            continue
        r = {**replica("LEADER", term, match={"n2": 10, "n3": 7}), "checkpoints": {"m1": 6}} if n == leader \
            else replica("FOLLOWER", term)
        out[n] = {"health": {"uptime_s": 5.0}, "replicas": {"replicas": [r]},
                  "faults": {"drop_to": ["n9"] if n == "n3" else [], "drop_from": [], "loss": 0.0, "delay_ms": 0.0,
                             "jitter_ms": 0.0, "clock_rate": 1.0, "txn_crash_at": ""}}
    return out


def test_snapshot_shows_leaders_lag_faults_and_unreachable_nodes():
    s = snapshot(META, answers(down=("n2",)), "us-east-1", 100.0)
    p = s["partitions"][0]
    assert (p["table"], p["leader"], p["term"], p["commit"]) == ("Music", "n1", 2, 10)
    assert p["triggers"] == {"m1": [6, 4]}  # mapping m1 resumes after index 6; the leader applied 10
    by_node = {r["node"]: r for r in p["replicas"]}
    assert by_node["n1"]["lag"] == 0 and by_node["n3"]["lag"] == 3  # leader's last index 10, n3 matched 7
    assert by_node["n2"] == {"node": "n2", "voter": True, "up": False}
    nodes = {n["id"]: n for n in s["nodes"]}
    assert not nodes["n2"]["reachable"] and "connection refused" in nodes["n2"]["error"]
    assert nodes["n3"]["faults"] == {"drop_to": ["n9"]} and nodes["n1"]["faults"] == {}
    assert [t["name"] for t in s["tables"]] == ["Music"]  # system tables are not shown
    assert s["replication"] == []


def test_replication_lag_is_the_largest_over_the_partitions_leaders():
    got = answers()
    got["n1"]["replication"] = {"replication": [{"table": "Music", "region": "eu-west-1", "lag_ms": 40.0}]}
    got["n3"]["replication"] = {"replication": [{"table": "Music", "region": "eu-west-1", "lag_ms": 250.0},
                                                {"table": "Music", "region": "ap-south-1", "lag_ms": 0.0}]}
    assert snapshot(META, got, "us-east-1", 1.0)["replication"] == [
        {"table": "Music", "region": "ap-south-1", "lag_ms": 0.0},
        {"table": "Music", "region": "eu-west-1", "lag_ms": 250.0}]


def test_the_timeline_sees_a_failover():
    before = snapshot(META, answers("n1", 2), "r", 1.0)
    dead = snapshot(META, answers("n1", 2, down=("n1",)), "r", 2.0)
    after = snapshot(META, answers("n2", 3, down=("n1",)), "r", 3.0)
    assert changes(None, before) == []
    texts = [e["text"] for e in changes(before, dead)]
    assert any("n1 stopped answering" in t for t in texts)
    assert "t1.p0: no leader (was n1); election under way" in texts
    assert [e["text"] for e in changes(dead, after)] == ["t1.p0: n2 leads at term 3"]
    assert [e["kind"] for e in changes(before, after)] == ["node", "leader"]
    assert changes(after, after) == []


def test_the_timeline_sees_re_elections_membership_and_splits():
    before = snapshot(META, answers("n1", 2), "r", 1.0)
    assert [e["text"] for e in changes(before, snapshot(META, answers("n1", 4), "r", 2.0))] == [
        "t1.p0: n1 re-elected at term 4"]
    moved = {**META, "partitions": {"t1.p0": {**META["partitions"]["t1.p0"], "voters": ["n1", "n2"],
                                              "learners": ["n4"]},
                                    "t1.p1": {"id": "t1.p1", "table_id": 1, "lo": 2 ** 63, "hi": 2 ** 64 - 1,
                                              "voters": ["n1", "n2", "n3"], "learners": [], "parent": "t1.p0"}}}
    events = changes(before, snapshot(moved, answers("n1", 2), "r", 2.0))
    kinds = {e["kind"]: e["text"] for e in events}
    assert kinds["membership"] == "t1.p0 members n1,n2,n3 -> n1,n2 + learners n4"
    assert kinds["split"].startswith("partition t1.p1 of Music created (split from t1.p0)")


def test_the_timeline_sees_faults_set_and_healed():
    before = snapshot(META, answers(), "r", 1.0)  # n3 drops to n9 already
    cut = answers()
    cut["n1"]["faults"] = {**cut["n1"]["faults"], "drop_to": ["n2"], "delay_ms": 50.0}
    cut["n3"]["faults"] = {**cut["n3"]["faults"], "drop_to": []}
    texts = [e["text"] for e in changes(before, snapshot(META, cut, "r", 2.0)) if e["kind"] == "fault"]
    assert texts == ["node n1 delay_ms 50.0, drop_to n2", "node n3 healed"]
