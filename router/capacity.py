"""ReturnConsumedCapacity: what a call would cost in DynamoDB's capacity units.

This reports the units DynamoDB charges (``ddb.capacity``: reads by 4 KB,
writes by 1 KB, index writes and index reads as DynamoDB documents them), so
code that logs or asserts on ConsumedCapacity runs unchanged. (The nodes
meter and throttle on their own: node/partition/capacity.py.) Nodes measure item sizes only for calls that
ask (a DataRequest's ``measure_capacity``, with ``capacity_indexes`` for the
index writes a write causes) and answer them in typed DataResponse fields
(``size``, ``fetched_size``, ``index_writes``).
"""

from __future__ import annotations

import orjson

from ddb.capacity import consumed, read_units, write_units
from ddb.errors import constraint_failure
from trireme_pb import node_pb2

MODES = ("INDEXES", "TOTAL", "NONE")

__all__ = ["MODES", "Tally", "add", "entry", "index_units", "mode", "read_units", "wanted", "write_units",
           "written"]


def mode(body: dict) -> str:
    value = body.get("ReturnConsumedCapacity", "NONE")
    if value not in MODES:
        raise constraint_failure([f"Value '{value}' at 'returnConsumedCapacity' failed to satisfy constraint: "
                                  "Member must satisfy enum value set: [INDEXES, TOTAL, NONE]"])
    return value


def wanted(body: dict) -> bool:
    return body.get("ReturnConsumedCapacity", "NONE") != "NONE"


def index_units(resp: node_pb2.DataResponse) -> dict[str, list]:
    """The index writes a node measured for a write, ``{name: [local?, units]}``."""
    return {w.index: [w.local, w.units] for w in resp.index_writes}


def entry(table: str, units: float, how: str) -> dict:
    return consumed(table, units, {}, how)


def written(table: str, resp: node_pb2.DataResponse, how: str) -> dict:
    """The ConsumedCapacity of one write: the item's units and its index writes'."""
    return consumed(table, write_units(resp.size), index_units(resp), how)


class Tally:
    """Units summed per table (and index) over the calls of a batch."""

    def __init__(self) -> None:
        self.tables: dict[str, float] = {}
        self.indexes: dict[str, dict[str, list]] = {}

    def add(self, table: str, units: float, indexes: dict[str, list] | None = None) -> None:
        self.tables[table] = self.tables.get(table, 0.0) + units
        mine = self.indexes.setdefault(table, {})
        for name, (local, u) in (indexes or {}).items():
            mine[name] = [local, mine.get(name, [local, 0.0])[1] + u]

    def consumed(self, names: list[str], how: str) -> list[dict]:
        return [consumed(n, self.tables.get(n, 0.0), self.indexes.get(n, {}), how) for n in names]


def add(out: bytes, body: dict, consumed_capacity: dict | list) -> bytes:
    """Splice ConsumedCapacity into a JSON object response when the caller asked for it."""
    if not wanted(body):
        return out
    sep = b"," if len(out) > 2 else b""
    return out[:-1] + sep + b'"ConsumedCapacity":' + orjson.dumps(consumed_capacity) + b"}"
