"""Streamed snapshots without sockets: chunking, windows, acknowledgements, restarts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from node.raft.messages import ConfState, Message, MsgType, SnapshotMeta
from node.groups.snapshots import CHUNK_BYTES, FAMILIES, WINDOW, Streams, decode_records, encode_records

META = SnapshotMeta(42, 3, ConfState(("a", "b", "c")))
records = st.lists(st.tuples(st.sampled_from(FAMILIES), st.binary(max_size=40), st.binary(max_size=3000)),
                   max_size=300)


@given(records)
def test_chunks_decode_to_the_records_in_order(recs):
    chunks = list(encode_records(recs))
    assert [r for c in chunks for r in decode_records(c)] == recs
    assert all(len(c) < CHUNK_BYTES + 4000 for c in chunks)


def transfer(sender: Streams, receiver: Streams, drop: set[int] = frozenset()) -> int:
    """Run one stream a -> b to its end (or until it is dropped); returns messages sent."""
    stream = sender.out["b"]
    inflight = stream.next_messages("b", "a", 1)
    sent = 0
    while inflight:
        m = inflight.pop(0)
        sent += 1
        assert m.seq - stream.acked < WINDOW
        if m.seq in drop:
            drop = drop - {m.seq}
            continue
        ack, _ = receiver.on_chunk(m)
        more = sender.on_ack(ack)
        if more is not None:
            inflight += more.next_messages("b", "a", 1)
    return sent


def test_stream_delivers_every_chunk_within_the_window_and_stages_it():
    recs = [("data", b"k%05d" % i, b"v" * 1000) for i in range(3000)]
    a, b = Streams(), Streams()
    a.start("b", META, recs)
    n = len(a.out["b"].chunks)
    assert n > WINDOW
    assert transfer(a, b) == n
    assert a.out["b"].done()  # kept until it expires: a late probe starts no second stream
    meta, chunks = b.staged
    assert meta == META and [r for c in chunks for r in decode_records(c)] == recs


def test_a_lost_chunk_drops_the_stream_and_a_fresh_one_starts_over():
    recs = [("data", b"k%05d" % i, b"v" * 1000) for i in range(3000)]
    a, b = Streams(), Streams()
    a.start("b", META, recs)
    transfer(a, b, drop={2})
    assert "b" not in a.out and b.staged is None  # chunk 3 came out of order: rejected
    a.start("b", META, recs)
    transfer(a, b)
    assert b.staged is not None and b.staged[0] == META


def test_acks_of_an_old_stream_are_ignored():
    a = Streams()
    a.start("b", META, [("data", b"k", b"v")])
    old = Message(MsgType.SNAP_ACK, "a", "b", 1, index=a.out["b"].stream + 1, seq=0)
    assert a.on_ack(old) is None and "b" in a.out


def test_a_stalled_stream_expires():
    a = Streams()
    s = a.start("b", META, [("data", b"k", b"v")])
    a.expire(s.last_ack + 1)
    assert "b" in a.out
    a.expire(s.last_ack + 60)
    assert "b" not in a.out
