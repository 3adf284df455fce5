"""A client's picture of the cluster and how it reaches a partition (used by
routers, and by nodes shipping index entries to other partitions).

It watches the metadata (a stream of versioned snapshots from any node),
finds a key's partition by hash, and sends a request to the right replica:
writes and strongly consistent reads to the leader, eventually consistent
reads to a replica in the router's own AZ first. Stale routing (not the
leader, no such replica, node down) is retried with backoff until the
request's deadline; then the request fails with a 5xx that says why.

A strongly consistent global table's partition is one Raft group whose
members are in three regions (`REGION/NODE`): the client reaches this
region's member; when the group's leader is in another region, a request for
the leader raises LeaderElsewhere, and the router forwards the whole call to
that region (router/strong_tables.py). A strongly consistent read is sent
there on its own (`read_elsewhere`): a Scan or BatchGetItem spans partitions
whose leaders may be in different regions.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import random
import time
from contextvars import ContextVar
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
import orjson

from cluster.faults import Faults
from cluster.identity import Throttled
from cluster.keys import item_key
from cluster.meta import META_GROUP, MetaState
from cluster.nodes import NOTE, SLOW_MS, NodeClient, NodeClients, NodeDown, tag
from cluster.regions import split_qualified
from cluster.rpc import CallError, Channels, meta_call, refused
from cluster.tasks import within
from ddb.errors import DynamoDBError, EvaluationFailed, InternalServerError, ServiceUnavailable, from_wire
from trireme_pb import node_pb2, node_pb2_grpc

log = logging.getLogger(__name__)
_refusals = Throttled(log)

DEADLINE_S = 8.0
_LEADER_READS = frozenset({node_pb2.DataRequest.GET, node_pb2.DataRequest.RANGE})  # may be sent to another region
# A node whose connection broke is tried last, and hints naming it are not
# followed, for this long: its former followers may not have noticed yet.
DOWN_S = 1.0
# A leader that is elected but not yet writable (its first entry not yet
# applied) is asked again within this long, not after the backoff (to 0.5 s).
NOT_READY_RETRY_S = 0.05
# A leader that answered nothing for this long while requests waited (paused,
# cut off) is asked no more until it answers or another leader is named; the
# requests it holds are given up once one is (its followers elect one within
# about a second: node/groups/engine.py CAMPAIGN_TICKS), not at their timeout.
SILENT_S = 0.75
# While requests wait for a group's leader (it failed them, or it is silent
# with requests waiting on it), the group's replicas are asked who leads this
# often (`_sentinel_run`), by one probe rather than every request's retries.
PROBE_EVERY_S = 0.05
PROBE_TIMEOUT_S = 0.5


def answer_error(resp: node_pb2.DataResponse, group: str) -> DynamoDBError | None:
    """The error a node's final answer carries: the DynamoDB error it
    evaluated (DDB_ERROR), a deterministic failure that would fail again
    (INTERNAL), or a write whose outcome is unknown (UNKNOWN); None for OK
    and for the statuses worth asking again (not the leader, not ready, ...)."""
    st = resp.status
    if st == node_pb2.DDB_ERROR:
        body = {"__type": resp.error_type, "message": resp.message}
        if resp.item:
            body["Item"] = orjson.loads(resp.item)
        return from_wire(body)
    if st == node_pb2.INTERNAL:
        return EvaluationFailed()
    if st == node_pb2.UNKNOWN:
        return InternalServerError(
            f"The outcome of this write is unknown: partition {group} lost its leader "
            "before the write was confirmed. Read the item to see whether it was applied.")
    return None


class _LeaderMoved(NodeDown):
    """The node was silent and another replica now leads the group."""


# The region a request came from (a call forwarded from another region's
# router names it): writes to groups spanning regions carry it, and a leader
# refuses one region's write of an item while another's is uncommitted.
ORIGIN_REGION: ContextVar[str] = ContextVar("origin_region", default="")


class LeaderElsewhere(Exception):
    """The leader of ``group`` (a group spanning regions) is in ``region``."""

    def __init__(self, region: str, group: str) -> None:
        super().__init__(f"the leader of partition {group} is in region {region}")
        self.region = region
        self.group = group


class RangeMoved(Exception):
    """A range request crossed a partition boundary the map did not know of
    when it was built (a split): build it again from the current map."""


@dataclass(slots=True)
class _TableMap:
    los: list[int]
    ends: list[int]  # exclusive: hi + 1
    groups: list[str]


Order = tuple[str, ...]


@dataclass(slots=True)
class _Route:
    """A partition's replica orders for one metadata state: local-AZ replicas
    first, one order per rotation of the local and of the other replicas (a
    random pick spreads reads, and retries, like a shuffle would)."""
    orders: list[Order]
    lead: str | None = None  # the leader `lead_orders` were built for
    lead_orders: list[Order] | None = None  # `orders` with `lead` moved first


class Cluster:
    def __init__(self, seeds: list[str], az: str, *, cluster_id: str, deadline_s: float = DEADLINE_S,
                 slow_ms: float = SLOW_MS) -> None:
        """`cluster_id`: stated on every connection to a node (required: a node refuses any other);
        `slow_ms`: a data call this slow or slower is noted (`NOTE`) and logged by its node (0: none)."""
        self.seeds = seeds
        self.az = az
        self.region = ""  # this router's region: members `REGION/NODE` of others are reached through them
        self.deadline_s = deadline_s
        self.state: MetaState | None = None
        self._maps: dict[str, _TableMap] = {}
        self._leaders: dict[str, str] = {}  # group -> node id (`REGION/NODE`: another region's)
        self._down: dict[str, float] = {}  # node id -> when its connection last broke (see DOWN_S)
        self._found: dict[str, asyncio.Future] = {}  # group -> resolved when a leader is noted (_note_leader)
        self._lost: dict[str, tuple[str, float]] = {}  # group -> the leader that failed us, and when (logged)
        self._cross_region: frozenset[str] = frozenset()  # groups spanning regions (MRSC tables')
        self._routes: dict[str, _Route] = {}  # group -> orders, for `_routes_of` (see _targets)
        self._routes_of: tuple[MetaState | None, int] = (None, 0)  # state and version
        self._catching_up: asyncio.Future | None = None  # the shared `catch_up` in flight
        self._changed = asyncio.Event()
        slow_ms = slow_ms if slow_ms > 0 else math.inf  # 0: no request is slow
        self.slow_s = slow_ms / 1000
        self.nodes = NodeClients(cluster_id, slow_ms)  # every connection states the cluster id
        self.channels = Channels(cluster_id)
        self._task: asyncio.Task | None = None
        self._sentinel: asyncio.Task | None = None  # probes the groups of silent leaders (`_sentinel_run`)
        self._probing: set[str] = set()  # groups whose replicas are being asked who leads
        self._waiting: dict[str, int] = {}  # group -> requests waiting for its leader (`_leader_found`)
        # A read for the leader of a group led from another region, sent to that region's router
        # (router/strong_tables.py sets it): its answer, or None when that region cannot serve it now.
        self.read_elsewhere: Callable[[str, str, int, node_pb2.DataRequest, float],
                                      Awaitable[node_pb2.DataResponse | None]] | None = None
        # Chaos on this router's links to the nodes (`trireme chaos cut ROUTER NODE`).
        self.faults = Faults()

    # --- metadata ------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def close(self) -> None:
        tasks = [t for t in (self._task, self._sentinel) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.nodes.close()
        await self.channels.close()

    def _addrs(self, everyone: bool = False) -> list[str]:
        """The meta members we know of (only they serve Watch and metadata
        calls); every known node and seed when `everyone` (our view may be stale)."""
        st = self.state
        if not everyone and st is not None and META_GROUP in st.partitions:
            members = [st.nodes[n].addr for n in st.partitions[META_GROUP].voters if n in st.nodes]
            if members:
                return members
        addrs = set(self.seeds)
        if st is not None:
            addrs.update(n.addr for n in st.nodes.values())
        return sorted(addrs)

    async def _watch(self) -> None:
        failures = 0
        while True:
            addr = random.choice(self._addrs(everyone=failures >= 3))
            try:
                stub = node_pb2_grpc.MetaStub(self.channels.get(addr))
                after = self.state.version if self.state is not None else 0
                async for snap in stub.Watch(node_pb2.WatchRequest(after_version=after),
                                             metadata=self.channels.metadata()):
                    failures = 0
                    self.install(MetaState.from_json(orjson.loads(snap.body)))
            except asyncio.CancelledError:
                raise
            except grpc.aio.AioRpcError as exc:
                if refused(exc):
                    _refusals.warning(addr, f"{addr} refused our metadata watch: {exc.details()}")
                log.debug("meta watch from %s: %s", addr, exc.code().name)
            except Exception:
                log.exception("meta watch from %s failed", addr)
            failures += 1
            await asyncio.sleep(0.2 + random.random() * 0.3)

    def install(self, state: MetaState) -> None:
        if self.state is not None and state.version <= self.state.version:
            return
        maps: dict[str, _TableMap] = {}
        for name, t in state.tables.items():
            parts = sorted((state.partitions[g] for g in t.partitions if g in state.partitions),
                           key=lambda p: p.lo)
            maps[name] = _TableMap([p.lo for p in parts], [p.hi + 1 for p in parts], [p.id for p in parts])
        self.state = state
        self._maps = maps
        self._cross_region = frozenset(g for g, p in state.partitions.items() if p.cross_region)
        self._changed.set()

    async def catch_up(self, timeout: float = 2.0) -> bool:
        """Whether this router's metadata was behind the meta leader's and
        has caught up now: a table another router made ACTIVE a moment ago
        is known here too before a request is told it does not exist.
        Concurrent callers share one question to the leader."""
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.ensure_future(self._catch_up(timeout))
        return await asyncio.shield(self._catching_up)

    async def _catch_up(self, timeout: float) -> bool:
        before = self.state.version if self.state is not None else -1
        try:
            leader = (await within(self.meta("version", {}), timeout))["version"]
        except (DynamoDBError, CallError, KeyError, TypeError, TimeoutError, OSError):
            return False  # no leader now (or a node without the op): answer as the state says
        if before >= leader:
            return False
        return await self.wait_for(lambda s: s.version >= leader, timeout)

    async def wait_for(self, predicate, timeout: float) -> bool:
        """Wait until `predicate(state)` holds or the timeout passes."""
        deadline = time.monotonic() + timeout
        while True:
            if self.state is not None and predicate(self.state):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            try:
                await within(self._changed.wait(), left)
            except TimeoutError:
                pass

    async def ready(self, timeout: float) -> bool:
        return await self.wait_for(lambda s: bool(s.nodes), timeout)

    async def meta(self, op: str, body: dict) -> dict:
        """A metadata call to the meta leader; DynamoDB errors come back raised."""
        try:
            return await meta_call(self.channels, self._addrs(), op, body, deadline_s=self.deadline_s)
        except CallError as exc:
            if exc.status == "DDB_ERROR":
                raise from_wire({"__type": exc.error_type, "message": exc.message}) from None
            if exc.status == "INTERNAL":
                raise EvaluationFailed() from None
            raise ServiceUnavailable(
                f"The metadata service did not answer within {self.deadline_s:.0f}s: {exc.message}. "
                "Check that a majority of the metadata nodes is up (trireme status).") from None

    # --- data ------------------------------------------------------------------

    def group_for(self, table: str, hash64: int) -> str | None:
        m = self._maps.get(table)
        if m is None or not m.los:
            return None
        return m.groups[bisect.bisect_right(m.los, hash64) - 1]

    def partition_end(self, table: str, hash64: int) -> int:
        """Exclusive end of the hash range of the partition holding `hash64`
        (the end of the hash space when the table is unknown: `send` says why)."""
        m = self._maps.get(table)
        if m is None or not m.los:
            return 1 << 64
        return m.ends[bisect.bisect_right(m.los, hash64) - 1]

    def _targets(self, group: str, leader_first: bool) -> Order:
        """The replicas of `group` to try in turn: local-AZ ones first, in a
        random rotation; the known leader first when `leader_first`."""
        state = self.state
        if state is None:
            return ()
        # The state may also be changed in place (a node's own view): its version tells.
        if self._routes_of[0] is not state or self._routes_of[1] != state.version:
            self._routes = {}
            self._routes_of = (state, state.version)
        route = self._routes.get(group)
        if route is None:
            p = state.partitions.get(group)
            if p is None:
                return ()
            voters = p.voters
            if p.cross_region:  # this region's members, as its nodes are named here
                voters = [node for region, node in map(split_qualified, voters) if region == self.region]
            route = self._routes[group] = _Route(self._orders(state, voters))
        orders = route.orders
        if leader_first:
            lead = self._leaders.get(group)
            if lead is not None:
                if lead != route.lead:
                    route.lead = lead
                    route.lead_orders = list(dict.fromkeys(
                        (lead, *(v for v in o if v != lead)) for o in orders)) if lead in orders[0] else orders
                orders = route.lead_orders
        return orders[0] if len(orders) == 1 else orders[int(random.random() * len(orders))]

    def _orders(self, state: MetaState, voters: list[str]) -> list[Order]:
        local = [v for v in voters if v in state.nodes and state.nodes[v].az == self.az]
        rest = [v for v in voters if v not in local]
        return [(*local[i:], *local[:i], *rest[j:], *rest[:j])
                for i in range(max(1, len(local))) for j in range(max(1, len(rest)))]

    async def send(self, table: str, hash64: int, req: node_pb2.DataRequest, *,
                   to_leader: bool, idempotent: bool = True, ranged: bool = False,
                   elsewhere: bool = True) -> node_pb2.DataResponse:
        """Send `req` to the partition of `hash64`; retry stale routing until the deadline.

        A request that may have reached a node that then went silent is only
        retried when doing it again later is harmless (`idempotent`: reads,
        index shipments). A write is not: applied once before the node went
        silent, a second copy would land after newer writes and undo them.
        The caller learns instead that the outcome is unknown, a 500 as
        DynamoDB answers. `req` itself goes out (with id and group set) and
        may stay queued after a timeout: the caller must not reuse it.

        ``ranged``: `req` reads up to its partition's end as this map knows it;
        once a node refused it (WRONG_GROUP: the partition split) and the map
        has moved on, `RangeMoved` tells the caller to build it again.

        ``elsewhere``: a read for the leader of a group led from another region
        goes to that region (`read_elsewhere`); else LeaderElsewhere is raised.
        """
        deadline = time.monotonic() + self.deadline_s
        version = self.state.version if self.state is not None else -1
        if to_leader and (self._sentinel is None or self._sentinel.done()):
            self._sentinel = asyncio.create_task(self._sentinel_run(), name="silent-leaders")
        backoff = 0.02
        last = "no attempt"
        handed = False  # `req` went to a node client: later attempts send copies
        group = None
        while True:
            group = self.group_for(table, hash64)
            if group is None:
                raise ServiceUnavailable(f"No partition of table {table} is known to this router.")
            lead = self._leaders.get(group)
            if to_leader and lead is not None and "/" in lead:
                region = split_qualified(lead)[0] or ""
                if not elsewhere or self.read_elsewhere is None or req.op not in _LEADER_READS:
                    raise LeaderElsewhere(region, group)
                resp = await self.read_elsewhere(region, table, hash64, req, max(0.5, deadline - time.monotonic()))
                if resp is not None:
                    return resp
                self.forget_leader(group)  # that region no longer leads it, or did not answer: ask ours again
                last = f"region {region} could not serve the read"
                if time.monotonic() >= deadline:
                    raise ServiceUnavailable(f"Partition {group} of table {table} did not answer within "
                                             f"{self.deadline_s:.0f}s (last: {last}).")
                await asyncio.sleep(min(backoff * (1 + random.random()), max(0.0, deadline - time.monotonic())))
                backoff = min(backoff * 2, 0.5)
                continue
            if group in self._cross_region and not req.origin_region:
                req.origin_region = ORIGIN_REGION.get() or self.region
            targets = self._targets(group, to_leader)
            if self._down:
                targets = self._down_last(targets)
            silent = lead if to_leader and lead is not None and self._silent(lead) else None
            progressed = False
            pause = None  # seconds until the next round (None: the backoff)
            down = 0  # of `targets`, unreachable
            for node_id in targets:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                node = self.state.nodes.get(node_id)
                if node is None:
                    continue
                if node_id == silent:
                    last = f"{node_id} answered nothing for {SILENT_S:g} s or more"
                    continue
                client = self.nodes.get(node.addr)
                try:
                    if self.faults.active():
                        await self._impair(node_id)
                    # The first attempt's message may still wait in that node's
                    # queue (after a timeout), where changing its id or group would
                    # garble it: only the first attempt sends `req` itself.
                    if handed:
                        msg = node_pb2.DataRequest()
                        msg.CopyFrom(req)
                    else:
                        msg, handed = req, True
                    msg.group = group
                    resp = await client.call(msg, timeout=min(left, 3.0))
                    if deadline - time.monotonic() <= left - self.slow_s:  # slow: the node logged it too
                        _note(client, msg, node_id)
                except (NodeDown, TimeoutError) as exc:
                    last = f"{node_id} unreachable ({exc or 'timeout'})"
                    down += 1
                    if isinstance(exc, NodeDown):
                        self._down[node_id] = time.monotonic()
                    if self._leaders.get(group) == node_id:
                        self._drop_leader(group, node_id)
                    if not idempotent and getattr(exc, "sent", True):
                        _note(client, msg, node_id)
                        raise InternalServerError(
                            f"The outcome of this write is unknown: {node_id}, leading partition {group}, stopped "
                            "answering after the write was sent. Read the item to see whether it was applied."
                        ) from None
                    continue
                st = resp.status
                if st == node_pb2.OK:
                    if to_leader:
                        self._note_leader(group, node_id)
                    return resp
                final = answer_error(resp, group)
                if final is not None:
                    if st != node_pb2.DDB_ERROR:  # the node logged it
                        _note(client, msg, node_id)
                    raise final
                last = f"{node_id}: {node_pb2.Status.Name(st)} {resp.message}"
                if ranged and st == node_pb2.WRONG_GROUP and self.state is not None \
                        and self.state.version != version:
                    raise RangeMoved(last)
                leader = resp.leader
                if "/" in leader:  # a group spanning regions
                    region, node = split_qualified(leader)
                    leader = node if region == self.region else leader
                if st == node_pb2.NOT_LEADER and leader and leader != node_id:
                    if self._leaders.get(group) != leader and not self._recently_down(leader):
                        self._note_leader(group, leader)
                        progressed = True
                        break
                elif st == node_pb2.UNAVAILABLE and to_leader and leader == node_id:
                    # Just elected, not writable yet: it is the one to ask, in a moment.
                    self._note_leader(group, node_id)
                    pause = min(backoff * (1 + random.random()), NOT_READY_RETRY_S)
                    break
                elif self._leaders.get(group) == node_id:
                    self._drop_leader(group, node_id)
            if down and down == len(targets) and group in self._cross_region:
                self._elsewhere(group)  # a group spanning regions whose member here is down: another region's
            if time.monotonic() >= deadline:
                raise ServiceUnavailable(
                    f"Partition {group} of table {table} did not answer within {self.deadline_s:.0f}s "
                    f"(last: {last}). A majority of its replicas may be down or partitioned; "
                    "see `trireme status`.")
            if not progressed:
                left = max(0.0, deadline - time.monotonic())
                if pause is not None:
                    await asyncio.sleep(min(pause, left))
                else:
                    # Until the backoff passes or another request finds the group's leader.
                    await self._leader_found(group, min(backoff * (1 + random.random()), left))
                backoff = min(backoff * 2, 0.5)

    def _note_leader(self, group: str, node_id: str) -> None:
        """`node_id` leads `group` (it answered, or a replica named it): the
        requests waiting to retry that group go now, and those held by a
        silent former leader give up (`SILENT_S`)."""
        prev = self._leaders.get(group)
        self._leaders[group] = node_id
        if prev is not None and prev != node_id and self._silent(prev):
            client = self.nodes.get(self.state.nodes[prev].addr)
            log.info("%s: leader %s, %.0f ms after %s went silent with requests waiting", group, node_id,
                     client.silent_for(asyncio.get_running_loop().time()) * 1000, prev)
            client.abandon(group, _LeaderMoved(f"{prev} went silent and {node_id} leads {group} now"))
        if self._down:
            self._down.pop(node_id, None)
        if self._lost:
            lost = self._lost.pop(group, None)
            if lost is not None and lost[0] != node_id:
                log.info("%s: leader %s, %.0f ms after %s failed a request", group, node_id,
                         (time.monotonic() - lost[1]) * 1000, lost[0])
        if self._found:
            found = self._found.pop(group, None)
            if found is not None and not found.done():
                found.set_result(None)

    def _drop_leader(self, group: str, node_id: str) -> None:
        """`node_id` no longer leads `group` as far as we know (it failed or refused a request)."""
        del self._leaders[group]
        self._lost.setdefault(group, (node_id, time.monotonic()))

    async def _leader_found(self, group: str, timeout: float) -> None:
        """Wait `timeout` seconds, or less if a leader of `group` is noted meanwhile."""
        loop = asyncio.get_running_loop()
        found = self._found.get(group)
        if found is None or found.done() or found.get_loop() is not loop:
            found = self._found[group] = loop.create_future()
        waiting = self._waiting
        waiting[group] = waiting.get(group, 0) + 1
        try:
            await asyncio.wait((found,), timeout=timeout)
        finally:
            if waiting[group] > 1:
                waiting[group] -= 1
            else:
                del waiting[group]

    def _silent(self, node_id: str) -> bool:
        """Has `node_id` answered nothing for `SILENT_S` while requests waited?"""
        node = self.state.nodes.get(node_id) if self.state is not None else None
        if node is None:
            return False
        return self.nodes.get(node.addr).silent_for(asyncio.get_running_loop().time()) >= SILENT_S

    async def _sentinel_run(self) -> None:
        """Find a group's new leader while requests wait for it, by asking
        its replicas every PROBE_EVERY_S; the first to name a leader
        (`_note_leader`) sends the waiting requests there at once.

        A leader that failed requests (killed): they wait out a backoff that
        had grown to 0.16-0.64 s by the time the election ended, and found
        the new leader only when one of them retried. A leader silent with
        requests waiting on it (SIGSTOP, cut off): those requests waited for
        their 3 s timeout whenever no new request came to ask the followers."""
        loop = asyncio.get_running_loop()
        probes: set[asyncio.Task] = set()

        def probe(group: str, gone: str | None) -> None:
            self._probing.add(group)
            task = asyncio.create_task(self._probe(group, gone))
            probes.add(task)
            task.add_done_callback(probes.discard)

        while True:
            await asyncio.sleep(PROBE_EVERY_S)
            if self.state is None:
                continue
            for group in self._waiting:
                if group not in self._leaders and group not in self._probing:
                    lost = self._lost.get(group)
                    probe(group, lost[0] if lost is not None else None)
            if not self._leaders:
                continue
            now = loop.time()
            for node_id in set(self._leaders.values()):
                node = self.state.nodes.get(node_id)
                if node is None:
                    continue  # another region's member, or gone from the metadata
                client = self.nodes.get(node.addr)
                if client.silent_for(now) < SILENT_S:
                    continue
                for group in client.waiting_groups():
                    if group not in self._probing and self._leaders.get(group) == node_id:
                        probe(group, node_id)

    async def _probe(self, group: str, gone: str | None) -> None:
        """Ask `group`'s replicas other than `gone` (the leader that failed or
        went silent) who leads it: a strongly consistent read of no item,
        which a follower refuses naming its leader and a leader answers (it
        changes nothing)."""
        try:
            p = self.state.partitions.get(group) if self.state is not None else None
            if p is None or p.cross_region:
                return
            key = item_key(p.table_id, p.lo, b"")
            await asyncio.gather(*(self._ask_leader(group, key, n, gone) for n in p.voters
                                   if n != gone and not self._recently_down(n)))
        finally:
            self._probing.discard(group)

    async def _ask_leader(self, group: str, key: bytes, node_id: str, gone: str | None) -> None:
        node = self.state.nodes.get(node_id)
        if node is None:
            return
        req = node_pb2.DataRequest(op=node_pb2.DataRequest.GET, group=group, key=key, consistent=True)
        try:
            resp = await self.nodes.get(node.addr).call(req, timeout=PROBE_TIMEOUT_S)
        except (NodeDown, TimeoutError):
            return
        lead = node_id if resp.status == node_pb2.OK else resp.leader
        known = self._leaders.get(group)
        if (lead and lead != gone and "/" not in lead and known in (None, gone)
                and not self._recently_down(lead)):
            self._note_leader(group, lead)

    def _recently_down(self, node_id: str) -> bool:
        at = self._down.get(node_id)
        if at is None:
            return False
        if time.monotonic() - at < DOWN_S:
            return True
        del self._down[node_id]
        return False

    def _down_last(self, targets: Order) -> Order:
        """`targets` with the nodes whose connection broke moments ago last."""
        down = [t for t in targets if self._recently_down(t)]
        return (*(t for t in targets if t not in down), *down) if down else targets

    def _elsewhere(self, group: str) -> None:
        """Raise LeaderElsewhere for another serving region of a group that spans regions (none: return)."""
        p = self.state.partitions.get(group) if self.state is not None else None
        if p is None:
            return
        regions = [r for r, _ in map(split_qualified, p.voters) if r and r not in (self.region, p.witness)]
        if regions:
            raise LeaderElsewhere(random.choice(regions), group)

    def forget_leader(self, group: str) -> None:
        """The leader noted for ``group`` did not answer (another region's, cut off, say): ask again."""
        self._leaders.pop(group, None)

    async def _impair(self, node_id: str) -> None:
        """Apply the chaos faults to one attempt: a cut link or a lost request
        fails as an unreachable node would (before sending); latency waits."""
        f = self.faults
        if node_id in f.drop_to or (f.loss and random.random() < f.loss):
            raise NodeDown(f"link to {node_id} cut (chaos)", sent=False)
        if f.delay_ms or f.jitter_ms:
            await asyncio.sleep((f.delay_ms + random.random() * f.jitter_ms) / 1000)


def _note(client: NodeClient, msg: node_pb2.DataRequest, node_id: str) -> None:
    """Note, for the router's request this task serves, the id its node logs `msg` under (cluster/nodes.py)."""
    note = NOTE.get()
    if note is not None:
        note[0] = (tag(client.tag_prefix, msg.id), node_id)


__all__ = ["Cluster", "DynamoDBError", "LeaderElsewhere", "RangeMoved"]
