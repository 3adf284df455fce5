"""Global tables (MREC): each partition leader sends its local changes to the
table's other regions.

Per partition led here, the replicator first keeps the partition's
replication settings in step with the metadata (``TableInfo.replicas``: the
regions whose replica is not DELETING; proposed through the log as
``WriteCommand.replication_config``, node/partition/versions.py). Then, per
replica region this node can reach (``NodeConfig.remote_regions``), one
sender reads the partition's change log after that region's checkpoint (local
writes only: replicated-in changes are never logged), posts them in batches
to the region's router (``TriremeReplication_1.Replicate``, router/replication.py),
and, once the region acknowledged, moves the checkpoint through the log, so a
new leader resumes where the last acknowledgment left (changes after it may
be sent twice; the receiver's version check makes that harmless). One batch is
in flight per (partition, region), so changes to one item arrive in order. An
unreachable region is retried with backoff; nothing here holds up writes.

Backfill: a region added while its replica is being created (status
CREATING) first receives every item the partition holds, in key order and in
batches, each with its version (an item written before the table went global
has the base version, cluster/versions.py), while writes go on; the position
reached moves through the log like the checkpoint (a new leader resumes it).
Then the changes follow from the region's checkpoint, which was set when the
region was added, so a write made during the backfill arrives after it (or is
superseded there by the newer copy the backfill sent). Once a partition's
backfill is acknowledged, its leader tells the metadata (the meta call
``replica_backfilled``); the replica turns ACTIVE when every partition has.
A replica whose creation failed (CREATION_FAILED) gets nothing: a retried
creation starts it afresh, backfill included.

Splits (node/partition/split.py): the parent's log up to the SPLIT entry
holds changes to both halves and its sender goes on with it; the child's
sender to a region first waits until the parent's checkpoint there passed
the split (`parent_first`), then sends the child's own log from its start,
so an item's changes reach each region in order across the split.

The leader also collects its partition's tombstones once they are older than
the stream retention (node/partition/versions.py), looking every tenth of it.

Replication lag per (table, region): the age of the oldest change not yet
acknowledged (0 when all are), as this node's leaders see it; with the
backfill's progress, `status()` answers it (the Admin call ``replication``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from cluster.meta import MetaState, TableInfo
from cluster.tasks import cancel, every, within
from cluster.versions import make_ts, ms_of
from node.feed.remote import RemoteError, post_json
from node.feed.streams import RETENTION_S
from node.partition.replica import PartitionReplica
from node.partition.versions import read_changes, wanted_of
from trireme_pb import node_pb2

if TYPE_CHECKING:
    from node.groups.engine import Engine

log = logging.getLogger(__name__)

CHECK_S = 0.2  # how often leaderships and the metadata are looked at
IDLE_S = 1.0  # an idle sender looks again this often (else a logged change wakes it)
BATCH = 500  # changes per request
BATCH_BYTES = 4 << 20  # and about this much of them (a router takes a body of up to 16 MB)
TIMEOUT_S = 5.0  # per request: a region that does not answer in time is retried
BACKOFF_S = (0.1, 5.0)  # first and longest wait after a failed request
TARGET = "TriremeReplication_1.Replicate"
COLLECT_EVERY_S = min(60.0, max(0.5, RETENTION_S / 10))


def wanted_settings(t: TableInfo, region: str) -> dict:
    """The replication settings the metadata asks of a table's partitions ({}: not global)."""
    regions = sorted(r["region"] for r in t.replicas
                     if r["status"] not in ("DELETING", "CREATION_FAILED") and r["region"] != region)
    if not regions or t.status == "DELETING" or t.consistency == "STRONG":  # MRSC: one log for every region
        return {}
    return {"region": region, "regions": regions, "keys": [k["AttributeName"] for k in t.spec["KeySchema"]],
            "creating": sorted(r["region"] for r in t.replicas if r["status"] == "CREATING")}


def request_body(table: str, source: str, changes: list[node_pb2.ReplicationChange]) -> bytes:
    """A Replicate request carrying ``changes`` (their stored JSON spliced in, not parsed)."""
    return orjson.dumps({"TableName": table, "SourceRegion": source, "Changes": [
        {"Keys": orjson.Fragment(c.keys), "NewImage": orjson.Fragment(c.new_image) if c.new_image else None,
         "Version": {"Ts": c.version.ts, "Region": c.version.region}, "ByTtl": c.by_ttl} for c in changes]})


