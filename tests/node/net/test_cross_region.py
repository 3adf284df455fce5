"""Raft peers in other regions: qualified member ids go through the real
cross-region link's peer port (a header names the node), with its latency
and cuts; the other regions' clusters are admitted, strangers refused."""

from __future__ import annotations

import asyncio
import time

import pytest

from cluster.regions import parse_peer_header, peer_header, split_qualified
from deploy.link import Link, Pair
from deploy.local import free_port
from node.net.peers import Transport
from node.raft.messages import Message, MsgType
from tests.node.net.support import until


def test_the_peer_header_names_the_node():
    head = peer_header("n2")
    assert parse_peer_header(head + b"Rrest") == ("n2", len(head))
    assert parse_peer_header(head[:2]) is None
    with pytest.raises(ValueError):
        parse_peer_header(b"POST / HTTP/1.1")
    assert split_qualified("eu-west-1/n2") == ("eu-west-1", "n2")
    assert split_qualified("n2") == (None, "n2")


async def _node(node_id: str, region: str, cluster: str, peers: dict[str, str], admit: list[str]):
    got: list[tuple[str, Message]] = []
    t = Transport(node_id, lambda _: None, lambda group, m: got.append((group, m)))
    t.cluster_id, t.region, t.remote_peers, t.peer_clusters = cluster, region, peers, frozenset(admit)
    port = free_port()
    await t.bind("127.0.0.1", port)
    await t.serve()
    return t, port, got


def _hb(to: str, frm: str, term: int) -> Message:
    return Message(MsgType.HEARTBEAT, to=to, frm=frm, term=term)


def test_messages_reach_another_regions_node_through_the_link():
    async def run() -> None:
        link_port, back_port = free_port(), free_port()
        us, _, us_got = await _node("n1", "us-east-1", "c-us", {"eu-west-1": f"127.0.0.1:{link_port}"}, ["c-eu"])
        eu, eu_port, eu_got = await _node("n2", "eu-west-1", "c-eu", {"us-east-1": f"127.0.0.1:{back_port}"},
                                          ["c-us"])
        stranger, _, _ = await _node("n1", "us-east-1", "c-other", {"eu-west-1": f"127.0.0.1:{link_port}"}, [])
        pairs = [Pair("us-east-1", "eu-west-1", free_port(), "127.0.0.1:1", 40.0, peer_port=link_port,
                      peers={"n2": f"127.0.0.1:{eu_port}"}),
                 Pair("eu-west-1", "us-east-1", free_port(), "127.0.0.1:1", 40.0, peer_port=back_port, peers={})]
        link = Link(pairs, f"127.0.0.1:{free_port()}")
        await link.start()
        try:
            sent = time.monotonic()
            us.send("g1", [_hb("eu-west-1/n2", "us-east-1/n1", 1)])
            assert await until(lambda: eu_got, 5.0)
            assert time.monotonic() - sent >= 0.04  # one way through the link at least
            group, m = eu_got[0]
            assert (group, m.to, m.frm, m.term) == ("g1", "eu-west-1/n2", "us-east-1/n1", 1)

            stranger.send("g1", [_hb("eu-west-1/n2", "us-east-1/n1", 9)])
            await asyncio.sleep(0.5)
            assert [m.term for _, m in eu_got] == [1]  # another cluster is refused

            link.state.apply({"op": "cut", "regions": ["us-east-1", "eu-west-1"]})
            us.send("g1", [_hb("eu-west-1/n2", "us-east-1/n1", 2)])
            await asyncio.sleep(0.4)
            assert [m.term for _, m in eu_got] == [1]  # a cut carries nothing
            link.state.apply({"op": "heal"})
            assert await until(lambda: [m.term for _, m in eu_got] == [1, 2], 5.0)
        finally:
            for t in (us, eu, stranger):
                await t.close()
            await link.close()

    asyncio.run(run())


def test_an_unknown_node_behind_the_link_gets_no_connection():
    async def run() -> None:
        link_port = free_port()
        us, _, _ = await _node("n1", "us-east-1", "c-us", {"eu-west-1": f"127.0.0.1:{link_port}"}, ["c-eu"])
        eu, eu_port, eu_got = await _node("n2", "eu-west-1", "c-eu", {}, ["c-us"])
        link = Link([Pair("us-east-1", "eu-west-1", free_port(), "127.0.0.1:1", 0.0, peer_port=link_port,
                          peers={"n2": f"127.0.0.1:{eu_port}"})], f"127.0.0.1:{free_port()}")
        await link.start()
        try:
            us.send("g1", [_hb("eu-west-1/n7", "us-east-1/n1", 1)])
            await asyncio.sleep(0.5)
            assert not eu_got
            us.send("g1", [_hb("eu-west-1/n2", "us-east-1/n1", 3)])
            assert await until(lambda: eu_got, 5.0)
        finally:
            for t in (us, eu):
                await t.close()
            await link.close()

    asyncio.run(run())
