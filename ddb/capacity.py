"""Capacity units as DynamoDB counts them, for ReturnConsumedCapacity.

Reads cost one unit per 4 KB of the items read (rounded up, at least one),
half of that when eventually consistent; writes one unit per 1 KB of the
larger of the item before and after. A write also costs index writes
(developer guide, "Provisioned throughput considerations for global
secondary indexes", and the same rules for local indexes): none when the
item is in the index neither before nor after, or its entry does not
change; one (the entry's size) when the entry appears, disappears, or only
its projected attributes change; two (the old entry deleted, the new one
put) when an index key attribute changes. Queries and scans of an index are
charged by the size of its entries; fetching what a local index does not
project is charged to the table.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from typing import Protocol

from ddb.size import item_size


class IndexDef(Protocol):
    """One index, as a node needs it to price a write (the SecondaryIndex
    message of node.proto has this shape)."""

    name: str
    local: bool
    key_attributes: Sequence[str]  # an item lacking one is not in the index
    projects_all: bool  # an entry is the whole item
    projected: Collection[str]  # otherwise the attributes an entry keeps


def read_units(nbytes: int, consistent: bool) -> float:
    units = max(1, math.ceil(nbytes / 4096))
    return float(units if consistent else units / 2)


def write_units(nbytes: int) -> float:
    return float(max(1, math.ceil(nbytes / 1024)))


def _entry(item: dict | None, ix: IndexDef) -> dict | None:
    if item is None or any(k not in item for k in ix.key_attributes):
        return None
    if ix.projects_all:
        return item
    keep = ix.projected
    return {k: v for k, v in item.items() if k in keep}


def index_write_units(defs: Sequence[IndexDef], old: dict | None, new: dict | None) -> dict[str, list]:
    """``{index name: [local?, units]}`` for the indexes a write ``old -> new`` changes."""
    out: dict[str, list] = {}
    for ix in defs:
        keys = ix.key_attributes
        before, after = _entry(old, ix), _entry(new, ix)
        if before is None and after is None or before == after:
            continue
        if before is None or after is None:
            units = write_units(item_size(before if after is None else after))
        elif any(old[k] != new[k] for k in keys):  # type: ignore[index]
            units = write_units(item_size(before)) + write_units(item_size(after))
        else:
            units = write_units(max(item_size(before), item_size(after)))
        out[ix.name] = [ix.local, units]
    return out


def consumed(table: str, table_units: float, indexes: dict[str, list], how: str) -> dict:
    """A ConsumedCapacity: the total, and with INDEXES the table's share and
    each index's (``indexes``: ``{name: [local?, units]}``)."""
    total = table_units + sum(units for _, units in indexes.values())
    out: dict = {"TableName": table, "CapacityUnits": total}
    if how == "INDEXES":
        out["Table"] = {"CapacityUnits": table_units}
        for key, local in (("LocalSecondaryIndexes", True), ("GlobalSecondaryIndexes", False)):
            mine = {name: {"CapacityUnits": units} for name, (is_local, units) in indexes.items() if is_local == local}
            if mine:
                out[key] = mine
    return out
