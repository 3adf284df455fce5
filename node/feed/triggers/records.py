"""The pure rules of delivering a stream shard to a function: the lanes of
ParallelizationFactor, the answer of ReportBatchItemFailures, and the
on-failure record (Lambda's DDBStreamBatchInfo invocation record) with the
item it becomes in a destination table."""

from __future__ import annotations

import time
import uuid
import zlib
from datetime import datetime
from typing import Any

import orjson


def lane_of(keys: dict[str, Any], lanes: int) -> int:
    """The lane of an item's records: a stable hash of its key (``Keys`` of
    the record), so every record of one item takes the same lane, on every
    node and after every restart."""
    return zlib.crc32(orjson.dumps(keys, option=orjson.OPT_SORT_KEYS)) % lanes


def split_lanes(records: list[dict], lanes: int) -> list[list[dict]]:
    """``records`` (Lambda's stream records, in shard order) spread over at
    most ``lanes`` lanes by their item's key, each in shard order: lanes may
    run concurrently and still deliver each item's records in order."""
    out: list[list[dict]] = [[] for _ in range(lanes)]
    for r in records:
        out[lane_of(r["dynamodb"]["Keys"], lanes)].append(r)
    return [lane for lane in out if lane]


def batch_item_failures(payload: bytes, sequence_numbers: list[str]) -> int | None:
    """The index in the batch to retry from, per a ReportBatchItemFailures
    answer (None: all succeeded). An empty or null list, or a null answer, is
    success; an itemIdentifier that is empty, null or not in the batch, or an
    answer of another shape, fails the whole batch (index 0)."""
    try:
        answer = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        return 0
    if answer is None:
        return None
    if not isinstance(answer, dict):
        return 0
    failures = answer.get("batchItemFailures")
    if not failures:
        return None
    if not isinstance(failures, list):
        return 0
    lowest = len(sequence_numbers)
    for f in failures:
        ident = f.get("itemIdentifier") if isinstance(f, dict) else None
        if not ident or ident not in sequence_numbers:
            return 0
        lowest = min(lowest, sequence_numbers.index(ident))
    return lowest


def _utc(seconds: float, ms: bool) -> str:
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{int(seconds * 1000) % 1000:03d}Z" if ms else f"{text}Z"


def failure_record(mapping: dict, shard: str, part: list[dict], reason: str, *, invocations: int = 1,
                   now: float | None = None) -> dict[str, Any]:
    """The invocation record Lambda sends an on-failure destination for a
    stream batch given up after ``invocations`` invocations of the function."""
    first, last = part[0], part[-1]
    return {
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": mapping["function_arn"],
                           "condition": reason, "approximateInvokeCount": invocations},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": _utc(time.time() if now is None else now, ms=True),
        "DDBStreamBatchInfo": {
            "shardId": shard, "streamArn": mapping["source"], "batchSize": len(part),
            "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _utc(first["dynamodb"]["ApproximateCreationDateTime"], ms=False),
            "approximateArrivalOfLastRecord": _utc(last["dynamodb"]["ApproximateCreationDateTime"], ms=False),
        },
    }


def attribute(value: Any) -> dict[str, Any]:
    """A JSON value as a DynamoDB AttributeValue (objects as M, arrays as L)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, (int, float)):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [attribute(v) for v in value]}
    if isinstance(value, dict):
        return {"M": {k: attribute(v) for k, v in value.items()}}
    raise TypeError(f"not a JSON value: {value!r}")


def failure_item(record: dict[str, Any], key_schema: list[dict], types: dict[str, str]) -> dict[str, Any]:
    """The item an on-failure destination table gets for ``record``: each
    member of the record an attribute (``DDBStreamBatchInfo`` a map, ...);
    the table's partition key, which must be a String, holds the record's
    ``requestContext.requestId``; a sort key its ``timestamp``, as the
    ISO-8601 text (String) or epoch milliseconds (Number). ``types``: the
    table's AttributeDefinitions, name -> type. A ValueError names a key
    schema that cannot hold it."""
    item = {name: attribute(v) for name, v in record.items()}
    for key in key_schema:
        name = key["AttributeName"]
        kind = types.get(name)
        if key["KeyType"] == "HASH" and kind == "S":
            item[name] = {"S": record["requestContext"]["requestId"]}
        elif key["KeyType"] == "RANGE" and kind == "S":
            item[name] = {"S": record["timestamp"]}
        elif key["KeyType"] == "RANGE" and kind == "N":
            at = datetime.fromisoformat(record["timestamp"])
            item[name] = {"N": str(round(at.timestamp() * 1000))}
        else:
            role = "partition key" if key["KeyType"] == "HASH" else "sort key"
            raise ValueError(f"its {role} {name} is of type {kind}: the failure record needs a partition key "
                             "of type S and, if any, a sort key of type S or N")
    return item
