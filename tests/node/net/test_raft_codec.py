"""Raft records survive the trip through protobuf unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from node.net import raft_codec as wire
from node.raft.messages import (ConfState, Entry, EntryKind, HardState, Message, MsgType, Snapshot,
                                SnapshotMeta)

ids = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=8)
u64 = st.integers(0, 2**64 - 1)
entries = st.builds(Entry, u64, u64, st.binary(max_size=64), st.sampled_from(EntryKind))
confs = st.builds(ConfState, st.lists(ids, max_size=5).map(tuple), st.lists(ids, max_size=3).map(tuple))
metas = st.builds(SnapshotMeta, u64, u64, confs)
snapshots = st.builds(Snapshot, metas, st.binary(max_size=64))
messages = st.builds(
    Message, st.sampled_from(MsgType), ids, ids, u64, index=u64, log_term=u64,
    entries=st.lists(entries, max_size=4).map(tuple), commit=u64, reject=st.booleans(),
    reject_hint=u64, seq=u64, snapshot=st.none() | snapshots, force=st.booleans())


@given(entries)
def test_entry_round_trip(e):
    assert wire.decode_entry(wire.encode_entry(e)) == e


@given(st.builds(HardState, u64, st.none() | ids, u64))
def test_hard_state_round_trip(hs):
    assert wire.decode_hard_state(wire.encode_hard_state(hs)) == hs


def test_empty_vote_is_not_no_vote():
    assert wire.decode_hard_state(wire.encode_hard_state(HardState(3, "", 1))).vote == ""
    assert wire.decode_hard_state(wire.encode_hard_state(HardState(3, None, 1))).vote is None


@given(metas)
def test_snapshot_meta_round_trip(m):
    assert wire.decode_snapshot_meta(wire.encode_snapshot_meta(m)) == m


@given(messages, ids)
def test_message_round_trip(m, group):
    p = wire.message_to_pb(m, group)
    from trireme_pb import raft_pb2
    got_group, got = wire.message_from_pb(raft_pb2.Message.FromString(p.SerializeToString()))
    assert got_group == group and got == m
    assert type(got.type) is MsgType and all(type(e.kind) is EntryKind for e in got.entries)


def test_unknown_message_type_or_entry_kind_is_refused():
    from trireme_pb import raft_pb2
    with pytest.raises(ValueError):
        wire.message_from_pb(raft_pb2.Message(type=99))
    with pytest.raises(ValueError):
        wire.entry_from_pb(raft_pb2.Entry(kind=7))


def _old_message_class():
    """raft.proto's Message as main wrote it (`repeated Entry entries = 8`), in
    a pool of its own: what a node of the previous release sends and reads."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from trireme_pb import raft_pb2
    fd = descriptor_pb2.FileDescriptorProto()
    raft_pb2.DESCRIPTOR.CopyToProto(fd)
    fd.name, fd.package = "old_raft.proto", "old_raft"
    for m in fd.message_type:
        for f in m.field:
            if f.type_name:
                f.type_name = f.type_name.replace(".trireme.raft.", ".old_raft.")
            if m.name == "Message" and f.number == 8:
                f.type, f.type_name = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE, ".old_raft.Entry"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("old_raft.Message"))


@given(messages, ids)
def test_entries_as_bytes_keep_the_wire_format(m, group):
    """Entries travel pre-encoded (`repeated bytes`), on the wire exactly as
    the `repeated Entry` of main: a mixed cluster (a rolling upgrade) reads
    each other's frames."""
    Old = _old_message_class()
    new = wire.message_to_pb(m, group).SerializeToString()
    old = Old.FromString(new)
    assert [(e.term, e.index, e.data, e.kind) for e in old.entries] == [
        (e.term, e.index, e.data, e.kind) for e in m.entries]
    from trireme_pb import raft_pb2
    got_group, got = wire.message_from_pb(raft_pb2.Message.FromString(old.SerializeToString()))
    assert got_group == group and got == m


def test_an_entry_is_encoded_once_and_a_received_one_keeps_its_bytes():
    e = Entry(2, 7, b"put", EntryKind.NORMAL)
    first = wire.encode_entry(e)
    assert wire.encode_entry(e) is first  # the log's copy and each follower's frame share it
    got = wire.decode_entry(first)
    assert got == e and got.wire is first  # stored as received, not encoded again
    m = Message(MsgType.APP, "b", "a", 2, index=6, log_term=2, entries=(e,))
    p = wire.message_to_pb(m, "g")
    assert list(p.entries) == [first]


def test_an_entry_made_from_another_does_not_inherit_its_bytes():
    import dataclasses
    e = wire.decode_entry(wire.encode_entry(Entry(2, 7, b"put")))
    other = dataclasses.replace(e, data=b"delete")
    assert other.wire is None and wire.decode_entry(wire.encode_entry(other)).data == b"delete"
