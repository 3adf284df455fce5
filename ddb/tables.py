"""Table-level requests: CreateTable, DescribeTable, ListTables, UpdateTable,
DeleteTable validation, and the TableDescription built from metadata."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ddb.errors import LimitExceededException, ValidationException, constraint_failure
from ddb.indexes import check_indexes, indexes_of
from ddb.keys import KeySchema, table_name_errors, validate_table_name
from ddb.resource_policies import check_policy
from ddb.streams import parse_create_stream
from ddb.tags import parse_tags

BILLING_MODES = ("PROVISIONED", "PAY_PER_REQUEST")
TABLE_CLASSES = ("STANDARD", "STANDARD_INFREQUENT_ACCESS")
MAX_CAPACITY = 40_000  # default account table quota per dimension
DELETION_PROTECTED = ("Resource cannot be deleted as it is currently protected against deletion. "
                      "Disable deletion protection first.")  # DeleteTable's ValidationException
ENDPOINT_CACHE_MINUTES = 1440  # DescribeEndpoints' CachePeriodInMinutes, as DynamoDB answers
# DescribeLimits: DynamoDB's default quotas (a table's include its global indexes').
LIMITS = {"AccountMaxReadCapacityUnits": 80_000, "AccountMaxWriteCapacityUnits": 80_000,
          "TableMaxReadCapacityUnits": MAX_CAPACITY, "TableMaxWriteCapacityUnits": MAX_CAPACITY}


DECREASES_ANYTIME = 4  # decreases per UTC day at any time; then one per hour without a decrease (27 at most)
DECREASE_EVERY_S = 3600


def decreases_today(changed: dict, now: float) -> int:
    """NumberOfDecreasesToday: the decreases made in ``now``'s UTC day."""
    last = changed.get("LastDecreaseDateTime")
    if last is None or int(last // 86400) != int(now // 86400):
        return 0
    return int(changed.get("DecreasesToday", 1))


def _utc(ts: float) -> str:
    d = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return f"{d:%A, %B} {d.day}, {d.year} {d.hour % 12 or 12}:{d:%M:%S %p} UTC"


def check_decrease(changed: dict, now: float) -> int:
    """The decreases today after one more, or LimitExceededException as
    DynamoDB refuses one: four at any time in a UTC day, then one an hour."""
    n = decreases_today(changed, now)
    last = changed.get("LastDecreaseDateTime")
    if n >= DECREASES_ANYTIME and last is not None and now - last < DECREASE_EVERY_S:
        raise LimitExceededException(
            "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC day. "
            f"After the first {DECREASES_ANYTIME} decreases, each subsequent decrease in the same UTC day can be "
            f"performed at most once every {DECREASE_EVERY_S} seconds. Number of decreases today: {n}. "
            f"Last decrease at {_utc(last)}. Next decrease can be made at {_utc(last + DECREASE_EVERY_S)}")
    return n + 1


MAX_TABLES = 2500  # tables per account and region (DynamoDB's default quota)


def _provisioned_units(spec: dict) -> tuple[int, int]:
    """A table's provisioned read and write units, its global indexes' included."""
    if spec.get("BillingMode") == "PAY_PER_REQUEST":
        return 0, 0
    r = w = 0
    for s in [spec, *(spec.get("GlobalSecondaryIndexes") or [])]:
        pt = s.get("ProvisionedThroughput") or {}
        r += pt.get("ReadCapacityUnits", 0)
        w += pt.get("WriteCapacityUnits", 0)
    return r, w


def check_quotas(others: list[dict], spec: dict, creating: bool) -> None:
    """The account quotas DescribeLimits reports, for a table ``spec`` being
    created (``creating``) or changed, given every ``other`` user table's spec:
    the number of tables, and the provisioned units summed over the account
    (the message of the latter is Trireme's: no capture of DynamoDB's)."""
    if creating and len(others) >= MAX_TABLES:
        raise LimitExceededException(f"Subscriber limit exceeded: There is a limit of {MAX_TABLES} tables per "
                                     "subscriber")
    r, w = _provisioned_units(spec)
    for o in others:
        ro, wo = _provisioned_units(o)
        r, w = r + ro, w + wo
    for units, what in ((r, "Read"), (w, "Write")):
        limit = LIMITS[f"AccountMax{what}CapacityUnits"]
        if units > limit:
            raise LimitExceededException(
                f"Subscriber limit exceeded: the provisioned {what}CapacityUnits of the account's tables and "
                f"global secondary indexes would total {units}, over the account's maximum of {limit} "
                f"(DescribeLimits: AccountMax{what}CapacityUnits)")


# WarmThroughput: what a new table supports at once (DynamoDB's defaults for a new table)
WARM_READ, WARM_WRITE = 12_000, 4_000


def parse_warm_throughput(body: dict, old: dict | None = None) -> dict | None:
    """A request's WarmThroughput, kept at least the table's current one
    (warm throughput only grows)."""
    wt = body.get("WarmThroughput")
    if wt is None:
        return old
    if not isinstance(wt, dict):
        raise ValidationException(f"1 validation error detected: Value '{wt}' at 'warmThroughput' failed to "
                                  "satisfy constraint: Member must be a structure")
    errors = []
    out = dict(old or {})
    for member, wire in (("readUnitsPerSecond", "ReadUnitsPerSecond"), ("writeUnitsPerSecond", "WriteUnitsPerSecond")):
        v = wt.get(wire)
        if v is None:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            errors.append(f"Value '{v}' at 'warmThroughput.{member}' failed to satisfy constraint: "
                          "Member must have value greater than or equal to 1")
        else:
            out[wire] = max(v, out.get(wire, 0))
    if errors:
        raise constraint_failure(errors)
    return out


def warm_throughput(spec: dict) -> dict:
    """DescribeTable's WarmThroughput: the larger of DynamoDB's new-table
    defaults, the requested warm throughput and the provisioned capacity."""
    wt = spec.get("WarmThroughput") or {}
    pt = spec.get("ProvisionedThroughput") or {}
    return {"ReadUnitsPerSecond": max(WARM_READ, wt.get("ReadUnitsPerSecond", 0), pt.get("ReadCapacityUnits", 0)),
            "WriteUnitsPerSecond": max(WARM_WRITE, wt.get("WriteUnitsPerSecond", 0),
                                       pt.get("WriteCapacityUnits", 0)),
            "Status": "ACTIVE"}


def parse_table_name(body: dict) -> str:
    return validate_table_name(body.get("TableName"))


def _throughput(pt: Any, errors: list[str], param: str = "provisionedThroughput") -> dict | None:
    if pt is None:
        return None
    if not isinstance(pt, dict):
        raise ValidationException(f"1 validation error detected: Value '{pt}' at '{param}' failed to satisfy "
                                  "constraint: Member must be a structure")
    out = {}
    for member, wire in (("readCapacityUnits", "ReadCapacityUnits"), ("writeCapacityUnits", "WriteCapacityUnits")):
        v = pt.get(wire)
        if v is None:
            errors.append(f"Value null at '{param}.{member}' failed to satisfy constraint: "
                          "Member must not be null")
        elif not isinstance(v, int) or isinstance(v, bool) or v < 1:
            errors.append(f"Value '{v}' at '{param}.{member}' failed to satisfy constraint: "
                          "Member must have value greater than or equal to 1")
        else:
            out[wire] = v
    return out


def _table_class(body: dict, errors: list[str]) -> str | None:
    """TableClass, when given: DynamoDB prices storage and requests by it."""
    tc = body.get("TableClass")
    if tc is not None and tc not in TABLE_CLASSES:
        errors.append(f"Value '{tc}' at 'tableClass' failed to satisfy constraint: Member must satisfy enum "
                      f"value set: [{', '.join(TABLE_CLASSES)}]")
    return tc


def parse_create_table(body: dict) -> dict:
    errors: list[str] = []
    name = body.get("TableName")
    errors += table_name_errors(name)
    billing = body.get("BillingMode")
    if billing is not None and billing not in BILLING_MODES:
        errors.append(f"Value '{billing}' at 'billingMode' failed to satisfy constraint: Member must "
                      "satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]")
    pt = _throughput(body.get("ProvisionedThroughput"), errors)
    table_class = _table_class(body, errors)
    if errors:
        raise constraint_failure(errors)
    has_indexes = body.get("LocalSecondaryIndexes") is not None or body.get("GlobalSecondaryIndexes") is not None
    schema = KeySchema.from_wire(body.get("KeySchema"), body.get("AttributeDefinitions"),
                                 has_indexes=has_indexes)
    lsis, gsis = check_indexes(body, schema)
    billing = billing or "PROVISIONED"
    if billing == "PROVISIONED":
        if pt is None:
            raise ValidationException("One or more parameter values were invalid: ReadCapacityUnits and "
                                      "WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
        for k, v in pt.items():
            if v > MAX_CAPACITY:
                raise ValidationException(f"One or more parameter values were invalid: {k} for table "
                                          f"exceeds the maximum allowed value of {MAX_CAPACITY}")
    elif pt is not None:
        raise ValidationException("One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                                  "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
    tags = parse_tags(body.get("Tags"), required=False)
    stream = parse_create_stream(body.get("StreamSpecification"))
    policy = body.get("ResourcePolicy")
    if policy is not None:
        check_policy(policy, stream=False)
    return {
        "TableName": name,
        "KeySchema": schema.key_schema_wire(),
        "AttributeDefinitions": body.get("AttributeDefinitions"),
        "BillingMode": billing,
        "ProvisionedThroughput": pt,
        "Tags": tags,
        "LocalSecondaryIndexes": lsis,
        "GlobalSecondaryIndexes": gsis,
        "StreamSpecification": stream.to_wire() if stream else None,
        "DeletionProtectionEnabled": bool(body.get("DeletionProtectionEnabled", False)),
        "WarmThroughput": parse_warm_throughput(body),
        "TableClass": table_class,
        **({"ResourcePolicy": policy} if policy is not None else {}),  # the metadata keeps it apart (cluster/meta.py)
    }


def check_deletable(spec: dict) -> None:
    """DeleteTable of a table with DeletionProtectionEnabled fails, as in DynamoDB."""
    if spec.get("DeletionProtectionEnabled"):
        raise ValidationException(DELETION_PROTECTED)


def describe_table(record: dict, *, region: str, account: str = "000000000000", now: float | None = None) -> dict:
    spec = record["spec"]
    changed = record.get("throughput_changed") or record.get("updated") or {}
    name = record["name"]
    arn = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    pt = spec.get("ProvisionedThroughput") or {}
    out: dict[str, Any] = {
        "AttributeDefinitions": spec["AttributeDefinitions"],
        "TableName": name,
        "KeySchema": spec["KeySchema"],
        "TableStatus": record["status"],
        "CreationDateTime": record["created"],
        "ProvisionedThroughput": {
            "NumberOfDecreasesToday": decreases_today(changed, now) if now is not None else 0,
            "ReadCapacityUnits": pt.get("ReadCapacityUnits", 0),
            "WriteCapacityUnits": pt.get("WriteCapacityUnits", 0),
        },
        "TableSizeBytes": record.get("size_bytes", 0),
        "ItemCount": record.get("item_count", 0),
        "TableArn": arn,
        "TableId": record["uuid"],
        "DeletionProtectionEnabled": bool(spec.get("DeletionProtectionEnabled", False)),
        "WarmThroughput": warm_throughput(spec),
    }
    if spec.get("RestoreSummary"):  # a table restored from a backup or a point in time (router/backups.py)
        out["RestoreSummary"] = spec["RestoreSummary"]
    lsis = [i.describe(arn, record.get("index_stats") or {}) for i in indexes_of(spec) if i.local]
    if lsis:
        out["LocalSecondaryIndexes"] = lsis
    gsis = _global_indexes(spec, record.get("indexes", {}), arn, backfilling=record["status"] != "CREATING")
    if gsis:
        out["GlobalSecondaryIndexes"] = gsis
    if "LastIncreaseDateTime" in changed:
        out["ProvisionedThroughput"]["LastIncreaseDateTime"] = changed["LastIncreaseDateTime"]
    if "LastDecreaseDateTime" in changed:
        out["ProvisionedThroughput"]["LastDecreaseDateTime"] = changed["LastDecreaseDateTime"]
    if spec.get("TableClass"):  # shown once set, as DynamoDB does
        out["TableClassSummary"] = {"TableClass": spec["TableClass"],
                                    **({"LastUpdateDateTime": changed["TableClassUpdateDateTime"]}
                                       if "TableClassUpdateDateTime" in changed else {})}
    if spec.get("BillingMode") == "PAY_PER_REQUEST":
        out["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST",
                                     "LastUpdateToPayPerRequestDateTime":
                                         changed.get("LastUpdateToPayPerRequestDateTime", record["created"])}
    elif "LastUpdateToPayPerRequestDateTime" in changed:
        out["BillingModeSummary"] = {"BillingMode": "PROVISIONED"}
    return out


def deleting(record: dict, deleted: dict) -> dict:
    """What DeleteTable describes: the table as it was (``record``, with its
    indexes' states), its counts as the metadata last had them (``deleted``),
    the table and every index DELETING."""
    indexes = {name: {**st, "status": "DELETING"} for name, st in (record.get("indexes") or {}).items()}
    return {**record, "item_count": deleted.get("item_count", record.get("item_count", 0)),
            "size_bytes": deleted.get("size_bytes", record.get("size_bytes", 0)),
            "status": "DELETING", "indexes": indexes}


def _global_indexes(spec: dict, states: dict, arn: str, *, backfilling: bool) -> list[dict]:
    """GlobalSecondaryIndexes of a TableDescription: the spec's, with the
    status of each hidden index table (an index being deleted is still shown)."""
    out = []
    listed = spec.get("GlobalSecondaryIndexes") or []
    deleting = [st["spec"] for name, st in states.items()
                if st["status"] == "DELETING" and all(g["IndexName"] != name for g in listed)]
    for gsi in [*listed, *deleting]:
        name = gsi["IndexName"]
        st = states.get(name, {"status": "CREATING", "spec": {}})
        pt = gsi.get("ProvisionedThroughput") or {}
        desc = {"IndexName": name, "KeySchema": gsi["KeySchema"], "Projection": gsi["Projection"],
                "IndexStatus": st["status"],
                "ProvisionedThroughput": {"NumberOfDecreasesToday": 0,
                                          "ReadCapacityUnits": pt.get("ReadCapacityUnits", 0),
                                          "WriteCapacityUnits": pt.get("WriteCapacityUnits", 0)},
                "IndexSizeBytes": st.get("size_bytes", 0), "ItemCount": st.get("item_count", 0),
                "IndexArn": f"{arn}/index/{name}"}
        if backfilling and st["status"] == "CREATING":
            desc["Backfilling"] = True
        out.append(desc)
    return out


def parse_list_tables(body: dict) -> tuple[int, str | None]:
    errors: list[str] = []
    limit = body.get("Limit", 100)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100:
        if isinstance(limit, int) and limit > 100:
            errors.append(f"Value '{limit}' at 'limit' failed to satisfy constraint: "
                          "Member must have value less than or equal to 100")
        else:
            errors.append(f"Value '{limit}' at 'limit' failed to satisfy constraint: "
                          "Member must have value greater than or equal to 1")
    start = body.get("ExclusiveStartTableName")
    if start is not None:
        errors += table_name_errors(start, "exclusiveStartTableName")
    if errors:
        raise constraint_failure(errors)
    return limit, start


def list_tables_page(names: list[str], limit: int, start: str | None) -> dict:
    if start is not None:
        names = [n for n in names if n > start]
    page = names[:limit]
    out: dict[str, Any] = {"TableNames": page}
    if len(names) > limit:
        out["LastEvaluatedTableName"] = page[-1]
    return out


def parse_update_table(body: dict, record: dict, *, now: float, index_update: bool = False) -> tuple[dict, dict]:
    spec = dict(record["spec"])
    errors: list[str] = []
    billing = body.get("BillingMode")
    if billing is not None and billing not in BILLING_MODES:
        errors.append(f"Value '{billing}' at 'billingMode' failed to satisfy constraint: Member must "
                      "satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]")
    pt = _throughput(body.get("ProvisionedThroughput"), errors)
    table_class = _table_class(body, errors)
    if errors:
        raise constraint_failure(errors)
    updated: dict[str, float] = {}
    if table_class is not None and table_class != (spec.get("TableClass") or "STANDARD"):
        updated["TableClassUpdateDateTime"] = now
    if table_class is not None:
        spec["TableClass"] = table_class
    old_billing = spec.get("BillingMode", "PROVISIONED")
    new_billing = billing or old_billing
    if new_billing == "PAY_PER_REQUEST":
        if pt is not None:
            raise ValidationException("One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                                      "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
        if old_billing != "PAY_PER_REQUEST":
            updated["LastUpdateToPayPerRequestDateTime"] = now
        spec["ProvisionedThroughput"] = None
    else:
        if old_billing == "PAY_PER_REQUEST" and pt is None:
            raise ValidationException("One or more parameter values were invalid: ProvisionedThroughput must be "
                                      "specified when BillingMode is PROVISIONED")
        if pt is not None:
            old = spec.get("ProvisionedThroughput") or {}
            if old_billing == "PROVISIONED" and old == pt and billing is None:
                raise ValidationException(
                    "The provisioned throughput for the table will not change. The requested value equals the "
                    "current value. Current ReadCapacityUnits provisioned for the table: "
                    f"{old.get('ReadCapacityUnits')}. Requested ReadCapacityUnits: {pt['ReadCapacityUnits']}. "
                    "Current WriteCapacityUnits provisioned for the table: "
                    f"{old.get('WriteCapacityUnits')}. Requested WriteCapacityUnits: {pt['WriteCapacityUnits']}. "
                    "Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher "
                    "limits.")
            for k, v in pt.items():
                if v > MAX_CAPACITY:
                    raise ValidationException(f"One or more parameter values were invalid: {k} for table "
                                              f"exceeds the maximum allowed value of {MAX_CAPACITY}")
            if any(pt[k] > old.get(k, 0) for k in pt):
                updated["LastIncreaseDateTime"] = now
            if old_billing == "PROVISIONED" and any(pt[k] < old.get(k, 0) for k in pt):
                changed = record.get("throughput_changed") or record.get("updated") or {}
                updated["DecreasesToday"] = check_decrease(changed, now)
                updated["LastDecreaseDateTime"] = now
            spec["ProvisionedThroughput"] = pt
    spec["WarmThroughput"] = parse_warm_throughput(body, spec.get("WarmThroughput"))
    if billing is None and pt is None and "DeletionProtectionEnabled" not in body and not index_update \
            and "WarmThroughput" not in body and table_class is None:
        raise ValidationException("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
                                  "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
    if "DeletionProtectionEnabled" in body:
        spec["DeletionProtectionEnabled"] = bool(body["DeletionProtectionEnabled"])
    spec["BillingMode"] = new_billing
    updated.update(capacity_history(record, spec, now))
    return spec, updated


HISTORY_KEEP = 64  # capacity changes kept per table (`trireme cost`'s capacity-hours)


def _capacity(spec: dict) -> list:
    pt = spec.get("ProvisionedThroughput") or {}
    return [spec.get("BillingMode", "PROVISIONED"), pt.get("ReadCapacityUnits", 0), pt.get("WriteCapacityUnits", 0)]


def capacity_history(record: dict, spec: dict, now: float) -> dict:
    """The table's capacity over time, for its bill: ``{"CapacityHistory":
    [[since, billing mode, RCU, WCU], ...]}`` with ``spec``'s capacity from
    ``now`` (the first entry is the capacity the table was created with);
    {} when the capacity did not change."""
    changed = record.get("throughput_changed") or record.get("updated") or {}
    history = changed.get("CapacityHistory") or [[record.get("created", now), *_capacity(record["spec"])]]
    if _capacity(spec) == history[-1][1:]:
        return {}
    return {"CapacityHistory": [*history, [now, *_capacity(spec)]][-HISTORY_KEEP:]}
