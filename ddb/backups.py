"""On-demand backups: request validation and DynamoDB's response shapes (pure).

A backup record (kept in the cluster metadata, `cluster.meta.MetaState.backups`)
is a plain dict: ``arn``, ``name``, ``status`` (CREATING, AVAILABLE),
``created`` (epoch seconds), ``size`` (bytes of item data), ``items``, the
source ``table`` (its name, id, uuid, spec at the moment of the request) and
``parts``: one entry per source partition, named by its hash range
(``lo``, ``hi``) rather than by its Raft group, with the applied index its
snapshot was read at and the key of its data in the backup chunk table.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from ddb.errors import BackupNotFoundException, ValidationException, constraint_failure
from ddb.keys import table_name_errors, validate_table_name
from ddb.sse import parse_sse
from ddb.tables import BILLING_MODES, parse_create_table

BACKUP_TYPES = ("USER", "SYSTEM", "AWS_BACKUP", "ALL")
MAX_LIST = 100  # ListBackups' Limit: 1-100, the default
_ARN = re.compile(r"arn:aws:dynamodb:([^:]*):(\d{12}):table/([a-zA-Z0-9_.-]+)/backup/(\d{13}-[0-9a-f]{8})")
ACCOUNT = "000000000000"


def table_arn(region: str, name: str) -> str:
    return f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"


def new_backup_arn(region: str, table: str, now: float) -> str:
    """DynamoDB's form: the table's ARN, ``/backup/``, 13 digits of milliseconds and 8 hex digits."""
    return f"{table_arn(region, table)}/backup/{int(now * 1000):013d}-{secrets.token_hex(4)}"


def parse_create_backup(body: dict) -> tuple[str, str]:
    """(TableName, BackupName) of a CreateBackup request."""
    errors = table_name_errors(body.get("TableName")) + table_name_errors(body.get("BackupName"), "backupName")
    if errors:
        raise constraint_failure(errors)
    return body["TableName"], body["BackupName"]


def parse_backup_arn(body: dict, member: str = "BackupArn") -> str:
    arn = body.get(member)
    param = member[0].lower() + member[1:]
    if arn is None:
        raise constraint_failure([f"Value null at '{param}' failed to satisfy constraint: Member must not be null"])
    if not isinstance(arn, str) or not 37 <= len(arn) <= 1024:
        raise constraint_failure([f"Value '{arn}' at '{param}' failed to satisfy constraint: Member must have "
                                  "length between 37 and 1024"])
    return arn


def find(backups: dict[str, dict], arn: str) -> dict:
    b = backups.get(arn)
    if b is None or b.get("kind", "backup") != "backup":
        raise BackupNotFoundException(f"Backup not found: {arn}")
    return b


def details(b: dict) -> dict:
    """BackupDetails (CreateBackup, DescribeBackup, DeleteBackup)."""
    return {"BackupArn": b["arn"], "BackupName": b["name"], "BackupSizeBytes": b.get("size", 0),
            "BackupStatus": b["status"], "BackupType": "USER", "BackupCreationDateTime": b["created"]}


def summary(b: dict, region: str) -> dict:
    """A ListBackups BackupSummary."""
    t = b["table"]
    return {"TableName": t["name"], "TableId": t["uuid"], "TableArn": table_arn(region, t["name"]),
            "BackupArn": b["arn"], "BackupName": b["name"], "BackupCreationDateTime": b["created"],
            "BackupStatus": b["status"], "BackupType": "USER", "BackupSizeBytes": b.get("size", 0)}


def _indexes(spec: dict, kind: str) -> list[dict]:
    out = []
    for ix in spec.get(kind) or []:
        d = {"IndexName": ix["IndexName"], "KeySchema": ix["KeySchema"], "Projection": ix["Projection"]}
        if kind == "GlobalSecondaryIndexes" and ix.get("ProvisionedThroughput"):
            d["ProvisionedThroughput"] = ix["ProvisionedThroughput"]
        out.append(d)
    return out


def description(b: dict, region: str) -> dict:
    """BackupDescription: the backup, its source table and that table's features."""
    t, spec = b["table"], b["table"]["spec"]
    pt = spec.get("ProvisionedThroughput") or {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    features: dict[str, Any] = {}
    for kind in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        if spec.get(kind):
            features[kind] = _indexes(spec, kind)
    if t.get("stream"):
        features["StreamDescription"] = {"StreamEnabled": True, "StreamViewType": t["stream"]}
    return {"BackupDetails": details(b),
            "SourceTableDetails": {"TableName": t["name"], "TableId": t["uuid"],
                                   "TableArn": table_arn(region, t["name"]),
                                   "TableSizeBytes": b.get("size", 0), "KeySchema": spec["KeySchema"],
                                   "TableCreationDateTime": t["created"], "ProvisionedThroughput": pt,
                                   "ItemCount": b.get("items", 0),
                                   "BillingMode": spec.get("BillingMode", "PROVISIONED")},
            "SourceTableFeatureDetails": features}


def parse_list_backups(body: dict) -> dict:
    """ListBackups' filters: TableName, time bounds, type, page size and start."""
    errors: list[str] = []
    limit = body.get("Limit", MAX_LIST)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST:
        bound = "less than or equal to 100" if isinstance(limit, int) and limit > 1 else "greater than or equal to 1"
        errors.append(f"Value '{limit}' at 'limit' failed to satisfy constraint: Member must have value {bound}")
    kind = body.get("BackupType", "ALL")
    if kind not in BACKUP_TYPES:
        errors.append(f"Value '{kind}' at 'backupType' failed to satisfy constraint: Member must satisfy enum "
                      f"value set: [{', '.join(BACKUP_TYPES)}]")
    if body.get("TableName") is not None:
        errors += table_name_errors(body["TableName"])
    if errors:
        raise constraint_failure(errors)
    lower, upper = body.get("TimeRangeLowerBound"), body.get("TimeRangeUpperBound")
    if lower is not None and upper is not None and float(lower) > float(upper):
        raise ValidationException("TimeRangeUpperBound must be greater than or equal to TimeRangeLowerBound")
    return {"table": body.get("TableName"), "limit": limit, "type": kind,
            "lower": None if lower is None else float(lower), "upper": None if upper is None else float(upper),
            "start": body.get("ExclusiveStartBackupArn")}


def list_page(backups: list[dict], f: dict, region: str) -> dict:
    """One page of backups matching the filters, oldest first."""
    mine = [b for b in backups if b.get("kind", "backup") == "backup"]  # not exports, imports, PITR bases
    chosen = [b for b in sorted(mine, key=lambda b: (b["created"], b["arn"]))
              if (f["table"] is None or b["table"]["name"] == f["table"])
              and f["type"] in ("ALL", "USER")
              and (f["lower"] is None or b["created"] >= f["lower"])
              and (f["upper"] is None or b["created"] <= f["upper"])]
    if f["start"]:
        arns = [b["arn"] for b in chosen]
        chosen = chosen[arns.index(f["start"]) + 1:] if f["start"] in arns else []
    page = chosen[:f["limit"]]
    out: dict[str, Any] = {"BackupSummaries": [summary(b, region) for b in page]}
    if len(chosen) > len(page):
        out["LastEvaluatedBackupArn"] = page[-1]["arn"]
    return out


def restore_spec(body: dict, source: dict) -> dict:
    """The CreateTable spec of a RestoreTableFromBackup (or ...ToPointInTime)
    target: the source table's, with the request's overrides, validated as
    CreateTable validates."""
    validate_table_name(body.get("TargetTableName"), "targetTableName")
    billing = body.get("BillingModeOverride")
    if billing is not None and billing not in BILLING_MODES:
        raise constraint_failure([f"Value '{billing}' at 'billingModeOverride' failed to satisfy constraint: "
                                  "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]"])
    create = {k: source[k] for k in ("KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput",
                                     "LocalSecondaryIndexes", "GlobalSecondaryIndexes") if source.get(k)}
    create["TableName"] = body["TargetTableName"]
    for wire, key in (("GlobalSecondaryIndexOverride", "GlobalSecondaryIndexes"),
                      ("LocalSecondaryIndexOverride", "LocalSecondaryIndexes")):
        if wire in body:
            create[key] = body[wire]
            if not body[wire]:
                create.pop(key)
    if billing is not None:
        create["BillingMode"] = billing
        if billing == "PAY_PER_REQUEST":
            create.pop("ProvisionedThroughput", None)
            for ix in create.get("GlobalSecondaryIndexes") or []:
                ix.pop("ProvisionedThroughput", None)
    if body.get("ProvisionedThroughputOverride") is not None:
        create["ProvisionedThroughput"] = body["ProvisionedThroughputOverride"]
    if create.get("BillingMode") == "PAY_PER_REQUEST":
        create.pop("ProvisionedThroughput", None)
    else:
        for ix in create.get("GlobalSecondaryIndexes") or []:
            ix.setdefault("ProvisionedThroughput", create.get("ProvisionedThroughput"))
    # Attribute definitions: only those the chosen keys use (an index override may drop some).
    spec = parse_create_table({**create, "AttributeDefinitions": _used_definitions(create)})
    if body.get("SSESpecificationOverride") is not None:  # the restored table's own key (ddb/sse.py)
        spec["SSESpecification"] = parse_sse(body["SSESpecificationOverride"], "sSESpecificationOverride")
    return spec


def _used_definitions(create: dict) -> list[dict]:
    used = {k["AttributeName"] for k in create["KeySchema"]}
    for kind in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        for ix in create.get(kind) or []:
            used |= {k["AttributeName"] for k in ix.get("KeySchema") or []}
    return [d for d in create["AttributeDefinitions"] if d["AttributeName"] in used]


def restore_summary(source_table_arn: str, now: float, *, backup_arn: str | None = None,
                    in_progress: bool = True) -> dict:
    """A restored table's RestoreSummary (DescribeTable)."""
    out = {"SourceTableArn": source_table_arn, "RestoreDateTime": now, "RestoreInProgress": in_progress}
    if backup_arn:
        out["SourceBackupArn"] = backup_arn
    return out


def arn_table(arn: str) -> str | None:
    """The table name in a backup ARN (None: not one)."""
    m = _ARN.fullmatch(arn)
    return m.group(3) if m else None
