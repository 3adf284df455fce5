"""Small client helpers for the node's low-rate JSON services (meta, admin),
shared by nodes, routers and the CLI."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import grpc
import orjson

from cluster import tls as tls_
from cluster.frames import GRPC_OPTIONS
from cluster.identity import METADATA_KEY, Throttled
from trireme_pb import node_pb2, node_pb2_grpc

log = logging.getLogger(__name__)
_refusals = Throttled(log)


class CallError(Exception):
    """A call that got an answer other than OK; carries the reply's fields."""

    def __init__(self, status: str, error_type: str, message: str, leader_addr: str = "") -> None:
        super().__init__(f"{error_type or status}: {message}")
        self.status = status
        self.error_type = error_type
        self.message = message
        self.leader_addr = leader_addr


def reply(body: Any = None, status: int = node_pb2.OK, error_type: str = "", message: str = "",
          leader: str = "", leader_addr: str = "") -> node_pb2.Reply:
    return node_pb2.Reply(status=status, error_type=error_type, message=message, leader=leader or "",
                          leader_addr=leader_addr or "",
                          body=orjson.dumps(body) if body is not None else b"")


class Channels:
    """One cached channel per address, and the cluster id every call states
    ("" only for the read-only admin calls a cluster answers anyone).
    `tls`: the certificate to dial with (default: see `tls`)."""

    def __init__(self, cluster_id: str = "", tls: tls_.Identity | None = None) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.cluster_id = cluster_id
        self._tls = tls

    @property
    def tls(self) -> tls_.Identity | None:
        """Given, else the one this process dials the cluster's nodes with (cluster/tls.py)."""
        return self._tls or tls_.for_cluster(self.cluster_id)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return ((METADATA_KEY, self.cluster_id),) if self.cluster_id else ()

    def get(self, addr: str) -> grpc.aio.Channel:
        ch = self._channels.get(addr)
        if ch is None:
            ch = self._channels[addr] = tls_.channel(addr, GRPC_OPTIONS, self.tls)
        return ch

    async def close(self) -> None:
        for ch in self._channels.values():
            await ch.close()
        self._channels.clear()


async def call_once(channels: Channels, addr: str, service: str, op: str, body: Any = None,
                    timeout: float = 5.0) -> Any:
    ch = channels.get(addr)
    stub = node_pb2_grpc.MetaStub(ch) if service == "meta" else node_pb2_grpc.AdminStub(ch)
    try:
        r = await stub.Call(node_pb2.Call(op=op, body=orjson.dumps(body) if body is not None else b""),
                            timeout=timeout, metadata=channels.metadata())
    except grpc.aio.AioRpcError as exc:
        if refused(exc):
            _refusals.warning(addr, f"{addr} refused our {service} call {op}: {exc.details()}")
            raise CallError("UNAVAILABLE", "WrongCluster", f"{addr}: {exc.details()}") from None
        if exc.code() == grpc.StatusCode.UNAVAILABLE and channels.tls and tls_.handshake_failed(exc.details()):
            _refusals.warning(f"tls {addr}", f"TLS handshake with {addr} failed (a node of another cluster "
                                             f"or CA?): {exc.details()}")
        raise
    if r.status != node_pb2.OK:
        raise CallError(node_pb2.Status.Name(r.status), r.error_type, r.message, r.leader_addr)
    return orjson.loads(r.body) if r.body else None


def refused(exc: grpc.aio.AioRpcError) -> bool:
    """The node refused the call: it belongs to another cluster (see cluster/identity.py)."""
    return exc.code() == grpc.StatusCode.FAILED_PRECONDITION and "cluster id mismatch" in (exc.details() or "")


async def learn_cluster_id(addrs: list[str], deadline_s: float = 60.0) -> str:
    """The cluster id of the first of `addrs` that answers (its health
    answer names it): how a joining node or a router without --cluster-id
    learns which cluster it belongs to, once, before it states it anywhere."""
    channels = Channels()
    deadline = time.monotonic() + deadline_s
    try:
        while True:
            for addr in addrs:
                try:
                    health = await call_once(channels, addr, "admin", "health", timeout=2.0)
                    if health.get("cluster_id"):
                        return health["cluster_id"]
                except (CallError, grpc.aio.AioRpcError):
                    continue
            if time.monotonic() >= deadline:
                raise TimeoutError(f"none of {', '.join(addrs)} answered within {deadline_s:.0f}s")
            await asyncio.sleep(0.5)
    finally:
        await channels.close()


async def meta_call(channels: Channels, addrs: list[str], op: str, body: Any = None,
                    deadline_s: float = 10.0) -> Any:
    """Call the meta leader: try the known addresses, follow leader hints,
    back off while there is no leader, give up at the deadline."""
    deadline = time.monotonic() + deadline_s
    hint: str | None = None
    backoff = 0.05
    last: Exception | None = None
    while True:
        candidates = ([hint] if hint else []) + random.sample(addrs, len(addrs))
        for addr in candidates:
            left = deadline - time.monotonic()
            if left <= 0:
                raise last or CallError("UNAVAILABLE", "", "no meta leader reachable")
            try:
                return await call_once(channels, addr, "meta", op, body, timeout=min(left, 5.0))
            except CallError as exc:
                if exc.status in ("NOT_LEADER", "UNAVAILABLE"):
                    last = exc
                    if exc.leader_addr and exc.leader_addr != addr:
                        hint = exc.leader_addr
                        break
                    continue
                raise
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNKNOWN:  # the handler raised: deterministic, never retried
                    raise CallError("INTERNAL", "", f"{addr}: {exc.details()}") from None
                last = CallError("UNAVAILABLE", "", f"{addr}: {exc.code().name} {exc.details()}")
                if hint == addr:
                    hint = None
                continue
        await asyncio.sleep(backoff * (1 + random.random()))
        backoff = min(backoff * 2, 0.5)
