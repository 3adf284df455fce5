"""Continuous backups settings, exports to and imports from DynamoDB JSON
files: validation, DynamoDB's response shapes and the files' formats (pure).

An export writes what DynamoDB writes to S3, under
``BUCKET/PREFIX/AWSDynamoDB/EXPORT_ID/``: ``data/*.json.gz`` (one
``{"Item": {...}}`` per line), ``manifest-files.json`` (one line per data
file), ``manifest-summary.json``, and their ``.md5`` files.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone
from typing import Any

import orjson

from ddb.errors import ValidationException, constraint_failure
from ddb.keys import table_name_errors
from ddb.tables import parse_create_table

MAX_RECOVERY_DAYS = 35  # RecoveryPeriodInDays: 1-35, the default
_TABLE_ARN = re.compile(r"arn:aws:dynamodb:[^:]*:\d{12}:table/([a-zA-Z0-9_.-]{3,255})")
INPUT_FORMATS = ("DYNAMODB_JSON", "ION", "CSV")
COMPRESSIONS = ("GZIP", "ZSTD", "NONE")


def new_id(now: float) -> str:
    """DynamoDB's export and import ids: 13 digits of milliseconds, '-', 8 hex digits."""
    return f"{int(now * 1000):013d}-{secrets.token_hex(4)}"


# --- continuous backups (point-in-time recovery settings) -----------------------------

def parse_update_continuous_backups(body: dict) -> tuple[str, bool, int]:
    """(TableName, enabled, RecoveryPeriodInDays) of UpdateContinuousBackups."""
    errors = table_name_errors(body.get("TableName"))
    spec = body.get("PointInTimeRecoverySpecification")
    if spec is None:
        errors.append("Value null at 'pointInTimeRecoverySpecification' failed to satisfy constraint: "
                      "Member must not be null")
    elif spec.get("PointInTimeRecoveryEnabled") is None:
        errors.append("Value null at 'pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled' failed to "
                      "satisfy constraint: Member must not be null")
    if errors:
        raise constraint_failure(errors)
    days = spec.get("RecoveryPeriodInDays", MAX_RECOVERY_DAYS)
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_RECOVERY_DAYS:
        raise constraint_failure([f"Value '{days}' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' "
                                  "failed to satisfy constraint: Member must have value "
                                  + ("less than or equal to 35" if isinstance(days, int) and days > 1
                                     else "greater than or equal to 1")])
    enabled = spec["PointInTimeRecoveryEnabled"]
    if not enabled and "RecoveryPeriodInDays" in spec:
        raise ValidationException("RecoveryPeriodInDays can only be set when PointInTimeRecoveryEnabled is true")
    return body["TableName"], bool(enabled), days


def continuous_description(pitr: dict | None, window: tuple[float, float] | None) -> dict:
    """ContinuousBackupsDescription of a table's settings and its restorable window (None: not yet open)."""
    d: dict[str, Any] = {"PointInTimeRecoveryStatus": "ENABLED" if pitr else "DISABLED"}
    if pitr:
        d["RecoveryPeriodInDays"] = pitr["days"]
    if pitr and window is not None:
        d.update({"EarliestRestorableDateTime": window[0], "LatestRestorableDateTime": window[1]})
    return {"ContinuousBackupsDescription": {"ContinuousBackupsStatus": "ENABLED",
                                             "PointInTimeRecoveryDescription": d}}


# --- exports ----------------------------------------------------------------------------

def table_of_arn(arn: Any, param: str = "tableArn") -> str:
    if arn is None:
        raise constraint_failure([f"Value null at '{param}' failed to satisfy constraint: Member must not be null"])
    m = _TABLE_ARN.fullmatch(arn) if isinstance(arn, str) else None
    if m is None:
        raise ValidationException(f"Invalid TableArn: {arn}")
    return m.group(1)


