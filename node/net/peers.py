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
see cluster/nodes.py and node/server.py's DataSession). Its first frame, a
hello, states the sender's cluster id: a node refuses any other cluster.

Raft tolerates lost messages, so the transport never retries a message: when
a connection breaks, what was queued is dropped and the connection is
re-dialled with backoff. A full queue (a paused or slow peer) drops the
oldest messages.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any

from cluster.faults import Faults
from cluster.frames import DATA, MAX_FRAME, RAFT, frame, tune
from cluster.identity import Throttled, mismatch
from cluster.rpc import Channels, tcp_endpoint
from node.raft.messages import Message
from node.net.raft_codec import message_from_pb, message_to_pb
from trireme_pb import node_pb2, raft_pb2

log = logging.getLogger(__name__)

MAX_QUEUE = 20_000


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
                # The peer sends nothing but a refusal (its own hello) before it closes.
                closed = asyncio.ensure_future(reader.read())
                closed.add_done_callback(lambda _: self.ready.set())
                writer.write(RAFT + frame(node_pb2.RaftFrame(hello=node_pb2.RaftHello(
                    frm=self.t.node_id, cluster_id=self.t.cluster_id))))
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
                    if closed.done() and not closed.cancelled() and closed.exception() is None:
                        self.t.refused_by(self.peer, addr, closed.result())
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
        self.cluster_id = ""  # stated to peers, required of them (cluster/identity.py)
        self.refusals = Throttled(log)

    def send(self, group: str, messages: list[Message]) -> None:
        for m in messages:
            peer = self._peers.get(m.to)
            if peer is None:
                peer = self._peers[m.to] = _Peer(self, m.to)
            peer.push(message_to_pb(m, group))

    async def raft_endpoint(self, addr: str) -> tuple[str, int]:
        if self._channels is None:
            self._channels = Channels(self.cluster_id)
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
        self._server = await loop.create_server(lambda: _Inbound(self), host, 0, reuse_port=False)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def refused_by(self, peer: str, addr: str, answer: bytes) -> None:
        """Log the refusal a peer sent before closing our Raft connection."""
        try:
            hello = node_pb2.RaftFrame.FromString(answer[4:]).hello
        except Exception:  # noqa: BLE001 (not a refusal: nothing to say)
            return
        if hello.cluster_id and hello.cluster_id != self.cluster_id:
            self.refusals.warning(f"raft {addr}", mismatch(
                hello.cluster_id, self.cluster_id, f"peer {peer} ({addr}, node {hello.frm})",
                f"our node {self.node_id}"))

    def admit(self, stated: str, kind: str, peer: Any) -> bool:
        """Whether a connection stating cluster `stated` may go on; logs a refusal."""
        if stated == self.cluster_id and stated:
            return True
        self.refusals.warning(f"{kind} {stated}", mismatch(
            self.cluster_id, stated, f"node {self.node_id}", f"the {kind} connection from {peer}"))
        return False

    def receive(self, frm: str | None, batch: raft_pb2.MessageBatch) -> None:
        faults = self.faults
        if frm in faults.drop_from:
            return
        for pm in batch.messages:
            if faults.loss and random.random() < faults.loss:
                continue
            group, m = message_from_pb(pm)
            self._deliver(group, m)


class _Inbound(asyncio.Protocol):
    """One connection: a peer's Raft frames (a hello, then batches) or a
    router's data requests (a hello, then requests). The hello must name
    this node's cluster, or the connection is refused with an answer that
    says why (see Transport.admit)."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport
        self.buf = bytearray()
        self.kind = b""
        self.admitted = False
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

    def _hello(self, body: bytes) -> bool:
        """Admit the connection on its first frame, or refuse and close it."""
        conn = self.conn
        assert conn is not None
        try:
            if self.kind == RAFT:
                hello = node_pb2.RaftFrame.FromString(body).hello
                self.frm, stated = hello.frm, hello.cluster_id
            else:
                stated = node_pb2.DataHello.FromString(body).cluster_id
        except Exception:  # noqa: BLE001 (garbage is refused like a stranger)
            stated = ""
        peer = conn.get_extra_info("peername")
        kind = "raft" if self.kind == RAFT else "data"
        if not self.t.admit(stated, kind, f"{self.frm or 'a router'} at {peer}" if peer else kind):
            if self.kind == RAFT:
                conn.write(frame(node_pb2.RaftFrame(hello=node_pb2.RaftHello(
                    frm=self.t.node_id, cluster_id=self.t.cluster_id))))
            else:
                conn.write(frame(node_pb2.DataResponses(refused=mismatch(
                    self.t.cluster_id, stated, f"node {self.t.node_id}", "this router"))))
            conn.close()
            return False
        self.admitted = True
        if self.kind == DATA:
            self.session = self.t.open_data(self._send)  # type: ignore[misc]
        return True

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.kind:
            self.kind = bytes(buf[:1])
            del buf[:1]
            if self.kind not in (RAFT, DATA) or (self.kind == DATA and self.t.open_data is None):
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
            if not self.admitted:
                if not self._hello(body):
                    buf.clear()
                    return
                continue
            if self.session is not None:
                self.session.feed(node_pb2.DataRequests.FromString(body))
                continue
            f = node_pb2.RaftFrame.FromString(body)
            try:
                self.t.receive(self.frm, f.batch)
            except Exception:  # noqa: BLE001 (a bad message must not kill the connection)
                log.exception("raft frame from %s", self.frm)
