"""Trigger checkpoints on a real one-node partition (engine, Raft group,
storage; no sockets): proposed through the log, never moved back, kept over
a restart and carried by snapshots."""

from __future__ import annotations

import asyncio
import time

import orjson

from cluster.meta import LAST_HASH
from node.groups.engine import Engine
from node.partition.replica import PartitionReplica
from node.storage import META, Storage
from trireme_pb import node_pb2

GROUP = "t1.p0"


def checkpoint(mapping: str, index: int, offset: int) -> bytes:
    return node_pb2.WriteCommand(checkpoint=node_pb2.TriggerCheckpoint(mapping=mapping, index=index,
                                                                       offset=offset)).SerializeToString()


async def leading(tmp_path, create: bool) -> tuple[Storage, Engine, PartitionReplica]:
    storage = Storage.open(tmp_path / "db")
    engine = Engine("n1", storage, lambda node_id: None)
    engine.factories = {"partition": PartitionReplica}
    if create:
        engine.create(GROUP, {"kind": "partition", "table_id": 1, "lo": 0, "hi": LAST_HASH}, ["n1"])
    else:
        engine.recover()
    engine.start()
    replica = engine.replicas[GROUP]
    deadline = time.monotonic() + 20
    while not (replica.raft.role.name == "LEADER" and replica.writable()):
        assert time.monotonic() < deadline, "the one-node group elected no leader"
        await asyncio.sleep(0.02)
    return storage, engine, replica


def test_checkpoints_go_through_the_log_never_back_and_survive_restarts_and_snapshots(tmp_path):
    async def go():
        storage, engine, replica = await leading(tmp_path, create=True)
        try:
            assert replica.checkpoint("m1") is None
            await replica.propose(checkpoint("m1", 12, 3))
            await replica.propose(checkpoint("m1", 12, 1))  # a deposed poller's late, older checkpoint
            await replica.propose(checkpoint("m2", 5, 0))
            assert (replica.checkpoint("m1"), replica.checkpoint("m2")) == ((12, 3), (5, 0))
            assert replica.status()["checkpoints"] == {"m1": 12, "m2": 5}  # Admin `replicas` (the console)
            _, records = replica.snapshot_state()
            config = next(orjson.loads(v) for cf, k, v in records if cf == META)
            assert config["checkpoints"] == {"m1": [12, 3], "m2": [5, 0]}
        finally:
            await engine.stop()
            storage.close()
        storage, engine, replica = await leading(tmp_path, create=False)
        try:
            assert replica.checkpoint("m1") == (12, 3)
        finally:
            await engine.stop()
            storage.close()
    asyncio.run(go())
