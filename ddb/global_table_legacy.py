"""The legacy global tables (version 2017.11.29), pure: CreateGlobalTable,
UpdateGlobalTable, ListGlobalTables and the settings operations join existing
empty tables of the same name and keys in several regions into one group.
The router side is router/global_table_legacy.py."""

from __future__ import annotations

from typing import Any

from ddb.errors import (GlobalTableAlreadyExistsException, GlobalTableNotFoundException, IndexNotFoundException,
                        ReplicaNotFoundException, TableNotFoundException, ValidationException)
from ddb.keys import validate_table_name

LIST_LIMIT = 100


def global_table_missing(name: str) -> GlobalTableNotFoundException:
    return GlobalTableNotFoundException(f"Global table not found: Global table with name: '{name}' does not exist.")


def global_table_arn(name: str, account: str) -> str:
    return f"arn:aws:dynamodb::{account}:global-table/{name}"


def parse_regions(body: dict, key: str = "ReplicationGroup") -> list[str]:
    """CreateGlobalTable's ReplicationGroup: its regions, in order, once each."""
    regions: list[str] = []
    for r in body.get(key) or []:
        region = r.get("RegionName") if isinstance(r, dict) else None
        if not isinstance(region, str) or not region:
            raise ValidationException("One or more parameter values were invalid: Every replica of the "
                                      "ReplicationGroup needs a RegionName")
        if region in regions:
            raise ValidationException(f"One or more parameter values were invalid: Region {region} is listed "
                                      "more than once in the ReplicationGroup")
        regions.append(region)
    if not regions:
        raise ValidationException("One or more parameter values were invalid: The ReplicationGroup must list "
                                  "at least one region")
    return regions


def parse_global_updates(body: dict) -> list[tuple[str, str]]:
    """UpdateGlobalTable's ReplicaUpdates: (Create | Delete, region) in order."""
    out: list[tuple[str, str]] = []
    for u in body.get("ReplicaUpdates") or []:
        kinds = [k for k in ("Create", "Delete") if isinstance(u, dict) and u.get(k) is not None]
        if len(kinds) != 1:
            raise ValidationException("One or more parameter values were invalid: A replica update must hold "
                                      "exactly one of Create or Delete")
        region = u[kinds[0]].get("RegionName")
        if not isinstance(region, str) or not region:
            raise ValidationException("One or more parameter values were invalid: Every replica update needs "
                                      "a RegionName")
        if any(r == region for _, r in out):
            raise ValidationException(f"One or more parameter values were invalid: Region {region} is named by "
                                      "more than one replica update")
        out.append((kinds[0], region))
    if not out:
        raise ValidationException("One or more parameter values were invalid: ReplicaUpdates must hold at least "
                                  "one replica update")
    return out


def check_legacy_member(name: str, region: str, table: dict | None, *, reference: dict | None,
                        empty: bool) -> None:
    """Can a region's table (its TableDescription, None: none) join a legacy
    global table? It must exist, be ACTIVE, regional, empty, stream
    NEW_AND_OLD_IMAGES, and have the key schema of the others (``reference``)."""
    if table is None:
        raise TableNotFoundException(f"Table not found: {name} does not exist in region {region}")
    if table.get("Replicas") or table.get("GlobalTableVersion"):
        raise GlobalTableAlreadyExistsException(f"Global table already exists: the table {name} in region "
                                                f"{region} is already a replica of a global table")
    invalid = "One or more parameter values were invalid: "
    if table["TableStatus"] != "ACTIVE":
        raise ValidationException(f"{invalid}The table {name} in region {region} is {table['TableStatus']}, "
                                  "not ACTIVE")
    stream = table.get("StreamSpecification") or {}
    if not stream.get("StreamEnabled") or stream.get("StreamViewType") != "NEW_AND_OLD_IMAGES":
        raise ValidationException(f"{invalid}The table {name} in region {region} must have DynamoDB Streams "
                                  "enabled with StreamViewType NEW_AND_OLD_IMAGES")
    if reference is not None and _keys(table) != _keys(reference):
        raise ValidationException(f"{invalid}The table {name} in region {region} has a key schema other than "
                                  "the other replicas'")
    if not empty:
        raise ValidationException(f"{invalid}The table {name} in region {region} is not empty: a new replica "
                                  "of a global table must be empty")


