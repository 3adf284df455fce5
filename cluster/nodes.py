"""Data calls to nodes (a router's, or a node shipping index entries) on one
long-lived gRPC stream per node (the `Data` service, proto/trireme_pb/node.proto).

Requests carry ids and are answered out of order. A grpc.aio stream message
costs about 150 us of CPU on each side whatever its size, so messages carry
batches, clocked by the answers: a message leaves once the previous one got
its first answer (or HOLD_S after it left), with everything queued meanwhile
(like group commit: alone when idle, deep batches under load). Once a
message carries DEEP requests or more (the router is loaded), the next one
waits for all of its answers (or DEEP_HOLD_S): writes answer only after
their commit, so the cadence becomes the commit's and the messages half as
many, where the first (read) answer would clock thin messages. Once a
message carried more than one request, the next also waits COALESCE_TURNS
turns of the event loop after its clock released it: a client's request
read from its socket in the first reaches `call` in the second, so requests
already on their way ride along (a fifth fewer messages each way at 64
clients; a loop turn is microseconds when idle, and alone a request never
waits). The stream
states the caller's cluster id in its metadata; a node of another cluster
refuses it.

Request ids that tie a router's log line to a node's, at no cost per
request: the stream's metadata also states a random tag prefix of this
client and the slow threshold once, so the node names a request that failed
or was slow by `prefix + its DataRequest id` (`tag`) in its log. A router
answers such a request with that tag as its x-amzn-RequestId (`NOTE`), and
logs it too: one grep finds both lines.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
from contextvars import ContextVar

import grpc

from cluster import tls as tls_
from cluster.frames import GRPC_OPTIONS
from cluster.identity import METADATA_KEY, Throttled
from cluster.rpc import refused
from cluster.tasks import cancel, within
from trireme_pb import node_pb2, node_pb2_grpc

log = logging.getLogger(__name__)
_refusals = Throttled(log)

SWEEP_S = 0.05  # how often timed-out calls are failed: a call may wait this much past its timeout


STREAM_TAG_KEY = "trireme-stream-tag"  # stream metadata: this client's tag prefix
SLOW_MS_KEY = "trireme-slow-ms"  # stream metadata: the node logs requests slower than this
SLOW_MS = 1000.0
_ID_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_TO_ID_CHARS = bytes.maketrans(bytes(range(256)), bytes(_ID_CHARS[b % 36] for b in range(256)))

# The router's request this task serves: a one-item list that data calls fill
# with (tag, node id) when one failed or was slow (None: no request, or none yet).
NOTE: ContextVar[list | None] = ContextVar("request_note", default=None)


def id_prefix() -> bytes:
    """40 random characters like the start of DynamoDB's request ids (uppercase letters and digits)."""
    return os.urandom(40).translate(_TO_ID_CHARS)


def tag(prefix: str, data_id: int) -> str:
    """The request id of DataRequest `data_id` on a stream with tag `prefix` (52 characters)."""
    return f"{prefix}{data_id:012X}"


