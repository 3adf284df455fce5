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


def test_expect_guards_against_a_concurrent_change():
    s = _state()
    creating = [{"region": "eu-west-1", "status": "CREATING"}]
    assert s.apply({"op": "set_table_replicas", "name": "t1", "replicas": creating, "global_version": "2019.11.21",
                    "expect": []})["ok"]
    r = s.apply({"op": "set_table_replicas", "name": "t1", "replicas": [], "expect": []})
    assert r["ok"] is False and r["error"] == "ResourceInUseException"
    assert s.tables["t1"].replicas == creating


def test_a_replica_keeps_its_description_and_read_override_only():
    s = _state()
    s.apply({"op": "set_table_replicas", "name": "t1", "global_version": "2019.11.21", "replicas": [
        {"region": "eu-west-1", "status": "CREATION_FAILED", "description": "why", "read_override": 5, "x": 1}]})
    assert s.tables["t1"].replicas == [{"region": "eu-west-1", "status": "CREATION_FAILED", "description": "why",
                                        "read_override": 5}]


def test_a_legacy_global_table_may_be_a_group_of_one_region():
    s = _state()
    s.apply({"op": "set_table_replicas", "name": "t1", "replicas": [], "global_version": "2017.11.29"})
    assert s.tables["t1"].global_version == "2017.11.29"
    s.apply({"op": "set_table_replicas", "name": "t1", "replicas": [], "global_version": None})
    assert s.tables["t1"].global_version is None


def test_a_new_replica_turns_active_once_every_partition_finished_its_backfill():
    s = MetaState.bootstrap([{"id": "n1", "addr": "a:1", "az": "z1"}])
    spec = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
    s.apply({"op": "create_table", "name": "t1", "uuid": "u", "now": 1.0, "spec": spec,
             "placements": [["n1"], ["n1"]]})
    p1, p2 = s.tables["t1"].partitions
    s.apply({"op": "set_table_replicas", "name": "t1", "global_version": "2019.11.21", "replicas": [
        {"region": "eu-west-1", "status": "CREATING", "read_override": 5},
        {"region": "ap-south-1", "status": "ACTIVE"}]})

    def done(group: str, region: str = "eu-west-1") -> dict:
        return s.apply({"op": "replica_backfilled", "name": "t1", "region": region, "group": group})
    # (Another region's list, as it told it, may name its own partitions: they do not count here.)
    s.tables["t1"].replicas[0] = {**s.tables["t1"].replicas[0], "backfilled": ["theirs1", "theirs2"]}
    assert done(p1) == {"ok": True, "status": "CREATING"}
    assert s.tables["t1"].replica("eu-west-1") == {"region": "eu-west-1", "status": "CREATING", "read_override": 5,
                                                   "backfilled": [p1], "progress": 50}
    assert MetaState.from_json(s.to_json()).tables["t1"].replica("eu-west-1")["progress"] == 50
    assert not done(p1)["ok"] and not done("other")["ok"] and not done(p1, "ap-south-1")["ok"]  # told twice, ...
    assert done(p2) == {"ok": True, "status": "ACTIVE"}
    assert s.tables["t1"].replicas == [{"region": "eu-west-1", "status": "ACTIVE", "read_override": 5},
                                       {"region": "ap-south-1", "status": "ACTIVE"}]
    assert not done(p1)["ok"]  # ACTIVE stays ACTIVE


def test_a_global_tables_stream_cannot_be_disabled():
    s = _state()
    s.tables["t1"].status = "ACTIVE"
    assert s.apply({"op": "update_stream", "name": "t1", "enabled": True, "view": "NEW_AND_OLD_IMAGES",
                    "now": 2.0})["ok"]
    s.tables["t1"].status = "ACTIVE"
    s.apply({"op": "set_table_replicas", "name": "t1", "global_version": "2019.11.21",
             "replicas": [{"region": "eu-west-1", "status": "ACTIVE"}]})
    r = s.apply({"op": "update_stream", "name": "t1", "enabled": False, "now": 3.0})
    assert (r["ok"], r["error"]) == (False, "ValidationException")
    assert r["message"] == ("One or more parameter values were invalid: Disabling Stream is not allowed for a "
                            "Global Table replica.")
    assert s.tables["t1"].enabled_stream() is not None
    s.apply({"op": "set_table_replicas", "name": "t1", "replicas": []})  # regional again: it may
    s.tables["t1"].status = "ACTIVE"
    assert s.apply({"op": "update_stream", "name": "t1", "enabled": False, "now": 4.0})["ok"]


