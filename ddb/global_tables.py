"""Global tables, pure: UpdateTable's ReplicaUpdates and the shapes of a global table.

Two APIs make a table global. The current one (version 2019.11.21) is
UpdateTable's ``ReplicaUpdates`` (here); the legacy one (2017.11.29) is
CreateGlobalTable / UpdateGlobalTable and friends (ddb/global_table_legacy.py).
Either way a table's metadata lists the OTHER regions holding a replica,
``[{"region", "status", ...}]`` (cluster/meta.py); the router
(router/global_tables.py) does the cross-region calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ddb.errors import ResourceInUseException, ValidationException

CURRENT = "2019.11.21"
LEGACY = "2017.11.29"
# Replica statuses while a replica action runs: the table shows UPDATING meanwhile.
IN_PROGRESS = ("CREATING", "UPDATING", "DELETING")

LOCAL_REGION = ("Cannot add, delete, or update the local region through ReplicaUpdates. "
                "Use CreateTable, DeleteTable, or UpdateTable as required.")
REPLICA_MISSING = "Replica specified in the Replica Update or Replica Delete action of the request was not found."
ONE_ACTION = ("One or more parameter values were invalid: Only one replica action (Create, Update or Delete) "
              "can be made by one UpdateTable call")
ONLY_REPLICAS = ("One or more parameter values were invalid: ReplicaUpdates cannot be combined with other "
                 "changes in one UpdateTable call")


def replica_exists(name: str) -> str:
    return (f"Failed to create a the new replica of table with name: '{name}' because one or more replicas "
            "already existed as tables.")  # sic: DynamoDB's wording


def unknown_region(region: str, known: list[str]) -> str:
    return (f"One or more parameter values were invalid: Region {region} cannot be reached from this region "
            f"(the regions it knows: {', '.join(sorted(known)) or 'none'})")


# --- UpdateTable ReplicaUpdates (2019.11.21) ---------------------------------


@dataclass(frozen=True)
class ReplicaAction:
    kind: str  # Create | Update | Delete
    region: str
    read_override: int | None = None  # ProvisionedThroughputOverride.ReadCapacityUnits


def parse_replica_updates(body: dict, *, own_region: str, known_regions: list[str], table: str,
                          replicas: list[dict], billing: str, global_version: str | None) -> ReplicaAction:
    """The one replica action of an UpdateTable call, checked against the
    table's replicas (``replicas``: the other regions') and the regions this
    deployment reaches (``known_regions``)."""
    if body.get("GlobalTableWitnessUpdates") is not None and body.get("MultiRegionConsistency") != "STRONG":
        raise ValidationException("MultiRegionConsistency must be set as STRONG when GlobalTableWitnessUpdates "
                                  "parameter is present")
    others = [k for k in ("BillingMode", "ProvisionedThroughput", "GlobalSecondaryIndexUpdates",
                          "StreamSpecification", "SSESpecification", "TableClass") if body.get(k) is not None]
    if others:
        raise ValidationException(ONLY_REPLICAS)
    updates = body["ReplicaUpdates"]
    if not isinstance(updates, list) or not updates:
        raise ValidationException("1 validation error detected: Value '[]' at 'replicaUpdates' failed to satisfy "
                                  "constraint: Member must have length greater than or equal to 1")
    if len(updates) > 1:
        raise ValidationException(ONE_ACTION)
    update = updates[0] if isinstance(updates[0], dict) else {}
    kinds = [k for k in ("Create", "Update", "Delete", "Disassociate") if update.get(k) is not None]
    if len(kinds) != 1:
        raise ValidationException("One or more parameter values were invalid: A replica update must hold exactly "
                                  "one of Create, Update or Delete")
    kind = kinds[0]
    if kind == "Disassociate":
        raise ValidationException("One or more parameter values were invalid: Disassociate applies only to "
                                  "multi-account global tables, which Trireme does not have")
    action = update[kind] if isinstance(update[kind], dict) else {}
    region = action.get("RegionName")
    if not isinstance(region, str) or not region:
        raise ValidationException(f"1 validation error detected: Value '{region or ''}' at "
                                  f"'replicaUpdates.1.member.{kind.lower()}.regionName' failed to satisfy "
                                  "constraint: Member must have length greater than or equal to 1")
    if region == own_region:
        raise ValidationException(LOCAL_REGION)
    if global_version == LEGACY:
        raise ValidationException(f"One or more parameter values were invalid: Table {table} is a replica of a "
                                  f"version {LEGACY} global table: change its replicas with UpdateGlobalTable")
    if action.get("KMSMasterKeyId") is not None:
        raise ValidationException("One or more parameter values were invalid: KMSMasterKeyId is not supported: "
                                  "Trireme has no KMS keys")
    current = next((r for r in replicas if r["region"] == region), None)
    if kind == "Create":
        if region not in known_regions:
            raise ValidationException(unknown_region(region, known_regions))
        if current is not None and current["status"] != "CREATION_FAILED":  # a failed one may be retried
            raise ValidationException(replica_exists(table))
    elif current is None:
        raise ValidationException(REPLICA_MISSING)
    read = None
    if kind != "Delete" and action.get("ProvisionedThroughputOverride") is not None:
        if billing == "PAY_PER_REQUEST":
            raise ValidationException("One or more parameter values were invalid: ProvisionedThroughputOverride "
                                      "cannot be specified when BillingMode is PAY_PER_REQUEST")
        override = action["ProvisionedThroughputOverride"]
        read = override.get("ReadCapacityUnits") if isinstance(override, dict) else None
        if not isinstance(read, int) or isinstance(read, bool) or read < 1:
            raise ValidationException("One or more parameter values were invalid: ProvisionedThroughputOverride "
                                      "ReadCapacityUnits must be a number of at least 1")
    return ReplicaAction(kind, region, read)


def check_changeable(name: str, status: str) -> None:
    """A replica action needs the table ACTIVE (as every table change does)."""
    if status != "ACTIVE":
        doing = {"CREATING": "created", "DELETING": "deleted"}.get(status, "updated")
        raise ResourceInUseException(f"Attempt to change a resource which is still in use: Table is being "
                                     f"{doing}: {name}")


def table_status(status: str, replicas: list[dict]) -> str:
    """What DescribeTable shows: UPDATING while a replica is being created,
    updated or deleted."""
    if status == "ACTIVE" and any(r["status"] in IN_PROGRESS for r in replicas):
        return "UPDATING"
    return status


def replica_description(r: dict) -> dict:
    out: dict[str, Any] = {"RegionName": r["region"], "ReplicaStatus": r["status"]}
    if r.get("description"):
        out["ReplicaStatusDescription"] = r["description"]
    if r["status"] == "CREATING":  # the share of partitions that finished its backfill
        out["ReplicaStatusPercentProgress"] = str(r.get("progress", 0))
    if r.get("read_override"):
        out["ProvisionedThroughputOverride"] = {"ReadCapacityUnits": r["read_override"]}
    return out


def table_fields(status: str, replicas: list[dict], global_version: str | None) -> dict:
    """TableDescription's global table fields: TableStatus (see table_status),
    and Replicas and GlobalTableVersion only for a global table."""
    out: dict[str, Any] = {"TableStatus": table_status(status, replicas)}
    if replicas or global_version:
        out["Replicas"] = [replica_description(r) for r in sorted(replicas, key=lambda r: r["region"])]
        out["GlobalTableVersion"] = global_version or CURRENT
    return out


def group(own_region: str, replicas: list[dict]) -> list[dict]:
    """Every region of a global table with its status, the own one ACTIVE:
    what a region tells the others (each keeps the rest, `others`)."""
    return [{"region": own_region, "status": "ACTIVE"}, *replicas]


def others(members: list[dict], region: str) -> list[dict]:
    return [dict(r) for r in members if r["region"] != region]


def replica_spec(spec: dict, read_override: int | None = None) -> dict:
    """The spec a new replica table is created with: the table's keys,
    indexes and capacity (its read capacity overridden when asked); tags and
    deletion protection stay per region."""
    out = {k: v for k, v in spec.items() if k not in ("Tags", "DeletionProtectionEnabled", "StreamSpecification")}
    out["DeletionProtectionEnabled"] = False
    if read_override and out.get("ProvisionedThroughput"):
        out["ProvisionedThroughput"] = {**out["ProvisionedThroughput"], "ReadCapacityUnits": read_override}
    return out


def auto_scaling_description(name: str, status: str, own_region: str, replicas: list[dict],
                             indexes: dict[str, str]) -> dict:
    """DescribeTableReplicaAutoScaling: every region's replica (this one's
    included) with its global indexes; Trireme has no auto scaling, so no
    scaling settings are shown."""
    def entry(region: str, replica_status: str) -> dict:
        out: dict[str, Any] = {"RegionName": region, "ReplicaStatus": replica_status}
        if indexes:
            out["GlobalSecondaryIndexes"] = [{"IndexName": i, "IndexStatus": s} for i, s in sorted(indexes.items())]
        return out
    everyone = [{"region": own_region, "status": "ACTIVE"}, *replicas] if replicas else []
    members = [entry(r["region"], r["status"]) for r in sorted(everyone, key=lambda r: r["region"])]
    return {"TableAutoScalingDescription": {"TableName": name, "TableStatus": table_status(status, replicas),
                                            "Replicas": members}}


# --- settings kept in step across the replicas (router/global_settings.py) -------

SYNCED_OPERATIONS = ("UpdateTimeToLive", "UpdateTable")
# UpdateTable's parameters every replica gets (AttributeDefinitions: those a new index needs).
SYNCED_UPDATE = ("BillingMode", "ProvisionedThroughput", "OnDemandThroughput", "GlobalSecondaryIndexUpdates")


def synced_request(op: str, body: dict, read_override: int | None = None) -> dict | None:
    """What of a successful ``op`` call every other replica of a global table
    gets (its read capacity kept at ``read_override`` when the replica has
    one); None: nothing of it is synced (a replica action, deletion
    protection, table class, the stream: per region)."""
    if op == "UpdateTimeToLive":
        return {"TimeToLiveSpecification": body["TimeToLiveSpecification"]}
    if op != "UpdateTable" or body.get("ReplicaUpdates") is not None:
        return None
    out = {k: body[k] for k in SYNCED_UPDATE if body.get(k) is not None}
    if not out:
        return None
    if out.get("GlobalSecondaryIndexUpdates") and body.get("AttributeDefinitions") is not None:
        out["AttributeDefinitions"] = body["AttributeDefinitions"]
    pt = out.get("ProvisionedThroughput")
    if read_override and isinstance(pt, dict):
        out["ProvisionedThroughput"] = {**pt, "ReadCapacityUnits": read_override}
    return out


def pending_settings(op: str, request: dict, spec: dict, ttl: Any) -> dict | None:
    """The part of a synced ``request`` a replica (its ``spec``, its TtlState
    ``ttl``) does not have yet; None: it has all of it."""
    if op == "UpdateTimeToLive":
        want = request["TimeToLiveSpecification"]
        same = ttl.enabled == bool(want.get("Enabled"))
        return None if same and (not ttl.enabled or ttl.attribute == want.get("AttributeName")) else request
    out: dict[str, Any] = {}
    if request.get("BillingMode") not in (None, spec.get("BillingMode", "PROVISIONED")):
        out["BillingMode"] = request["BillingMode"]
    current = spec.get("ProvisionedThroughput") or {}
    pt = request.get("ProvisionedThroughput")
    if pt is not None and (out or any(current.get(k) != v for k, v in pt.items())):
        out["ProvisionedThroughput"] = pt
    if request.get("OnDemandThroughput") not in (None, spec.get("OnDemandThroughput")):
        out["OnDemandThroughput"] = request["OnDemandThroughput"]
    indexes = {g["IndexName"]: g for g in spec.get("GlobalSecondaryIndexes") or []}
    updates = [u for u in request.get("GlobalSecondaryIndexUpdates") or [] if _index_pending(u, indexes)]
    if updates:
        out["GlobalSecondaryIndexUpdates"] = updates
        if request.get("AttributeDefinitions") is not None:
            out["AttributeDefinitions"] = request["AttributeDefinitions"]
    return out or None


def _index_pending(update: dict, indexes: dict[str, dict]) -> bool:
    if update.get("Create") is not None:
        return update["Create"].get("IndexName") not in indexes
    if update.get("Delete") is not None:
        return update["Delete"].get("IndexName") in indexes
    change = update.get("Update") or {}
    index = indexes.get(change.get("IndexName"))
    return index is not None and any(index.get(k) != change.get(k) for k in change if k != "IndexName")