def _keys(table: dict) -> list:
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions") or []}
    return [(k["AttributeName"], k["KeyType"], types.get(k["AttributeName"])) for k in table["KeySchema"]]


def global_table_description(name: str, regions: list[str], *, created: float, status: str,
                             account: str) -> dict:
    return {"ReplicationGroup": [{"RegionName": r} for r in sorted(regions)],
            "GlobalTableArn": global_table_arn(name, account), "CreationDateTime": created,
            "GlobalTableStatus": status, "GlobalTableName": name}


def parse_list_global_tables(body: dict) -> tuple[int, str | None, str | None]:
    """(limit, exclusive start name, region filter) of ListGlobalTables."""
    limit = body.get("Limit")
    if limit is None:
        limit = LIST_LIMIT
    elif not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValidationException(f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                                  "constraint: Member must have value greater than or equal to 1")
    start = body.get("ExclusiveStartGlobalTableName")
    if start is not None:
        validate_table_name(start, "exclusiveStartGlobalTableName")
    return min(limit, LIST_LIMIT), start, body.get("RegionName") or None


def list_global_tables_page(tables: dict[str, list[str]], limit: int, start: str | None) -> dict:
    """``tables``: global table name -> its regions."""
    names = sorted(n for n in tables if start is None or n > start)
    page = names[:limit]
    out: dict[str, Any] = {"GlobalTables": [{"GlobalTableName": n,
                                             "ReplicationGroup": [{"RegionName": r} for r in sorted(tables[n])]}
                                            for n in page]}
    if len(names) > limit:
        out["LastEvaluatedGlobalTableName"] = page[-1]
    return out


def replica_settings(region: str, table: dict, status: str = "ACTIVE") -> dict:
    """DescribeGlobalTableSettings' entry for a region, from its table's description."""
    billing = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    pt = table.get("ProvisionedThroughput") or {}
    out: dict[str, Any] = {"RegionName": region, "ReplicaStatus": status,
                           "ReplicaBillingModeSummary": {"BillingMode": billing},
                           "ReplicaProvisionedReadCapacityUnits": pt.get("ReadCapacityUnits", 0),
                           "ReplicaProvisionedWriteCapacityUnits": pt.get("WriteCapacityUnits", 0)}
    gsis = [{"IndexName": g["IndexName"], "IndexStatus": g.get("IndexStatus", "ACTIVE"),
             "ProvisionedReadCapacityUnits": (g.get("ProvisionedThroughput") or {}).get("ReadCapacityUnits", 0),
             "ProvisionedWriteCapacityUnits": (g.get("ProvisionedThroughput") or {}).get("WriteCapacityUnits", 0)}
            for g in table.get("GlobalSecondaryIndexes") or []]
    if gsis:
        out["ReplicaGlobalSecondaryIndexSettings"] = gsis
    return out


# --- UpdateGlobalTableSettings --------------------------------------------------


def _no_auto_scaling(update: dict, keys: tuple[str, ...]) -> None:
    if any(update.get(k) is not None for k in keys):
        raise ValidationException("One or more parameter values were invalid: Trireme has no auto scaling: "
                                  f"{', '.join(k for k in keys if update.get(k) is not None)} cannot be applied")


