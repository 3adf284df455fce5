"""The replica actions when a region fails them: taken back, or marked
CREATION_FAILED when the outcome there is unknown, never half-applied.

Each region here is the real metadata state machine (cluster/meta.py) behind
the real operations of router/global_tables.py; only the network between
regions is simulated, so that a region can fail at a chosen call (the
three-region integration test covers the answers of real clusters)."""

from __future__ import annotations

import asyncio
from typing import Callable

import pytest

from cluster.meta import MetaState, TableInfo
from ddb import global_tables as gt
from ddb.errors import (DynamoDBError, InternalServerError, ResourceInUseException, ResourceNotFoundException,
                        ValidationException, from_wire)
from router import global_settings, global_table_legacy, global_tables, region_calls, ttl
from router.region_calls import RegionUnreachable

EAST, WEST, SOUTH = "us-east-1", "eu-west-1", "ap-south-1"
SPEC = {"TableName": "tbl", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}


class Metadata:
    """A region's metadata: the state machine, with what the meta leader adds
    to a call (placements, times) and what its controller does at once
    (a new table, or one whose stream changed, becomes ACTIVE)."""

    def __init__(self) -> None:
        self.state = MetaState.bootstrap([{"id": "n1", "addr": "a:1", "az": "z1"}])

    async def meta(self, op: str, body: dict) -> dict:
        extra = {"create_table": {"uuid": "u", "now": 1.0, "placements": [["n1"]]},
                 "update_stream": {"now": 2.0}, "update_ttl": {"now_ms": 3000, "cooldown_ms": 0}}.get(op, {})
        result = self.state.apply({"op": op, **body, **extra})
        if not result.get("ok"):
            raise from_wire({"__type": result["error"], "message": result["message"]})
        if op in ("create_table", "update_stream"):
            self.state.apply({"op": "set_table_status", "name": body["name"], "status": "ACTIVE"})
        if op == "delete_table":
            self.state.apply({"op": "drop_table", "name": body["name"]})
        return result

    async def wait_for(self, predicate, timeout: float) -> bool:
        return predicate(self.state)


class Region:
    """What router/global_tables.py needs of a router (router.api.Api)."""

    def __init__(self, name: str, network: Network) -> None:
        self.region = name
        self.cluster = Metadata()
        self.remote_regions = {r: f"http://{r}" for r in (EAST, WEST, SOUTH) if r != name}
        network.regions[name] = self

    def table(self, name: str, *, any_status: bool = False) -> TableInfo:
        t = self.cluster.state.tables.get(name)
        if t is None:
            raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
        return t

    async def describe(self, t: TableInfo) -> dict:
        stream = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": t.enabled_stream()["view"]}} \
            if t.enabled_stream() else {}
        return {"TableName": t.name, "KeySchema": t.spec["KeySchema"],
                "AttributeDefinitions": t.spec["AttributeDefinitions"], **stream,
                **gt.table_fields(t.status, t.replicas, t.global_version)}

    def operations(self) -> dict:
        async def describe_table(body: dict) -> dict:
            return {"Table": await self.describe(self.table(body["TableName"]))}
        async def scan(body: dict) -> dict:  # the tables here hold no items
            self.table(body["TableName"])
            return {"Count": 0, "Items": []}
        return {"DescribeTable": describe_table, "Scan": scan,
                "UpdateTimeToLive": lambda body: global_settings.synced(
                    self, "UpdateTimeToLive", body, lambda b: ttl.update_time_to_live(self, b))}

    def create(self, name: str = "tbl", **spec) -> None:
        asyncio.run(self.cluster.meta("create_table", {"name": name, "spec": {**SPEC, **spec}}))

    def replicas(self, name: str = "tbl") -> list[tuple[str, str]]:
        return sorted((r["region"], r["status"]) for r in self.table(name).replicas)


