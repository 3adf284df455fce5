"""Raft transport: one long-lived gRPC stream per peer carrying the messages
of every group, batched per loop iteration, plus the fault-injection layer.

Raft tolerates lost messages, so the transport never retries a message: when
a stream breaks, what was queued is dropped and the stream is re-dialled with
backoff. A full queue (a paused or slow peer) drops the oldest messages.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from node.raft.messages import Message
from node.wire import message_from_pb, message_to_pb
from trireme_pb import node_pb2, node_pb2_grpc, raft_pb2

log = logging.getLogger(__name__)

MAX_QUEUE = 20_000
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.keepalive_time_ms", 2_000),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.http2.min_ping_interval_without_data_ms", 1_000),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 1_000),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1_000),
]


@dataclass
class Faults:
    """What the chaos tooling asked this node's transport to break.

    `drop_to` / `drop_from`: peer ids whose links are cut in that direction;
    `loss`: probability of dropping any message; `delay_ms` and `jitter_ms`:
    added latency on outgoing batches; `clock_rate`: how fast the node's
    Raft clock runs (applied by the node to its engine's clock, not here).
    """

    drop_to: set[str] = field(default_factory=set)
    drop_from: set[str] = field(default_factory=set)
    loss: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    clock_rate: float = 1.0

    def to_json(self) -> dict:
        return {"drop_to": sorted(self.drop_to), "drop_from": sorted(self.drop_from),
                "loss": self.loss, "delay_ms": self.delay_ms, "jitter_ms": self.jitter_ms,
                "clock_rate": self.clock_rate}

    @classmethod
    def from_json(cls, d: dict) -> Faults:
        return cls(set(d.get("drop_to", ())), set(d.get("drop_from", ())), float(d.get("loss", 0)),
                   float(d.get("delay_ms", 0)), float(d.get("jitter_ms", 0)),
                   float(d.get("clock_rate", 1.0)))

    def active(self) -> bool:
        return bool(self.drop_to or self.drop_from or self.loss or self.delay_ms or self.jitter_ms)


class _Peer:
    def __init__(self, transport: Transport, peer: str) -> None:
        self.t = transport
        self.peer = peer
        self.queue: deque[raft_pb2.Message] = deque()
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name=f"raft-peer-{peer}")

    def push(self, m: raft_pb2.Message) -> None:
        if len(self.queue) >= MAX_QUEUE:
            self.queue.popleft()
        self.queue.append(m)
        self.ready.set()

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            addr = self.t.address_of(self.peer)
            if addr is None:
                self.queue.clear()
                await asyncio.sleep(0.5)
                continue
            try:
                async with grpc.aio.insecure_channel(addr, options=GRPC_OPTIONS) as channel:
                    call = node_pb2_grpc.RaftTransportStub(channel).Stream()
                    await call.write(node_pb2.RaftFrame(hello=node_pb2.RaftHello(frm=self.t.node_id)))
                    backoff = 0.05
                    while True:
                        await self.ready.wait()
                        self.ready.clear()
                        if not self.queue:
                            continue
                        msgs = list(self.queue)
                        self.queue.clear()
                        faults = self.t.faults
                        if faults.active():
                            msgs = await self._impair(msgs, faults)
                            if not msgs:
                                continue
                        await call.write(node_pb2.RaftFrame(batch=raft_pb2.MessageBatch(messages=msgs)))
                        if addr != self.t.address_of(self.peer):
                            break  # the peer moved: re-dial
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broken stream, peer down: drop and re-dial
                log.debug("raft stream to %s (%s) failed: %s", self.peer, addr, exc)
            self.queue.clear()
            await asyncio.sleep(backoff * (1 + random.random()))
            backoff = min(backoff * 2, 1.0)

    async def _impair(self, msgs: list[raft_pb2.Message], f: Faults) -> list[raft_pb2.Message]:
        if self.peer in f.drop_to:
            return []
        if f.loss:
            msgs = [m for m in msgs if random.random() >= f.loss]
        if f.delay_ms or f.jitter_ms:
            await asyncio.sleep((f.delay_ms + random.random() * f.jitter_ms) / 1000)
        return msgs


class Transport:
    """Sends raft messages to peers and hands received ones to `deliver`."""

    def __init__(self, node_id: str, address_of: Callable[[str], str | None],
                 deliver: Callable[[str, Message], None]) -> None:
        self.node_id = node_id
        self.address_of = address_of
        self._deliver = deliver
        self._peers: dict[str, _Peer] = {}
        self.faults = Faults()

    def send(self, group: str, messages: list[Message]) -> None:
        for m in messages:
            peer = self._peers.get(m.to)
            if peer is None:
                peer = self._peers[m.to] = _Peer(self, m.to)
            peer.push(message_to_pb(m, group))

    async def close(self) -> None:
        for p in self._peers.values():
            p.task.cancel()
        await asyncio.gather(*(p.task for p in self._peers.values()), return_exceptions=True)
        self._peers.clear()

    # --- server side ----------------------------------------------------

    async def serve_stream(self, frames) -> None:
        frm = None
        async for frame in frames:
            if frame.HasField("hello"):
                frm = frame.hello.frm
                continue
            faults = self.faults
            if frm in faults.drop_from:
                continue
            for pm in frame.batch.messages:
                if faults.loss and random.random() < faults.loss:
                    continue
                group, m = message_from_pb(pm)
                self._deliver(group, m)


class RaftTransportServicer(node_pb2_grpc.RaftTransportServicer):
    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def Stream(self, request_iterator, context):  # noqa: N802 (gRPC name)
        try:
            await self.transport.serve_stream(request_iterator)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("raft stream in ended: %s", exc)
        return
        yield  # an async generator: the response side carries nothing
