"""ReturnConsumedCapacity: what a call would cost in DynamoDB's capacity units.

Trireme does not meter or throttle; this reports the units DynamoDB would
charge (reads by 4 KB of item size, half for eventually consistent reads;
writes by 1 KB of the larger of the item before and after), so code that logs
or asserts on ConsumedCapacity runs unchanged. Nodes measure item sizes only
for calls that ask (``cap`` in the request's args).
"""

from __future__ import annotations

import math

import orjson

from ddb.errors import constraint_failure

MODES = ("INDEXES", "TOTAL", "NONE")


def mode(body: dict) -> str:
    value = body.get("ReturnConsumedCapacity", "NONE")
    if value not in MODES:
        raise constraint_failure([f"Value '{value}' at 'returnConsumedCapacity' failed to satisfy constraint: "
                                  "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"])
    return value


def wanted(body: dict) -> bool:
    return body.get("ReturnConsumedCapacity", "NONE") != "NONE"


def size_of(resp_body: bytes) -> int:
    """The item size (DynamoDB's count) a node reported for a call made with ``cap``."""
    return orjson.loads(resp_body).get("size", 0) if resp_body else 0


def read_units(nbytes: int, consistent: bool) -> float:
    units = max(1, math.ceil(nbytes / 4096))
    return float(units if consistent else units / 2)


def write_units(nbytes: int) -> float:
    return float(max(1, math.ceil(nbytes / 1024)))


def entry(table: str, units: float, how: str) -> dict:
    out: dict = {"TableName": table, "CapacityUnits": units}
    if how == "INDEXES":
        out["Table"] = {"CapacityUnits": units}
    return out


def add(out: bytes, body: dict, consumed: dict | list) -> bytes:
    """Splice ConsumedCapacity into a JSON object response when the caller asked for it."""
    if not wanted(body):
        return out
    sep = b"," if len(out) > 2 else b""
    return out[:-1] + sep + b'"ConsumedCapacity":' + orjson.dumps(consumed) + b"}"
