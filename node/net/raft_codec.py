"""Raft records to and from protobuf, for the transport and the raft log on disk.

The Raft core speaks dataclasses and must not know about protobuf (it
imports nothing of the project), so the conversion lives here at the edge.
"""

from __future__ import annotations

from node.raft.messages import (ConfState, Entry, EntryKind, HardState, Message, MsgType, Snapshot,
                                SnapshotMeta)
from trireme_pb import raft_pb2 as pb


def entry_to_pb(e: Entry) -> pb.Entry:
    p = pb.Entry()
    p.term = e.term
    p.index = e.index
    p.data = e.data
    p.kind = e.kind
    return p


# Enum lookups by value: calling the enum class costs more than the rest of a
# small message's decoding (an unknown value still raises ValueError).
_KINDS = {k.value: k for k in EntryKind}
_TYPES = {t.value: t for t in MsgType}
_set = object.__setattr__  # Entry is frozen; its `wire` is a cache of what the other fields say


def entry_from_pb(p: pb.Entry) -> Entry:
    kind = _KINDS.get(p.kind)
    return Entry(p.term, p.index, p.data, kind if kind is not None else EntryKind(p.kind))


def encode_entry(e: Entry) -> bytes:
    """The entry's encoding, made once per entry: the leader's log and each
    follower's frame reuse it, and a received entry keeps the bytes it came in."""
    data = e.wire
    if data is None:
        data = entry_to_pb(e).SerializeToString()
        _set(e, "wire", data)
    return data


def decode_entry(data: bytes) -> Entry:
    e = entry_from_pb(pb.Entry.FromString(data))
    _set(e, "wire", data)
    return e


def encode_hard_state(hs: HardState) -> bytes:
    p = pb.HardState(term=hs.term, commit=hs.commit)
    if hs.vote is not None:
        p.vote = hs.vote
    return p.SerializeToString()


def decode_hard_state(data: bytes) -> HardState:
    p = pb.HardState.FromString(data)
    return HardState(p.term, p.vote if p.HasField("vote") else None, p.commit)


def _meta_to_pb(m: SnapshotMeta, out: pb.SnapshotMeta) -> None:
    out.index = m.index
    out.term = m.term
    out.conf.voters.extend(m.conf.voters)
    out.conf.learners.extend(m.conf.learners)


def _meta_from_pb(p: pb.SnapshotMeta) -> SnapshotMeta:
    return SnapshotMeta(p.index, p.term, ConfState(tuple(p.conf.voters), tuple(p.conf.learners)))


def encode_snapshot_meta(m: SnapshotMeta) -> bytes:
    p = pb.SnapshotMeta()
    _meta_to_pb(m, p)
    return p.SerializeToString()


def decode_snapshot_meta(data: bytes) -> SnapshotMeta:
    return _meta_from_pb(pb.SnapshotMeta.FromString(data))


def encode_snapshot(s: Snapshot) -> bytes:
    p = pb.Snapshot(data=s.data)
    _meta_to_pb(s.meta, p.meta)
    return p.SerializeToString()


def decode_snapshot(data: bytes) -> Snapshot:
    p = pb.Snapshot.FromString(data)
    return Snapshot(_meta_from_pb(p.meta), p.data)


def message_to_pb(m: Message, group: str) -> pb.Message:
    """Sets only the fields a message uses (a protobuf setter costs more than
    the test: an APP_RESP or a HEARTBEAT leaves most at their default)."""
    p = pb.Message()
    p.group = group
    p.type = m.type
    p.to = m.to
    p.frm = m.frm
    p.term = m.term
    if m.index:
        p.index = m.index
    if m.log_term:
        p.log_term = m.log_term
    if m.entries:
        p.entries.extend(map(encode_entry, m.entries))
    if m.commit:
        p.commit = m.commit
    if m.reject:
        p.reject = True
    if m.reject_hint:
        p.reject_hint = m.reject_hint
    if m.seq:
        p.seq = m.seq
    if m.snapshot is not None:
        _meta_to_pb(m.snapshot.meta, p.snapshot.meta)
        p.snapshot.data = m.snapshot.data
    if m.force:
        p.force = True
    if m.compact:
        p.compact = m.compact
    if m.quiet:
        p.quiet = True
    return p


def message_from_pb(p: pb.Message) -> tuple[str, Message]:
    """The message and the group it belongs to. Its entries keep the bytes
    they came in (`Entry.wire`): the follower's log stores them as they are."""
    snap = None
    if p.HasField("snapshot"):
        snap = Snapshot(_meta_from_pb(p.snapshot.meta), p.snapshot.data)
    t = _TYPES.get(p.type)
    ents = p.entries
    # (positional: Message's field order; keywords cost a dataclass __init__ more)
    m = Message(t if t is not None else MsgType(p.type), p.to, p.frm, p.term, p.index, p.log_term,
                tuple(map(decode_entry, ents)) if ents else (), p.commit, p.reject, p.reject_hint, p.seq, snap,
                p.force, p.compact, p.quiet)
    return p.group, m
