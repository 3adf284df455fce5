"""Snapshots of a partition streamed to a member behind its leader's compacted log.

The Raft core asks for a snapshot by emitting a SNAP message; for a
partition, whose state lives in storage and may be large, the engine replaces
it with a stream: between two writes of the engine's loop the leader notes
its applied index and opens RocksDB iterators over the partition's state
(items, local index entries, index outbox); an iterator reads the database as
it was when it was opened, so the stream holds the state at that index
however long it takes. The engine reads the chunks (about CHUNK_BYTES each,
the configuration last) from those iterators in a worker thread, only as the
window opens: at most HELD chunks unacknowledged or read ahead, so a
leader's memory for a stream stays bounded and its loop keeps ticking every
group. Chunks travel as SNAP_CHUNK messages on the Raft connection. The
receiver stages them in memory; with the last one it hands the core an
ordinary SNAP message, and the replica installs the staged state in the batch
that persists the snapshot (see Replica.persist): old ranges deleted, new
records written, applied index and Raft metadata set, at once.

A stream that stalls (no acknowledgement for STALL_S) or restarts (a chunk
out of order, a new leader) is dropped; the core probes again after an
election timeout and asks for a fresh snapshot, which starts a new stream.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from cluster.tasks import within
from node.raft.messages import Message, MsgType, Snapshot, SnapshotMeta
from node.storage import DATA, META, STREAMS

log = logging.getLogger(__name__)

CHUNK_BYTES = 256 << 10
WINDOW = 4  # chunks in flight
HELD = 2 * WINDOW  # chunks a stream holds: those in flight, and as many read ahead to send at the next ack
STALL_S = 5.0

FAMILIES = (DATA, STREAMS, META)  # a record's family, by its position here
_HEAD = struct.Struct(">BII")


def encode_records(records: Iterable[tuple[str, bytes, bytes]]) -> Iterator[bytes]:
    """Chunks of about CHUNK_BYTES holding whole (family, key, value) records."""
    buf = bytearray()
    for cf, key, value in records:
        buf += _HEAD.pack(FAMILIES.index(cf), len(key), len(value))
        buf += key
        buf += value
        if len(buf) >= CHUNK_BYTES:
            yield bytes(buf)
            buf.clear()
    yield bytes(buf)  # the last chunk (possibly empty) marks the end


def decode_records(chunk: bytes) -> Iterator[tuple[str, bytes, bytes]]:
    pos, end = 0, len(chunk)
    while pos < end:
        cf, klen, vlen = _HEAD.unpack_from(chunk, pos)
        pos += _HEAD.size
        key = chunk[pos:pos + klen]
        pos += klen
        yield FAMILIES[cf], key, chunk[pos:pos + vlen]
        pos += vlen


def marked(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Each chunk with whether it is the last (one read ahead)."""
    it = iter(chunks)
    cur = next(it)
    for nxt in it:
        yield cur, False
        cur = nxt
    yield cur, True


@dataclass
class Outgoing:
    """One stream from this leader to one member. Its chunks are read from
    ``source`` only as the window opens (``wants_chunk``/``add``: the engine
    reads them in a worker thread; ``fill`` reads them here)."""

    stream: int
    meta: SnapshotMeta
    source: Iterator[tuple[bytes, bool]]  # the chunks, each with whether it is the last
    pending: deque[bytes] = field(default_factory=deque)  # read, not sent yet
    read: int = 0  # chunks read from the source
    total: int | None = None  # known once the last chunk is read
    reading: bool = False  # a worker thread is reading the next chunk
    closed: bool = False  # dropped (stalled, rejected, replaced): read no more
    acked: int = 0  # chunks acknowledged
    sent: int = 0  # chunks sent
    last_ack: float = field(default_factory=time.monotonic)
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # the window opened, or the stream was dropped

    def wants_chunk(self) -> bool:
        """Whether the next chunk may be read: at most HELD chunks are
        held, in flight or read ahead, at any time."""
        return not self.closed and not self.reading and self.total is None and self.read - self.acked < HELD

    def add(self, chunk: bytes, last: bool) -> None:
        self.pending.append(chunk)
        self.read += 1
        if last:
            self.total = self.read

    def fill(self) -> None:
        """Read up to the window now (tests and small states)."""
        while self.wants_chunk():
            self.add(*next(self.source))

    def next_messages(self, to: str, frm: str, term: int) -> list[Message]:
        out = []
        while self.pending and self.sent - self.acked < WINDOW:
            n = self.sent
            out.append(Message(MsgType.SNAP_CHUNK, to, frm, term, index=self.stream, seq=n,
                               snapshot=Snapshot(self.meta, self.pending.popleft()), force=n + 1 == self.total))
            self.sent += 1
        return out

    def done(self) -> bool:
        return self.total is not None and self.acked == self.total

    def stalled(self, now: float) -> bool:
        return now - self.last_ack > STALL_S

    def close(self) -> None:
        self.closed = True
        self.pending.clear()
        self.wake.set()