class Network:
    """Delivers region_calls.call to the region named, unless it is cut:
    ``down``: refused (never sent); per region, targets (e.g.
    "TriremeReplication_1.CreateReplica") ``silent``: applied there but never
    answered, ``lost``: sent but neither applied nor answered."""

    def __init__(self) -> None:
        self.regions: dict[str, Region] = {}
        self.down: set[str] = set()
        self.silent: dict[str, set[str]] = {}
        self.lost: dict[str, set[str]] = {}
        self.watch: Callable[[str, str], None] = lambda region, target: None  # sees each call before it goes

    async def call(self, region: str, url: str, target: str, body: dict, timeout: float) -> dict:
        self.watch(region, target)
        if region in self.down:
            raise RegionUnreachable(region, "connection refused", sent=False)
        if target in self.lost.get(region, set()):
            raise RegionUnreachable(region, "timed out")
        to = self.regions[region]
        prefix, _, op = target.partition(".")
        ops = {**global_tables.internal_operations(to), **global_settings.internal_operations(to)} \
            if prefix + "." == region_calls.REPLICATION else to.operations()
        answer = await ops[op](body)
        if target in self.silent.get(region, set()):
            raise RegionUnreachable(region, "timed out")  # applied there, but no answer came back
        return answer


@pytest.fixture
def net(monkeypatch) -> Network:
    network = Network()
    monkeypatch.setattr(region_calls, "call", network.call)
    for name in (EAST, WEST, SOUTH):
        Region(name, network)
    return network


def update(region: Region, kind: str, target: str, backfill: bool = True) -> dict:
    """A replica action; a created replica's backfill then done (``backfill``)."""
    out = asyncio.run(global_tables.update_replicas(region, {"TableName": "tbl", "ReplicaUpdates": [
        {kind: {"RegionName": target}}]}, region.table("tbl")))
    if kind == "Create" and backfill:
        backfilled(region, target)
    return out


def backfilled(region: Region, target: str) -> None:
    """What the region's partition leaders do once they sent the new replica every item."""
    for group in region.table("tbl").partitions:
        asyncio.run(region.cluster.meta("replica_backfilled", {"name": "tbl", "region": target, "group": group}))
    asyncio.run(global_tables.announce_active(region, "tbl", target))


def test_create_and_delete_keep_every_member_in_step(net):
    east, west, south = (net.regions[r] for r in (EAST, WEST, SOUTH))
    east.create()
    update(east, "Create", WEST)
    update(east, "Create", SOUTH)
    assert east.replicas() == [(SOUTH, "ACTIVE"), (WEST, "ACTIVE")]
    assert west.replicas() == [(SOUTH, "ACTIVE"), (EAST, "ACTIVE")]
    assert south.replicas() == [(WEST, "ACTIVE"), (EAST, "ACTIVE")]
    assert east.table("tbl").enabled_stream()["view"] == "NEW_AND_OLD_IMAGES"
    assert south.table("tbl").enabled_stream()["view"] == "NEW_AND_OLD_IMAGES"
    update(west, "Delete", EAST)
    assert "tbl" not in east.cluster.state.tables
    assert west.replicas() == [(SOUTH, "ACTIVE")] and south.replicas() == [(WEST, "ACTIVE")]


def test_a_replica_is_creating_until_its_region_confirms_and_its_backfill_is_done(net):
    east, west = net.regions[EAST], net.regions[WEST]
    east.create()
    seen = []
    net.watch = lambda region, target: seen.append(
        (target, east.replicas(),
         gt.table_status(east.table("tbl").status, east.table("tbl").replicas)))
    out = update(east, "Create", WEST, backfill=False)
    assert (f"{region_calls.REPLICATION}CreateReplica", [(WEST, "CREATING")], "UPDATING") in seen
    # Created there, but CREATING until this region's partitions have backfilled it.
    assert out["TableDescription"]["Replicas"] == [{"RegionName": WEST, "ReplicaStatus": "CREATING",
                                                    "ReplicaStatusPercentProgress": "0"}]
    assert out["TableDescription"]["TableStatus"] == "UPDATING"
    assert west.replicas() == [(EAST, "ACTIVE")]
    with pytest.raises(ResourceInUseException):  # no other replica action meanwhile
        update(east, "Create", SOUTH)
    backfilled(east, WEST)
    assert east.replicas() == [(WEST, "ACTIVE")] and gt.table_status(east.table("tbl").status, []) == "ACTIVE"
    seen.clear()
    update(east, "Delete", WEST)
    assert (f"{region_calls.REPLICATION}DeleteReplica", [(WEST, "DELETING")], "UPDATING") in seen


