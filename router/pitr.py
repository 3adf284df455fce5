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
``RecoveryPeriodInDays``; newer bases are taken as time goes on and the log
before the oldest one still needed is dropped (`Pitr.roll`); disabling drops
the log and the bases.

A strongly consistent global table (MRSC) has its setting per region, as on
DynamoDB, but one log: its partitions' Raft groups span the regions, and the
leader (in any of them) switches the log on and off. So each region tells the
others whether it keeps a window (`tell_peers`; their ``PitrRegions``), the
log runs while any region asks (TableInfo.keeps_pitr_log), each region's
bases and window are its own, and the log is trimmed only up to what every
region's oldest base still needs (`_holds`): the longest window asked.
"""

from __future__ import annotations

import gzip
import logging
import os
import time
from typing import Any, Awaitable

import orjson

from cluster.meta import TableInfo, hidden
from ddb import backups as backup_model
from ddb.errors import BackupInUseException, ServiceUnavailable, ValidationException
from ddb.keys import KeySchema, extract_key
from ddb.strong_tables import STRONG
from router import strong_tables
from router.backups import Admin
from router.region_calls import RegionUnreachable

log = logging.getLogger(__name__)

BASE_WAIT_S = 10.0  # UpdateContinuousBackups waits this long for the base snapshot
HOLD_RETRY_S = 5.0  # a trim held back by another region's base is tried again after this
DAY_S = float(os.environ.get("TRIREME_PITR_DAY_S", "86400"))  # a day of RecoveryPeriodInDays (tests: seconds)


def bases_of(state: Any, t: TableInfo) -> list[dict]:
    """The table's base snapshot records (any status), oldest first."""
    if state is None or hidden(t):  # (a global index's table has its table's uuid)
        return []
    return sorted((b for b in state.backups.values() if b.get("kind") == "pitr-base"
                   and b["table"]["uuid"] == t.uuid), key=lambda b: b["created"])


def base_of(state: Any, t: TableInfo) -> dict | None:
    """The base restores start from: the oldest complete one (its log is kept
    from its index on), else the one being taken; None when there is none."""
    bases = bases_of(state, t)
    return next((b for b in bases if b["status"] == "AVAILABLE"), bases[0] if bases else None)


def period_s(t: TableInfo) -> float:
    """The recovery window's length: ``RecoveryPeriodInDays`` days (a day is
    `DAY_S` seconds: shorter in tests)."""
    return t.spec["PointInTimeRecovery"]["days"] * DAY_S


