"""The node's `Data` gRPC service: routers' and index shippers' requests to
this node's partition replicas, one session per stream, answered by request
id, out of order, in batches (see proto/trireme_pb/node.proto).

A request that fails (a 5xx: INTERNAL or UNKNOWN) or takes longer than the
caller's slow threshold is logged with `request_id=` its tag, the caller's
tag prefix (stream metadata) and its id: the router answers the client with
the same id (cluster/nodes.py).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping

import grpc
import orjson

from cluster.nodes import SLOW_MS, SLOW_MS_KEY, STREAM_TAG_KEY, tag
from ddb.errors import ConditionalCheckFailedException, DynamoDBError
from node.groups.replica import Rejected, Reply, UnknownOutcome
from node.partition.capacity import THROTTLES
from node.partition.replica import PartitionReplica
from node.services.admission import DATA_ROLES, Admission
from trireme_pb import node_pb2, node_pb2_grpc

log = logging.getLogger(__name__)


def _error_response(req_id: int, exc: BaseException, prefix: str) -> node_pb2.DataResponse:
    """The answer to a failed request; `prefix`: its caller's tag prefix, to log a 5xx under."""
    if isinstance(exc, DynamoDBError):
        resp = node_pb2.DataResponse(id=req_id, status=node_pb2.DDB_ERROR, error_type=exc.type_name.split("#")[-1],
                                     message=exc.message or "")
        if isinstance(exc, ConditionalCheckFailedException) and getattr(exc, "item", None):
            resp.item = orjson.dumps(exc.item)
        return resp
    if isinstance(exc, Rejected):
        return node_pb2.DataResponse(id=req_id, status=node_pb2.Status.Value(exc.status),
                                     message=str(exc), leader=exc.leader or "")
    if isinstance(exc, UnknownOutcome):
        # INFO: the router logs the client's 5xx (an index shipper retries); this is its detail.
        log.info("500 request_id=%s outcome unknown: %s", tag(prefix, req_id), exc)
        return node_pb2.DataResponse(id=req_id, status=node_pb2.UNKNOWN, message=str(exc))
    # Deterministic: the same request would fail again, so it is logged once
    # here and answered INTERNAL, which the router never retries.
    log.error("500 request_id=%s failed", tag(prefix, req_id), exc_info=exc)
    return node_pb2.DataResponse(id=req_id, status=node_pb2.INTERNAL,
                                 message=f"internal error: {type(exc).__name__}: {exc}")


Req = node_pb2.DataRequest
_FAST_OPS = frozenset((Req.GET, Req.PUT, Req.DELETE, Req.UPDATE))
GET, BATCH_WRITE, NOT_LEADER = Req.GET, Req.BATCH_WRITE, node_pb2.NOT_LEADER  # (a protobuf class attribute costs a lookup)


