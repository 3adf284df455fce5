"""Raft transport: one long-lived TCP connection per peer carrying the
messages of every group, batched per loop iteration, plus the fault-injection
layer.

Frames are length-prefixed protobufs over plain asyncio TCP, not a gRPC
stream: a grpc.aio stream message costs about 150 us of CPU per send and
receive on these machines, a raw frame about 30, and a write moves a dozen
Raft messages. Each node listens on its fixed peer port (--peer-listen)
next to gRPC, and a peer learns it from the node's admin `health` answer
(`peer_addr`) when it dials.
A connection's first byte is `R`; its first frame, a hello, states the
sender's cluster id: a node refuses any other cluster. With TLS
(cluster/tls.py) the connection is mutual TLS from its first byte (after the
link's header, see below), and each side refuses a certificate that is not a
node's of its cluster (or of a peer cluster), logging who it was.

Members of a group that spans regions (a strongly consistent global table's)
are named `REGION/NODE` (cluster/regions.py): a member of this node's region
is dialled as its plain id, another region's through the cross-region link's
peer port for that region (`remote_peers`), the connection opening with a
header that names the node, and this node stating itself as
`OWN_REGION/ID` in its hello. The other regions' cluster ids are admitted
(`peer_clusters`); strangers are still refused.

Raft tolerates lost messages, so the transport never retries a message: when
a connection breaks, what was queued is dropped and the connection is
re-dialled with backoff. A full queue (a paused or slow peer) drops the
oldest messages.

A connection that closes says more than missed heartbeats: when a node's
process dies its kernel closes its sockets, and its peers see the end of the
stream at once. The transport reports every such end (`lost`), inbound or
outbound, so a follower of that node can start a pre-vote without waiting
for an election timeout (node.raft.core.Raft.peer_lost says why that is
safe when the connection merely flapped).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

from cluster import tls as tls_
from cluster.faults import Faults
from cluster.frames import prefixed, tune
from cluster.identity import Throttled, mismatch
from cluster.regions import peer_header, qualify, split_qualified
from cluster.rpc import Channels, call_once
from cluster.tasks import within
from node.net.hello import Admitted, Closed, PeerHandshake, Refused, opening, refusal
from node.raft.messages import Message
from node.net.raft_codec import message_from_pb, message_to_pb
from trireme_pb import node_pb2, raft_pb2

log = logging.getLogger(__name__)

MAX_QUEUE = 20_000
# Unsent bytes above which frames wait for the peer task's drain instead of
# being written straight from the turn that made them.
DIRECT_BUFFER = 1 << 20


def _varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def batch_frame(msgs: list[bytes]) -> bytes:
    """The frame of a `RaftFrame{batch: MessageBatch{messages}}` holding these
    encoded messages, put together from their bytes: a RaftFrame built of
    message objects copied each one into it, then encoded them all again."""
    parts = []
    for m in msgs:
        parts.append(b"\x0a" + _varint(len(m)))  # MessageBatch.messages (1, length-delimited)
        parts.append(m)
    batch = b"".join(parts)
    return prefixed(b"\x12" + _varint(len(batch)) + batch)  # RaftFrame.batch (2, length-delimited)


class _Peer:
    def __init__(self, transport: Transport, peer: str) -> None:
        self.t = transport
        self.peer = peer
        self.queue: deque[bytes] = deque()  # encoded raft_pb2.Message
        self.ready = asyncio.Event()
        # The open connection's writer while frames may be written straight from
        # `flush` (no fault injection, the peer reading fast enough); else None.
        self.direct: asyncio.StreamWriter | None = None
        self.dialled: tuple[str, str] | None = None  # (node, address) of a direct local connection
        self.task = asyncio.create_task(self._run(), name=f"raft-peer-{peer}")

    def push(self, m: bytes) -> None:
        if len(self.queue) >= MAX_QUEUE:
            self.queue.popleft()
        self.queue.append(m)
        if self.direct is None:
            self.ready.set()

    def flush(self) -> None:
        """Write what is queued as one frame now, on the caller's turn: waking
        this peer's task to write it cost a task step, an event and a drain
        per peer and turn (about a tenth of a follower's loop). A connection
        that is closing, or whose buffer the peer does not drain, is left to
        the task (it re-dials, or awaits the drain)."""
        writer = self.direct
        if not self.queue:
            return
        dialled = self.dialled
        if writer is None or writer.transport.is_closing() or self.t.faults.active() \
                or writer.transport.get_write_buffer_size() > DIRECT_BUFFER \
                or (dialled is not None and self.t.address_of(dialled[0]) != dialled[1]):  # moved: re-dial
            self.ready.set()
            return
        msgs = list(self.queue)
        self.queue.clear()
        writer.write(batch_frame(msgs))

    async def _run(self) -> None:
        backoff = 0.05
        region, node = split_qualified(self.peer)
        remote = region is not None and region != self.t.region
        while True:
            addr = self.t.remote_peers.get(region or "") if remote else self.t.address_of(node)
            if addr is None:
                self.queue.clear()
                await asyncio.sleep(0.5)
                continue
            writer = None
            try:
                if remote:  # through the link: its peer port for that region, then a header naming the node
                    host, _, port_text = addr.rpartition(":")
                    host, port, header = host.strip("[]"), int(port_text), peer_header(node)
                    me = qualify(self.t.region, self.t.node_id)
                else:
                    (host, port), header, me = await self.t.raft_endpoint(addr), b"", self.t.node_id
                reader, writer = await within(asyncio.open_connection(host, port), 3.0)
                tune(writer)
                if self.t.tls is not None:
                    writer.write(header)  # the link reads it in the clear, then relays the TLS stream
                    header = b""
                    try:
                        await within(writer.start_tls(self.t.client_context()), 3.0)
                    except ssl.SSLError as exc:  # another CA's node (or ours is not trusted there)
                        self.t.refusals.warning(f"tls {addr}", f"node {self.t.node_id}: TLS handshake with peer "
                                                               f"{self.peer} at {addr} failed: {exc}")
                        raise
                    if not self.t.admits(writer.get_extra_info("peercert"), f"peer {self.peer} at {addr}"):
                        raise ConnectionRefusedError("the peer's certificate is not of our cluster")
                # The peer sends nothing but a refusal (its own hello) before it closes.
                closed = asyncio.ensure_future(reader.read())
                closed.add_done_callback(lambda _: self.ready.set())
                writer.write(header + opening(me, self.t.cluster_id))
                backoff = 0.05
                try:
                    while not closed.done():
                        self.dialled = None if remote else (node, addr)
                        self.direct = writer if remote or addr == self.t.address_of(node) else None
                        await self.ready.wait()
                        self.ready.clear()
                        self.direct = None
                        if not self.queue or closed.done():
                            continue
                        msgs = list(self.queue)
                        self.queue.clear()
                        faults = self.t.faults
                        if faults.active():
                            msgs = await self._impair(msgs, faults)
                            if not msgs:
                                continue
                        writer.write(batch_frame(msgs))
                        await writer.drain()
                        if not remote and addr != self.t.address_of(node):
                            break  # the peer moved: re-dial
                finally:
                    self.direct = None
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
            if writer is not None:  # a connection that was open ended (the peer closed it, or it broke)
                self.t.lost(self.peer)
            self.queue.clear()
            await asyncio.sleep(backoff * (1 + random.random()))
            backoff = min(backoff * 2, 1.0)

    async def _impair(self, msgs: list[bytes], f: Faults) -> list[bytes]:
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
        # A peer's connection (inbound or outbound) ended: its process may have died.
        self.on_lost: Callable[[str], None] = lambda peer: None
        self._closing = False
        self._peers: dict[str, _Peer] = {}
        self._dirty: set[_Peer] = set()  # peers with messages queued since the last flush
        self._flush_soon = False
        self.faults = Faults()
        self._server: asyncio.Server | None = None
        self._channels = None  # for asking peers where they listen
        self.cluster_id = ""  # stated to peers, required of them (cluster/identity.py)
        self.peer_clusters: frozenset[str] = frozenset()  # the other regions' clusters, admitted too
        self.region = ""  # this node's region: members `REGION/NODE` of another region go through the link
        self.remote_peers: dict[str, str] = {}  # region -> the link's peer port for it, host:port
        self.refusals = Throttled(log)
        self.tls: tls_.Identity | None = None  # set: the peer port is mutual TLS
        self._contexts: dict[str, ssl.SSLContext] = {}

    def client_context(self) -> ssl.SSLContext:
        assert self.tls is not None
        if "client" not in self._contexts:
            self._contexts["client"] = self.tls.client_context()
        return self._contexts["client"]

    def server_context(self) -> ssl.SSLContext:
        assert self.tls is not None
        if "server" not in self._contexts:
            self._contexts["server"] = self.tls.server_context(require_client_cert=True)
        return self._contexts["server"]

    def admits(self, peercert: dict | None, who: str) -> bool:
        """Whether a peer's certificate is a node's of this cluster or a peer
        cluster (logs the refusal otherwise, once in a while per reason)."""
        why = tls_.refusal(tls_.member_of_peercert(peercert), {self.cluster_id, *self.peer_clusters}, ("node",))
        if why:
            self.refusals.warning(f"tls {why}", f"node {self.node_id} of cluster {self.cluster_id} refused the "
                                                f"raft connection with {who}: {why}")
        return not why

    def send(self, group: str, messages: list[Message], *, flush_soon: bool = True) -> None:
        """Queue messages; they leave at `flush`, which runs soon on its own,
        or with `flush_soon=False` when the caller flushes (the engine, after
        a turn's sends: one frame per peer, and no callback a turn to find
        nothing left to write)."""
        for m in messages:
            peer = self._peers.get(m.to)
            if peer is None:
                peer = self._peers[m.to] = _Peer(self, m.to)
            peer.push(message_to_pb(m, group).SerializeToString())
            self._dirty.add(peer)
        if flush_soon and not self._flush_soon and self._dirty:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        """Write every peer's queued messages as one frame each, now."""
        self._flush_soon = False
        dirty, self._dirty = self._dirty, set()
        for peer in dirty:
            peer.flush()

    async def raft_endpoint(self, addr: str) -> tuple[str, int]:
        """Where the node at gRPC address `addr` listens for Raft: its Admin
        `health` answer says (its --peer-listen port, at its advertised host)."""
        if self._channels is None:
            self._channels = Channels(self.cluster_id)
        health = await call_once(self._channels, addr, "admin", "health", timeout=2.0)
        host, _, port = health["peer_addr"].rpartition(":")
        return host.strip("[]"), int(port)

    async def close(self) -> None:
        self._closing = True
        for p in self._peers.values():
            p.task.cancel()
        await asyncio.gather(*(p.task for p in self._peers.values()), return_exceptions=True)
        self._peers.clear()
        if self._server is not None:
            self._server.close()
        if self._channels is not None:
            await self._channels.close()

    # --- server side ----------------------------------------------------

    async def bind(self, host: str, port: int) -> None:
        """Take the peer port (OSError when it is taken); serve() starts accepting."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Inbound(self), host, port, reuse_port=False,
                                                start_serving=False)

    async def serve(self) -> None:
        """Accept peers' Raft connections on the bound port."""
        assert self._server is not None
        await self._server.start_serving()

    def lost(self, peer: str) -> None:
        """A connection with `peer` ended (not when this transport closes)."""
        if not self._closing:
            self.on_lost(peer)

    def refused_by(self, peer: str, addr: str, answer: bytes) -> None:
        """Log the refusal a peer sent before closing our Raft connection."""
        hello = refusal(answer)
        if hello is not None and hello.cluster_id and hello.cluster_id != self.cluster_id:
            self.refusals.warning(f"raft {addr}", mismatch(
                hello.cluster_id, self.cluster_id, f"peer {peer} ({addr}, node {hello.frm})",
                f"our node {self.node_id}"))

    def refused(self, stated: str, peer: Any) -> None:
        """Log a peer connection refused for the cluster it stated."""
        self.refusals.warning(f"raft {stated}", mismatch(
            self.cluster_id, stated, f"node {self.node_id}", f"the raft connection from {peer}"))

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
    """One peer's Raft connection, driven through its handshake
    (node/net/hello.py): admitted, its frames go to the transport; refused
    (another cluster), it gets this node's hello and is closed."""

    def __init__(self, transport: Transport) -> None:
        self.t = transport
        self.shake = PeerHandshake(transport.node_id, transport.cluster_id,
                                   peer_clusters=transport.peer_clusters)
        self.conn: asyncio.Transport | None = None
        self.early: list[bytes] = []  # TLS: what arrived after the handshake, before its check
        self.securing: asyncio.Future | None = None  # TLS: the handshake and check (referenced: not collected)

    def connection_made(self, conn: asyncio.BaseTransport) -> None:
        if self.t.tls is None:
            self.conn = conn  # type: ignore[assignment]
            return
        conn.pause_reading()  # type: ignore[attr-defined]  (start_tls takes the bytes from here)
        self.securing = asyncio.ensure_future(self._secure(conn))  # type: ignore[arg-type]

    async def _secure(self, raw: asyncio.Transport) -> None:
        """Mutual TLS over the accepted connection, then the certificate's check."""
        peer = raw.get_extra_info("peername")
        try:
            conn = await asyncio.get_running_loop().start_tls(raw, self, self.t.server_context(), server_side=True,
                                                              ssl_handshake_timeout=5.0)
        except (OSError, asyncio.TimeoutError, ConnectionError) as exc:
            host = peer[0] if isinstance(peer, tuple) else peer  # a retrying peer dials from a new port each time
            self.t.refusals.warning(f"tls {host}", f"node {self.t.node_id} refused the raft connection from "
                                                   f"{peer}: TLS handshake failed: {type(exc).__name__}: {exc}")
            raw.close()
            return
        if conn is None or not self.t.admits(conn.get_extra_info("peercert"), f"the node at {peer}"):
            (conn or raw).close()
            return
        self.conn = conn
        early, self.early = self.early, []
        for data in early:
            self.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.shake.state == "open":  # an admitted peer's connection ended
            self.t.lost(self.shake.frm)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None:  # TLS: not checked yet
            self.early.append(data)
            return
        for event in self.shake.feed(data):
            if isinstance(event, Admitted):
                continue
            if isinstance(event, bytes):
                try:
                    self.t.receive(self.shake.frm, node_pb2.RaftFrame.FromString(event).batch)
                except Exception:  # noqa: BLE001 (a bad message must not kill the connection)
                    log.exception("raft frame from %s", self.shake.frm)
            elif isinstance(event, Refused):
                peer = conn.get_extra_info("peername")
                self.t.refused(event.stated, f"{event.frm} at {peer}")
                conn.write(event.answer)
                conn.close()
            elif isinstance(event, Closed):
                log.warning("raft connection from %s: %s; closing", conn.get_extra_info("peername"), event.reason)
                conn.close()
