"""Frames leave from the turn that made them (node.net.peers.Transport.flush):
on an open connection without faults, no peer task wakes per message; with
faults injected, the task's path (delays, losses) takes them again."""

from __future__ import annotations

import asyncio

from node.net.peers import Transport
from node.raft.messages import Entry, Message, MsgType
from tests.node.net.support import serve_to, until


def _app(seq: int) -> Message:
    return Message(MsgType.APP, to="b", frm="a", term=2, index=seq, log_term=2, commit=seq,
                   entries=(Entry(2, seq + 1, b"x%d" % seq),), quiet=seq % 2 == 0)


def test_an_open_connection_is_written_from_flush_in_order_and_faults_go_through_the_task():
    async def run() -> None:
        got: list[Message] = []
        a = Transport("a", lambda _: "somewhere", lambda group, m: None)
        b = Transport("b", lambda _: "somewhere", lambda group, m: got.append(m))
        a.cluster_id = b.cluster_id = "c1"
        await serve_to(b, a)
        try:
            a.send("g1", [_app(0)])
            assert await until(lambda: len(got) == 1, 5.0)
            peer = a._peers["b"]  # noqa: SLF001
            assert await until(lambda: peer.direct is not None, 5.0)
            for seq in range(1, 40):
                a.send("g1", [_app(seq)])
                a.flush()
                assert not peer.ready.is_set() and not peer.queue  # written now, the task not woken
            assert await until(lambda: len(got) == 40, 5.0)
            assert [m.index for m in got] == list(range(40))  # in order, fields intact
            assert got[5].entries == (Entry(2, 6, b"x5"),) and got[4].quiet and not got[5].quiet
            a.faults.delay_ms = 50  # an injected delay: the task sleeps it, flush must not bypass it
            a.send("g1", [_app(40)])
            a.flush()
            assert peer.ready.is_set() and len(peer.queue) == 1  # left to the task
            assert await until(lambda: len(got) == 41, 5.0)
        finally:
            await a.close()
            await b.close()
    asyncio.run(run())


def test_a_frame_put_together_from_encoded_messages_is_the_protobuf_frame():
    """batch_frame joins messages encoded at `send`: byte for byte the frame of
    the RaftFrame holding them (lengths of one, two and three varint bytes)."""
    from cluster.frames import frame
    from node.net.peers import batch_frame
    from trireme_pb import node_pb2, raft_pb2
    for sizes in ([], [0], [5, 200], [100, 20_000, 3]):
        msgs = [raft_pb2.Message(group="t1.p0", term=3, entries=[b"e" * n] if n else []) for n in sizes]
        want = frame(node_pb2.RaftFrame(batch=raft_pb2.MessageBatch(messages=msgs)))
        got = batch_frame([m.SerializeToString() for m in msgs])
        assert got == want
