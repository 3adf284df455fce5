"""Streamed snapshots without sockets: chunking, windows, acknowledgements, restarts."""

from __future__ import annotations

import asyncio
import threading

from hypothesis import given
from hypothesis import strategies as st

from node.raft.messages import ConfState, Message, MsgType, SnapshotMeta
from node.groups.snapshots import CHUNK_BYTES, FAMILIES, HELD, WINDOW, Streams, decode_records, encode_records, pump
from node.storage import DATA, Storage

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
    stream.fill()
    inflight = stream.next_messages("b", "a", 1)
    sent = 0
    while inflight:
        m = inflight.pop(0)
        sent += 1
        assert m.seq - stream.acked < WINDOW and stream.read - stream.acked <= HELD
        if m.seq in drop:
            drop = drop - {m.seq}
            continue
        ack, _ = receiver.on_chunk(m)
        more = sender.on_ack(ack)
        if more is not None:
            more.fill()
            inflight += more.next_messages("b", "a", 1)
    return sent


def test_stream_delivers_every_chunk_within_the_window_and_stages_it():
    recs = [("data", b"k%05d" % i, b"v" * 1000) for i in range(3000)]
    a, b = Streams(), Streams()
    a.start("b", META, recs)
    n = len(list(encode_records(recs)))
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


def test_chunks_are_read_only_as_the_window_opens():
    """A leader holds at most HELD chunks of a stream (plus the one read
    ahead to know the last), however large the state."""
    taken = [0]

    def records():
        for i in range(20_000):  # ~80 chunks
            taken[0] += 1
            yield "data", b"k%06d" % i, b"v" * 1000
    per_chunk = CHUNK_BYTES // 1000 + 1
    a, b = Streams(), Streams()
    s = a.start("b", META, records())
    assert taken[0] == 0
    s.fill()
    msgs = s.next_messages("b", "a", 1)
    s.fill()
    assert len(msgs) == WINDOW and s.read == HELD and len(s.pending) == HELD - WINDOW
    assert taken[0] <= (HELD + 2) * per_chunk
    for m in msgs[:2]:
        a.on_ack(b.on_chunk(m)[0])
    s.fill()
    assert s.read == HELD + 2 and taken[0] <= (HELD + 4) * per_chunk
    msgs = msgs[2:] + s.next_messages("b", "a", 1)
    while msgs:
        more = a.on_ack(b.on_chunk(msgs.pop(0))[0])
        if more is not None:
            more.fill()
            msgs += more.next_messages("b", "a", 1)
        assert s.read - s.acked <= HELD
    assert s.done() and taken[0] == 20_000
    assert sum(1 for c in b.staged[1] for _ in decode_records(c)) == 20_000


def test_the_pump_reads_in_a_worker_thread_while_the_loop_runs(tmp_path):
    """The engine's reader: chunks come from storage off the loop, at the
    state the stream was opened at, as acknowledgements open the window."""
    storage = Storage.open(tmp_path / "db")
    try:
        batch = storage.batch()
        for i in range(3000):
            batch.put(DATA, b"k%05d" % i, b"v" * 1000)
        storage.write(batch)
        threads = set()

        def records(scan):
            for key, value in scan:
                threads.add(threading.get_ident())
                yield DATA, key, value

        async def run() -> int:
            a, b = Streams(), Streams()
            s = a.start("b", META, records(storage.iter_range_fixed(DATA, b"k", b"l")))
            storage.delete_item(b"k00000")  # after the stream opened: not in it
            ticks = 0
            held = []

            def send() -> None:
                held.append(s.read - s.acked)
                for m in s.next_messages("b", "a", 1):
                    asyncio.get_running_loop().call_soon(lambda m=m: a.on_ack(b.on_chunk(m)[0]))

            task = asyncio.create_task(pump(s, send, lambda: True))
            while not s.done():
                ticks += 1
                await asyncio.sleep(0)
            await task
            assert max(held) <= HELD
            assert [k for c in b.staged[1] for _, k, _ in decode_records(c)][:1] == [b"k00000"]
            return ticks

        assert asyncio.run(run()) > 0
        assert threading.get_ident() not in threads and threads
    finally:
        storage.close()