def test_an_unanswered_creation_that_cannot_be_taken_back_is_marked_creation_failed(net):
    east, west = net.regions[EAST], net.regions[WEST]
    east.create()
    net.silent[WEST] = {"TriremeReplication_1.CreateReplica", "TriremeReplication_1.DeleteReplica"}
    with pytest.raises(InternalServerError, match="CREATION_FAILED"):
        update(east, "Create", WEST)
    assert east.replicas() == [(WEST, "CREATION_FAILED")]
    assert "timed out" in east.table("tbl").replica(WEST)["description"]
    assert "tbl" not in west.cluster.state.tables  # the DeleteReplica that got no answer did delete it there
    net.silent.clear()
    update(east, "Create", WEST)  # a failed creation may be retried
    assert east.replicas() == [(WEST, "ACTIVE")] and west.replicas() == [(EAST, "ACTIVE")]


def test_a_retried_creation_first_deletes_what_the_failed_one_left(net):
    east, west = net.regions[EAST], net.regions[WEST]
    east.create()
    net.silent[WEST] = {"TriremeReplication_1.CreateReplica"}
    net.lost[WEST] = {"TriremeReplication_1.DeleteReplica"}
    with pytest.raises(InternalServerError, match="CREATION_FAILED"):
        update(east, "Create", WEST)
    assert west.replicas() == [(EAST, "ACTIVE")]  # the table the failed creation left there
    net.silent.clear()
    net.lost.clear()
    update(east, "Create", WEST)
    assert east.replicas() == [(WEST, "ACTIVE")] and west.replicas() == [(EAST, "ACTIVE")]


def test_an_unanswered_creation_is_taken_back_when_the_region_answers_the_deletion(net):
    east, west = net.regions[EAST], net.regions[WEST]
    east.create()
    net.silent[WEST] = {"TriremeReplication_1.CreateReplica"}
    with pytest.raises(InternalServerError, match="was not created"):
        update(east, "Create", WEST)
    assert east.replicas() == [] and east.table("tbl").global_version is None
    assert "tbl" not in west.cluster.state.tables


def test_a_refused_creation_changes_nothing_anywhere(net):
    east, west, south = (net.regions[r] for r in (EAST, WEST, SOUTH))
    east.create()
    update(east, "Create", WEST)
    south.create()  # a table of that name there already: CreateReplica is refused
    with pytest.raises(ValidationException, match="already existed as tables"):
        update(east, "Create", SOUTH)
    assert east.replicas() == [(WEST, "ACTIVE")] and west.replicas() == [(EAST, "ACTIVE")]
    assert south.replicas() == []
    net.down.add(SOUTH)
    with pytest.raises(InternalServerError, match="cannot be reached"):
        update(east, "Create", SOUTH)
    assert east.replicas() == [(WEST, "ACTIVE")] and west.replicas() == [(EAST, "ACTIVE")]


def test_a_member_that_cannot_be_told_undoes_the_creation(net):
    east, west, south = (net.regions[r] for r in (EAST, WEST, SOUTH))
    east.create()
    update(east, "Create", WEST)
    net.silent[WEST] = {"TriremeReplication_1.SetReplicas"}  # told, but no answer: taken back
    with pytest.raises(InternalServerError):
        update(east, "Create", SOUTH)
    net.silent.clear()
    assert east.replicas() == [(WEST, "ACTIVE")] and west.replicas() == [(EAST, "ACTIVE")]
    assert "tbl" not in south.cluster.state.tables


def test_a_deletion_the_region_does_not_answer_is_taken_back(net):
    east, west = net.regions[EAST], net.regions[WEST]
    east.create()
    update(east, "Create", WEST)
    net.down.add(WEST)
    with pytest.raises(InternalServerError, match="was not deleted"):
        update(east, "Delete", WEST)
    assert east.replicas() == [(WEST, "ACTIVE")]
    net.down.clear()
    net.silent[WEST] = {"TriremeReplication_1.DeleteReplica"}  # deleted there, answer lost
    with pytest.raises(InternalServerError):
        update(east, "Delete", WEST)
    net.silent.clear()
    update(east, "Delete", WEST)  # the retry finds it gone: done
    assert east.replicas() == [] and "tbl" not in west.cluster.state.tables


