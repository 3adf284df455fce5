"""Router-to-node data calls on one long-lived bidirectional stream per node.

Requests carry ids and are answered out of order; everything queued while the
previous frame was being written goes out in the next frame, so the number
of gRPC messages stays small under load (a unary call per request would cap
a router near 2,500 requests/s on these machines).
"""

from __future__ import annotations

import asyncio
import itertools
import logging

import grpc

from node.transport import GRPC_OPTIONS
from trireme_pb import node_pb2, node_pb2_grpc

log = logging.getLogger(__name__)

SWEEP_S = 0.05  # how often timed-out calls are failed: a call may wait this much past its timeout


class NodeDown(Exception):
    """The stream to the node broke or could not be opened. ``sent``: the
    request had already gone out, so the node may have acted on it."""

    def __init__(self, message: str, sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent


class NodeClient:
    def __init__(self, addr: str) -> None:
        self.addr = addr
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

    async def _run(self) -> None:
        channel = grpc.aio.insecure_channel(self.addr, options=GRPC_OPTIONS)
        writing: list[node_pb2.DataRequest] = []
        try:
            call = node_pb2_grpc.DataStub(channel).Batch()

            async def reader() -> None:
                async for batch in call:
                    for resp in batch.responses:
                        entry = self._pending.get(resp.id)
                        if entry is not None and not entry[0].done():
                            entry[0].set_result(resp)

            read_task = asyncio.create_task(reader())
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
                    if reqs:
                        writing = reqs  # not sent if the write fails (e.g. the node is gone)
                        await call.write(node_pb2.DataRequests(requests=reqs))
                        writing = []
                read_task.result()  # surface the reader's error
                raise NodeDown(f"{self.addr}: stream closed")
            finally:
                read_task.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            message = str(exc) if isinstance(exc, NodeDown) else f"{self.addr}: {_describe(exc)}"
            unsent = {r.id for r in self._queue} | {r.id for r in writing}
            for rid, (fut, _) in self._pending.items():
                if not fut.done():
                    fut.set_exception(NodeDown(message, sent=rid not in unsent))
            self._pending.clear()
            self._queue.clear()
        finally:
            # Calls made while the channel closes must open a new stream, not
            # wait in the queue of this finished one until they time out.
            if self._task is asyncio.current_task():
                self._task = None
            await channel.close()

    async def close(self) -> None:
        tasks = [t for t in (self._task, self._sweeper) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _describe(exc: Exception) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


class NodeClients:
    def __init__(self) -> None:
        self._clients: dict[str, NodeClient] = {}

    def get(self, addr: str) -> NodeClient:
        c = self._clients.get(addr)
        if c is None:
            c = self._clients[addr] = NodeClient(addr)
        return c

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._clients.values()), return_exceptions=True)
