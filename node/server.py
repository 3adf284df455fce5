"""The storage node process and its composition root: `Node` builds the
engine, the control plane (metadata view, controller), partition statistics
and the index shipper, and hands each only what it uses.

gRPC services: Meta (metadata calls answered by the meta leader, and
Watch) and Admin (health, replica states, faults, raw reads). Raft messages
and routers' data requests travel as frames on the node's own TCP port
(node/transport.py), announced in the health answer.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import grpc
import orjson

from cluster.faults import Faults
from cluster.frames import GRPC_OPTIONS
from cluster.identity import METADATA_KEY, Throttled, mismatch
from cluster.rpc import reply
from ddb.errors import ConditionalCheckFailedException, DynamoDBError, ValidationException
from node.config import NodeConfig
from node.control import Control
from node.engine import Engine
from node.gsi_ship import IndexShipper
from node.metareplica import META_GROUP, MetaReplica
from node.partition import PartitionReplica
from node.replica import Rejected, UnknownOutcome
from node.stats import PartitionStats
from node.storage import Storage
from trireme_pb import node_pb2, node_pb2_grpc

log = logging.getLogger(__name__)


class Node:
    def __init__(self, cfg: NodeConfig) -> None:
        self.cfg = cfg
        self.storage = Storage.open(cfg.data_dir / "db")
        self.engine = Engine(cfg.id, self.storage, self.address_of)
        self.engine.factories = {"partition": PartitionReplica, "meta": MetaReplica}
        self.engine.meta_changed = self._meta_changed
        self.engine.role_changed = lambda replica: self.control.poke()
        self.engine.transport.cluster_id = cfg.cluster_id
        self.stats = PartitionStats(self.engine, self.storage, lambda: self.control.view)
        self.control = Control(cfg, self.engine, self.storage, lambda: self.stats.latest)
        self.control.channels.cluster_id = cfg.cluster_id
        self.refusals = Throttled(log)
        self.shipper = IndexShipper(cfg.az, cfg.cluster_id, self.engine, self.storage, self.control)
        self.server: grpc.aio.Server | None = None
        self.started = time.time()
        self._meta_version = asyncio.Event()

    # --- addresses and metadata -------------------------------------------

    def address_of(self, node_id: str) -> str | None:
        return self.control.address_of(node_id)

    def meta_replica(self) -> MetaReplica | None:
        return self.control.meta_replica()

    def _meta_changed(self, state: Any) -> None:
        self.control.on_local_meta(state)

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        # Bind first: a node whose port is taken (another cluster's node, say)
        # must fail before it founds or joins anything.
        server = grpc.aio.server(options=GRPC_OPTIONS)
        try:
            bound = server.add_insecure_port(self.cfg.listen)
        except RuntimeError:
            bound = 0
        if bound == 0:
            raise OSError(f"cannot listen on {self.cfg.listen}: {_bind_error(self.cfg.listen)}")
        node_pb2_grpc.add_MetaServicer_to_server(MetaServicer(self), server)
        node_pb2_grpc.add_AdminServicer_to_server(AdminServicer(self), server)
        self.engine.recover()
        if META_GROUP not in self.engine.replicas and self.cfg.id in self.cfg.initial_cluster \
                and not self.storage.list_groups():
            # A founding member's first start: found the meta group.
            self.engine.create(META_GROUP, {"kind": "meta", "replay": True},
                               sorted(self.cfg.initial_cluster))
        self.engine.start()
        self.engine.transport.open_data = lambda send: DataSession(self, send)
        await self.engine.transport.serve(self.cfg.listen.rpartition(":")[0])
        await server.start()
        self.server = server
        self.control.start()
        self.shipper.start()
        self.stats.start()
        log.info("node %s (%s) of cluster %s serving on %s", self.cfg.id, self.cfg.az, self.cfg.cluster_id,
                 self.cfg.listen)

    async def admit(self, context: grpc.aio.ServicerContext, op: str | None = None) -> None:
        """Refuse (FAILED_PRECONDITION) a call that states another cluster's
        id, or none for anything but a read-only admin op."""
        stated = next((v for k, v in context.invocation_metadata() or () if k == METADATA_KEY), "")
        if stated == self.cfg.cluster_id or (not stated and op in _ANONYMOUS_OPS):
            return
        message = mismatch(self.cfg.cluster_id, stated, f"node {self.cfg.id} ({self.cfg.addr})",
                           f"the caller at {context.peer()}")
        self.refusals.warning(f"grpc {stated}", message)
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, message)

    async def stop(self) -> None:
        await self.shipper.stop()
        await self.stats.stop()
        await self.control.stop()
        if self.server is not None:
            await self.server.stop(0.5)
        await self.engine.stop()
        self.storage.close()


# Admin ops that change nothing: answered to tools that state no cluster id.
_ANONYMOUS_OPS = frozenset(("health", "replicas", "meta", "faults", "read_raw"))


def _bind_error(addr: str) -> str:
    """Why gRPC could not bind `addr`, in words (it only says that it failed)."""
    host, _, port = addr.rpartition(":")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host.strip("[]"), int(port)))
    except (OSError, ValueError) as exc:
        return getattr(exc, "strerror", None) or str(exc)
    return "gRPC could not bind it"


# ------------------------------------------------------------------ data


def _error_response(req_id: int, exc: BaseException) -> node_pb2.DataResponse:
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
        return node_pb2.DataResponse(id=req_id, status=node_pb2.UNKNOWN, message=str(exc))
    # Deterministic: the same request would fail again, so it is logged once
    # here and answered INTERNAL, which the router never retries.
    log.error("request %s failed", req_id, exc_info=exc)
    return node_pb2.DataResponse(id=req_id, status=node_pb2.INTERNAL,
                                 message=f"internal error: {type(exc).__name__}: {exc}")


_FAST_OPS = frozenset(("get", "put", "delete", "update"))


class DataSession:
    """The requests of one router connection (node/transport.py frames them).

    Answers come back out of order, by id; all that are ready in one turn of
    the event loop go out in one frame (`send`).
    """

    def __init__(self, node: Node, send: Callable[[list[node_pb2.DataResponse]], None]) -> None:
        self.node = node
        self.send = send
        self._out: list[node_pb2.DataResponse] = []
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    def feed(self, batch: node_pb2.DataRequests) -> None:
        for req in batch.requests:
            self.start(req)

    def close(self) -> None:
        self._closed = True
        for t in self._tasks:
            t.cancel()

    def answer(self, resp: node_pb2.DataResponse) -> None:
        if resp.status == node_pb2.NOT_LEADER and resp.leader:
            resp.leader_addr = self.node.address_of(resp.leader) or ""
        self._out.append(resp)
        if len(self._out) == 1:
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and not self._closed:
            self.send(out)

    def start(self, req: node_pb2.DataRequest) -> None:
        """Answer gets and start writes right here when nothing needs
        waiting for (the common case): a task per request costs more."""
        replica = self.node.engine.replicas.get(req.group)
        op = req.op
        if isinstance(replica, PartitionReplica) and op in _FAST_OPS:
            try:
                if op == "get":
                    got = replica.get_now(req)
                    if got is not None:
                        self.answer(node_pb2.DataResponse(id=req.id, status=node_pb2.OK, item=got[0], body=got[1]))
                        return
                else:
                    replica.write(req).add_done_callback(functools.partial(self._written, req.id))
                    return
            except DynamoDBError as exc:
                if op == "get":
                    self.answer(_error_response(req.id, exc))
                    return
                # A refused write is answered only after a ReadIndex: see write_checked.
            except Exception as exc:  # noqa: BLE001 (every failure becomes an answer)
                self.answer(_error_response(req.id, exc))
                return
        task = asyncio.create_task(self._handle_task(req))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _written(self, rid: int, fut: asyncio.Future) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            self.answer(_error_response(rid, exc))
        else:
            item, body = fut.result()
            self.answer(node_pb2.DataResponse(id=rid, status=node_pb2.OK, item=item, body=body))

    async def _handle_task(self, req: node_pb2.DataRequest) -> None:
        try:
            resp = await self._handle(req)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (every failure becomes an answer)
            resp = _error_response(req.id, exc)
        self.answer(resp)

    async def _handle(self, req: node_pb2.DataRequest) -> node_pb2.DataResponse:
        replica = self.node.engine.replicas.get(req.group)
        if not isinstance(replica, PartitionReplica):
            return node_pb2.DataResponse(id=req.id, status=node_pb2.WRONG_GROUP,
                                         message=f"no replica of {req.group} on {self.node.cfg.id}")
        if req.op == "range":
            resp = await replica.read_range(req)
            resp.id = req.id
            return resp
        if req.op == "gsi":
            return node_pb2.DataResponse(id=req.id, status=node_pb2.OK, body=await replica.write_index(req))
        if req.op == "get":
            item, body = await replica.get(req)
        else:
            item, body = await replica.write_checked(req)
        return node_pb2.DataResponse(id=req.id, status=node_pb2.OK, item=item, body=body)


# ------------------------------------------------------------------ meta


def _json_body(raw: bytes) -> dict:
    """A meta or admin call's JSON object; anything else is the caller's error."""
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise ValidationException(f"the body is not JSON: {exc}") from None
    if type(body) is not dict:
        raise ValidationException("the body must be a JSON object")
    return body


class MetaServicer(node_pb2_grpc.MetaServicer):
    def __init__(self, node: Node) -> None:
        self.node = node

    async def Call(self, request, context):  # noqa: N802
        await self.node.admit(context)
        control = self.node.control
        try:
            body = _json_body(request.body)
            result = await control.handle_meta_call(request.op, body)
        except Rejected as exc:
            return reply(status=node_pb2.Status.Value(exc.status), message=str(exc), leader=exc.leader or "",
                         leader_addr=self.node.address_of(exc.leader) or "" if exc.leader else "")
        except DynamoDBError as exc:
            return reply(status=node_pb2.DDB_ERROR, error_type=exc.type_name.split("#")[-1],
                         message=exc.message or "")
        except UnknownOutcome as exc:
            return reply(status=node_pb2.UNKNOWN, message=str(exc))
        except Exception as exc:  # noqa: BLE001 (deterministic: logged once, answered, never retried)
            log.exception("meta %s failed", request.op)
            return reply(status=node_pb2.INTERNAL, message=f"internal error: {type(exc).__name__}: {exc}")
        return reply(result)

    async def Watch(self, request, context):  # noqa: N802
        await self.node.admit(context)
        control = self.node.control
        after = request.after_version
        while True:
            if control.local_meta() is None:
                # Only a meta member in touch with its group serves the metadata:
                # a removed or lagging one would feed its watchers a stale history.
                await context.abort(grpc.StatusCode.UNAVAILABLE,
                                    f"{self.node.cfg.id} holds no current metadata replica")
            state = control.view
            if state is not None and state.version > after:
                after = state.version
                yield node_pb2.MetaSnapshot(version=state.version, body=orjson.dumps(state.to_json()))
            try:  # wake now and then to notice losing touch
                await asyncio.wait_for(control.wait_change(after), 1.0)
            except TimeoutError:
                pass


# ------------------------------------------------------------------ admin


class AdminServicer(node_pb2_grpc.AdminServicer):
    def __init__(self, node: Node) -> None:
        self.node = node

    async def Call(self, request, context):  # noqa: N802
        await self.node.admit(context, request.op)
        node = self.node
        op = request.op
        try:
            body = _json_body(request.body)
            if op == "health":
                return reply({"id": node.cfg.id, "az": node.cfg.az, "addr": node.cfg.addr,
                              "cluster_id": node.cfg.cluster_id,
                              "uptime_s": time.time() - node.started, "replicas": len(node.engine.replicas),
                              "meta_version": node.control.view.version if node.control.view else 0,
                              "loop_turns": node.engine.loop_turns, "fsyncs": node.engine.fsyncs,
                              "tcp_port": node.engine.transport.port})
            if op == "replicas":
                return reply({"node": node.cfg.id, "replicas": node.engine.status()})
            if op == "meta":
                view = node.control.view
                return reply(view.to_json() if view is not None else None)
            if op == "fault":
                faults = Faults.from_json(body)  # ValueError naming the bad field
                if body.get("heal") is True:
                    faults = Faults()
                node.engine.clock.set_rate(faults.clock_rate)  # ValueError when out of range
                node.engine.transport.faults = faults
                return reply(faults.to_json())
            if op == "faults":
                return reply(node.engine.transport.faults.to_json())
            if op == "read_raw":
                replica = node.engine.replicas.get(body.get("group", ""))
                if not isinstance(replica, PartitionReplica):
                    return reply(status=node_pb2.WRONG_GROUP, message=f"no replica of {body.get('group')}")
                items = [[base64.b64encode(k).decode(), v.decode()] for k, v in replica.read_raw()]
                return reply({"group": replica.group, "applied": replica.applied, "items": items})
            if op == "reconfigure":
                replica = node.engine.replicas.get(body["group"])
                if replica is None:
                    return reply(status=node_pb2.WRONG_GROUP, message=f"no replica of {body['group']}")
                return reply(replica.reconfigure_step(body["voters"], body.get("learners", [])))
            if op == "transfer_leader":
                replica = node.engine.replicas.get(body["group"])
                if replica is None:
                    return reply(status=node_pb2.WRONG_GROUP, message=f"no replica of {body['group']}")
                replica.raft.transfer_leadership(body["to"])
                node.engine.wake()
                return reply({"ok": True})
        except Rejected as exc:
            return reply(status=node_pb2.Status.Value(exc.status), message=str(exc), leader=exc.leader or "")
        except ValidationException as exc:
            return reply(status=node_pb2.DDB_ERROR, error_type="ValidationException", message=exc.message or "")
        except ValueError as exc:
            return reply(status=node_pb2.DDB_ERROR, error_type="ValidationException", message=str(exc))
        except Exception as exc:  # noqa: BLE001 (admin errors are answers, not crashes)
            log.exception("admin %s failed", op)
            return reply(status=node_pb2.UNAVAILABLE, message=f"{type(exc).__name__}: {exc}")
        return reply(status=node_pb2.DDB_ERROR, error_type="UnknownOperationException",
                     message=f"unknown admin op {op!r}")