async def pump(s: Outgoing, send: Callable[[], None], alive: Callable[[], bool]) -> None:
    """Read a stream's chunks in a worker thread as its window opens, calling
    ``send`` after each (it sends what the window allows), while ``alive()``
    (the replica still leads) and the stream is not dropped."""
    try:
        while not s.closed and alive():
            if s.wants_chunk():
                s.reading = True
                try:
                    chunk, last = await asyncio.to_thread(next, s.source)
                finally:
                    s.reading = False
                if s.closed:
                    break
                s.add(chunk, last)
                send()
            elif s.total is not None and not s.pending:
                break  # every chunk read and sent; the acknowledgements need no reading
            else:
                s.wake.clear()
                try:
                    await within(s.wake.wait(), STALL_S)
                except TimeoutError:
                    pass
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 (the storage closing under the reader: the core probes again)
        log.exception("reading a snapshot stream failed")
        s.close()
    if not s.reading:
        s.source.close()  # releases the iterators and the state they hold


@dataclass
class Incoming:
    """A stream this member is receiving."""

    stream: int
    meta: SnapshotMeta
    chunks: list[bytes] = field(default_factory=list)


class Streams:
    """The snapshot streams of one replica, both directions."""

    def __init__(self) -> None:
        self.out: dict[str, Outgoing] = {}
        self.incoming: Incoming | None = None
        self.staged: tuple[SnapshotMeta, list[bytes]] | None = None  # complete, for the core to install

    def start(self, to: str, meta: SnapshotMeta, records: Iterable[tuple[str, bytes, bytes]]) -> Outgoing:
        """A new stream of ``records`` (read lazily, as the window opens)."""
        self._drop(to)
        s = self.out[to] = Outgoing(random.getrandbits(63), meta, marked(encode_records(records)))
        return s

    def _drop(self, to: str) -> None:
        s = self.out.pop(to, None)
        if s is not None:
            s.close()

    def on_ack(self, m: Message) -> Outgoing | None:
        """The stream to send more of, or None (finished, restarted or unknown)."""
        s = self.out.get(m.frm)
        if s is None or s.stream != m.index:
            return None
        if m.reject:
            self._drop(m.frm)
            return None
        s.acked = max(s.acked, m.seq + 1)
        s.last_ack = time.monotonic()
        s.wake.set()
        # A finished stream stays (until it expires) so the core's next probe,
        # sent before the member's answer arrives, does not start another.
        return None if s.done() else s

    def on_chunk(self, m: Message) -> tuple[Message, bool]:
        """The answer to a chunk, and whether the stream is now complete (staged)."""
        assert m.snapshot is not None
        cur = self.incoming
        if m.seq == 0:
            cur = self.incoming = Incoming(m.index, m.snapshot.meta)
        ok = cur is not None and cur.stream == m.index and len(cur.chunks) == m.seq
        ack = Message(MsgType.SNAP_ACK, m.frm, m.to, m.term, index=m.index, seq=m.seq, reject=not ok)
        if not ok:
            self.incoming = None
            return ack, False
        assert cur is not None
        cur.chunks.append(m.snapshot.data)
        if not m.force:
            return ack, False
        self.staged, self.incoming = (cur.meta, cur.chunks), None
        return ack, True

    def expire(self, now: float) -> None:
        for to in [to for to, s in self.out.items() if s.stalled(now)]:
            self._drop(to)

    def close(self) -> None:
        """The replica is going: end every outgoing stream."""
        for to in list(self.out):
            self._drop(to)
