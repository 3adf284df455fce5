"""A peer connection that ends is reported (node.net.peers.Transport.on_lost):
a follower of a node whose process died learns it at once, not from missed
heartbeats (node.raft.core.Raft.peer_lost)."""

from __future__ import annotations

import asyncio

from node.net.peers import Transport
from node.raft.messages import Message, MsgType
from tests.node.net.support import serve_to, until


async def _transport(node_id: str, got: list, lost: list) -> Transport:
    t = Transport(node_id, lambda _: "somewhere", lambda group, m: got.append((group, m)))
    t.cluster_id = "c1"
    t.on_lost = lost.append
    return t


def test_a_peer_whose_connection_ends_is_reported_and_a_closing_transport_reports_nothing():
    async def run() -> None:
        a_got, a_lost, b_got, b_lost = [], [], [], []
        a, b = await _transport("a", a_got, a_lost), await _transport("b", b_got, b_lost)
        await serve_to(b, a)
        try:
            a.send("g1", [Message(MsgType.HEARTBEAT, to="b", frm="a", term=2)])
            assert await until(lambda: b_got, 5.0)
            assert b_lost == []
            await a.close()  # as a's process dying closes its sockets
            assert await until(lambda: b_lost, 2.0), "b did not notice a's connection end"
            assert b_lost == ["a"] and a_lost == []
        finally:
            await a.close()
            await b.close()
    asyncio.run(run())
