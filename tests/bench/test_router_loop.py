"""bench/router_loop.py: YCSB requests over real sockets through the router's
handler to a stand-in node on a real Data stream, each answered."""

from __future__ import annotations

import asyncio

from bench import router_loop
from router.main import event_loop


def test_every_request_reaches_the_node_and_is_answered():
    with asyncio.Runner(loop_factory=event_loop()) as runner:
        cpu, client, metrics = runner.run(router_loop.run("A", 200, 8))
    assert cpu > 0
    assert sum(s.ok.count for s in metrics.series.values()) == 200
    assert not any(s.failed.count for s in metrics.series.values())
    assert client.requests == 200 and 1 <= client.messages <= 200  # each went to the node once
