"""The global-index side of a base partition's leader: keep the partition's
index configuration in step with the metadata, drive backfills, and ship the
outbox to the index partitions in log order.

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

from node import gsi
from node.meta.state import MetaState
from node.partition import PartitionReplica
from node.storage import STREAMS
from router.cluster import Cluster
from trireme_pb import node_pb2

if TYPE_CHECKING:
    from node.server import Node

log = logging.getLogger(__name__)

TICK_S = 0.05
SHIP_RECORDS = 64
BACKFILL_CHUNK = 200


class IndexShipper:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.cluster: Cluster | None = None
        self._version = -1
        self._plan: dict[int, tuple[str, list]] = {}
        self._plan_version = -1
        self._drivers: dict[str, asyncio.Task] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        tasks = [t for t in [self._task, *self._drivers.values()] if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.cluster is not None:
            await self.cluster.close()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            view = self.node.control.view
            if view is None:
                continue
            if view.version != self._plan_version:
                self._plan = self._plan_for(view)
                self._plan_version = view.version
            for group, replica in list(self.node.engine.replicas.items()):
                if not isinstance(replica, PartitionReplica) or not replica.is_leader:
                    continue
                task = self._drivers.get(group)
                if task is not None and not task.done():
                    continue
                if replica.config.get("gsi") or self._wanted(replica) or replica.outbox_last:
                    self._drivers[group] = asyncio.create_task(self._drive(replica))

    @staticmethod
    def _plan_for(view: MetaState) -> dict[int, tuple[str, list]]:
        """For each base table id with global indexes: its name and live index tables."""
        plan: dict[int, tuple[str, list]] = {}
        for t in view.tables.values():
            base = t.spec.get("IndexOf")
            if base is None or t.status == "DELETING" or base not in view.tables:
                continue
            b = view.tables[base]
            plan.setdefault(b.id, (b.name, []))[1].append(t)
        return plan

    def _wanted(self, replica: PartitionReplica) -> list[dict]:
        """The index configuration the metadata asks of this base partition."""
        entry = self._plan.get(replica.config["table_id"])
        if entry is None:
            return []
        return [gsi.config_entry(ix.name, ix.id, ix.spec, backfill=bool(ix.spec.get("Backfill")) and
                                 replica.group not in ix.spec.get("Backfilled", []))
                for ix in entry[1]]

    def _router(self) -> Cluster:
        if self.cluster is None:
            self.cluster = Cluster([], self.node.cfg.az, cluster_id=self.node.cfg.cluster_id)
        view = self.node.control.view
        if view is not None and view.version != self._version:
            # The local view may be the meta replica's own state, changed in
            # place: rebuild the routing maps whenever its version moves.
            self._version = view.version
            self.cluster.state = None
            self.cluster.install(view)
        return self.cluster

    async def _drive(self, replica: PartitionReplica) -> None:
        """One round of index work for a leader replica; the loop starts the next."""
        try:
            wanted = self._wanted(replica)
            have = [(c["name"], c["tid"]) for c in replica.config.get("gsi", [])]
            if [(c["name"], c["tid"]) for c in wanted] != have:
                await replica.propose(node_pb2.WriteCommand(config=orjson.dumps(wanted)).SerializeToString())
                return
            for conf in replica.config.get("gsi", []):
                if conf["backfill"]:
                    await replica.propose(node_pb2.WriteCommand(backfill=node_pb2.GsiBackfill(
                        index=conf["name"], limit=BACKFILL_CHUNK)).SerializeToString())
                    return
            await self._report_backfills(replica, wanted)
            while await self._ship(replica):
                pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (retried next round; leadership may have moved)
            log.warning("%s: index work failed (retrying): %r", replica.group, exc)
            await asyncio.sleep(0.2)

    async def _report_backfills(self, replica: PartitionReplica, wanted: list[dict]) -> None:
        done = {c["name"] for c in replica.config.get("gsi", []) if not c["backfill"]}
        for conf in wanted:
            if conf["backfill"] and conf["name"] in done:
                await self.node.control.meta_request("backfilled", {"index": conf["name"], "group": replica.group})

    async def _ship(self, replica: PartitionReplica) -> bool:
        """Ship the oldest outbox records; True when more are waiting."""
        lo, hi = gsi.outbox_bounds(replica.group)
        records = list(self.node.storage.iter_range(STREAMS, lo, hi, limit=SHIP_RECORDS))
        if not records:
            replica.outbox_last = 0
            return False
        cluster = self._router()
        live = {c["name"] for c in replica.config.get("gsi", [])}
        batches: dict[str, list[node_pb2.GsiChange]] = {}  # index partition -> changes in log order
        first_hash: dict[str, tuple[str, int]] = {}
        for _, raw in records:
            for ch in node_pb2.GsiChanges.FromString(raw).changes:
                if ch.table not in live:
                    continue  # the index was deleted
                part = cluster.group_for(ch.table, ch.hash)
                if part is None:
                    raise RuntimeError(f"no partition of {ch.table} known yet")
                batches.setdefault(part, []).append(ch)
                first_hash.setdefault(part, (ch.table, ch.hash))
        args = orjson.dumps({"src": replica.group, "term": replica.raft.term})
        results = await asyncio.gather(*(
            cluster.send(first_hash[part][0], first_hash[part][1], node_pb2.DataRequest(
                op="gsi", item=node_pb2.GsiChanges(changes=chs).SerializeToString(), args=args), to_leader=True)
            for part, chs in batches.items()))
        if any(r.body == b'"fenced"' for r in results):
            return False  # a newer leader of this partition ships now
        last = gsi.outbox_index(records[-1][0])
        await replica.propose(node_pb2.WriteCommand(trim_outbox=last).SerializeToString())
        return len(records) == SHIP_RECORDS and replica.is_leader