class NodeDown(Exception):
    """The connection to the node broke or could not be opened. ``sent``:
    the request had already gone out, so the node may have acted on it."""

    def __init__(self, message: str, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


OPEN_TIMEOUT_S = 3.0  # to connect and be admitted
HOLD_S = 0.002  # longest a message waits for the previous one's first answer
DEEP = 8  # a message of this many requests or more: the next waits for all its answers ...
DEEP_HOLD_S = 0.005  # ... this long at most
COALESCE_TURNS = 2  # after a message of several requests, loop turns the next one waits for more
# uvloop's clock and timers (the router's loop) count whole milliseconds: a
# shorter wait would be no timer at all, and with the clock not moved yet the
# writer would wait again and again, spinning until it ticks.
MIN_WAIT_S = 0.0006  # (call_later rounds to the millisecond: half of one is none)


class NodeClient:
    def __init__(self, addr: str, *, cluster_id: str, tls: tls_.Identity | None = None,
                 slow_ms: float = SLOW_MS) -> None:
        """`addr`: the node's gRPC address; `cluster_id`: the caller's cluster;
        `tls`: the certificate to dial with; `slow_ms`: the node logs requests slower than this."""
        self.addr = addr
        self.cluster_id = cluster_id
        self.tag_prefix = id_prefix().decode()  # with a request's id, its `tag`: see the module's doc
        self.slow_ms = slow_ms
        self.tls = tls  # None: the one this process dials the cluster's nodes with (cluster/tls.py)
        self._channel: grpc.aio.Channel | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future, float, str]] = {}  # id -> (answer, deadline, group)
        self._earliest = math.inf  # no deadline in `_pending` is earlier (`_sweep`)
        self._heard_at = 0.0  # loop time of the last answer, or of a call made while none was pending
        self._queue: list[node_pb2.DataRequest] = []
        self._wake: asyncio.Future | None = None  # the writer waits on it (see _nap)
        self._sent_at: float | None = None  # when the last message left, until it was answered
        self._unanswered: set[int] | None = None  # a deep last message's ids not answered yet
        self._hold_s = HOLD_S
        self._last_size = 0  # requests in the last message sent
        self.messages = 0  # sent, and the requests they carried: batching at a glance
        self.requests = 0
        self._task: asyncio.Task | None = None
        self._sweeper: asyncio.Task | None = None
        self.failures = 0

    def _wake_up(self, _=None) -> None:
        w = self._wake
        if w is not None and not w.done():
            w.set_result(None)

    async def call(self, req: node_pb2.DataRequest, timeout: float) -> node_pb2.DataResponse:
        """Send `req` and wait up to `timeout` (+ up to SWEEP_S) for its answer; TimeoutError after.

        `req` goes out as is, with its id set here, and may still wait in the
        queue after a timeout: the caller must not change or send it again
        (send a copy instead)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"data-{self.addr}")
        loop = asyncio.get_running_loop()
        rid = req.id = next(self._ids)
        fut = loop.create_future()
        now = loop.time()
        if not self._pending:
            self._heard_at = now
        deadline = now + timeout
        self._pending[rid] = (fut, deadline, req.group)
        if deadline < self._earliest:
            self._earliest = deadline
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name=f"timeouts-{self.addr}")
        self._queue.append(req)
        if len(self._queue) == 1:  # the writer sets its own timer for the rest
            self._wake_up()
        try:
            return await fut
        finally:
            self._pending.pop(rid, None)

    async def _sweep(self) -> None:
        """Fail calls past their deadline: one periodic check is much cheaper
        than a timer per call (asyncio.wait_for). The calls are looked
        through only once the earliest deadline noted (`_earliest`) has
        passed, not on every check: answered in milliseconds, most are gone
        by then."""
        loop = asyncio.get_running_loop()
        while self._pending:
            await asyncio.sleep(SWEEP_S)
            now = loop.time()
            if now < self._earliest:
                continue
            earliest = math.inf
            for fut, deadline, _ in self._pending.values():
                if deadline <= now:
                    if not fut.done():
                        fut.set_exception(TimeoutError())
                elif deadline < earliest:
                    earliest = deadline
            self._earliest = earliest

    async def _open(self) -> grpc.aio.StreamStreamCall:
        """A stream the node admitted: it sends its initial metadata only
        then, so nothing is sent to a node that is down or refuses us."""
        if self._channel is None:
            self._channel = tls_.channel(self.addr, GRPC_OPTIONS, self.tls or tls_.for_cluster(self.cluster_id))
        call = node_pb2_grpc.DataStub(self._channel).Stream(metadata=(
            (METADATA_KEY, self.cluster_id), (STREAM_TAG_KEY, self.tag_prefix), (SLOW_MS_KEY, f"{self.slow_ms:g}")))
        try:
            await within(call.initial_metadata(), OPEN_TIMEOUT_S)
            if call.done():
                await call.read()  # raises the refusal (AioRpcError)
        except BaseException:
            call.cancel()
            raise
        return call

    def _hold(self, now: float) -> float | None:
        """Seconds to wait before the queue goes out (0: now; None: it is empty).

        A message goes out when the previous one got its first answer (or
        HOLD_S after it left), or all of them if it was deep (or DEEP_HOLD_S
        after it left): the answers' round trip paces the messages, so under
        load each carries what queued meanwhile, and when idle a request
        leaves at once."""
        if not self._queue:
            return None
        if self._sent_at is None:
            return 0.0
        delay = self._sent_at + self._hold_s - now
        return delay if delay >= MIN_WAIT_S else 0.0

    async def _nap(self, delay: float | None) -> None:
        """Until woken (a request queued, an answer, the reader's end) or `delay` passed."""
        loop = asyncio.get_running_loop()
        self._wake = loop.create_future()
        timer = loop.call_later(delay, self._wake_up) if delay is not None else None
        try:
            await self._wake
        finally:
            self._wake = None
            if timer is not None:
                timer.cancel()

    async def _run(self) -> None:
        call: grpc.aio.StreamStreamCall | None = None
        self._sent_at, self._unanswered, self._last_size = None, None, 0
        try:
            call = await self._open()

            async def read() -> None:
                while True:
                    batch = await call.read()
                    if batch is grpc.aio.EOF:
                        return
                    pending = self._pending
                    unanswered = self._unanswered
                    self._heard_at = loop.time()
                    for resp in batch.responses:
                        if unanswered:
                            unanswered.discard(resp.id)
                        entry = pending.get(resp.id)
                        if entry is not None and not entry[0].done():
                            entry[0].set_result(resp)
                    if not unanswered:  # a thin message's first answer, or a deep one's last
                        self._sent_at = None
                        if self._queue:
                            self._wake_up()

            loop = asyncio.get_running_loop()
            read_task = asyncio.create_task(read())
            read_task.add_done_callback(self._wake_up)
            try:
                while not read_task.done():
                    delay = self._hold(loop.time())
                    if delay != 0.0:
                        await self._nap(delay)
                        continue
                    if self._last_size > 1:  # loaded: let the requests already on their way join
                        for _ in range(COALESCE_TURNS):
                            await asyncio.sleep(0)
                        if read_task.done():
                            break
                    reqs, self._queue = self._queue, []
                    self._last_size = n = len(reqs)
                    self.messages += 1
                    self.requests += n
                    self._sent_at = loop.time()
                    deep = n >= DEEP
                    self._unanswered = {r.id for r in reqs} if deep else None
                    self._hold_s = DEEP_HOLD_S if deep else HOLD_S
                    # Once handed to gRPC they may reach the node, whatever happens next.
                    await call.write(node_pb2.DataRequests(requests=reqs))
                read_task.result()  # surface the reader's error
                raise NodeDown(f"{self.addr}: stream closed by the node")
            finally:
                read_task.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            if isinstance(exc, grpc.aio.AioRpcError) and refused(exc):
                _refusals.warning(self.addr, f"{self.addr} refused our data stream: {exc.details()}")
            message = str(exc) if isinstance(exc, NodeDown) else f"{self.addr}: {_describe(exc)}"
            unsent = {r.id for r in self._queue}
            for rid, (fut, _, _) in self._pending.items():
                if not fut.done():
                    fut.set_exception(NodeDown(message, sent=rid not in unsent))
            self._pending.clear()
            self._queue.clear()
        finally:
            # Calls made from now on must open a new stream, not wait in the
            # queue of this finished one until they time out.
            if self._task is asyncio.current_task():
                self._task = None
            if call is not None:
                call.cancel()

    def silent_for(self, now: float) -> float:
        """Seconds this node has answered nothing while calls wait (0: none
        waits): a paused or cut-off node stays silent however long, a slow
        one answers something now and then. `now`: the loop's time."""
        return now - self._heard_at if self._pending else 0.0

    def waiting_groups(self) -> set[str]:
        """The groups whose calls wait on this node (the router probes the
        other replicas of those a silent node holds)."""
        return {g for _, _, g in self._pending.values()}

    def abandon(self, group: str, exc: Exception) -> None:
        """Fail the waiting calls for `group` with `exc` (its leader moved
        while this node was silent: they need not wait out their timeout)."""
        for fut, _, g in list(self._pending.values()):
            if g == group and not fut.done():
                fut.set_exception(exc)

    async def close(self) -> None:
        await cancel((self._task, self._sweeper))
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


def _describe(exc: Exception) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, asyncio.TimeoutError):
        return f"no stream within {OPEN_TIMEOUT_S:.0f}s"
    return f"{type(exc).__name__}: {exc}"


class NodeClients:
    def __init__(self, cluster_id: str, slow_ms: float = SLOW_MS) -> None:
        self._clients: dict[str, NodeClient] = {}
        self.cluster_id = cluster_id
        self.slow_ms = slow_ms

    def get(self, addr: str) -> NodeClient:
        c = self._clients.get(addr)
        if c is None:
            c = self._clients[addr] = NodeClient(addr, cluster_id=self.cluster_id, slow_ms=self.slow_ms)
        return c

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()), return_exceptions=True)
