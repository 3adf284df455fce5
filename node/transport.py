"""Raft transport: one long-lived TCP connection per peer carrying the
messages of every group, batched per loop iteration, plus the fault-injection
layer.

Frames are length-prefixed protobufs over plain asyncio TCP, not a gRPC
stream: a grpc.aio stream message costs about 150 us of CPU per send and
receive on these machines, a raw frame about 30, and a write moves a dozen
Raft messages. Each node listens on its own TCP port next to gRPC, and a
peer or router learns it from the node's admin `health` answer (gRPC) when
it dials. A connection's first byte says what it carries: `R`, Raft frames
from a peer; `D`, a router's data requests (answered on the same connection,
see router/nodes.py and node/server.py's DataSession).

Raft tolerates lost messages, so the transport never retries a message: when
a connection breaks, what was queued is dropped and the connection is
re-dialled with backoff. A full queue (a paused or slow peer) drops the
oldest messages.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from node.raft.messages import Message
from node.wire import message_from_pb, message_to_pb
from trireme_pb import node_pb2, raft_pb2

log = logging.getLogger(__name__)

MAX_QUEUE = 20_000
MAX_FRAME = 64 << 20
USER_TIMEOUT_MS = 5_000  # unacknowledged data this long (a partition) breaks the connection
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
            writer = None
            try:
                host, port = await self.t.raft_endpoint(addr)
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3.0)
                tune(writer)
                closed = asyncio.ensure_future(reader.read())  # the peer sends nothing: EOF or an error
                closed.add_done_callback(lambda _: self.ready.set())
                writer.write(RAFT + frame(node_pb2.RaftFrame(hello=node_pb2.RaftHello(frm=self.t.node_id))))
                backoff = 0.05
                try:
                    while not closed.done():
                        await self.ready.wait()
                        self.ready.clear()
                        if not self.queue or closed.done():
                            continue
                        msgs = list(self.queue)
                        self.queue.clear()
                        faults = self.t.faults
                        if faults.active():
                            msgs = await self._impair(msgs, faults)
                            if not msgs:
                                continue
                        writer.write(frame(node_pb2.RaftFrame(batch=raft_pb2.MessageBatch(messages=msgs))))
                        await writer.drain()
                        if addr != self.t.address_of(self.peer):
                            break  # the peer moved: re-dial
                finally:
                    closed.cancel()
                    if closed.done() and not closed.cancelled():
                        closed.exception()  # seen: a reset connection is an expected end
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broken connection, peer down: drop and re-dial
                log.debug("raft connection to %s (%s) failed: %s", self.peer, addr, exc)
            finally:
                if writer is not None:
                    writer.close()
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
        self.port = 0  # where this node listens for Raft and data frames (see serve)
        self._server: asyncio.Server | None = None
        # A router's connection: returns a session taking DataRequests, given how to send answers.
        self.open_data: Callable[[Callable[[list], None]], Any] | None = None
        self._channels = None  # for asking peers where they listen

    def send(self, group: str, messages: list[Message]) -> None:
        for m in messages:
            peer = self._peers.get(m.to)
            if peer is None:
                peer = self._peers[m.to] = _Peer(self, m.to)
            peer.push(message_to_pb(m, group))

    async def raft_endpoint(self, addr: str) -> tuple[str, int]:
        if self._channels is None:
            from node.rpc import Channels  # node.rpc imports this module
            self._channels = Channels()
        return await tcp_endpoint(self._channels, addr)

    async def close(self) -> None:
        for p in self._peers.values():
            p.task.cancel()
        await asyncio.gather(*(p.task for p in self._peers.values()), return_exceptions=True)
        self._peers.clear()
        if self._server is not None:
            self._server.close()
        if self._channels is not None:
            await self._channels.close()

    # --- server side ----------------------------------------------------

    async def serve(self, host: str) -> int:
        """Listen for peers' Raft connections and routers' data connections
        on an ephemeral port of `host`."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Inbound(self), host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def receive(self, frm: str | None, batch: raft_pb2.MessageBatch) -> None:
        faults = self.faults
        if frm in faults.drop_from:
            return
        for pm in batch.messages:
            if faults.loss and random.random() < faults.loss:
                continue
            group, m = message_from_pb(pm)
            self._deliver(group, m)


RAFT, DATA = b"R", b"D"  # a connection's first byte


async def tcp_endpoint(channels, addr: str) -> tuple[str, int]:
    """Where the node at gRPC address `addr` listens for frames."""
    from node.rpc import call_once  # node.rpc imports this module
    health = await call_once(channels, addr, "admin", "health", timeout=2.0)
    return addr.rpartition(":")[0], int(health["tcp_port"])


def frame(msg: Any) -> bytes:
    """A protobuf message, length-prefixed."""
    body = msg.SerializeToString()
    return len(body).to_bytes(4, "big") + body


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    n = int.from_bytes(await reader.readexactly(4), "big")
    if n > MAX_FRAME:
        raise ValueError(f"frame of {n} bytes")
    return await reader.readexactly(n)


def tune(writer: asyncio.StreamWriter) -> None:
    """Data unacknowledged for USER_TIMEOUT_MS breaks the connection (as gRPC's keepalive did)."""
    sock = writer.get_extra_info("socket")
    if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, USER_TIMEOUT_MS)


class _Inbound(asyncio.Protocol):
    """One connection: a peer's Raft frames (a hello, then batches) or a
    router's data requests."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport
        self.buf = bytearray()
        self.kind = b""
        self.frm: str | None = None
        self.conn: asyncio.Transport | None = None
        self.session: Any = None

    def connection_made(self, conn: asyncio.BaseTransport) -> None:
        self.conn = conn  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.session is not None:
            self.session.close()

    def _send(self, responses: list) -> None:
        if self.conn is not None and not self.conn.is_closing():
            self.conn.write(frame(node_pb2.DataResponses(responses=responses)))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.kind:
            self.kind = bytes(buf[:1])
            del buf[:1]
            if self.kind == DATA and self.t.open_data is not None:
                self.session = self.t.open_data(self._send)
            elif self.kind != RAFT:
                self.conn.close()  # type: ignore[union-attr]
                return
        while len(buf) >= 4:
            n = int.from_bytes(buf[:4], "big")
            if n > MAX_FRAME:
                log.warning("frame of %d bytes on a %s connection: closing", n, self.kind.decode())
                self.conn.close()  # type: ignore[union-attr]
                return
            if len(buf) < 4 + n:
                return
            body = bytes(buf[4:4 + n])
            del buf[:4 + n]
            if self.session is not None:
                self.session.feed(node_pb2.DataRequests.FromString(body))
                continue
            f = node_pb2.RaftFrame.FromString(body)
            if f.HasField("hello"):
                self.frm = f.hello.frm
            else:
                try:
                    self.t.receive(self.frm, f.batch)
                except Exception:  # noqa: BLE001 (a bad message must not kill the connection)
                    log.exception("raft frame from %s", self.frm)
