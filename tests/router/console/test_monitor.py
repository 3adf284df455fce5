"""One poller per router, shared by every viewer (router/console/monitor.py)."""

from __future__ import annotations

import asyncio

import orjson

from cluster.partitions import Cluster
from router.console.monitor import Monitor


def test_viewers_share_one_poller_which_stops_when_the_last_goes():
    async def go() -> None:
        cluster = Cluster(["127.0.0.1:1"], "az1", cluster_id="c")  # no metadata yet: snapshots of nothing
        monitor = Monitor(cluster, "r", interval=0.05)
        looks = 0
        real_look = monitor.look

        async def counted() -> dict:
            nonlocal looks
            looks += 1
            return await real_look()
        monitor.look = counted
        viewers = [monitor.listen() for _ in range(5)]
        for v in viewers:
            assert await v.__anext__() == b"retry: 2000\n\n"
        events = [await v.__anext__() for v in viewers]
        assert all(e.startswith(b"event: state\ndata: ") for e in events)
        assert orjson.loads(events[0].split(b"data: ", 1)[1])["nodes"] == []
        poller = monitor._poller
        for _ in range(3):  # every viewer sees three more looks...
            for v in viewers:
                await v.__anext__()
        assert monitor.viewers == 5 and monitor._poller is poller
        assert looks < 4 + 5  # ...which were made for all of them, not one per viewer (15 and more)
        for v in viewers:
            await v.aclose()
        assert monitor.viewers == 0
        await asyncio.wait_for(poller, 5)  # no viewer: the poller ends
        await monitor.close()
        await cluster.close()
    asyncio.run(go())


def test_the_meta_leaders_splits_and_moves_join_the_timeline_once():
    async def go() -> None:
        cluster = Cluster(["127.0.0.1:1"], "az1", cluster_id="c")
        monitor = Monitor(cluster, "r")
        monitor._controller_events([[1.0, "split t1.p0 at 80"]])
        monitor._controller_events([[1.0, "split t1.p0 at 80"]])
        monitor._controller_events([])  # no meta leader answered: nothing forgotten, nothing new
        monitor._controller_events([[1.0, "split t1.p0 at 80"], [2.0, "moved t1.p1 from n1 to n4"]])
        assert [e["text"] for e in monitor.page()["timeline"]] == ["moved t1.p1 from n1 to n4", "split t1.p0 at 80"]
        await cluster.close()
    asyncio.run(go())