def test_deleting_a_replica_table_needs_every_member_told(net):
    east, west, south = (net.regions[r] for r in (EAST, WEST, SOUTH))
    east.create()
    update(east, "Create", WEST)
    update(east, "Create", SOUTH)
    net.down.add(SOUTH)
    with pytest.raises(InternalServerError, match="must drop it"):
        asyncio.run(global_tables.leave(east, east.table("tbl")))
    assert west.replicas() == [(SOUTH, "ACTIVE"), (EAST, "ACTIVE")]  # told, then restored
    net.down.clear()
    asyncio.run(global_tables.leave(east, east.table("tbl")))
    assert west.replicas() == [(SOUTH, "ACTIVE")] and south.replicas() == [(WEST, "ACTIVE")]


def test_errors_answered_by_a_region_keep_their_type(net):
    east = net.regions[EAST]
    east.create()
    with pytest.raises(DynamoDBError) as e:
        asyncio.run(global_tables.remote(east, WEST, "DeleteReplica", {"TableName": "tbl", "SourceRegion": EAST}))
    assert isinstance(e.value, ResourceNotFoundException)


def test_a_legacy_group_change_a_member_does_not_answer_is_undone_everywhere(net):
    regions = [net.regions[r] for r in (EAST, WEST, SOUTH)]
    for r in regions:
        r.create(StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    net.silent[SOUTH] = {"TriremeReplication_1.SetReplicas"}  # applied there, no answer
    with pytest.raises(InternalServerError, match=SOUTH):
        asyncio.run(global_table_legacy.create_global_table(regions[0], {
            "GlobalTableName": "tbl", "ReplicationGroup": [{"RegionName": r} for r in (EAST, WEST, SOUTH)]}))
    for r in regions:
        assert r.replicas() == [] and r.table("tbl").global_version is None
    net.silent.clear()
    asyncio.run(global_table_legacy.create_global_table(regions[0], {
        "GlobalTableName": "tbl", "ReplicationGroup": [{"RegionName": r} for r in (EAST, WEST, SOUTH)]}))
    assert [r.table("tbl").global_version for r in regions] == [gt.LEGACY] * 3
    assert regions[2].replicas() == [(WEST, "ACTIVE"), (EAST, "ACTIVE")]


def test_a_legacy_member_whose_table_is_gone_can_be_removed(net):
    east, west = net.regions[EAST], net.regions[WEST]
    for r in (east, west):
        r.create(StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    group = {"GlobalTableName": "tbl", "ReplicationGroup": [{"RegionName": EAST}, {"RegionName": WEST}]}
    asyncio.run(global_table_legacy.create_global_table(east, group))
    asyncio.run(west.cluster.meta("delete_table", {"name": "tbl"}))
    out = asyncio.run(global_table_legacy.update_global_table(east, {"GlobalTableName": "tbl", "ReplicaUpdates": [
        {"Delete": {"RegionName": WEST}}]}))
    assert out["GlobalTableDescription"]["ReplicationGroup"] == [{"RegionName": EAST}]
    assert east.replicas() == [] and east.table("tbl").global_version == gt.LEGACY


def test_a_synced_setting_a_region_misses_fails_the_call_and_a_repeat_there_completes_it(net):
    east, west, south = (net.regions[r] for r in (EAST, WEST, SOUTH))
    east.create()
    update(east, "Create", WEST)
    update(east, "Create", SOUTH)
    enable = {"TableName": "tbl", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}}
    seen = []
    net.watch = lambda region, target: seen.append((region, target))
    net.down.add(SOUTH)
    with pytest.raises(InternalServerError, match=f"made to the replicas in {EAST}, {WEST} but not to the "
                                                  f"replica in region {SOUTH}"):
        asyncio.run(east.operations()["UpdateTimeToLive"](enable))
    assert [r.table("tbl").ttl_state().enabled for r in (east, west, south)] == [True, True, False]
    assert seen == [(WEST, "TriremeReplication_1.SyncSettings"), (SOUTH, "TriremeReplication_1.SyncSettings")]
    net.down.clear()
    seen.clear()
    asyncio.run(south.operations()["UpdateTimeToLive"](enable))  # the repeat there: the others have it already
    assert [r.table("tbl").ttl_state().enabled for r in (east, west, south)] == [True, True, True]
    assert sorted(seen) == [(WEST, "TriremeReplication_1.SyncSettings"), (EAST, "TriremeReplication_1.SyncSettings")]