def bucket_name(value: Any, param: str) -> str:
    """A bucket names a directory: no path separators, no dot names."""
    if value is None:
        raise constraint_failure([f"Value null at '{param}' failed to satisfy constraint: Member must not be null"])
    if not isinstance(value, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,253}[a-z0-9]", value) \
            or ".." in value:
        raise constraint_failure([f"Value '{value}' at '{param}' failed to satisfy constraint: Member must "
                                  "satisfy regular expression pattern: ^[a-z0-9A-Z]+[\\.\\-\\w]*[a-z0-9A-Z]+$"])
    return value


def prefix_of(value: Any) -> str:
    """An S3 prefix as a relative path (no '..', no leading '/')."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 1024 or any(p in ("..", ".") for p in value.split("/")):
        raise ValidationException(f"Invalid S3 prefix: {value}")
    return value.strip("/")


def parse_export(body: dict) -> dict:
    table = table_of_arn(body.get("TableArn"))
    bucket = bucket_name(body.get("S3Bucket"), "s3Bucket")
    fmt = body.get("ExportFormat", "DYNAMODB_JSON")
    if fmt not in ("DYNAMODB_JSON", "ION"):
        raise constraint_failure([f"Value '{fmt}' at 'exportFormat' failed to satisfy constraint: Member must "
                                  "satisfy enum value set: [DYNAMODB_JSON, ION]"])
    if fmt != "DYNAMODB_JSON":
        raise ValidationException("ExportFormat ION is not supported by Trireme; use DYNAMODB_JSON")
    kind = body.get("ExportType", "FULL_EXPORT")
    if kind != "FULL_EXPORT":
        raise ValidationException("Only FULL_EXPORT is supported by Trireme")
    return {"table": table, "bucket": bucket, "prefix": prefix_of(body.get("S3Prefix")),
            "time": body.get("ExportTime"), "token": body.get("ClientToken")}


def export_description(rec: dict) -> dict:
    d = {"ExportArn": rec["arn"], "ExportStatus": rec["status"], "StartTime": rec["start"],
         "TableArn": rec["table_arn"], "TableId": rec["table_id"], "ExportTime": rec["time"],
         "S3Bucket": rec["bucket"], "S3SseAlgorithm": "AES256", "ExportFormat": "DYNAMODB_JSON",
         "ExportType": "FULL_EXPORT", "BilledSizeBytes": rec.get("size", 0), "ItemCount": rec.get("items", 0)}
    if rec.get("prefix"):
        d["S3Prefix"] = rec["prefix"]
    if rec.get("token"):
        d["ClientToken"] = rec["token"]
    if rec.get("end"):
        d["EndTime"] = rec["end"]
    if rec.get("manifest"):
        d["ExportManifest"] = rec["manifest"]
    if rec["status"] == "FAILED":
        d["FailureCode"], d["FailureMessage"] = "ExportFailed", rec.get("failure", "")
    return d


def export_summary(rec: dict) -> dict:
    return {"ExportArn": rec["arn"], "ExportStatus": rec["status"], "ExportType": "FULL_EXPORT"}


def export_root(rec: dict) -> str:
    """The export's key prefix in its bucket: ``PREFIX/AWSDynamoDB/EXPORT_ID``."""
    export_id = rec["arn"].rsplit("/", 1)[1]
    return "/".join(p for p in (rec.get("prefix"), "AWSDynamoDB", export_id) if p)


def data_lines(items: list[bytes]) -> bytes:
    """A data file's content: one ``{"Item": ...}`` per line."""
    return b"".join(b'{"Item":' + i + b"}\n" for i in items)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()  # noqa: S324 (the checksum DynamoDB writes, not security)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def manifest_summary(rec: dict, files_key: str) -> dict:
    return {"version": "2020-06-30", "exportArn": rec["arn"], "startTime": iso(rec["start"]),
            "endTime": iso(rec["end"]), "tableArn": rec["table_arn"], "tableId": rec["table_id"],
            "exportTime": iso(rec["time"]), "s3Bucket": rec["bucket"], "s3Prefix": rec.get("prefix") or None,
            "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": None, "manifestFilesS3Key": files_key,
            "billedSizeBytes": rec.get("size", 0), "itemCount": rec.get("items", 0),
            "outputFormat": "DYNAMODB_JSON", "exportType": "FULL_EXPORT"}


