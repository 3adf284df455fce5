"""Global tables: UpdateTable's ReplicaUpdates (version 2019.11.21), the
legacy operations (2017.11.29), DescribeTableReplicaAutoScaling, and the
internal operations other regions' routers call (``TriremeReplication_1.*``).

The region where a replica action is asked for runs it: it marks the replica
in its own metadata (CREATING, DELETING), tells the other members, has the
target region create or delete its table through that region's router, and
then settles every member's list. A region that does not answer makes the
action fail, undone where it can be, and otherwise marked on the replica
(CREATION_FAILED, with the reason): never half-applied silently. Validation
and shapes are pure, in ddb/global_tables.py.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Awaitable, Callable, Protocol

import orjson

from cluster.meta import TableInfo, hidden
from cluster.partitions import Cluster
from ddb import global_tables as gt
from ddb.errors import (DynamoDBError, InternalServerError, ReplicaAlreadyExistsException, ReplicaNotFoundException,
                        ResourceInUseException, ResourceNotFoundException, ServiceUnavailable, TableNotFoundException,
                        ValidationException)
from ddb.keys import validate_table_name
from router import region_calls
from router.region_calls import RegionUnreachable

log = logging.getLogger(__name__)

ACCOUNT = "000000000000"
WAIT_S = 5.0  # for this router's metadata to show a change it made
CREATE_WAIT_S = 15.0  # for a new replica table to become ACTIVE in its region
REMOTE_TIMEOUT_S = 30.0
STREAM_VIEW = "NEW_AND_OLD_IMAGES"
MAX_EMPTY_PAGES = 64


class Regions(Protocol):
    """What these operations need of router.api.Api."""

    cluster: Cluster
    region: str
    remote_regions: dict[str, str]

    def table(self, name: str, *, any_status: bool = False) -> TableInfo: ...

    async def describe(self, t: TableInfo) -> dict: ...

    def operations(self) -> dict[str, Callable[[dict], Awaitable[Any]]]: ...


# --- calls to other regions and to this region's metadata ----------------------------


async def _remote(api: Regions, region: str, op: str, body: dict, *, internal: bool = True) -> dict:
    url = api.remote_regions.get(region)
    if url is None:
        raise ValidationException(gt.unknown_region(region, list(api.remote_regions)))
    target = (region_calls.REPLICATION if internal else region_calls.DYNAMODB) + op
    return await region_calls.call(region, url, target, body, REMOTE_TIMEOUT_S)


async def _call(api: Regions, region: str, op: str, body: dict) -> dict:
    """A DynamoDB operation in ``region``: this router's own, or another region's router."""
    if region == api.region:
        out = await api.operations()[op](body)
        return orjson.loads(out) if isinstance(out, bytes) else out
    return await _remote(api, region, op, body, internal=False)


async def _set_local(api: Regions, name: str, replicas: list[dict], version: str | None,
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


async def _tell(api: Regions, name: str, replicas: list[dict], version: str | None, regions: list[str]) -> None:
    """Tell other members the table's group as this region sees it
    (``replicas`` plus itself). One that cannot be told keeps the statuses
    it had (a replica it lists as CREATING or DELETING shows it)."""
    members = gt.group(api.region, replicas)
    for region in regions:
        try:
            await _remote(api, region, "SetReplicas", {"TableName": name, "Group": members, "GlobalVersion": version})
        except (DynamoDBError, RegionUnreachable) as exc:
            log.warning("global table %s: could not tell region %s its replicas: %s", name, region, exc)


def _unreachable(what: str, exc: RegionUnreachable) -> InternalServerError:
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
    else:
        replicas = [{**r, "read_override": action.read_override} if r["region"] == action.region
                    and action.read_override else r for r in t.replicas]
        t = await _set_local(api, t.name, replicas, t.global_version, expect=t.replicas)
        await _tell(api, t.name, replicas, t.global_version, [r["region"] for r in replicas])
    return {"TableDescription": await api.describe(t)}


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
    t = await _set_local(api, name, mid, version, expect=before)
    peers = [r["region"] for r in mid if r["region"] != region]
    members = gt.group(api.region, mid)
    told: list[str] = []  # asked, answered or not: a call without an answer may have been applied
    try:
        for peer in peers:
            told.append(peer)
            await _remote(api, peer, "SetReplicas", {"TableName": name, "Group": members, "GlobalVersion": version})
        await _remote(api, region, "CreateReplica", {
            "TableName": name, "Spec": gt.replica_spec(t.spec), "StreamViewType": t.enabled_stream()["view"],
            "Group": members, "GlobalVersion": version})
    except (DynamoDBError, RegionUnreachable) as exc:
        if await _undo_create(api, name, before, mid, version, region, told, exc):
            raise InternalServerError(f"The replica in region {region} could not be created, and whether a table "
                                      f"was left there is unknown: {exc}. The replica is marked CREATION_FAILED; "
                                      "delete it or create it again.") from None
        if isinstance(exc, RegionUnreachable):
            raise _unreachable(f"The replica in region {region} was not created", exc) from None
        raise
    final = [{**r, "status": "ACTIVE"} if r["region"] == region else r for r in mid]
    t = await _set_local(api, name, final, version)
    await _tell(api, name, final, version, peers)
    return t


async def _check_absent(api: Regions, region: str, name: str) -> None:
    """Before changing anything: the new region answers, and has no such table."""
    try:
        await _remote(api, region, "DescribeTable", {"TableName": name}, internal=False)
    except ResourceNotFoundException:
        return
    except RegionUnreachable as exc:
        raise _unreachable(f"The replica in region {region} was not created", exc) from None
    raise ValidationException(gt.replica_exists(name))


async def _delete_there(api: Regions, region: str, name: str, what: str) -> None:
    """Delete ``region``'s replica of the table (gone already is done)."""
    try:
        await _remote(api, region, "DeleteReplica", {"TableName": name, "SourceRegion": api.region})
    except ResourceNotFoundException:
        pass
    except RegionUnreachable as exc:
        raise _unreachable(f"The replica in region {region} {what}", exc) from None


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
            await _set_local(api, name, failed, version)
            await _tell(api, name, failed, version, told)
            return True
    await _set_local(api, name, before, version if before else None)
    await _tell(api, name, before, version, told)
    return False


