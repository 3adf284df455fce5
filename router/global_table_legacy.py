"""The legacy global table operations (version 2017.11.29): CreateGlobalTable,
UpdateGlobalTable, DescribeGlobalTable, ListGlobalTables,
DescribeGlobalTableSettings and UpdateGlobalTableSettings.

A legacy global table joins existing empty tables of the same name and keys,
with NEW_AND_OLD_IMAGES streams, in several regions: each member's metadata
lists the others, with global_version 2017.11.29. Validation and shapes are
pure, in ddb/global_table_legacy.py.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any, Awaitable, Callable

from cluster.meta import TableInfo, hidden
from ddb import global_table_legacy as legacy
from ddb import global_tables as gt
from ddb.errors import (DynamoDBError, InternalServerError, ReplicaAlreadyExistsException, ReplicaNotFoundException,
                        ResourceNotFoundException, TableNotFoundException, ValidationException)
from ddb.keys import validate_table_name
from router.global_tables import Regions, call_region, remote, set_local, unreachable
from router.region_calls import RegionUnreachable

log = logging.getLogger(__name__)

ACCOUNT = "000000000000"
MAX_EMPTY_PAGES = 64


def _legacy(api: Regions, name: str) -> TableInfo:
    """This region's replica of a legacy global table, or GlobalTableNotFoundException."""
    state = api.cluster.state
    t = state.tables.get(name) if state is not None else None
    if t is None or hidden(t) or t.global_version != gt.LEGACY or t.status == "DELETING":
        raise legacy.global_table_missing(name)
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
        raise unreachable(f"The table {name} in region {region} cannot be checked", exc) from None


async def _look(api: Regions, region: str, name: str) -> tuple[dict | None, bool]:
    try:
        table = (await call_region(api, region, "DescribeTable", {"TableName": name}))["Table"]
    except ResourceNotFoundException:
        return None, True
    if table.get("TableStatus") != "ACTIVE":
        return table, True
    start = None
    for _ in range(MAX_EMPTY_PAGES):  # one item is enough; a page may be empty (an empty partition)
        page = await call_region(api, region, "Scan", {"TableName": name, "Limit": 1,
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
        legacy.check_legacy_member(name, region, table, reference=reference, empty=empty)
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
            raise unreachable(f"The replica in region {exc.region} cannot be reached", exc) from None
        raise


async def _set_member(api: Regions, name: str, region: str, regions: list[str]) -> None:
    members = [{"region": r, "status": "ACTIVE"} for r in regions]
    if region == api.region:
        inside = region in regions
        await set_local(api, name, gt.others(members, region) if inside else [], gt.LEGACY if inside else None)
    else:
        await remote(api, region, "SetReplicas", {"TableName": name, "Group": members, "GlobalVersion": gt.LEGACY})


async def create_global_table(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("GlobalTableName"), "globalTableName")
    regions = legacy.parse_regions(body)
    await _check_members(api, name, regions, None)
    await _set_group(api, name, regions, [])
    return {"GlobalTableDescription": legacy.global_table_description(
        name, regions, created=time.time(), status="ACTIVE", account=ACCOUNT)}


async def describe_global_table(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("GlobalTableName"), "globalTableName")
    t = _legacy(api, name)
    return {"GlobalTableDescription": legacy.global_table_description(
        name, _regions_of(api, t), created=t.created,
        status=gt.table_status(t.status, t.replicas), account=ACCOUNT)}


async def update_global_table(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("GlobalTableName"), "globalTableName")
    updates = legacy.parse_global_updates(body)
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
    reference = (await call_region(api, api.region, "DescribeTable", {"TableName": name}))["Table"]
    await _check_members(api, name, added, reference)
    new = [r for r in regions if r not in removed] + added
    await _set_group(api, name, new, regions)
    return {"GlobalTableDescription": legacy.global_table_description(
        name, new, created=t.created, status="ACTIVE", account=ACCOUNT)}


async def list_global_tables(api: Regions, body: dict) -> dict:
    limit, start, region = legacy.parse_list_global_tables(body)
    state = api.cluster.state
    tables = {t.name: _regions_of(api, t) for t in (state.tables.values() if state else [])
              if t.global_version == gt.LEGACY and not hidden(t) and t.status != "DELETING"}
    if region is not None:
        tables = {n: rs for n, rs in tables.items() if region in rs}
    return legacy.list_global_tables_page(tables, limit, start)


async def describe_global_table_settings(api: Regions, body: dict) -> dict:
    name = validate_table_name(body.get("GlobalTableName"), "globalTableName")
    t = _legacy(api, name)
    settings = []
    for region in _regions_of(api, t):
        table = await _member_table(api, region, name, "cannot be read")
        replica = t.replica(region)
        settings.append(legacy.replica_settings(region, table, replica["status"] if replica else "ACTIVE"))
    return {"GlobalTableName": name, "ReplicaSettings": sorted(settings, key=lambda s: s["RegionName"])}


async def _member_table(api: Regions, region: str, name: str, what: str) -> dict:
    """A member region's table (its TableDescription), for its settings."""
    try:
        return (await call_region(api, region, "DescribeTable", {"TableName": name}))["Table"]
    except RegionUnreachable as exc:
        raise unreachable(f"The settings of the replica in region {region} {what}", exc) from None
    except ResourceNotFoundException:
        raise TableNotFoundException(f"Table not found: {name} does not exist in region {region}") from None


async def update_global_table_settings(api: Regions, body: dict) -> dict:
    """The billing mode and capacities of every member, applied through each
    region's UpdateTable (this region's first: it refuses what they all would)."""
    name = validate_table_name(body.get("GlobalTableName"), "globalTableName")
    t = _legacy(api, name)
    regions = _regions_of(api, t)
    legacy.check_settings_update(body, regions, [g["IndexName"] for g in t.spec.get("GlobalSecondaryIndexes") or []])
    tables = {region: await _member_table(api, region, name, "cannot be changed")
              for region in regions}  # every member answers before any is changed
    plans = {region: legacy.settings_requests(name, body, region, tables[region]) for region in regions}
    done: list[str] = []
    for region in regions:
        try:
            for request in plans[region]:
                await call_region(api, region, "UpdateTable", request)
        except RegionUnreachable as exc:
            raise InternalServerError(f"The settings were changed in {', '.join(done) or 'no region'} but not in "
                                      f"region {region}: {exc}. Retry to apply them there.") from None
        done.append(region)
    return await describe_global_table_settings(api, {"GlobalTableName": name})


def operations(api: Regions) -> dict[str, Callable[[dict], Awaitable[Any]]]:
    """The DynamoDB operations of this module."""
    ops = {"CreateGlobalTable": create_global_table, "DescribeGlobalTable": describe_global_table,
           "UpdateGlobalTable": update_global_table, "ListGlobalTables": list_global_tables,
           "DescribeGlobalTableSettings": describe_global_table_settings,
           "UpdateGlobalTableSettings": update_global_table_settings}
    return {name: functools.partial(op, api) for name, op in ops.items()}