def test_make_strong_moves_the_table_onto_the_shared_groups():
    s = _state()
    assert s.apply({"op": "set_table_status", "name": "t1", "status": "ACTIVE", "expect": "CREATING"})["ok"]
    old = list(s.tables["t1"].partitions)
    voters = ["us-east-1/n1", "eu-west-1/n2", "ap-southeast-1/n3"]
    parts = [{"lo": 0, "hi": 99, "voters": voters}, {"lo": 100, "hi": 2**64 - 1, "voters": voters}]
    r = s.apply({"op": "make_strong", "name": "t1", "table_id": 3 << 30, "partitions": parts,
                 "replicas": ["eu-west-1", "ap-southeast-1"], "witness": ""})
    assert r["ok"]
    t = s.tables["t1"]
    assert (t.id, t.consistency, t.global_version) == (3 << 30, "STRONG", "2019.11.21")
    assert not set(old) & set(s.partitions) and len(t.partitions) == 2
    assert all(s.partitions[p].cross_region and s.partitions[p].voters == voters for p in t.partitions)
    assert [x["region"] for x in t.replicas] == ["eu-west-1", "ap-southeast-1"]
    again = MetaState.from_json(s.to_json())
    assert again.tables["t1"].consistency == "STRONG" and again.partitions[t.partitions[0]].cross_region
    # Once STRONG, a second conversion is refused; another region's new copy (with a spec) is created as is.
    assert s.apply({"op": "make_strong", "name": "t1", "table_id": 3 << 30, "partitions": parts,
                    "replicas": []})["error"] == "ResourceInUseException"
    w = _state()
    r = w.apply({"op": "make_strong", "name": "trireme#witness#t1", "spec": {"System": "witness"}, "uuid": "u",
                 "now": 2.0, "table_id": 3 << 30, "partitions": parts, "replicas": ["us-east-1", "eu-west-1"],
                 "witness": "ap-southeast-1"})
    assert r["ok"] and w.tables["trireme#witness#t1"].status == "CREATING"
    assert all(w.partitions[p].witness == "ap-southeast-1" for p in w.tables["trireme#witness#t1"].partitions)
    # A taken id is refused.
    assert w.apply({"op": "make_strong", "name": "t2", "spec": {}, "uuid": "v", "now": 3.0, "table_id": 3 << 30,
                    "partitions": parts, "replicas": []})["error"] == "ResourceInUseException"


def test_make_strong_gives_the_global_indexes_the_shared_ids_on_partitions_of_this_region():
    s = MetaState.bootstrap([{"id": "n1", "addr": "a:1", "az": "z1"}])
    spec = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
    assert s.apply({"op": "create_table", "name": "t1", "uuid": "u", "now": 1.0, "spec": spec,
                    "placements": [["n1"]], "indexes": [{"name": "t1#g", "spec": {"IndexOf": "t1"},
                                                         "placements": [["n1"]]}]})["ok"]
    for name in ("t1#g", "t1"):
        s.tables[name].status = "ACTIVE"
    old = list(s.tables["t1#g"].partitions)
    next_id = s.next_table_id
    voters = ["us-east-1/n1", "eu-west-1/n2", "ap-southeast-1/n3"]
    r = s.apply({"op": "make_strong", "name": "t1", "table_id": 3 << 30, "replicas": ["eu-west-1"], "witness": "",
                 "partitions": [{"lo": 0, "hi": 2**64 - 1, "voters": voters}],
                 "indexes": [{"name": "t1#g", "id": (3 << 30) + 7, "spec": {"IndexOf": "t1", "Backfill": False},
                              "placements": [["n1"]]}]})
    assert r["ok"]
    ix = s.tables["t1#g"]
    assert (ix.id, ix.status, ix.spec["Backfill"]) == ((3 << 30) + 7, "ACTIVE", False)
    assert not set(old) & set(s.partitions)  # the old index partitions are gone
    assert [s.partitions[p].voters for p in ix.partitions] == [["n1"]]  # region-local, not cross-region
    assert s.next_table_id == next_id  # a shared id is not one of this region's
    # Another region's copy is created with its indexes (CREATING with it); a taken index id is refused.
    w = MetaState.bootstrap([{"id": "n2", "addr": "b:1", "az": "z1"}])
    body = {"op": "make_strong", "name": "t1", "spec": spec, "uuid": "u", "now": 2.0, "table_id": 3 << 30,
            "partitions": [{"lo": 0, "hi": 2**64 - 1, "voters": voters}], "replicas": ["us-east-1"],
            "indexes": [{"name": "t1#g", "id": (3 << 30) + 7, "spec": {"IndexOf": "t1"}, "placements": [["n2"]]}]}
    assert w.apply(body)["ok"] and w.tables["t1#g"].status == "CREATING" and w.index_tables("t1")
    taken = MetaState.bootstrap([{"id": "n2", "addr": "b:1", "az": "z1"}])
    assert taken.apply({"op": "create_table", "name": "x", "uuid": "v", "now": 1.0, "spec": spec,
                        "placements": [["n2"]]})["ok"]
    assert taken.apply({**body, "indexes": [{**body["indexes"][0], "id": taken.tables["x"].id}]})["error"] \
        == "ResourceInUseException"
