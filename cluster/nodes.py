"""Data calls to nodes (a router's, or a node shipping index entries) on one
long-lived TCP connection per node.

Requests carry ids and are answered out of order; everything queued while the
previous frame was being written goes out in the next frame. Frames are
length-prefixed protobufs on the node's own TCP port (node/net/peers.py),
learned from its admin `health` answer: a grpc.aio stream message costs
about five times the CPU of a raw frame on these machines. The first frame
states the router's cluster id; a node of another cluster refuses it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from collections.abc import Awaitable, Callable

import grpc

from cluster.frames import DATA, frame, read_frame, tune
from cluster.identity import Throttled
from cluster.rpc import Channels, tcp_endpoint
from trireme_pb import node_pb2

log = logging.getLogger(__name__)
_refusals = Throttled(log)

SWEEP_S = 0.05  # how often timed-out calls are failed: a call may wait this much past its timeout


class NodeDown(Exception):
    """The connection to the node broke or could not be opened. ``sent``:
    the request had already gone out, so the node may have acted on it."""

    def __init__(self, message: str, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


Endpoint = Callable[[], Awaitable[tuple[str, int]]]


class NodeClient:
    def __init__(self, addr: str, endpoint: Endpoint | None = None, *, cluster_id: str) -> None:
        """`addr`: the node's gRPC address; `endpoint`: how to learn its TCP
        port (by default, ask the node); `cluster_id`: the router's cluster."""
        self.addr = addr
        self.cluster_id = cluster_id
        self._endpoint = endpoint or self._ask_endpoint
        self._channels: Channels | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future, float]] = {}  # id -> (answer, deadline)
        self._queue: list[node_pb2.DataRequest] = []
        self._wake: asyncio.Future | None = None  # the writer waits on it for a request or the reader's end
        self._task: asyncio.Task | None = None
        self._sweeper: asyncio.Task | None = None
        self.failures = 0

    def _ensure(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"data-{self.addr}")

    def _wake_up(self, _=None) -> None:
        w = self._wake
        if w is not None and not w.done():
            w.set_result(None)

    async def call(self, req: node_pb2.DataRequest, timeout: float) -> node_pb2.DataResponse:
        """Send `req` and wait up to `timeout` (+ up to SWEEP_S) for its answer; TimeoutError after.

        `req` goes out as is, with its id set here, and may still wait in the
        queue after a timeout: the caller must not change or send it again
        (send a copy instead)."""
        self._ensure()
        loop = asyncio.get_running_loop()
        rid = req.id = next(self._ids)
        fut = loop.create_future()
        self._pending[rid] = (fut, loop.time() + timeout)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.create_task(self._sweep(), name=f"timeouts-{self.addr}")
        self._queue.append(req)
        self._wake_up()
        try:
            return await fut
        finally:
            self._pending.pop(rid, None)

    async def _sweep(self) -> None:
        """Fail calls past their deadline: one periodic check is much cheaper
        than a timer per call (asyncio.wait_for)."""
        loop = asyncio.get_running_loop()
        while self._pending:
            await asyncio.sleep(SWEEP_S)
            now = loop.time()
            for fut, deadline in self._pending.values():
                if deadline <= now and not fut.done():
                    fut.set_exception(TimeoutError())

    async def _ask_endpoint(self) -> tuple[str, int]:
        if self._channels is None:
            self._channels = Channels(self.cluster_id)
        return await tcp_endpoint(self._channels, self.addr)

    async def _run(self) -> None:
        writer: asyncio.StreamWriter | None = None
        try:
            host, port = await self._endpoint()
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3.0)
            tune(writer)  # a partitioned node's connection breaks instead of queueing for ever
            writer.write(DATA + frame(node_pb2.DataHello(cluster_id=self.cluster_id)))

            async def read() -> None:
                while True:
                    batch = node_pb2.DataResponses.FromString(await read_frame(reader))
                    if batch.refused:
                        _refusals.warning(self.addr, f"{self.addr} refused our data connection: {batch.refused}")
                        raise NodeDown(f"{self.addr}: {batch.refused}")
                    for resp in batch.responses:
                        entry = self._pending.get(resp.id)
                        if entry is not None and not entry[0].done():
                            entry[0].set_result(resp)

            read_task = asyncio.create_task(read())
            read_task.add_done_callback(self._wake_up)
            loop = asyncio.get_running_loop()
            try:
                while True:
                    if not self._queue:
                        if read_task.done():
                            break
                        self._wake = loop.create_future()
                        try:
                            await self._wake
                        finally:
                            self._wake = None
                        if read_task.done():
                            break
                    reqs, self._queue = self._queue, []
                    if reqs:  # once written they may reach the node, whatever happens next
                        writer.write(frame(node_pb2.DataRequests(requests=reqs)))
                        await writer.drain()
                read_task.result()  # surface the reader's error
                raise NodeDown(f"{self.addr}: connection closed")
            finally:
                read_task.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            message = str(exc) if isinstance(exc, NodeDown) else f"{self.addr}: {_describe(exc)}"
            unsent = {r.id for r in self._queue}
            for rid, (fut, _) in self._pending.items():
                if not fut.done():
                    fut.set_exception(NodeDown(message, sent=rid not in unsent))
            self._pending.clear()
            self._queue.clear()
        finally:
            # Calls made from now on must open a new connection, not wait in
            # the queue of this finished one until they time out.
            if self._task is asyncio.current_task():
                self._task = None
            if writer is not None:
                writer.close()

    async def close(self) -> None:
        tasks = [t for t in (self._task, self._sweeper) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._channels is not None:
            await self._channels.close()


def _describe(exc: Exception) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed by the node"
    return f"{type(exc).__name__}: {exc}"


class NodeClients:
    def __init__(self, cluster_id: str) -> None:
        self._clients: dict[str, NodeClient] = {}
        self.cluster_id = cluster_id

    def get(self, addr: str) -> NodeClient:
        c = self._clients.get(addr)
        if c is None:
            c = self._clients[addr] = NodeClient(addr, cluster_id=self.cluster_id)
        return c

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()), return_exceptions=True)
