"""The global-index side of a base partition's leader: keep the partition's
index configuration in step with the metadata, drive backfills, and ship the
outbox to the index partitions in log order.

In a group spanning regions (an MRSC table), every member applies every
write, and each region's member ships its own outbox to its region's index
partitions, trimming it locally.

Delivery is at least once: records leave the outbox (a trim entry through
Raft) only after every index partition acknowledged them, and a new leader
ships again from the oldest record left. Index partitions apply changes as
idempotent puts and deletes, fenced by the shipper's term.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import orjson

from cluster.meta import MetaState
from cluster.partitions import Cluster
from cluster.tasks import cancel, within
from node.partition import global_indexes as gsi
from node.partition.replica import PartitionReplica
from node.partition.split import parent_outbox_pending
from node.storage import STREAMS, Storage
from trireme_pb import node_pb2

if TYPE_CHECKING:
    from node.control.view import Control
    from node.groups.engine import Engine

log = logging.getLogger(__name__)

SWEEP_S = 0.1  # how often every leader is looked at (index configuration, backfills)
MAX_RETRY_S = 2.0  # the longest wait between attempts of failing index work
SHIP_RECORDS = 64
BACKFILL_CHUNK = 200


class IndexShipper:
    """Runs one driver task per base-partition leader with index work. A
    leader that applies writes with index changes wakes its driver at once
    (``Engine.outbox_filled``); what applies while a shipment is in flight
    goes out in the next one, without waiting."""

    def __init__(self, az: str, cluster_id: str, engine: Engine, storage: Storage, control: Control) -> None:
        self.az = az
        self.cluster_id = cluster_id
        self.engine = engine
        self.storage = storage
        self.control = control  # the metadata view, and metadata requests (backfill done)
        self.cluster: Cluster | None = None
        self._version = -1
        self._plan: dict[int, tuple[str, list]] = {}
        self._plan_version = -1
        self._drivers: dict[str, tuple[asyncio.Task, frozenset[str]]] = {}
        self._due: set[str] = set()
        self._wake = asyncio.Event()
        # group -> (leader term, highest outbox index shipped and acknowledged in it): the
        # next shipment starts after it without waiting for the trim entry to apply.
        self._shipped: dict[str, tuple[int, int]] = {}
        self._failures: dict[str, int] = {}  # group -> index work failures in a row
        self._trims: dict[str, asyncio.Future] = {}  # group -> its trim entry proposed last
        self._trim_due: dict[str, int] = {}  # group -> the outbox index to trim to once that one ends
        self._task: asyncio.Task | None = None
        engine.outbox_filled = self.notify
        engine.index_creating = self.index_creating

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        await cancel([self._task, *(d[0] for d in self._drivers.values())])
        if self.cluster is not None:
            await self.cluster.close()

    def index_creating(self, table: str) -> bool:
        """Is this global index (its hidden table) being created, by the
        node's metadata view? Unknown counts as yes: a write answered while it
        is held (index_writes.py ``hold_for_index``) costs only a wait."""
        view = self.control.view
        t = view.tables.get(table) if view is not None else None
        return t is None or t.status == "CREATING"

    def notify(self, group: str) -> None:
        self._due.add(group)
        self._wake.set()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = 0.0
        while True:
            try:
                await within(self._wake.wait(), max(0.0, next_sweep - loop.time()))
            except TimeoutError:
                pass
            self._wake.clear()
            view = self.control.view
            if view is None:
                next_sweep = loop.time() + SWEEP_S
                continue
            sweep = loop.time() >= next_sweep or view.version != self._plan_version
            if view.version != self._plan_version:
                self._plan = self._plan_for(view)
                self._plan_version = view.version
                self._stop_stale_drivers()
            if sweep:
                next_sweep = loop.time() + SWEEP_S
                groups = list(self.engine.replicas)
                for gone in self._shipped.keys() - set(groups):
                    del self._shipped[gone]
                for gone in self._failures.keys() - set(groups):
                    del self._failures[gone]
                for gone in self._trims.keys() - set(groups):
                    del self._trims[gone]
                    self._trim_due.pop(gone, None)
            else:
                groups = list(self._due)
            self._due.clear()
            for group in groups:
                replica = self.engine.replicas.get(group)
                if not isinstance(replica, PartitionReplica) or not ships(replica):
                    continue
                running = self._drivers.get(group)
                if running is not None and not running[0].done():
                    continue  # it ships what is waiting before it stops
                if replica.config["table_id"] in self._plan and (
                        replica.config.get("gsi") or self._wanted(replica) or replica.outbox_last):
                    self._drivers[group] = (asyncio.create_task(self._drive(replica)), self._live(replica))
                else:
                    self._drivers.pop(group, None)

    def _stop_stale_drivers(self) -> None:
        """A table or index was deleted: work for it stops now (a shipment to
        its partitions would only retry until its deadline)."""
        for group, (task, live) in list(self._drivers.items()):
            replica = self.engine.replicas.get(group)
            if replica is None or not live <= self._live(replica):  # type: ignore[arg-type]
                task.cancel()
                del self._drivers[group]

    @staticmethod
    def _plan_for(view: MetaState) -> dict[int, tuple[str, list]]:
        """For each live base table id with global indexes: its name and live index tables."""
        plan: dict[int, tuple[str, list]] = {}
        for t in view.tables.values():
            base = t.spec.get("IndexOf")
            if base is None or t.status == "DELETING" or base not in view.tables:
                continue
            b = view.tables[base]
            if b.status != "DELETING":
                plan.setdefault(b.id, (b.name, []))[1].append(t)
        return plan

    def _live(self, replica: PartitionReplica) -> frozenset[str]:
        """The index tables this base partition may still ship to."""
        entry = self._plan.get(replica.config["table_id"])
        return frozenset(ix.name for ix in entry[1]) if entry is not None else frozenset()

    def _wanted(self, replica: PartitionReplica) -> list[dict]:
        """The index configuration the metadata asks of this base partition."""
        entry = self._plan.get(replica.config["table_id"])
        if entry is None:
            return []
        return [gsi.config_entry(ix.name, ix.id, ix.spec, backfill=bool(ix.spec.get("Backfill")) and
                                 replica.group not in ix.spec.get("Backfilled", []))
                for ix in entry[1]]

    def partition_client(self) -> Cluster:
        """The node's shared partition client (cluster/partitions.py), following its metadata view."""
        return self._router()

    def _router(self) -> Cluster:
        if self.cluster is None:
            self.cluster = Cluster([], self.az, cluster_id=self.cluster_id)
        view = self.control.view
        if view is not None and view.version != self._version:
            # The local view may be the meta replica's own state, changed in
            # place: rebuild the routing maps whenever its version moves.
            self._version = view.version
            self.cluster.state = None
            self.cluster.install(view)
        return self.cluster

    async def _drive(self, replica: PartitionReplica) -> None:
        """Index work for a leader replica until none is left."""
        group = replica.group
        try:
            while ships(replica) and await self._step(replica):
                self._failures.pop(group, None)
            self._failures.pop(group, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (retried; leadership may have moved)
            # Index changes are never dropped, so a failure that repeats (an
            # index partition without a majority, or a bug) is retried with
            # backoff and logged now and then, not five times a second.
            n = self._failures[group] = self._failures.get(group, 0) + 1
            if n & (n - 1) == 0:
                log.warning("%s: index work failed %d time(s) in a row (retrying): %r", group, n, exc)
            await asyncio.sleep(min(0.2 * 2 ** (n - 1), MAX_RETRY_S))

    async def _step(self, replica: PartitionReplica) -> bool:
        """One step of index work; True when more is waiting."""
        if not replica.is_leader:  # an MRSC member: the group's leader configures, this region's member ships
            return await self._ship(replica)
        wanted = self._wanted(replica)
        have = [(c["name"], c["tid"]) for c in replica.config.get("gsi", [])]
        if [(c["name"], c["tid"]) for c in wanted] != have:
            await replica.propose(node_pb2.WriteCommand(config=orjson.dumps(wanted)).SerializeToString())
            return True
        more = await self._ship(replica)
        for conf in replica.config.get("gsi", []):
            if conf["backfill"]:
                await replica.propose(node_pb2.WriteCommand(backfill=node_pb2.GsiBackfill(
                    index=conf["name"], limit=BACKFILL_CHUNK)).SerializeToString())
                return True
        if not more:
            await self._report_backfills(replica, wanted)
        return more

    async def _report_backfills(self, replica: PartitionReplica, wanted: list[dict]) -> None:
        """Tell the metadata which indexes this partition has backfilled: every
        existing item sent and acknowledged by the index (the last backfill
        chunk's changes are shipped), so ACTIVE means complete."""
        shipped = self._watermark(replica)
        done = {c["name"] for c in replica.config.get("gsi", [])
                if not c["backfill"] and shipped >= c.get("done_at", 0)}
        for conf in wanted:
            if conf["backfill"] and conf["name"] in done:
                await self.control.meta_request("backfilled", {"index": conf["name"], "group": replica.group})

    def _watermark(self, replica: PartitionReplica) -> int:
        """Highest log index whose index changes are known shipped: this term's
        shipments, or everything before the oldest record left in the outbox."""
        term, shipped = self._shipped.get(replica.group, (-1, 0))
        if term == replica.raft.term:
            return shipped
        lo, hi = gsi.outbox_bounds(replica.group)
        for key, _ in self.storage.iter_range(STREAMS, lo, hi, limit=1):
            return gsi.outbox_index(key) - 1
        return replica.applied

    async def _ship(self, replica: PartitionReplica) -> bool:
        """Ship the oldest unshipped outbox records; True when more are waiting."""
        if parent_outbox_pending(self.storage, replica.config):
            await asyncio.sleep(SWEEP_S)  # the split's parent ships its older changes of our items first
            return True
        term = replica.raft.term
        lo, hi = gsi.outbox_bounds(replica.group)
        shipped = self._shipped.get(replica.group)
        if shipped is not None and shipped[0] == term:
            lo = gsi.outbox_key(replica.group, shipped[1] + 1)
        records = list(self.storage.iter_range(STREAMS, lo, hi, limit=SHIP_RECORDS))
        if not records:
            # Everything applied so far is shipped (an entry's records are stored
            # when it applies), also entries that left none, like a backfill chunk
            # with nothing to index.
            replica.outbox_last = 0
            self._shipped[replica.group] = (term, replica.applied)
            replica.note_shipped(replica.applied)
            return False
        cluster = self._router()
        live = {c["name"] for c in replica.config.get("gsi", [])} & self._live(replica)
        batches: dict[str, list[node_pb2.GsiChange]] = {}  # index partition -> changes in log order
        first_hash: dict[str, tuple[str, int]] = {}
        for _, raw in records:
            for ch in node_pb2.GsiChanges.FromString(raw).changes:
                if ch.table not in live:
                    continue  # the index (or its table) was deleted
                part = cluster.group_for(ch.table, ch.hash)
                if part is None:
                    raise RuntimeError(f"no partition of {ch.table} known yet")
                batches.setdefault(part, []).append(ch)
                first_hash.setdefault(part, (ch.table, ch.hash))
        results = await asyncio.gather(*(
            cluster.send(first_hash[part][0], first_hash[part][1], index_write(chs, replica.group, term),
                         to_leader=True)
            for part, chs in batches.items()))
        if any(r.fenced for r in results):
            return False  # a newer leader of this partition ships now
        last = gsi.outbox_index(records[-1][0])
        self._shipped[replica.group] = (term, last)
        replica.note_shipped(last)
        if "member" in replica.config:
            # An MRSC member's outbox is its region's alone (each region's member ships to its
            # own index partitions): trimmed here, not through the log every region shares.
            batch = self.storage.batch()
            batch.delete_range(STREAMS, gsi.outbox_bounds(replica.group)[0], gsi.outbox_key(replica.group, last + 1))
            self.storage.write(batch, sync=False)
        else:
            # The records leave the outbox through the log; the next shipment does
            # not wait for that (a new leader ships again what is left: at least once).
            self._trim(replica, last)
        # A full page left more behind (after a restart or a change of leader);
        # records applied while this shipment was in flight go out next, now.
        return len(records) == SHIP_RECORDS or replica.outbox_last > last

    def _trim(self, replica: PartitionReplica, upto: int) -> None:
        """Propose the trim of the outbox up to ``upto``, one trim entry in
        flight per partition: one asked for meanwhile waits and goes when it
        ends, covering every shipment acknowledged until then (under load
        one trim entry every few shipments, each a Raft round on the base
        partition's three replicas)."""
        group = replica.group
        flying = self._trims.get(group)
        if flying is not None and not flying.done():
            self._trim_due[group] = upto
            return
        trim = self._trims[group] = replica.propose(node_pb2.WriteCommand(trim_outbox=upto).SerializeToString())
        trim.add_done_callback(_quiet)
        trim.add_done_callback(lambda _: self._trim_next(replica))

    def _trim_next(self, replica: PartitionReplica) -> None:
        due = self._trim_due.pop(replica.group, None)
        if due is not None and ships(replica) and self.engine.replicas.get(replica.group) is replica:
            self._trim(replica, due)


def ships(replica: PartitionReplica) -> bool:
    """Does this replica ship its partition's index changes? The leader; in a
    group spanning regions (MRSC), every region's member (one per region) to
    its own region's index partitions, a witness (no indexes) excepted."""
    if "member" in replica.config:
        return not replica.config.get("witness")
    return replica.is_leader


def index_write(changes: list[node_pb2.GsiChange], source: str, term: int) -> node_pb2.DataRequest:
    """The INDEX_WRITE request of one shipment to an index partition, fenced by
    the shipping leader's partition and term."""
    return node_pb2.DataRequest(op=node_pb2.DataRequest.INDEX_WRITE,
                                index_changes=node_pb2.GsiChanges(changes=changes), fence_source=source,
                                fence_term=term)


def _quiet(fut: asyncio.Future) -> None:
    """A trim lost with the leadership is harmless: the next leader trims."""
    if not fut.cancelled():
        fut.exception()
