"""Global tables: UpdateTable's ReplicaUpdates (version 2019.11.21),
DescribeTableReplicaAutoScaling, the internal operations other regions'
routers call (``TriremeReplication_1.*``), and the calls to other regions
that the legacy operations (router/global_table_legacy.py) share.

The region where a replica action is asked for runs it: it marks the replica
in its own metadata (CREATING, DELETING), tells the other members, has the
target region create or delete its table through that region's router, and
then settles every member's list. A new replica stays CREATING until this
region's partitions have sent it every item (the backfill,
node/feed/replicator.py; the metadata turns it ACTIVE when the last
partition reports): then the router that created it tells the other members
(``announce_active``; a third region's own partitions backfill the new
replica too, and its metadata settles the same way without being told).
A region that does not answer makes the action fail, undone where it can
be, and otherwise marked on the replica (CREATION_FAILED, with the reason):
never half-applied silently. Validation
and shapes are pure, in ddb/global_tables.py.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any, Awaitable, Callable, Protocol

import orjson

from cluster.meta import TableInfo, hidden
from cluster.partitions import Cluster
from ddb import global_tables as gt
from ddb.errors import (DynamoDBError, InternalServerError, ResourceInUseException, ResourceNotFoundException,
                        ServiceUnavailable, ValidationException)
from ddb.keys import validate_table_name
from router import region_calls
from router.region_calls import RegionUnreachable

log = logging.getLogger(__name__)

WAIT_S = 5.0  # for this router's metadata to show a change it made
CREATE_WAIT_S = 15.0  # for a new replica table to become ACTIVE in its region
BACKFILL_WAIT_S = 24 * 3600.0  # for this region's partitions to backfill a new replica
REMOTE_TIMEOUT_S = 30.0
STREAM_VIEW = "NEW_AND_OLD_IMAGES"


class Regions(Protocol):
    """What these operations need of router.api.Api."""

    cluster: Cluster
    region: str
    remote_regions: dict[str, str]

    def table(self, name: str, *, any_status: bool = False) -> TableInfo: ...

    async def describe(self, t: TableInfo) -> dict: ...

    def operations(self) -> dict[str, Callable[[dict], Awaitable[Any]]]: ...


# --- calls to other regions and to this region's metadata ----------------------------


async def remote(api: Regions, region: str, op: str, body: dict, *, internal: bool = True) -> dict:
    """An operation of another region's router: an internal one (TriremeReplication_1.) or DynamoDB's."""
    url = api.remote_regions.get(region)
    if url is None:
        raise ValidationException(gt.unknown_region(region, list(api.remote_regions)))
    target = (region_calls.REPLICATION if internal else region_calls.DYNAMODB) + op
    return await region_calls.call(region, url, target, body, REMOTE_TIMEOUT_S)


async def call_region(api: Regions, region: str, op: str, body: dict) -> dict:
    """A DynamoDB operation in ``region``: this router's own, or another region's router."""
    if region == api.region:
        out = await api.operations()[op](body)
        return orjson.loads(out) if isinstance(out, bytes) else out
    return await remote(api, region, op, body, internal=False)


async def set_local(api: Regions, name: str, replicas: list[dict], version: str | None,
                    expect: list[dict] | None = None) -> TableInfo:
    """This region's list of a table's other replicas, set as a whole (and
    seen by this router's metadata before it answers)."""
    args: dict[str, Any] = {"name": name, "replicas": replicas, "global_version": version}
    if expect is not None:
        args["expect"] = expect
    result = await api.cluster.meta("set_table_replicas", args)
    want = result["table"]["replicas"], result["table"]["global_version"]
    await api.cluster.wait_for(lambda s: name in s.tables and (s.tables[name].replicas,
                                                               s.tables[name].global_version) == want, WAIT_S)
    return TableInfo(**result["table"])


async def tell(api: Regions, name: str, replicas: list[dict], version: str | None, regions: list[str]) -> None:
    """Tell other members the table's group as this region sees it
    (``replicas`` plus itself). One that cannot be told keeps the statuses
    it had (a replica it lists as CREATING or DELETING shows it)."""
    members = gt.group(api.region, replicas)
    for region in regions:
        try:
            await remote(api, region, "SetReplicas", {"TableName": name, "Group": members, "GlobalVersion": version})
        except (DynamoDBError, RegionUnreachable) as exc:
            log.warning("global table %s: could not tell region %s its replicas: %s", name, region, exc)


def unreachable(what: str, exc: RegionUnreachable) -> InternalServerError:
    return InternalServerError(f"{what}: {exc}. Nothing was changed; retry when the region can be reached.")


# --- UpdateTable ReplicaUpdates ---------------------------------------------------------


async def update_replicas(api: Regions, body: dict, t: TableInfo) -> dict:
    """UpdateTable with ReplicaUpdates: one Create, Update or Delete."""
    action = gt.parse_replica_updates(body, own_region=api.region, known_regions=list(api.remote_regions),
                                      table=t.name, replicas=t.replicas,
                                      billing=t.spec.get("BillingMode", "PROVISIONED"),
                                      global_version=t.global_version)
    gt.check_changeable(t.name, gt.table_status(t.status, t.replicas))
    if action.kind == "Create":
        t = await _create_replica(api, t, action)
    elif action.kind == "Delete":
        t = await _delete_replica(api, t, action.region)
    elif action.read_override:
        t = await _override_read(api, t, action.region, action.read_override)
    return {"TableDescription": await api.describe(t)}


async def _override_read(api: Regions, t: TableInfo, region: str, read: int) -> TableInfo:
    """Update's ProvisionedThroughputOverride: that region's table gets the
    read capacity (first: a region that does not answer changes nothing),
    then every member's list shows the override."""
    write = (t.spec.get("ProvisionedThroughput") or {}).get("WriteCapacityUnits")
    try:  # (the settings call: a replica's read capacity is its own, not passed on to the others)
        await remote(api, region, "SyncSettings", {"TableName": t.name, "SourceRegion": api.region,
                                                   "Operation": "UpdateTable", "Request": {"ProvisionedThroughput": {
                                                       "ReadCapacityUnits": read, "WriteCapacityUnits": write}}})
    except RegionUnreachable as exc:
        raise unreachable(f"The replica in region {region} was not updated", exc) from None
    replicas = [{**r, "read_override": read} if r["region"] == region else r for r in t.replicas]
    t = await set_local(api, t.name, replicas, t.global_version, expect=t.replicas)
    await tell(api, t.name, replicas, t.global_version, [r["region"] for r in replicas])
    return t


async def _with_stream(api: Regions, t: TableInfo) -> TableInfo:
    """Making a table global enables a NEW_AND_OLD_IMAGES stream when it has
    none (an enabled stream keeps its view type)."""
    if t.enabled_stream() is not None:
        return t
    name = t.name
    await api.cluster.meta("update_stream", {"name": name, "enabled": True, "view": STREAM_VIEW})
    await api.cluster.wait_for(lambda s: name in s.tables and s.tables[name].status == "ACTIVE"
                               and s.tables[name].enabled_stream() is not None, WAIT_S)
    t = api.table(name, any_status=True)
    if t.enabled_stream() is None:  # this router has not seen it yet: nothing else was changed
        raise ServiceUnavailable(f"The stream of table {name} is being enabled; retry the replica creation.")
    return t


async def _create_replica(api: Regions, t: TableInfo, action: gt.ReplicaAction) -> TableInfo:
    name, region = t.name, action.region
    if t.replica(region) is not None:  # CREATION_FAILED: first what that attempt may have left there
        await _delete_there(api, region, name, "was not created")
    await _check_absent(api, region, name)
    t = await _with_stream(api, t)
    before = t.replicas
    version = t.global_version or gt.CURRENT
    entry: dict[str, Any] = {"region": region, "status": "CREATING"}
    if action.read_override:
        entry["read_override"] = action.read_override
    mid = [r for r in before if r["region"] != region] + [entry]  # replaces a CREATION_FAILED one
    t = await set_local(api, name, mid, version, expect=before)
    peers = [r["region"] for r in mid if r["region"] != region]
    members = gt.group(api.region, mid)
    told: list[str] = []  # asked, answered or not: a call without an answer may have been applied
    try:
        for peer in peers:
            told.append(peer)
            await remote(api, peer, "SetReplicas", {"TableName": name, "Group": members, "GlobalVersion": version})
        await remote(api, region, "CreateReplica", {
            "TableName": name, "Spec": gt.replica_spec(t.spec, action.read_override), "StreamViewType": t.enabled_stream()["view"],
            "Group": members, "GlobalVersion": version})
    except (DynamoDBError, RegionUnreachable) as exc:
        if await _undo_create(api, name, before, mid, version, region, told, exc):
            raise InternalServerError(f"The replica in region {region} could not be created, and whether a table "
                                      f"was left there is unknown: {exc}. The replica is marked CREATION_FAILED; "
                                      "delete it or create it again.") from None
        if isinstance(exc, RegionUnreachable):
            raise unreachable(f"The replica in region {region} was not created", exc) from None
        raise
    _background(announce_active(api, name, region))
    # As the request found it (the replica CREATING), as DynamoDB answers: the
    # copy may already have finished and been announced while it was asked for.
    return t


_TASKS: set[asyncio.Task] = set()


def _background(work: Awaitable[None]) -> None:
    task = asyncio.ensure_future(work)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


async def announce_active(api: Regions, name: str, region: str) -> None:
    """Once this region's metadata turned a new replica ACTIVE (every
    partition finished its backfill), tell every other member the group."""
    def settled(state: Any) -> bool:
        t = state.tables.get(name)
        r = t.replica(region) if t is not None else None
        return r is None or r["status"] != "CREATING"
    if not await api.cluster.wait_for(settled, BACKFILL_WAIT_S):
        return
    t = api.cluster.state.tables.get(name) if api.cluster.state is not None else None
    r = t.replica(region) if t is not None else None
    if r is not None and r["status"] == "ACTIVE":
        await tell(api, name, t.replicas, t.global_version, [x["region"] for x in t.replicas])


async def _check_absent(api: Regions, region: str, name: str) -> None:
    """Before changing anything: the new region answers, and has no such table."""
    try:
        await remote(api, region, "DescribeTable", {"TableName": name}, internal=False)
    except ResourceNotFoundException:
        return
    except RegionUnreachable as exc:
        raise unreachable(f"The replica in region {region} was not created", exc) from None
    raise ValidationException(gt.replica_exists(name))


async def _delete_there(api: Regions, region: str, name: str, what: str) -> None:
    """Delete ``region``'s replica of the table (gone already is done)."""
    try:
        await remote(api, region, "DeleteReplica", {"TableName": name, "SourceRegion": api.region})
    except ResourceNotFoundException:
        pass
    except RegionUnreachable as exc:
        raise unreachable(f"The replica in region {region} {what}", exc) from None


async def _undo_create(api: Regions, name: str, before: list[dict], mid: list[dict], version: str,
                       region: str, told: list[str], exc: Exception) -> bool:
    """Take back a replica creation that failed. True when it cannot be
    (the new region did not answer and may hold a table): then the replica
    stays listed, CREATION_FAILED, with the reason."""
    if isinstance(exc, RegionUnreachable) and exc.region == region and exc.sent:
        try:
            await _delete_there(api, region, name, "was not created")
        except DynamoDBError:
            failed = [{**r, "status": "CREATION_FAILED", "description": f"Replica creation failed: {exc}"}
                      if r["region"] == region else r for r in mid]
            await set_local(api, name, failed, version)
            await tell(api, name, failed, version, told)
            return True
    await set_local(api, name, before, version if before else None)
    await tell(api, name, before, version, told)
    return False


async def _delete_replica(api: Regions, t: TableInfo, region: str) -> TableInfo:
    name, before, version = t.name, t.replicas, t.global_version
    mid = [{"region": r["region"], "status": "DELETING"} if r["region"] == region else r for r in before]
    await set_local(api, name, mid, version, expect=before)
    peers = [r["region"] for r in before if r["region"] != region]
    await tell(api, name, mid, version, peers)
    try:
        await _delete_there(api, region, name, "was not deleted")
    except DynamoDBError:
        await set_local(api, name, before, version)
        await tell(api, name, before, version, peers)
        raise
    final = [r for r in before if r["region"] != region]
    t = await set_local(api, name, final, version if final else None)
    await tell(api, name, final, version, peers)
    return t


async def leave(api: Regions, t: TableInfo) -> None:
    """DeleteTable of a replica deletes only this region's table: first every
    other member drops this region from its list. When one cannot be reached
    the others are restored and the deletion refused."""
    told: list[str] = []
    for r in t.replicas:
        if r["status"] == "CREATION_FAILED":
            continue
        told.append(r["region"])
        try:
            await remote(api, r["region"], "RemoveReplica", {"TableName": t.name, "Region": api.region})
        except (DynamoDBError, RegionUnreachable) as exc:
            await tell(api, t.name, t.replicas, t.global_version, told)
            if isinstance(exc, RegionUnreachable):
                raise unreachable(f"The replica table {t.name} was not deleted: the replica in region "
                                   f"{r['region']} must drop it from its list first", exc) from None
            raise


# --- the internal operations other regions call -------------------------------------------


def internal_operations(api: Regions) -> dict[str, Callable[[dict], Awaitable[Any]]]:
    """Served under the target prefix TriremeReplication_1."""
    return {"CreateReplica": lambda body: _create_replica_here(api, body),
            "DeleteReplica": lambda body: _delete_replica_here(api, body),
            "SetReplicas": lambda body: _set_replicas_here(api, body),
            "RemoveReplica": lambda body: _remove_replica_here(api, body)}


def _group(body: dict) -> list[dict]:
    members = body.get("Group")
    if not isinstance(members, list) or not all(isinstance(r, dict) and isinstance(r.get("region"), str)
                                                and isinstance(r.get("status"), str) for r in members):
        raise ValidationException("Group must be a list of {region, status}")
    return members


async def _create_replica_here(api: Regions, body: dict) -> dict:
    """Create this region's replica of a table: the spec as the source has
    it, its stream, and the list of the other members."""
    name = validate_table_name(body.get("TableName"))
    members = _group(body)
    spec = body.get("Spec")
    if not isinstance(spec, dict) or not isinstance(body.get("StreamViewType"), str):
        raise ValidationException("CreateReplica needs the table's Spec and StreamViewType")
    state = api.cluster.state
    if state is not None and name in state.tables:
        raise ValidationException(gt.replica_exists(name))
    spec = {**spec, "TableName": name,
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": body["StreamViewType"]}}
    try:
        await api.cluster.meta("create_table", {"name": name, "spec": spec})
    except ResourceInUseException:
        raise ValidationException(gt.replica_exists(name)) from None
    try:
        await set_local(api, name, gt.others(members, api.region), body.get("GlobalVersion") or gt.CURRENT)
    except DynamoDBError:
        await api.cluster.meta("delete_table", {"name": name})
        raise
    await api.cluster.wait_for(lambda s: name in s.tables and s.tables[name].status == "ACTIVE", CREATE_WAIT_S)
    return {"TableStatus": api.table(name, any_status=True).status}


async def _delete_replica_here(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("TableName"))
    t = api.table(name, any_status=True)  # ResourceNotFoundException when gone (the source takes it as done)
    if t.status == "DELETING":
        return {}
    if t.replica(str(body.get("SourceRegion"))) is None:
        raise ValidationException(f"One or more parameter values were invalid: Table {name} in region "
                                  f"{api.region} is not a replica of the global table in region "
                                  f"{body.get('SourceRegion')}")
    await api.cluster.meta("delete_table", {"name": name})
    await api.cluster.wait_for(lambda s: name not in s.tables, WAIT_S)
    return {}


async def _set_replicas_here(api: Regions, body: dict) -> dict:
    """Another member's view of the group: keep the other regions'."""
    name = validate_table_name(body.get("TableName"))
    members = _group(body)
    inside = any(r["region"] == api.region for r in members)
    state = api.cluster.state
    if not inside and (state is None or name not in state.tables):
        return {}  # left the group, and its table is gone already
    api.table(name, any_status=True)
    if inside:
        await set_local(api, name, gt.others(members, api.region), body.get("GlobalVersion"))
    else:  # this region left the group
        await set_local(api, name, [], None)
    return {}


async def _remove_replica_here(api: Regions, body: dict) -> dict:
    """A member deleted its replica table: drop it from this region's list."""
    name = validate_table_name(body.get("TableName"))
    region = body.get("Region")
    for _ in range(5):
        state = api.cluster.state
        t = state.tables.get(name) if state is not None else None
        if t is None or t.replica(str(region)) is None:
            return {}
        rest = [r for r in t.replicas if r["region"] != region]
        try:
            await set_local(api, name, rest, t.global_version if rest or t.global_version == gt.LEGACY else None,
                            expect=t.replicas)
            return {}
        except ResourceInUseException:
            continue  # changed meanwhile: look again
    raise ResourceInUseException(f"Attempt to change a resource which is still in use: Table is being updated: "
                                 f"{name}")


async def describe_table_replica_auto_scaling(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("TableName"))
    t = api.table(name, any_status=True)
    if hidden(t):
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    state = api.cluster.state
    indexes = {ix.spec["IndexName"]: ix.status for ix in (state.index_tables(name) if state else [])}
    return gt.auto_scaling_description(name, t.status, api.region, t.replicas, indexes)


def operations(api: Regions) -> dict[str, Callable[[dict], Awaitable[Any]]]:
    """The DynamoDB operations of this module (UpdateTable's ReplicaUpdates go through update_replicas)."""
    return {"DescribeTableReplicaAutoScaling": functools.partial(describe_table_replica_auto_scaling, api)}


__all__ = ["Regions", "announce_active", "call_region", "internal_operations", "leave", "operations", "remote",
           "set_local", "unreachable", "update_replicas"]