async def _delete_replica(api: Regions, t: TableInfo, region: str) -> TableInfo:
    name, before, version = t.name, t.replicas, t.global_version
    mid = [{"region": r["region"], "status": "DELETING"} if r["region"] == region else r for r in before]
    await _set_local(api, name, mid, version, expect=before)
    peers = [r["region"] for r in before if r["region"] != region]
    await _tell(api, name, mid, version, peers)
    try:
        await _delete_there(api, region, name, "was not deleted")
    except DynamoDBError:
        await _set_local(api, name, before, version)
        await _tell(api, name, before, version, peers)
        raise
    final = [r for r in before if r["region"] != region]
    t = await _set_local(api, name, final, version if final else None)
    await _tell(api, name, final, version, peers)
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
            await _remote(api, r["region"], "RemoveReplica", {"TableName": t.name, "Region": api.region})
        except (DynamoDBError, RegionUnreachable) as exc:
            await _tell(api, t.name, t.replicas, t.global_version, told)
            if isinstance(exc, RegionUnreachable):
                raise _unreachable(f"The replica table {t.name} was not deleted: the replica in region "
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
        await _set_local(api, name, gt.others(members, api.region), body.get("GlobalVersion") or gt.CURRENT)
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
        await _set_local(api, name, gt.others(members, api.region), body.get("GlobalVersion"))
    else:  # this region left the group
        await _set_local(api, name, [], None)
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
            await _set_local(api, name, rest, t.global_version if rest or t.global_version == gt.LEGACY else None,
                             expect=t.replicas)
            return {}
        except ResourceInUseException:
            continue  # changed meanwhile: look again
    raise ResourceInUseException(f"Attempt to change a resource which is still in use: Table is being updated: "
                                 f"{name}")


# --- the legacy operations (2017.11.29) -----------------------------------------------


def _legacy(api: Regions, name: str) -> TableInfo:
    """This region's replica of a legacy global table, or GlobalTableNotFoundException."""
    state = api.cluster.state
    t = state.tables.get(name) if state is not None else None
    if t is None or hidden(t) or t.global_version != gt.LEGACY or t.status == "DELETING":
        raise gt.global_table_missing(name)
    return t


def _regions_of(api: Regions, t: TableInfo) -> list[str]:
    return [api.region, *(r["region"] for r in t.replicas)]


def _check_region(api: Regions, region: str) -> None:
    if region != api.region and region not in api.remote_regions:
        raise ValidationException(gt.unknown_region(region, [api.region, *api.remote_regions]))


async def _table_in(api: Regions, region: str, name: str) -> tuple[dict | None, bool]:
    """A region's table (its TableDescription, None when missing) and whether it is empty."""
    try:
        return await _look(api, region, name)
    except RegionUnreachable as exc:
        raise _unreachable(f"The table {name} in region {region} cannot be checked", exc) from None


async def _look(api: Regions, region: str, name: str) -> tuple[dict | None, bool]:
    try:
        table = (await _call(api, region, "DescribeTable", {"TableName": name}))["Table"]
    except ResourceNotFoundException:
        return None, True
    if table.get("TableStatus") != "ACTIVE":
        return table, True
    start = None
    for _ in range(MAX_EMPTY_PAGES):  # one item is enough; a page may be empty (an empty partition)
        page = await _call(api, region, "Scan", {"TableName": name, "Limit": 1,
                                                 **({"ExclusiveStartKey": start} if start else {})})
        if page.get("Count"):
            return table, False
        start = page.get("LastEvaluatedKey")
        if not start:
            return table, True
    return table, False


async def _check_members(api: Regions, name: str, regions: list[str], reference: dict | None) -> None:
    """Each region's table may join the legacy global table (``reference``:
    a member's table, whose keys the others must have)."""
    for region in regions:
        _check_region(api, region)
    for region in regions:
        table, empty = await _table_in(api, region, name)
        gt.check_legacy_member(name, region, table, reference=reference, empty=empty)
        reference = reference or table


async def _set_group(api: Regions, name: str, regions: list[str], previous: list[str]) -> None:
    """Every member's list of a legacy global table: ``regions`` are its
    members from now on (``previous``: before; those not in ``regions``
    leave it). A member that cannot be reached undoes the change."""
    done: list[str] = []  # asked, answered or not
    try:
        for region in dict.fromkeys([*regions, *previous]):
            done.append(region)
            await _set_member(api, name, region, regions)
    except (DynamoDBError, RegionUnreachable) as exc:
        for region in done:
            try:
                await _set_member(api, name, region, previous)
            except (DynamoDBError, RegionUnreachable):
                log.warning("global table %s: could not undo its change in region %s", name, region)
        if isinstance(exc, RegionUnreachable):
            raise _unreachable(f"The replica in region {exc.region} cannot be reached", exc) from None
        raise


async def _set_member(api: Regions, name: str, region: str, regions: list[str]) -> None:
    members = [{"region": r, "status": "ACTIVE"} for r in regions]
    if region == api.region:
        inside = region in regions
        await _set_local(api, name, gt.others(members, region) if inside else [], gt.LEGACY if inside else None)
    else:
        await _remote(api, region, "SetReplicas", {"TableName": name, "Group": members, "GlobalVersion": gt.LEGACY})


async def create_global_table(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("GlobalTableName"), "globalTableName")
    regions = gt.parse_regions(body)
    await _check_members(api, name, regions, None)
    await _set_group(api, name, regions, [])
    return {"GlobalTableDescription": gt.global_table_description(
        name, regions, created=time.time(), status="ACTIVE", account=ACCOUNT)}


async def describe_global_table(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("GlobalTableName"), "globalTableName")
    t = _legacy(api, name)
    return {"GlobalTableDescription": gt.global_table_description(
        name, _regions_of(api, t), created=t.created,
        status=gt.table_status(t.status, t.replicas), account=ACCOUNT)}


async def update_global_table(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("GlobalTableName"), "globalTableName")
    updates = gt.parse_global_updates(body)
    t = _legacy(api, name)
    regions = _regions_of(api, t)
    added = [r for kind, r in updates if kind == "Create"]
    removed = [r for kind, r in updates if kind == "Delete"]
    for region in added:
        if region in regions:
            raise ReplicaAlreadyExistsException(f"Replica already exists: {name} in region {region}")
    for region in removed:
        if region not in regions:
            raise ReplicaNotFoundException(f"Replica not found: {name} in region {region}")
    reference = (await _call(api, api.region, "DescribeTable", {"TableName": name}))["Table"]
    await _check_members(api, name, added, reference)
    new = [r for r in regions if r not in removed] + added
    await _set_group(api, name, new, regions)
    return {"GlobalTableDescription": gt.global_table_description(
        name, new, created=t.created, status="ACTIVE", account=ACCOUNT)}


async def list_global_tables(api: Regions, body: dict) -> dict:
    limit, start, region = gt.parse_list_global_tables(body)
    state = api.cluster.state
    tables = {t.name: _regions_of(api, t) for t in (state.tables.values() if state else [])
              if t.global_version == gt.LEGACY and not hidden(t) and t.status != "DELETING"}
    if region is not None:
        tables = {n: rs for n, rs in tables.items() if region in rs}
    return gt.list_global_tables_page(tables, limit, start)


async def describe_global_table_settings(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("GlobalTableName"), "globalTableName")
    t = _legacy(api, name)
    settings = []
    for region in _regions_of(api, t):
        table = await _member_table(api, region, name, "cannot be read")
        replica = t.replica(region)
        settings.append(gt.replica_settings(region, table, replica["status"] if replica else "ACTIVE"))
    return {"GlobalTableName": name, "ReplicaSettings": sorted(settings, key=lambda s: s["RegionName"])}


async def _member_table(api: Regions, region: str, name: str, what: str) -> dict:
    """A member region's table (its TableDescription), for its settings."""
    try:
        return (await _call(api, region, "DescribeTable", {"TableName": name}))["Table"]
    except RegionUnreachable as exc:
        raise _unreachable(f"The settings of the replica in region {region} {what}", exc) from None
    except ResourceNotFoundException:
        raise TableNotFoundException(f"Table not found: {name} does not exist in region {region}") from None


async def update_global_table_settings(api: Regions, body: dict) -> dict:
    """The billing mode and capacities of every member, applied through each
    region's UpdateTable (this region's first: it refuses what they all would)."""
    name = validate_table_name(body.get("GlobalTableName"), "globalTableName")
    t = _legacy(api, name)
    regions = _regions_of(api, t)
    gt.check_settings_update(body, regions, [g["IndexName"] for g in t.spec.get("GlobalSecondaryIndexes") or []])
    tables = {region: await _member_table(api, region, name, "cannot be changed")
              for region in regions}  # every member answers before any is changed
    plans = {region: gt.settings_requests(name, body, region, tables[region]) for region in regions}
    done: list[str] = []
    for region in regions:
        try:
            for request in plans[region]:
                await _call(api, region, "UpdateTable", request)
        except RegionUnreachable as exc:
            raise InternalServerError(f"The settings were changed in {', '.join(done) or 'no region'} but not in "
                                      f"region {region}: {exc}. Retry to apply them there.") from None
        done.append(region)
    return await describe_global_table_settings(api, {"GlobalTableName": name})


async def describe_table_replica_auto_scaling(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("TableName"))
    t = api.table(name, any_status=True)
    if hidden(t):
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    state = api.cluster.state
    indexes = {ix.spec["IndexName"]: ix.status for ix in (state.index_tables(name) if state else [])}
    return gt.auto_scaling_description(name, t.status, api.region, t.replicas, indexes)


def operations(api: Regions) -> dict[str, Callable[[dict], Awaitable[Any]]]:
    """The DynamoDB operations of this module."""
    ops = {"CreateGlobalTable": create_global_table, "DescribeGlobalTable": describe_global_table,
           "UpdateGlobalTable": update_global_table, "ListGlobalTables": list_global_tables,
           "DescribeGlobalTableSettings": describe_global_table_settings,
           "UpdateGlobalTableSettings": update_global_table_settings,
           "DescribeTableReplicaAutoScaling": describe_table_replica_auto_scaling}
    return {name: functools.partial(op, api) for name, op in ops.items()}


__all__ = ["internal_operations", "leave", "operations", "update_replicas"]