def window(state: Any, t: TableInfo, now: float) -> tuple[float, float] | None:
    """(EarliestRestorableDateTime, LatestRestorableDateTime), None before the base is complete."""
    pitr, base = t.spec.get("PointInTimeRecovery"), base_of(state, t)
    if not pitr or base is None or base["status"] != "AVAILABLE":
        return None
    return max(base["done"], now - period_s(t)), now


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
        self._held: dict[str, float] = {}  # table uuid -> when to try again a trim another region held back

    async def enabled(self, t: TableInfo) -> None:
        """Start the base snapshot of a table that just got point-in-time recovery."""
        if base_of(self.cluster.state, t) is not None:
            return
        arn = await self._new_base(t, 0)
        await self.cluster.wait_for(lambda s: s.backups.get(arn, {}).get("status") == "AVAILABLE", BASE_WAIT_S)

    async def _new_base(self, t: TableInfo, gen: int) -> str:
        """Record base snapshot number `gen` of `t` and start taking it (router/backups.py
        `_take`; its chunks are named by the ARN's last part: the table's uuid, and the number)."""
        arn = f"{backup_model.table_arn(self.api.region, t.name)}/pitr/{t.uuid}" + (f"-{gen}" if gen else "")
        now = time.time()
        record = {"kind": "pitr-base", "arn": arn, "name": "pitr-base", "status": "CREATING", "created": now,
                  "size": 0, "items": 0, "lease": now + 30.0, "parts": [], "gen": gen,
                  "table": {"name": t.name, "id": t.id, "uuid": t.uuid, "created": t.created, "spec": t.spec,
                            "stream": None}}
        await self.cluster.meta("put_backup", {"record": record, "create": True})
        self.backups._spawn(self.backups._take(record, t))
        return arn

    async def disabled(self, t: TableInfo) -> None:
        for base in bases_of(self.cluster.state, t):
            await self._retire(base)

    async def _retire(self, base: dict) -> None:
        """Delete a complete base and its chunks (another router may have just done it)."""
        if base["status"] == "AVAILABLE":
            # gone already is no error: this router's metadata may lag the one that retired it
            await self.backups.delete(base["arn"], 5.0, missing_ok=True)

    # --- keeping the log to the window ------------------------------------------------

    def roll(self, t: TableInfo, now: float) -> Awaitable[None] | None:
        """What keeps a table's point-in-time log to its window, if anything is
        due now (every router asks each second, router/backups.py `_tick`; the
        metadata's conditional writes let one of them do each step):

        * a new base every half window (recorded, then taken like the first);
        * once the second-oldest base is older than the window, restores need
          nothing before it: the oldest is deleted;
        * the oldest base's partitions drop their log up to its index
          (``pitr_trim``, through each partition's Raft log), then it is marked
          ``trimmed``.

        So the log spans at most one and a half windows, and the earliest
        restorable time is the window's start (DynamoDB's 35 days by default)."""
        bases = bases_of(self.cluster.state, t)
        ready = [b for b in bases if b["status"] == "AVAILABLE"]
        if not t.spec.get("PointInTimeRecovery"):
            return self._retire(ready[0]) if ready else None  # (a base finished after recovery was turned off)
        if not ready or len(ready) < len(bases):
            return None  # a base is being taken (a stale one is taken over by the backups' sweep)
        period = period_s(t)
        if len(ready) >= 2 and ready[1]["done"] <= now - period:
            return self._retire(ready[0])
        if not ready[0].get("trimmed") and self._held.get(t.uuid, 0.0) <= time.monotonic():
            return self._trim(t, ready[0])
        if ready[-1]["created"] <= now - period / 2:
            return self._next_base(t, 1 + max(b.get("gen", 0) for b in bases))
        return None

    async def _next_base(self, t: TableInfo, gen: int) -> None:
        try:
            arn = await self._new_base(t, gen)
        except BackupInUseException:
            return  # another router recorded it first
        await self.cluster.wait_for(lambda s: arn in s.backups, 5.0)

    async def _trim(self, t: TableInfo, base: dict) -> None:
        """Drop each base partition's log up to the base's index (no further
        than another region of an MRSC table still needs), then mark the base
        trimmed; held back by another region, it is tried again later."""
        deadline = time.monotonic() + 60.0
        holds = await self._holds(t)
        held = False
        for part in base["parts"]:
            group = next((g for g in t.partitions if self.cluster.state.partitions[g].lo == part["lo"]), None)
            upto = min(part["applied"], holds.get(part["lo"], part["applied"]))
            held = held or upto < part["applied"]
            if group is not None:
                await self.backups._on_a_voter(group, lambda admin, group=group, upto=upto: admin(
                    "pitr_trim", {"group": group, "upto": upto}), deadline)
        if held:  # noted on the base (DescribeBackup shows nothing of it), tried again later
            self._held[t.uuid] = time.monotonic() + HOLD_RETRY_S
            if not base.get("held"):
                await self.cluster.meta("put_backup", {"record": {**base, "held": True}, "expect_status": "AVAILABLE"})
            return
        result = await self.cluster.meta("put_backup", {"record": {**base, "trimmed": True},
                                                        "expect_status": "AVAILABLE"})
        if result.get("ok"):
            arn = base["arn"]
            await self.cluster.wait_for(lambda s: s.backups.get(arn, {}).get("trimmed"), 5.0)

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
        async def read(admin: Admin) -> list[list]:
            out: list[list] = []
            after = [applied, (1 << 32) - 1]
            while True:
                page = await admin("pitr_read", {"group": pid, "after": after})
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

    # --- strongly consistent global tables: one log, a window per region --------------

    async def tell_peers(self, t: TableInfo, days: int | None) -> None:
        """Tell the other serving regions of an MRSC table whether this one
        keeps a point-in-time window now (``days``; None: off), so that their
        leaders keep the shared log for it and their trims leave it what it needs."""
        if t.consistency != STRONG:
            return
        for region in (r["region"] for r in t.replicas):
            try:
                await strong_tables.remote(self.api, region, "PitrPeer", {
                    "TableName": t.name, "Region": self.api.region, "Days": days})
            except RegionUnreachable as exc:
                if days is not None:  # its leader could turn the log off: not enabled until it knows
                    raise ServiceUnavailable(f"Region {region} of global table {t.name} did not answer: point-"
                                             f"in-time recovery is not enabled; retry: {exc}") from None
                log.warning("table %s: region %s was not told that %s stopped point-in-time recovery (its "
                            "log is kept for it until told): %s", t.name, region, self.api.region, exc)

    async def peer_here(self, body: dict) -> dict:
        """`PitrPeer`: note whether another region of an MRSC table keeps a point-in-time window."""
        name, region, days = body.get("TableName"), body.get("Region"), body.get("Days")
        state = self.cluster.state
        t = state.tables.get(name) if state is not None and isinstance(name, str) else None
        if t is None or t.consistency != STRONG or not isinstance(region, str):
            raise ValidationException(f"PitrPeer needs an MRSC table of this region ({name}) and a Region")
        peers = {r: d for r, d in (t.spec.get("PitrRegions") or {}).items() if r != region}
        if days is not None:
            peers[region] = int(days)
        if peers != (t.spec.get("PitrRegions") or {}):
            spec = {k: v for k, v in t.spec.items() if k != "PitrRegions"}
            await self.cluster.meta("update_table", {"name": t.name, "spec": {**spec, **(
                {"PitrRegions": peers} if peers else {})}, "updated": {}})
        return {}

    def hold_here(self, body: dict) -> dict:
        """`PitrHold`: the log index each partition's oldest base here starts
        from (by the partition's lo), which another region's trim must keep."""
        state = self.cluster.state
        t = state.tables.get(body.get("TableName")) if state is not None else None
        base = base_of(state, t) if t is not None and t.spec.get("PointInTimeRecovery") else None
        if base is None or base["status"] != "AVAILABLE":  # (one being taken starts later than any trim)
            return {"Parts": {}}
        return {"Parts": {str(p["lo"]): p["applied"] for p in base["parts"]}}

    async def _holds(self, t: TableInfo) -> dict[int, int]:
        """The lowest log index another region of an MRSC table still needs,
        by partition lo (empty for any other table; a region that does not
        answer holds the trim back: raised, tried again at the next tick)."""
        holds: dict[int, int] = {}
        for region in (t.spec.get("PitrRegions") or {}) if t.consistency == STRONG else ():
            try:
                answer = await strong_tables.remote(self.api, region, "PitrHold", {"TableName": t.name})
            except RegionUnreachable as exc:
                raise ServiceUnavailable(f"region {region} did not say what of the log it needs: {exc}") from None
            for lo, applied in answer["Parts"].items():
                holds[int(lo)] = min(applied, holds.get(int(lo), applied))
        return holds
