"""Point-in-time recovery: a table's state at any millisecond of its window.

While a table has point-in-time recovery on (``PointInTimeRecovery`` in its
spec, UpdateContinuousBackups), each of its partitions logs every item write
in its Raft apply, in log order, with the leader's clock at proposal
(node/partition/index_writes.py, cluster/keys.py ``pitr_key``; switched on
and off through the partition's log by node/feed/streams.py, so every
replica logs from the same entry, and carried in snapshots). On enabling,
this router takes a base snapshot of every partition (a backup record of kind
``pitr-base``, router/backups.py), each read at an applied index at or after
its log's start. The state at time T is, per partition, the base's items
with the log's records after the base's index replayed in order up to the
first one later than T: a prefix of the partition's log (and of the logs of
the partitions split off it since: `lineage`), so each partition is exact
and consistent at T (to the millisecond; DynamoDB promises the
second). The window opens when the base is complete and reaches back at most
``RecoveryPeriodInDays``; disabling drops the log and the base.
"""

from __future__ import annotations

import gzip
import time
from typing import Any

import orjson

from cluster.meta import TableInfo
from cluster.rpc import call_once
from ddb import backups as backup_model
from ddb.errors import ServiceUnavailable
from ddb.keys import KeySchema, extract_key

BASE_WAIT_S = 10.0  # UpdateContinuousBackups waits this long for the base snapshot


def base_of(state: Any, t: TableInfo) -> dict | None:
    """The table's base snapshot record (any status), None when there is none."""
    if state is None:
        return None
    return next((b for b in state.backups.values() if b.get("kind") == "pitr-base"
                 and b["table"]["uuid"] == t.uuid), None)


def window(state: Any, t: TableInfo, now: float) -> tuple[float, float] | None:
    """(EarliestRestorableDateTime, LatestRestorableDateTime), None before the base is complete."""
    pitr, base = t.spec.get("PointInTimeRecovery"), base_of(state, t)
    if not pitr or base is None or base["status"] != "AVAILABLE":
        return None
    return max(base["done"], now - pitr["days"] * 86400), now


def lineage(state: Any, t: TableInfo, lo: int, hi: int) -> list[str]:
    """The partitions that hold a base part's hash range ``[lo, hi]`` now:
    the part's own and those split off it since, each after the one it split
    from. An item's log records are in its partitions' logs in that order
    (a split's child logs only what follows the split), so replaying them in
    this order replays each item's writes in order."""
    inside = {g: state.partitions[g] for g in t.partitions if lo <= state.partitions[g].lo <= hi}

    def depth(g: str) -> int:
        parent = inside[g].parent
        return 1 + depth(parent) if parent in inside else 0
    return sorted(inside, key=lambda g: (depth(g), inside[g].lo))


class Pitr:
    def __init__(self, backups: Any) -> None:
        self.backups = backups
        self.cluster = backups.cluster
        self.api = backups.api

    async def enabled(self, t: TableInfo) -> None:
        """Start the base snapshot of a table that just got point-in-time recovery."""
        if base_of(self.cluster.state, t) is not None:
            return
        now = time.time()
        record = {"kind": "pitr-base", "arn": f"{backup_model.table_arn(self.api.region, t.name)}/pitr/{t.uuid}",
                  "name": "pitr-base", "status": "CREATING", "created": now, "size": 0, "items": 0,
                  "lease": now + 30.0, "parts": [],
                  "table": {"name": t.name, "id": t.id, "uuid": t.uuid, "created": t.created, "spec": t.spec,
                            "stream": None}}
        await self.cluster.meta("put_backup", {"record": record, "create": True})
        self.backups._spawn(self.backups._take(record, t))
        arn = record["arn"]
        await self.cluster.wait_for(lambda s: s.backups.get(arn, {}).get("status") == "AVAILABLE", BASE_WAIT_S)

    async def disabled(self, t: TableInfo) -> None:
        base = base_of(self.cluster.state, t)
        if base is not None and base["status"] == "AVAILABLE":
            result = await self.cluster.meta("delete_backup", {"arn": base["arn"]})
            self.backups._spawn(self.backups._drop(result["replaced"]))

    async def items_at(self, t: TableInfo, at: float) -> list[dict]:
        """Every item of table `t` as it was at time `at` (epoch seconds)."""
        base = base_of(self.cluster.state, t)
        if base is None or base["status"] != "AVAILABLE":
            raise ServiceUnavailable(f"the point-in-time base of {t.name} is not complete")
        schema = KeySchema.from_wire(base["table"]["spec"]["KeySchema"], base["table"]["spec"]["AttributeDefinitions"],
                                     has_indexes=True)
        at_ms = int(at * 1000)
        deadline = time.monotonic() + 120.0
        out: list[dict] = []
        for part in base["parts"]:
            blob = await self.backups._retrying(lambda part=part: self.backups.store.get(part["key"], part["bytes"]),
                                                deadline)
            items: dict[str, Any] = {}
            for line in gzip.decompress(blob).splitlines():
                if line:
                    item = orjson.loads(line)
                    items[self.api.locate(t, extract_key(schema, item))[1].hex()] = item
            for pid in lineage(self.cluster.state, t, part["lo"], part["hi"]):
                for _, _, ts, key, value in await self._log(pid, part["applied"], at_ms, deadline):
                    if value is None:
                        items.pop(key, None)
                    else:
                        items[key] = orjson.loads(value)
            out += items.values()
        return out

    async def _log(self, pid: str, applied: int, at_ms: int, deadline: float) -> list[list]:
        """The partition's log records after its base's index, up to the first later than `at_ms`."""
        async def read(addr: str) -> list[list]:
            out: list[list] = []
            after = [applied, (1 << 32) - 1]
            while True:
                page = await call_once(self.cluster.channels, addr, "admin", "pitr_read",
                                       {"group": pid, "after": after}, timeout=10.0)
                if page["start"] is None or page["start"] > applied:
                    raise ServiceUnavailable(f"the point-in-time log of {pid} does not reach its base")
                for rec in page["records"]:
                    if rec[2] > at_ms:
                        return out
                    out.append(rec)
                if page["done"] or not page["records"]:
                    return out
                after = page["records"][-1][:2]
        return await self.backups._on_a_voter(pid, read, deadline)