def parent_first(engine: Engine, config: dict, region: str) -> bool:
    """Must this partition, a split's child, wait for the partition it split
    from to send ``region`` its changes up to the split? The parent's
    checkpoint is read from its replica on this node (a split leaves both on
    the same nodes; once the parent moved away, the child goes on: the
    receivers' version check keeps the items right either way)."""
    if "split_from" not in config:
        return False
    end = config["split_index"]
    mine = (config.get("replication") or {}).get("checkpoints", {}).get(region)
    parent = engine.replicas.get(config["split_from"])
    if mine is None or mine > [end + 1, 0] or not isinstance(parent, PartitionReplica):
        return False
    at = parent.checkpoint_of(region)
    if at is None:
        return False
    left = read_changes(engine.storage, parent.group, at, 1)
    return bool(left) and left[0][0][0] <= end


class Replicator:
    """Runs on every node; acts for the partitions it leads."""

    def __init__(self, engine: Engine, view: Callable[[], MetaState | None], region: str,
                 remote_regions: dict[str, str], report: Callable[[str, dict], Awaitable[Any]]) -> None:
        self.engine = engine
        self.report = report  # a metadata call (a partition's backfill of a new replica is done)
        self.view = view
        self.region = region
        self.remote_regions = remote_regions
        self._task: asyncio.Task | None = None
        self._upkeep: dict[str, asyncio.Task] = {}  # group -> its settings (or tombstone collection) in flight
        self._reports: dict[tuple[str, str], asyncio.Task] = {}  # (group, region) -> its backfill's end told
        self._next_collect = 0.0  # (monotonic) when tombstones are looked at next
        self._senders: dict[tuple[str, str], asyncio.Task] = {}  # (group, region) -> sender
        # (group, region) -> (table, wall ms of the oldest unacknowledged change, or None: none)
        self._oldest: dict[tuple[str, str], tuple[str, int | None]] = {}
        self._backfilled: dict[tuple[str, str], int | None] = {}  # items a backfill sent here (None: done)

    def start(self) -> None:
        self._task = asyncio.create_task(every(CHECK_S, self._plan, "replication planning", log))

    async def stop(self) -> None:
        await cancel([self._task, *self._upkeep.values(), *self._senders.values(), *self._reports.values()])

    def status(self) -> list[dict]:
        """Replication lag per (table, destination region) over the partitions led here."""
        now = time.time() * 1000
        out: dict[tuple[str, str], dict] = {}
        for (group, region), (table, oldest) in self._oldest.items():
            if self._senders.get((group, region)) is None:
                continue
            row = out.setdefault((table, region), {"table": table, "region": region, "lag_ms": 0, "partitions": 0,
                                                   "backfilling": 0, "backfilled_items": 0})
            row["partitions"] += 1
            if oldest is not None:
                row["lag_ms"] = max(row["lag_ms"], int(max(0.0, now - oldest)))
            sent = self._backfilled.get((group, region))
            if sent is not None:
                row["backfilling"] += 1
                row["backfilled_items"] += sent
        return sorted(out.values(), key=lambda r: (r["table"], r["region"]))

    def _plan(self) -> None:
        self._senders = {k: t for k, t in self._senders.items() if not t.done()}
        self._upkeep = {g: t for g, t in self._upkeep.items() if not t.done()}
        self._reports = {k: t for k, t in self._reports.items() if not t.done()}
        self._oldest = {k: v for k, v in self._oldest.items() if k in self._senders}
        self._backfilled = {k: v for k, v in self._backfilled.items() if k in self._senders}
        state = self.view()
        if state is None:
            return
        collect = time.monotonic() >= self._next_collect
        if collect:
            self._next_collect = time.monotonic() + COLLECT_EVERY_S
        cutoff = make_ts(int((time.time() - RETENTION_S) * 1000))
        for group, replica in list(self.engine.replicas.items()):
            if not isinstance(replica, PartitionReplica) or not replica.is_leader:
                continue
            if collect and group not in self._upkeep and (replica.oldest_tombstone() or cutoff) < cutoff:
                cmd = node_pb2.WriteCommand(collect_tombstones=cutoff)
                self._upkeep[group] = asyncio.create_task(self._propose(replica, cmd))
            t = state.table_by_id(replica.config.get("table_id", -1))
            if t is None:
                continue
            wanted = wanted_settings(t, self.region)
            if wanted != wanted_of(replica.replication):
                if group not in self._upkeep:
                    cmd = node_pb2.WriteCommand(replication_config=orjson.dumps(wanted))
                    self._upkeep[group] = asyncio.create_task(self._propose(replica, cmd))
                continue
            for region in wanted.get("regions", []):
                if region in self.remote_regions and (group, region) not in self._senders:
                    self._senders[(group, region)] = asyncio.create_task(self._send(group, region, t.name))
            self._report_backfills(replica, t, wanted)

    def _report_backfills(self, replica: PartitionReplica, t: TableInfo, wanted: dict) -> None:
        """Tell the metadata of every replica being created whose backfill
        this partition has finished (acknowledged) and the metadata does not list yet."""
        for region in wanted.get("creating", []):
            key = (replica.group, region)
            entry = t.replica(region)
            if (replica.backfill_of(region) is None and key not in self._reports and entry is not None
                    and replica.group not in entry.get("backfilled", [])):
                self._reports[key] = asyncio.create_task(self._report(t.name, region, replica.group))

    async def _report(self, table: str, region: str, group: str) -> None:
        try:
            await self.report("replica_backfilled", {"name": table, "region": region, "group": group})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (told again at a later plan)
            log.info("%s: the end of %s's backfill not reported yet: %r", group, region, exc)
        await asyncio.sleep(IDLE_S)  # (not again before this node's view of the metadata shows it)

    async def _propose(self, replica: PartitionReplica, cmd: node_pb2.WriteCommand) -> None:
        try:
            await replica.propose(cmd.SerializeToString())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (retried at the next plan; leadership may have moved)
            log.info("%s: replication upkeep not applied (retrying): %r", replica.group, exc)

    def _live(self, group: str, region: str) -> PartitionReplica | None:
        replica = self.engine.replicas.get(group)
        if (not isinstance(replica, PartitionReplica) or not replica.is_leader or replica.replication is None
                or region not in replica.replication["regions"] or region not in self.remote_regions):
            return None
        return replica

    async def _send(self, group: str, region: str, table: str) -> None:
        """Deliver one partition's changes to one region until this node stops leading it."""
        backoff = BACKOFF_S[0]
        try:
            while (replica := self._live(group, region)) is not None:
                logged = replica.changes_logged()  # (taken before the read: a change logged after it sets this)
                batch = self._next_batch(replica, region, table)
                if batch is None:
                    try:
                        await within(logged.wait(), IDLE_S)
                    except TimeoutError:
                        pass
                    continue
                changes, cp = batch
                if changes:
                    try:
                        await post_json(self.remote_regions[region], TARGET,
                                        request_body(table, self.region, changes), TIMEOUT_S, region)
                    except (OSError, TimeoutError, RemoteError, ValueError) as exc:
                        log.info("%s: replication to %s failed (retrying in %.1fs): %r", group, region, backoff,
                                 exc)
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, BACKOFF_S[1])
                        continue
                    backoff = BACKOFF_S[0]
                if cp.backfilled or cp.backfill_done:
                    self._backfilled[(group, region)] = (self._backfilled.get((group, region)) or 0) + len(changes)
                await replica.propose(node_pb2.WriteCommand(replication_checkpoint=cp).SerializeToString())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (restarted at the next plan, from the checkpoint)
            log.info("%s: replication to %s stopped: %r", group, region, exc)

    def _next_batch(self, replica: PartitionReplica, region: str, table: str
                    ) -> tuple[list[node_pb2.ReplicationChange], node_pb2.ReplicationCheckpoint] | None:
        """What to send ``region`` next (the backfill's next items, else the
        changes after its checkpoint) and where its acknowledgment moves the
        checkpoint to; None: nothing yet. Notes the lag on the way."""
        key = (replica.group, region)
        at = replica.checkpoint_of(region) or (0, 0)
        after = replica.backfill_of(region)
        logged = read_changes(self.engine.storage, replica.group, at, 1 if after is not None else BATCH, BATCH_BYTES)
        self._oldest[key] = (table, ms_of(logged[0][1].version.ts) if logged else None)
        if after is not None:  # a new region: the existing items first
            self._backfilled.setdefault(key, 0)
            changes, last = replica.backfill_changes(after, BATCH, BATCH_BYTES)
            return changes, node_pb2.ReplicationCheckpoint(region=region, backfilled=last or b"",
                                                           backfill_done=last is None)
        self._backfilled[key] = None
        if not logged or parent_first(self.engine, replica.config, region):
            return None
        index, offset = logged[-1][0]
        return [c for _, c in logged], node_pb2.ReplicationCheckpoint(region=region, index=index, offset=offset + 1)
