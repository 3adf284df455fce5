"""Storage nodes as real processes, driven through the router's cluster client
(no HTTP): replication to three AZs, leader failover, restart recovery."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from cluster.keys import item_key
from cluster.partitions import Cluster
from deploy.local import LocalCluster
from tests.integration.admin import leader_of, meta, raw_items
from trireme_pb import node_pb2


@pytest.fixture
def nodes(tmp_path):
    c = LocalCluster(tmp_path / "data", router_port=0, node_base_port=0, routers=0, partitions_per_table=2)
    c.plan()
    try:
        c.start(wait_s=60)
        yield c
    finally:
        c.stop()


def seeds(c: LocalCluster) -> list[str]:
    return [c.procs[n].addr for n in c.node_ids()]


async def _with_cluster(c: LocalCluster, fn, deadline_s: float = 10.0):
    cl = Cluster(seeds(c), "us-east-1a", deadline_s=deadline_s, cluster_id=c.cluster_id)
    cl.start()
    try:
        assert await cl.ready(10)
        return await fn(cl)
    finally:
        await cl.close()


async def _create(cl: Cluster, name: str) -> int:
    await cl.meta("create_table", {"name": name, "spec": {"TableName": name}})
    assert await cl.wait_for(lambda s: name in s.tables and s.tables[name].status == "ACTIVE", 15)
    return cl.state.tables[name].id


def _key(table_id: int, i: int) -> tuple[int, bytes]:
    h = (i * 0x9E3779B97F4A7C15) % (1 << 64)
    return h, item_key(table_id, h, f"k{i}".encode())


async def _put(cl: Cluster, name: str, table_id: int, i: int) -> None:
    h, key = _key(table_id, i)
    r = await cl.send(name, h, node_pb2.DataRequest(op="PUT", key=key, item=orjson.dumps({"v": {"N": str(i)}})),
                      to_leader=True)
    assert r.status == node_pb2.OK


async def _get(cl: Cluster, name: str, table_id: int, i: int) -> dict | None:
    h, key = _key(table_id, i)
    r = await cl.send(name, h, node_pb2.DataRequest(op="GET", key=key, consistent=True), to_leader=True)
    return orjson.loads(r.item) if r.item else None


def test_every_partition_has_three_replicas_in_three_azs_holding_each_write(nodes):
    async def go(cl):
        tid = await _create(cl, "t")
        await asyncio.gather(*(_put(cl, "t", tid, i) for i in range(300)))
        return tid

    asyncio.run(_with_cluster(nodes, go))
    m = meta(nodes)
    azs = {n["id"]: n["az"] for n in m["nodes"].values()}
    parts = [p for p in m["partitions"].values() if p["id"] != "meta"]
    assert len(parts) == 2
    total = 0
    for p in parts:
        assert len({azs[v] for v in p["voters"]}) == 3
        # Followers apply a moment after the leader answers.
        deadline = time.monotonic() + 10
        while True:
            copies = [raw_items(nodes, v, p["id"]) for v in p["voters"]]
            if all(c == copies[0] for c in copies) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert all(c == copies[0] for c in copies)
        total += len(copies[0])
    assert total == 300


def test_leader_kill_loses_no_acknowledged_write_and_a_new_leader_serves(nodes):
    async def go(cl):
        tid = await _create(cl, "t")
        await _put(cl, "t", tid, 0)
        victim = await asyncio.to_thread(leader_of, nodes, cl.state.tables["t"].partitions[0])
        acked: list[int] = []
        stop = asyncio.Event()

        async def writer(w: int) -> None:
            i = w
            while not stop.is_set():
                try:
                    await _put(cl, "t", tid, i)
                    acked.append(i)
                except Exception:  # noqa: BLE001 (unacknowledged writes may fail)
                    pass
                i += 8

        tasks = [asyncio.create_task(writer(w)) for w in range(1, 9)]
        while len(acked) < 200:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(nodes.kill, victim)
        killed_at = len(acked)
        t0 = time.monotonic()
        while len(acked) < killed_at + 300 and time.monotonic() - t0 < 20:
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.gather(*tasks)
        assert len(acked) >= killed_at + 300, "writes did not resume after the leader was killed"
        missing = [i for i in acked if await _get(cl, "t", tid, i) is None]
        assert missing == []
        return victim

    victim = asyncio.run(_with_cluster(nodes, go))
    nodes.start_proc(victim)

    async def after(cl):
        tid = cl.state.tables["t"].id
        assert await _get(cl, "t", tid, 0) == {"v": {"N": "0"}}

    asyncio.run(_with_cluster(nodes, after))
