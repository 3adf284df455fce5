"""One router's watch over its cluster for the console: a single poller,
shared by every viewer.

While at least one page listens (`listen`), the poller asks every node's
Admin service for its health, replica states and faults, once per
``interval`` whatever the number of viewers (no polling storm: a hundred
open pages cost the nodes what one does), and the meta leader for the
tables' counts and its recent splits and moves. Each look becomes a snapshot
(`view.snapshot`); what changed since the previous one goes to the timeline.
Capacity is sampled apart, at a slower rate, from the first console request
on for the router's life, into a bounded history per table.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import orjson

from cluster.partitions import Cluster
from cluster.rpc import call_once, meta_call
from router.console import view
from router.console.errors import describe

log = logging.getLogger(__name__)

INTERVAL_S = 1.0  # between two looks at the nodes, while someone watches
CAPACITY_INTERVAL_S = 2.0  # between two capacity samples (one metadata call each)
CAPACITY_SAMPLES = 1800  # per table: an hour at the rate above
TIMELINE = 500  # entries kept
TIMELINE_SHOWN = 200  # entries sent with each snapshot
HEARTBEAT_S = 15.0  # a comment line on a quiet stream keeps proxies from closing it
CALL_TIMEOUT_S = 1.5


class Monitor:
    def __init__(self, cluster: Cluster, region: str, *, interval: float = INTERVAL_S) -> None:
        self.cluster = cluster
        self.region = region
        self.interval = interval
        self.viewers = 0
        self.current: dict[str, Any] | None = None
        self.timeline: deque[dict] = deque(maxlen=TIMELINE)
        self.capacity: dict[str, deque[list[float]]] = {}
        self._controller: set[tuple] = set()  # the meta leader's recent events, as last seen
        self._changed = asyncio.Condition()
        self._looking = asyncio.Lock()
        self._poller: asyncio.Task | None = None
        self._sampler: asyncio.Task | None = None

    async def close(self) -> None:
        for task in (self._poller, self._sampler):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._poller, self._sampler) if t is not None), return_exceptions=True)

    # --- viewers ------------------------------------------------------------------

    async def listen(self) -> AsyncIterator[bytes]:
        """Server-sent events: every new snapshot (with the timeline's newest
        entries) as one ``state`` event, a comment when quiet, until the
        viewer goes away."""
        self.viewers += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        sent = -1.0
        try:
            yield b"retry: 2000\n\n"
            while True:
                async with self._changed:
                    try:
                        await asyncio.wait_for(self._changed.wait_for(
                            lambda: self.current is not None and self.current["at"] != sent), HEARTBEAT_S)
                    except TimeoutError:
                        yield b": still here\n\n"
                        continue
                state = self.current
                sent = state["at"]
                yield b"event: state\ndata: %s\n\n" % orjson.dumps(self.page(state))
        finally:
            self.viewers -= 1

    def page(self, state: dict | None = None) -> dict:
        """What a page shows: the snapshot and the timeline's newest entries, newest first."""
        newest = list(itertools.islice(reversed(self.timeline), TIMELINE_SHOWN))
        return {**(state or self.current or {}), "timeline": newest}

    async def fresh(self) -> dict:
        """A snapshot at most one interval old: the last one, or a new look
        (one at a time: concurrent askers share it)."""
        async with self._looking:
            if self.current is None or time.time() - self.current["at"] >= self.interval:
                await self.look()
        return self.current

    # --- polling ------------------------------------------------------------------

    async def _poll(self) -> None:
        while self.viewers > 0:
            started = time.monotonic()
            try:
                async with self._looking:
                    await self.look()
            except Exception:  # noqa: BLE001 (a failed look is retried at the next tick)
                log.exception("console: looking at the cluster failed")
            await asyncio.sleep(max(0.0, self.interval - (time.monotonic() - started)))

    async def look(self) -> dict:
        """One look at every node (health, replicas, faults, global tables'
        replication) and the meta leader; the new snapshot."""
        state = self.cluster.state
        meta = state.to_json() if state is not None else None
        answers: dict[str, dict] = {}
        if state is not None:
            ids = sorted(state.nodes)
            got = await asyncio.gather(*(self._node(state.nodes[i].addr) for i in ids))
            answers = dict(zip(ids, got))
            stats, events = await asyncio.gather(self._meta("table_stats"), self._meta("events"))
            _with_counts(meta, stats)
            self._controller_events((events or {}).get("events") or [])
        snap = view.snapshot(meta, answers, self.region, time.time())
        self.timeline.extend(view.changes(self.current, snap))
        async with self._changed:
            self.current = snap
            self._changed.notify_all()
        return snap

    async def metadata(self) -> dict | None:
        """The router's metadata with the meta leader's counts merged in (items,
        bytes, consumed units: what `trireme status` and `trireme cost` read);
        None before the router has any."""
        state = self.cluster.state
        if state is None:
            return None
        meta = state.to_json()
        return _with_counts(meta, await self._meta("table_stats"))

    def _controller_events(self, events: list) -> None:
        """The meta leader's recent splits and moves not seen before (its list
        is bounded: an event that left it does not come back)."""
        now = {(at, text) for at, text in events}
        for at, text in sorted(now - self._controller):
            self.timeline.append({"at": at, "kind": "controller", "subject": "", "text": text})
        if events:  # no answer (no meta leader now) forgets nothing
            self._controller = now

    async def _node(self, addr: str) -> dict:
        channels = self.cluster.channels
        try:
            health, replicas, faults, replication = await asyncio.gather(
                *(call_once(channels, addr, "admin", op, timeout=CALL_TIMEOUT_S)
                  for op in ("health", "replicas", "faults", "replication")))
        except Exception as exc:  # noqa: BLE001 (a node that does not answer is shown as such)
            return {"error": describe(exc)}
        return {"health": health, "replicas": replicas, "faults": faults, "replication": replication}

    async def _meta(self, op: str) -> Any:
        try:
            state = self.cluster.state
            addrs = sorted(n.addr for n in state.nodes.values()) if state is not None else self.cluster.seeds
            return await meta_call(self.cluster.channels, addrs, op, {}, deadline_s=CALL_TIMEOUT_S)
        except Exception:  # noqa: BLE001 (no meta leader now: the counts wait for the next look)
            return None

    # --- capacity -------------------------------------------------------------------

    def sample_capacity(self) -> None:
        """Start the capacity sampler (idempotent)."""
        if self._sampler is None or self._sampler.done():
            self._sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            stats = await self._meta("table_stats")
            now = time.time()
            for name, counts in ((stats or {}).get("tables") or {}).items():
                c = counts.get("consumed")
                if c:
                    self.capacity.setdefault(name, deque(maxlen=CAPACITY_SAMPLES)).append(
                        [now, c["read_units_per_s"], c["write_units_per_s"],
                         c["throttled_read_units_per_s"], c["throttled_write_units_per_s"]])
            for name in [n for n in self.capacity if self.cluster.state and n not in self.cluster.state.tables]:
                del self.capacity[name]
            await asyncio.sleep(CAPACITY_INTERVAL_S)


def _with_counts(meta: dict, stats: dict | None) -> dict:
    """``meta`` with the meta leader's ``table_stats`` counts in its tables
    (none when no meta leader answered)."""
    for name, counts in ((stats or {}).get("tables") or {}).items():
        if name in meta["tables"]:
            meta["tables"][name].update({k: counts[k] for k in ("item_count", "size_bytes", "consumed") if k in counts})
    return meta
