"""The node's control plane: its view of the metadata, the replicas it should
host, heartbeats to the controller, and (on the meta leader) the controller.

The view is the local meta replica's state while that replica is in touch
with its group, else a Watch stream from a meta member that is. Views only move forward through the
metadata's history, and replicas are created or destroyed only from a view at
least as new as the newest this node ever acted on (persisted), so a restart
replaying old metadata cannot resurrect or destroy anything.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
import orjson

from cluster.keys import read_u64, u64
from cluster.meta import MetaState
from cluster.regions import qualify
from cluster.rpc import CallError, Channels, call_once, meta_call
from cluster.tasks import within
from node.control.controller import controller_tick, meta_op
from node.control.metareplica import META_GROUP, MetaReplica
from node.control.throughput import BOOST_TTL_S, apply_limits, meter_report
from node.groups.replica import Rejected
from node.partition.global_indexes import config_entry
from trireme_pb import node_pb2, node_pb2_grpc

if TYPE_CHECKING:
    from cluster.kms import MasterKeys
    from node.config import NodeConfig
    from node.groups.engine import Engine
    from node.storage import Storage

log = logging.getLogger(__name__)

HEARTBEAT_S = 0.5
PLAN_S = 0.5
_VIEW_FLOOR_KEY = b"N/view_version"


class Control:
    def __init__(self, cfg: NodeConfig, engine: Engine, storage: Storage,
                 stats: Callable[[], dict[str, list[int]]]) -> None:
        self.cfg = cfg
        self.engine = engine
        self.storage = storage
        self.stats = stats  # the item counts of the partitions this node leads, for heartbeats
        self.view: MetaState | None = None
        self._change = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.channels = Channels()
        raw = storage.get("meta", _VIEW_FLOOR_KEY)
        self._floor = read_u64(raw) if raw else 0
        self.controller = None  # ControllerMemory while we lead meta
        self.master: MasterKeys | None = None  # set by node/server.py from --key-file
        self._report_now = asyncio.Event()  # a replica changed role: tell the controller at once
        self.plan_now = asyncio.Event()  # the controller has news: plan without waiting
        self._registering: set[str] = set()  # split children being recorded in the metadata
        engine.split_applied = self.register_split

    # --- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        for coro in (self._watch_loop(), self._heartbeat_loop(), self._reconcile_loop(),
                     self._controller_loop()):
            self._tasks.append(asyncio.create_task(coro))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.channels.close()

    # --- the view -------------------------------------------------------------

    def _set_view(self, state: MetaState) -> None:
        if self.view is not None and state.version < self.view.version and self.view is not state:
            return
        self.view = state
        self._change.set()

    def on_local_meta(self, state: MetaState) -> None:
        self._set_view(state)
        self.plan_now.set()

    def poke(self) -> None:
        """A replica's role changed: report it without waiting for the period."""
        self._report_now.set()

    async def wait_change(self, after: int) -> None:
        while self.view is None or self.view.version <= after:
            self._change.clear()
            await self._change.wait()

    def address_of(self, node_id: str) -> str | None:
        """A node's address: from the metadata, else from --initial-cluster."""
        state = self.view
        if state is not None:
            info = state.nodes.get(node_id)
            if info is not None:
                return info.addr
        member = self.cfg.initial_cluster.get(node_id)
        return member[0] if member else None

    def meta_replica(self) -> MetaReplica | None:
        r = self.engine.replicas.get(META_GROUP)
        return r if isinstance(r, MetaReplica) else None

    def seed_addrs(self) -> list[str]:
        addrs = {a for a, _ in self.cfg.initial_cluster.values()}
        addrs.update(self.cfg.join)
        if self.view is not None:
            addrs.update(n.addr for n in self.view.nodes.values())
        addrs.discard(self.cfg.addr)
        return sorted(addrs)

    def local_meta(self) -> MetaReplica | None:
        """The local meta replica, if it is in touch with its group."""
        mr = self.meta_replica()
        return mr if mr is not None and mr.in_touch() else None

    def watch_addrs(self) -> list[str]:
        """Where to follow the metadata from: the meta members of our view first."""
        me = self.cfg.addr
        members = [a for a in self.meta_addrs() if a != me]
        return members or self.seed_addrs()

    async def _watch_loop(self) -> None:
        """Follow the metadata from a meta member while no local meta replica is
        in touch (none hosted, still catching up, or removed from the group)."""
        while True:
            if self.local_meta() is not None:
                await asyncio.sleep(0.2)
                continue
            addrs = self.watch_addrs()
            if not addrs:
                await asyncio.sleep(0.5)
                continue
            addr = random.choice(addrs)
            try:
                stub = node_pb2_grpc.MetaStub(self.channels.get(addr))
                after = self.view.version if self.view is not None else 0
                async for snap in stub.Watch(node_pb2.WatchRequest(after_version=after),
                                             metadata=self.channels.metadata()):
                    self._set_view(MetaState.from_json(orjson.loads(snap.body)))
                    if self.local_meta() is not None:
                        break
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                log.debug("meta watch from %s ended: %s", addr, exc.code().name)
            except Exception:
                log.exception("meta watch from %s failed", addr)
            await asyncio.sleep(0.2 + random.random() * 0.3)

    # --- replicas this node should host ---------------------------------------

    async def _reconcile_loop(self) -> None:
        seen = -1
        while True:
            try:
                await within(self.wait_change(seen), 1.0)
            except TimeoutError:
                pass
            view = self.view
            if view is None:
                continue
            seen = view.version  # older than the floor too: wait for a newer view, never spin on this one
            if view.version < self._floor:
                continue
            try:
                self.reconcile(view)
            except Exception:
                log.exception("reconcile failed")

    def reconcile(self, view: MetaState) -> None:
        me = self.cfg.id
        engine = self.engine
        if view.version > self._floor:
            batch = self.storage.batch()
            batch.put("meta", _VIEW_FLOOR_KEY, u64(view.version))
            self.storage.write(batch, sync=True)
            self._floor = view.version
        self.storage.learn_keys(view.tables.values())  # before any replica of a new table writes
        wanted = {}
        qualified = qualify(self.cfg.region, me)  # this node in a group that spans regions (MRSC)
        for p in view.partitions.values():
            if me in p.voters or me in p.learners or qualified in p.voters:
                wanted[p.id] = p
        for gid, p in wanted.items():
            if gid in engine.replicas:
                continue
            member = qualified if qualified in p.voters else me
            parent = engine.replicas.get(p.parent) if p.parent else None
            if parent is not None and (parent.config.get("hi", -1) >= p.lo
                                       or getattr(parent, "split_pending", None)):
                continue  # the local parent creates it once its split is written (its data is here then)
            founding = list(p.voters) if p.epoch == 1 and member in p.voters and not p.parent else None
            if gid == META_GROUP:
                config = {"kind": "meta", "replay": True}
            else:
                config = {"kind": "partition", "table_id": p.table_id, "lo": p.lo, "hi": p.hi}
                if member != me:
                    config.update(member=member, witness=p.witness == self.cfg.region,
                                  gsi=strong_indexes(view, p.table_id), streams=strong_streams(view, p.table_id))
            log.info("%s: creating replica %s (%s)", me, gid, "founding" if founding else "empty")
            engine.create(gid, config, founding)
        for gid in list(engine.replicas):
            if gid in wanted:
                continue
            split_from = engine.replicas[gid].config.get("split_from")
            if gid not in view.partitions and split_from in view.partitions:
                self.register_split(engine.replicas[gid])  # a split the metadata has not recorded yet
                continue
            log.info("%s: destroying replica %s", me, gid)
            engine.destroy(gid)

    def register_split(self, child: Any) -> None:
        """Record a split applied here in the metadata (idempotent, so every
        replica may; the leader's call usually lands first), in the background."""
        c, conf = child.config, child.raft.conf
        if child.group in self._registering or "split_from" not in c:
            return
        body = {"parent": c["split_from"], "child": child.group, "mid": c["lo"], "index": c["split_index"],
                "voters": list(conf.voters), "learners": list(conf.learners)}
        self._registering.add(child.group)

        async def register() -> None:
            try:
                await self.meta_request("split_partition", body)
            except Exception as exc:  # noqa: BLE001 (reconcile tries again)
                log.info("%s: recording split of %s: %r", self.cfg.id, body["parent"], exc)
            finally:
                self._registering.discard(child.group)
        self._tasks.append(asyncio.create_task(register()))
        self._tasks = [t for t in self._tasks if not t.done()]

    # --- heartbeats to the controller -------------------------------------------

    def report(self) -> dict:
        groups = {}
        for r in self.engine.replicas.values():
            s = r.status()
            groups[r.group] = {k: s[k] for k in ("role", "leader", "term", "commit", "applied",
                                                  "voters", "learners", "match")}
        return {"node": self.cfg.id, "addr": self.cfg.addr, "az": self.cfg.az,
                "groups": groups, "stats": self.stats(), "consumed": meter_report(self.engine)}

    async def _heartbeat_loop(self) -> None:
        joined = False
        lent: dict[str, list[float]] = {}  # adaptive capacity's rates, from the meta leader's last answer
        lent_at = 0.0
        while True:
            try:
                if not joined:
                    await self.meta_request("join", {"id": self.cfg.id, "addr": self.cfg.addr,
                                                     "az": self.cfg.az})
                    joined = True
                self._report_now.clear()
                answer = await self.meta_request("heartbeat", self.report(), deadline_s=2.0)
                lent, lent_at = (answer.get("lent") or {}) if isinstance(answer, dict) else {}, time.monotonic()
            except asyncio.CancelledError:
                raise
            except (CallError, Rejected) as exc:
                log.debug("heartbeat: %s", exc)
            except Exception:
                log.exception("heartbeat failed")
            # Limits follow the metadata within a heartbeat; lent rates lapse unless renewed.
            apply_limits(self.engine, self.view, lent if time.monotonic() - lent_at < BOOST_TTL_S else {})
            try:
                await within(self._report_now.wait(), HEARTBEAT_S)
                await asyncio.sleep(0.02)  # let a burst of role changes settle into one report
            except TimeoutError:
                pass

    async def meta_request(self, op: str, body: Any, deadline_s: float = 10.0) -> Any:
        """A metadata call from this node: handled here when we lead meta."""
        mr = self.meta_replica()
        if mr is not None and mr.is_leader:
            return await self.handle_meta_call(op, body)
        return await meta_call(self.channels, self.meta_addrs(), op, body, deadline_s=deadline_s)

    def meta_addrs(self) -> list[str]:
        view = self.view
        addrs: list[str] = []
        if view is not None and META_GROUP in view.partitions:
            for n in view.partitions[META_GROUP].voters:
                if n in view.nodes:
                    addrs.append(view.nodes[n].addr)
        return addrs or self.seed_addrs() or [self.cfg.addr]

    # --- the controller (meta leader only) ------------------------------------------

    def _leading(self) -> MetaReplica | None:
        mr = self.meta_replica()
        if mr is None or not mr.is_leader:
            return None
        return mr

    async def handle_meta_call(self, op: str, body: dict) -> Any:
        mr = self._leading()
        if mr is None:
            mr_any = self.meta_replica()
            raise Rejected("NOT_LEADER", f"{self.cfg.id} does not lead the metadata",
                           mr_any.leader if mr_any is not None else None)
        mr.check_leader()
        return await meta_op(self, mr, op, body)

    async def _controller_loop(self) -> None:
        while True:
            try:
                await within(self.plan_now.wait(), PLAN_S)
            except TimeoutError:
                pass
            self.plan_now.clear()
            mr = self._leading()
            if mr is None or not mr.writable():
                self.controller = None
                continue
            try:
                await controller_tick(self, mr)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("controller tick failed")

    async def admin(self, node_id: str, op: str, body: Any, timeout: float = 3.0) -> Any:
        addr = self.address_of(node_id)
        if addr is None:
            raise CallError("UNAVAILABLE", "", f"no address for {node_id}")
        return await call_once(self.channels, addr, "admin", op, body, timeout=timeout)


def monotonic() -> float:
    return time.monotonic()


def strong_indexes(view: MetaState, table_id: int) -> list[dict]:
    """The global indexes a member of an MRSC table's group starts with: its
    region's index tables of the table (their ids are the same in every
    region, router/strong_tables.py), so each member derives every write's
    index changes from the first entry on, and no index is backfilled."""
    base = view.table_by_id(table_id)
    if base is None:
        return []
    return [config_entry(ix.name, ix.id, ix.spec, backfill=False)
            for ix in view.index_tables(base.name)]  # (every region's metadata has them in one order)


def strong_streams(view: MetaState, table_id: int) -> list[dict]:
    """The stream a member of an MRSC table's group starts with (every serving
    region's table has the same one, router/strong_tables.py): records from
    the first entry on, on every member, so each region's stream has every
    change (node/partition/streams.py settings)."""
    base = view.table_by_id(table_id)
    s = base.enabled_stream() if base is not None else None
    if s is None:
        return []
    return [{"label": s["label"], "view": s["view"], "keys": [k["AttributeName"] for k in base.spec["KeySchema"]],
             "start": 0, "start_ms": s["created_ms"], "end": None}]