class DataSession:
    """The requests of one stream.

    Answers come back out of order, by id. One response message is in flight
    at a time (`pump`); every answer ready meanwhile goes into the next one.
    """

    def __init__(self, replicas: Mapping[str, object], address_of: Callable[[str], str | None],
                 node_id: str, tag_prefix: str = "", slow_ms: float = SLOW_MS) -> None:
        """`tag_prefix` and `slow_ms`: the caller's, from the stream's metadata (cluster/nodes.py)."""
        self.replicas = replicas  # group id -> replica (the engine's)
        self.tag_prefix = tag_prefix
        self.slow_s = slow_ms / 1000
        self._clock = asyncio.get_running_loop().time
        self.address_of = address_of  # node id -> its gRPC address, for NOT_LEADER hints
        self.node_id = node_id
        self._out: list[node_pb2.DataResponse] = []
        self._wake: asyncio.Future | None = None  # the pump waits on it for answers
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    def feed(self, batch: node_pb2.DataRequests) -> None:
        for req in batch.requests:
            self.start(req)

    def close(self) -> None:
        self._closed = True
        self._wake_up()
        for t in self._tasks:
            t.cancel()

    def _wake_up(self, _=None) -> None:
        w = self._wake
        if w is not None and not w.done():
            w.set_result(None)

    def answer(self, resp: node_pb2.DataResponse) -> None:
        if resp.status == NOT_LEADER and resp.leader:
            resp.leader_addr = self.address_of(resp.leader) or ""
        self._send(resp)

    def _send(self, resp: node_pb2.DataResponse) -> None:
        """Queue an answer that names no leader (`answer` adds its address)."""
        if self._closed:
            return
        self._out.append(resp)
        self._wake_up()

    async def pump(self, write: Callable[[node_pb2.DataResponses], Awaitable[None]]) -> None:
        """Send the answers until the session closes: all that are ready in one message."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            if not self._out:
                self._wake = loop.create_future()
                try:
                    await self._wake
                finally:
                    self._wake = None
                continue
            out, self._out = self._out, []
            await write(node_pb2.DataResponses(responses=out))

    def start(self, req: node_pb2.DataRequest) -> None:
        """Answer gets and start writes right here when nothing needs
        waiting for (the common case): a task per request costs more. A
        write's outcome comes back through a `Reply` (no future, no loop turn)."""
        replica = self.replicas.get(req.group)
        op = req.op
        if op == BATCH_WRITE and isinstance(replica, PartitionReplica):
            try:
                fut = replica.write_batch(req, functools.partial(self._part_error, req.id))
            except Exception as exc:  # noqa: BLE001 (not the leader: nothing was proposed)
                self.answer(_error_response(req.id, exc, self.tag_prefix))
                return
            fut.add_done_callback(functools.partial(self._written, req, self._clock()))
            return
        if isinstance(replica, PartitionReplica) and op in _FAST_OPS:
            try:
                if op == GET:
                    got = replica.get_now(req)
                    if got is not None:
                        got.id = req.id
                        self._send(got)  # (OK: a refusal raises)
                        return
                else:
                    started = self._clock()
                    reply = Reply(functools.partial(self._replied, req, started))
                    fut = replica.write(req, reply)
                    if fut is not reply:
                        fut.add_done_callback(functools.partial(self._written, req, started))
                    return
            except DynamoDBError as exc:
                if op == GET or isinstance(exc, THROTTLES):  # a throttled write changed nothing
                    self.answer(_error_response(req.id, exc, self.tag_prefix))
                    return
                # A refused write is answered only after a ReadIndex: see write_checked.
            except Exception as exc:  # noqa: BLE001 (every failure becomes an answer)
                self.answer(_error_response(req.id, exc, self.tag_prefix))
                return
        task = asyncio.create_task(self._handle_task(req))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _part_error(self, req_id: int, exc: BaseException) -> node_pb2.DataResponse:
        """A failed BATCH_WRITE part's answer (logged, if at all, under its request's id)."""
        return _error_response(req_id, exc, self.tag_prefix)

    def _written(self, req: node_pb2.DataRequest, started: float, fut: asyncio.Future) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        self._replied(req, started, None if exc is not None else fut.result(), exc)

    def _replied(self, req: node_pb2.DataRequest, started: float, resp: node_pb2.DataResponse | None,
                 exc: BaseException | None) -> None:
        """A write's outcome (a `Reply`'s, or a future's through `_written`)."""
        if exc is not None:
            if isinstance(exc, asyncio.CancelledError):
                return
            resp = _error_response(req.id, exc, self.tag_prefix)
        else:
            resp.id = req.id  # type: ignore[union-attr]
        self._answer_timed(req, resp, started)  # type: ignore[arg-type]

    async def _handle_task(self, req: node_pb2.DataRequest) -> None:
        started = self._clock()
        try:
            resp = await self._handle(req)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (every failure becomes an answer)
            resp = _error_response(req.id, exc, self.tag_prefix)
        self._answer_timed(req, resp, started)

    def _answer_timed(self, req: node_pb2.DataRequest, resp: node_pb2.DataResponse, started: float) -> None:
        """Answer, logging the request when it took the caller's slow threshold or longer (at INFO: the
        caller decides what is worth a warning, and a loaded machine would otherwise fill the log with them)."""
        took = self._clock() - started
        if took >= self.slow_s:
            log.info("slow request_id=%s partition=%s op=%s status=%s latency_ms=%.1f", tag(self.tag_prefix, req.id),
                     req.group, Req.Op.Name(req.op), node_pb2.Status.Name(resp.status), took * 1000)
        self.answer(resp)

    async def _handle(self, req: node_pb2.DataRequest) -> node_pb2.DataResponse:
        replica = self.replicas.get(req.group)
        if not isinstance(replica, PartitionReplica):
            return node_pb2.DataResponse(id=req.id, status=node_pb2.WRONG_GROUP,
                                         message=f"no replica of {req.group} on {self.node_id}")
        op = req.op
        if op == Req.RANGE:
            resp = await replica.read_range(req)
        elif op == Req.INDEX_WRITE:
            resp = await replica.write_index(req)
        elif op in (Req.STREAM_READ, Req.STREAM_SHARD):
            resp = replica.read_stream(req)
        elif op == Req.REPLICATE:
            resp = await replica.replicate(req)
        elif op == Req.GET:
            resp = await replica.get(req)
        elif op in _FAST_OPS:
            resp = await replica.write_checked(req)
        elif op == Req.TXN_PREPARE:
            resp = await replica.write_checked(req, replica.prepare)
        elif op == Req.TXN_COMMIT:
            resp = await replica.txn_commit(req)
        elif op == Req.TXN_RELEASE:
            resp = await replica.txn_release(req)
        elif op == Req.FREEZE:
            resp = await replica.freeze(req)
        else:
            raise ValueError(f"unknown operation {op}")
        resp.id = req.id
        return resp


def _caller(context) -> tuple[str, float]:
    """The caller's tag prefix and slow threshold, from the stream's metadata (cluster/nodes.py)."""
    md = dict(context.invocation_metadata() or ())
    try:
        slow_ms = float(md.get(SLOW_MS_KEY, SLOW_MS))
    except ValueError:
        slow_ms = SLOW_MS
    return str(md.get(STREAM_TAG_KEY, ""))[:40], slow_ms


class DataServicer(node_pb2_grpc.DataServicer):
    """One `DataSession` per admitted stream: requests are read in a task,
    answers written by the handler (grpc.aio allows one of each at a time)."""

    def __init__(self, replicas: Mapping[str, object], address_of: Callable[[str], str | None], node_id: str,
                 admission: Admission) -> None:
        self.replicas = replicas
        self.address_of = address_of
        self.node_id = node_id
        self.admission = admission

    async def Stream(self, request_iterator, context):  # noqa: N802
        await self.admission.admit(context, roles=DATA_ROLES)
        await context.send_initial_metadata(())  # admitted: the caller may send
        session = DataSession(self.replicas, self.address_of, self.node_id, *_caller(context))

        async def read() -> None:
            try:
                while True:
                    batch = await context.read()
                    if batch is grpc.aio.EOF:
                        return
                    session.feed(batch)
            finally:
                session.close()

        reader = asyncio.create_task(read())
        try:
            await session.pump(context.write)
        finally:
            reader.cancel()
            session.close()
