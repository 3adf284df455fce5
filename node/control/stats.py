"""Item counts and sizes of the partitions this node leads, for DescribeTable.

DynamoDB refreshes ItemCount and TableSizeBytes about every six hours; here a
leader counts its partition's items every few seconds, off the write path (a
range scan in a worker thread), and reports them in its heartbeats. A pass
costs about 3.4 us of CPU an item (200,000 1 KB items: 0.67 s), holding the
GIL as it goes, so passes are spaced by PACE times the last one's length: a
twentieth of the time at most, not a pass every 5 s however long they grow
(a 1,000,000-item partition: 3.4 s of every 8.4). The meta
leader keeps the latest counts in memory and sums them per table when a
router asks (DescribeTable): soft state that never enters the metadata log.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from cluster.keys import hash_range_bounds
from ddb.indexes import index_space
from node.partition.replica import PartitionReplica
from node.storage import DATA, Storage

if TYPE_CHECKING:
    from cluster.meta import MetaState, TableInfo
    from node.groups.engine import Engine

log = logging.getLogger(__name__)

STATS_S = 5.0  # between passes, at least
PACE = 20  # and at least this many times the last pass's length


def count_range(storage: Storage, lo: bytes, hi: bytes) -> tuple[int, int]:
    """(items, bytes of their DynamoDB JSON) in ``[lo, hi)``."""
    count = size = 0
    for n in storage.value_sizes(DATA, lo, hi):  # (sealed values are not opened for this)
        count += 1
        size += n
    return count, size


def table_totals(state: MetaState, reported: dict[str, list], names: list[str] | None = None) -> dict[str, dict]:
    """Each named table's (every table's) counts summed over its partitions'
    reports ``[items, bytes, {local index: [entries, bytes]}]``; a table some
    partition of which has not reported yet is left out."""
    out = {}
    for name in state.tables if names is None else names:
        t = state.tables.get(name)
        if t is not None:
            totals = _sum(t, reported)
            if totals is not None:
                out[name] = totals
    return out


def _sum(t: TableInfo, reported: dict[str, list]) -> dict | None:
    parts = [reported.get(p) for p in t.partitions]
    if not parts or any(x is None for x in parts):
        return None
    local: dict[str, list[int]] = {}
    for x in parts:
        for n, (count, size) in (x[2] if len(x) > 2 else {}).items():
            acc = local.setdefault(n, [0, 0])
            acc[0] += count
            acc[1] += size
    return {"id": t.id, "item_count": sum(x[0] for x in parts), "size_bytes": sum(x[1] for x in parts),
            "index_stats": local}


class PartitionStats:
    def __init__(self, engine: Engine, storage: Storage, view: Callable[[], MetaState | None]) -> None:
        self.engine = engine
        self.storage = storage
        self.view = view  # the node's view of the metadata (node/control/view.py)
        self.latest: dict[str, list[int]] = {}  # group -> [items, bytes]
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _count(self, replica: PartitionReplica) -> list:
        """[items, bytes, {local index number: [entries, bytes]}] of one partition."""
        c = replica.config
        view = self.view()
        table = view.table_by_id(c["table_id"]) if view is not None else None
        lsis = len(table.spec.get("LocalSecondaryIndexes") or []) if table is not None else 0
        out: list = list(count_range(self.storage, *replica.data_range()))
        local = {}
        for n in range(1, lsis + 1):
            lo, hi = hash_range_bounds(index_space(c["table_id"], n), c["lo"], c["hi"] + 1)
            local[str(n)] = list(count_range(self.storage, lo, hi))
        return out + [local]

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        took = 0.0
        while True:
            await asyncio.sleep(max(STATS_S, PACE * took))
            started = loop.time()
            latest: dict[str, list[int]] = {}
            view = self.view()
            for group, replica in list(self.engine.replicas.items()):
                # A partition's leader counts it; an MRSC group's (`member`) one member per region, each its region's.
                if not isinstance(replica, PartitionReplica) or not (replica.is_leader or replica.config.get("member")):
                    continue
                table = view.table_by_id(replica.config["table_id"]) if view is not None else None
                if table is None or table.status == "DELETING":
                    continue  # its replicas are going: nothing to count
                try:
                    latest[group] = await loop.run_in_executor(None, self._count, replica)
                except Exception as exc:  # noqa: BLE001 (the storage may be closing)
                    log.debug("stats of %s: %r", group, exc)
            self.latest = latest
            took = loop.time() - started
