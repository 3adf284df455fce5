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
        self._pending: dict[int, asyncio.Future] = {}
        self._queue: list[node_pb2.DataRequest] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.failures = 0

    def _ensure(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"data-{self.addr}")

    async def call(self, req: node_pb2.DataRequest, timeout: float) -> node_pb2.DataResponse:
        self._ensure()
        # A copy of its own: the caller may retry `req` elsewhere while this
        # one still waits in our queue or in a stalled stream, and the answer
        # must come back under the id it went out with.
        msg = node_pb2.DataRequest()
        msg.CopyFrom(req)
        rid = msg.id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self._queue.append(msg)
        self._ready.set()
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)

    async def _run(self) -> None:
        channel = grpc.aio.insecure_channel(self.addr, options=GRPC_OPTIONS)
        writing: list[node_pb2.DataRequest] = []
        try:
            call = node_pb2_grpc.DataStub(channel).Batch()

            async def reader() -> None:
                async for batch in call:
                    for resp in batch.responses:
                        fut = self._pending.get(resp.id)
                        if fut is not None and not fut.done():
                            fut.set_result(resp)

            read_task = asyncio.create_task(reader())
            try:
                while True:
                    if not self._queue:
                        self._ready.clear()
                        waiter = asyncio.create_task(self._ready.wait())
                        done, _ = await asyncio.wait({waiter, read_task}, return_when=asyncio.FIRST_COMPLETED)
                        if read_task in done:
                            waiter.cancel()
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
            for rid, fut in self._pending.items():
                if not fut.done():
                    fut.set_exception(NodeDown(message, sent=rid not in unsent))
            self._pending.clear()
            self._queue.clear()
        finally:
            await channel.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


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