# --- imports ----------------------------------------------------------------------------

def parse_import(body: dict) -> dict:
    src = body.get("S3BucketSource")
    if src is None:
        raise constraint_failure(["Value null at 's3BucketSource' failed to satisfy constraint: "
                                  "Member must not be null"])
    bucket = bucket_name(src.get("S3Bucket"), "s3BucketSource.s3Bucket")
    fmt = body.get("InputFormat")
    if fmt not in INPUT_FORMATS:
        raise constraint_failure([f"Value '{fmt}' at 'inputFormat' failed to satisfy constraint: Member must "
                                  f"satisfy enum value set: [{', '.join(INPUT_FORMATS)}]"])
    if fmt != "DYNAMODB_JSON":
        raise ValidationException(f"InputFormat {fmt} is not supported by Trireme; use DYNAMODB_JSON")
    compression = body.get("InputCompressionType", "NONE")
    if compression not in COMPRESSIONS:
        raise constraint_failure([f"Value '{compression}' at 'inputCompressionType' failed to satisfy "
                                  "constraint: Member must satisfy enum value set: [GZIP, ZSTD, NONE]"])
    if compression == "ZSTD":
        raise ValidationException("InputCompressionType ZSTD is not supported by Trireme; use GZIP or NONE")
    params = body.get("TableCreationParameters")
    if params is None:
        raise constraint_failure(["Value null at 'tableCreationParameters' failed to satisfy constraint: "
                                  "Member must not be null"])
    spec = parse_create_table({k: v for k, v in params.items() if k != "SSESpecification"})
    return {"bucket": bucket, "prefix": prefix_of(src.get("S3KeyPrefix")), "compression": compression,
            "spec": spec, "params": params, "source": src, "token": body.get("ClientToken")}


def import_description(rec: dict) -> dict:
    d = {"ImportArn": rec["arn"], "ImportStatus": rec["status"], "TableArn": rec["table_arn"],
         "TableId": rec["table_id"], "S3BucketSource": rec["source"], "ErrorCount": rec.get("errors", 0),
         "InputFormat": "DYNAMODB_JSON", "InputCompressionType": rec["compression"],
         "TableCreationParameters": rec["params"], "StartTime": rec["start"],
         "ProcessedSizeBytes": rec.get("size", 0), "ProcessedItemCount": rec.get("processed", 0),
         "ImportedItemCount": rec.get("items", 0)}
    if rec.get("token"):
        d["ClientToken"] = rec["token"]
    if rec.get("end"):
        d["EndTime"] = rec["end"]
    if rec["status"] == "FAILED":
        d["FailureCode"], d["FailureMessage"] = "ImportFailed", rec.get("failure", "")
    return d


def import_summary(rec: dict) -> dict:
    return {"ImportArn": rec["arn"], "ImportStatus": rec["status"], "TableArn": rec["table_arn"],
            "S3BucketSource": rec["source"], "InputFormat": "DYNAMODB_JSON", "StartTime": rec["start"],
            **({"EndTime": rec["end"]} if rec.get("end") else {})}


def parse_item_line(line: bytes) -> dict | None:
    """The item of one DynamoDB JSON line (``{"Item": {...}}``); None for a bad line (an ErrorCount)."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    item = doc.get("Item") if isinstance(doc, dict) else None
    return item if isinstance(item, dict) and item else None


def page(records: list[dict], start: str | None, limit: int, token_name: str) -> tuple[list[dict], dict]:
    """One page of records (oldest first) after the NextToken `start`."""
    ordered = sorted(records, key=lambda r: (r["start"], r["arn"]))
    if start:
        arns = [r["arn"] for r in ordered]
        ordered = ordered[arns.index(start) + 1:] if start in arns else []
    chosen = ordered[:limit]
    return chosen, ({token_name: chosen[-1]["arn"]} if len(ordered) > len(chosen) else {})
