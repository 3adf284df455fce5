"""Snapshots of a partition streamed to a member behind its leader's compacted log.

The Raft core asks for a snapshot by emitting a SNAP message; for a
partition, whose state lives in storage and may be large, the engine replaces
it with a stream: the leader reads the partition's state (items, local index
entries, index outbox, its configuration) at its applied index, in one pass
between two writes of the engine's loop, and sends it in chunks of about
CHUNK_BYTES as SNAP_CHUNK messages on the Raft connection, at most WINDOW
unacknowledged at a time, so heartbeats of every group keep flowing between
them. The receiver stages the chunks in memory; with the last one it hands
the core an ordinary SNAP message, and the replica installs the staged state
in the batch that persists the snapshot (see Replica.persist): old ranges
deleted, new records written, applied index and Raft metadata set, at once.

A stream that stalls (no acknowledgement for STALL_S) or restarts (a chunk
out of order, a new leader) is dropped; the core probes again after an
election timeout and asks for a fresh snapshot, which starts a new stream.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from node.raft.messages import Message, MsgType, Snapshot, SnapshotMeta
from node.storage import DATA, META, STREAMS

CHUNK_BYTES = 256 << 10
WINDOW = 4
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


@dataclass
class Outgoing:
    """One stream from this leader to one member."""

    stream: int
    meta: SnapshotMeta
    chunks: list[bytes]
    acked: int = 0  # chunks acknowledged
    sent: int = 0  # chunks sent
    last_ack: float = field(default_factory=time.monotonic)

    def next_messages(self, to: str, frm: str, term: int) -> list[Message]:
        out = []
        while self.sent < len(self.chunks) and self.sent - self.acked < WINDOW:
            n = self.sent
            out.append(Message(MsgType.SNAP_CHUNK, to, frm, term, index=self.stream, seq=n,
                               snapshot=Snapshot(self.meta, self.chunks[n]), force=n == len(self.chunks) - 1))
            self.sent += 1
        return out

    def done(self) -> bool:
        return self.acked == len(self.chunks)

    def stalled(self, now: float) -> bool:
        return now - self.last_ack > STALL_S


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
        s = self.out[to] = Outgoing(random.getrandbits(63), meta, list(encode_records(records)))
        return s

    def on_ack(self, m: Message) -> Outgoing | None:
        """The stream to send more of, or None (finished, restarted or unknown)."""
        s = self.out.get(m.frm)
        if s is None or s.stream != m.index:
            return None
        if m.reject:
            del self.out[m.frm]
            return None
        s.acked = max(s.acked, m.seq + 1)
        s.last_ack = time.monotonic()
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
            del self.out[to]