def check_settings_update(body: dict, regions: list[str], indexes: list[str]) -> None:
    """UpdateGlobalTableSettings against the group's regions and the table's
    global indexes: what Trireme can apply (capacity and billing mode)."""
    _no_auto_scaling(body, ("GlobalTableProvisionedWriteCapacityAutoScalingSettingsUpdate",))
    for u in body.get("GlobalTableGlobalSecondaryIndexSettingsUpdate") or []:
        _no_auto_scaling(u, ("ProvisionedWriteCapacityAutoScalingSettingsUpdate",))
        if u.get("IndexName") not in indexes:
            raise IndexNotFoundException(f"Index not found: {u.get('IndexName')}")
    for r in body.get("ReplicaSettingsUpdate") or []:
        if r.get("RegionName") not in regions:
            raise ReplicaNotFoundException(f"Replica not found: region {r.get('RegionName')} is not in the "
                                           "global table")
        _no_auto_scaling(r, ("ReplicaProvisionedReadCapacityAutoScalingSettingsUpdate",))
        if r.get("ReplicaTableClass") is not None:
            raise ValidationException("One or more parameter values were invalid: Trireme has one table class: "
                                      "ReplicaTableClass cannot be applied")
        for i in r.get("ReplicaGlobalSecondaryIndexSettingsUpdate") or []:
            _no_auto_scaling(i, ("ProvisionedReadCapacityAutoScalingSettingsUpdate",))
            if i.get("IndexName") not in indexes:
                raise IndexNotFoundException(f"Index not found: {i.get('IndexName')}")


def settings_requests(name: str, body: dict, region: str, table: dict) -> list[dict]:
    """The UpdateTable calls that apply UpdateGlobalTableSettings to one
    region's table (its TableDescription ``table``): the table's billing
    mode and capacity in one, then one per global index (an UpdateTable
    changes one index); none when nothing changes there."""
    billing_now = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    billing = body.get("GlobalTableBillingMode") or billing_now
    replica = next((r for r in body.get("ReplicaSettingsUpdate") or [] if r.get("RegionName") == region), {})
    write = body.get("GlobalTableProvisionedWriteCapacityUnits")
    read = replica.get("ReplicaProvisionedReadCapacityUnits")
    index_write = {u["IndexName"]: u.get("ProvisionedWriteCapacityUnits")
                   for u in body.get("GlobalTableGlobalSecondaryIndexSettingsUpdate") or []}
    index_read = {u["IndexName"]: u.get("ProvisionedReadCapacityUnits")
                  for u in replica.get("ReplicaGlobalSecondaryIndexSettingsUpdate") or []}
    if billing == "PAY_PER_REQUEST" and any(v is not None for v in (write, read, *index_write.values(),
                                                                     *index_read.values())):
        raise ValidationException("One or more parameter values were invalid: Provisioned capacity cannot be "
                                  "specified when BillingMode is PAY_PER_REQUEST")
    out: list[dict] = []
    change: dict[str, Any] = {}
    if billing != billing_now:
        change["BillingMode"] = billing
    if billing == "PROVISIONED":
        now = {k: (table.get("ProvisionedThroughput") or {}).get(k) or None
               for k in ("ReadCapacityUnits", "WriteCapacityUnits")}
        pt = {"ReadCapacityUnits": read or now["ReadCapacityUnits"],
              "WriteCapacityUnits": write or now["WriteCapacityUnits"]}
        if pt != now or change:
            change["ProvisionedThroughput"] = pt if all(pt.values()) else None
    if change:
        out.append({"TableName": name, **{k: v for k, v in change.items() if v is not None}})
    if billing == "PROVISIONED":
        for gsi in table.get("GlobalSecondaryIndexes") or []:
            i = gsi["IndexName"]
            if index_write.get(i) is None and index_read.get(i) is None:
                continue
            now = gsi.get("ProvisionedThroughput") or {}
            pt = {"ReadCapacityUnits": index_read.get(i) or now.get("ReadCapacityUnits"),
                  "WriteCapacityUnits": index_write.get(i) or now.get("WriteCapacityUnits")}
            if pt != {k: now.get(k) for k in pt}:
                out.append({"TableName": name, "GlobalSecondaryIndexUpdates": [
                    {"Update": {"IndexName": i, "ProvisionedThroughput": pt}}]})
    return out
