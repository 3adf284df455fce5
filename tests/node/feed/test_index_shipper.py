"""The index shipper's trim entries on a real one-node partition (engine,
Raft group, storage; no sockets): one trim entry in flight per partition,
trims asked for meanwhile folded into one that goes when it ends, covering
the newest acknowledged record."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson

from node.feed.index_shipper import IndexShipper
from tests.node.partition.test_index_hand_off import CONFIG, GROUP, INDEX, applied_in_order, outbox
from tests.node.partition.test_split import leading, put, start, stop
from trireme_pb import node_pb2


def test_trims_asked_for_while_one_is_in_flight_go_as_one(tmp_path):
    async def go():
        storage, engine = await start(tmp_path)
        try:
            replica = engine.create(GROUP, CONFIG, ["n1"])
            await leading(replica)
            engine.index_creating = lambda table: False
            shipper = IndexShipper("a", "c", engine, storage, SimpleNamespace(view=None))  # type: ignore[arg-type]
            engine.outbox_filled = lambda group: None  # (no driver runs: the test trims by hand)
            await replica.propose(node_pb2.WriteCommand(
                config=orjson.dumps([{**INDEX, "backfill": False}])).SerializeToString())
            for i in range(4):
                await replica.write(put(f"k{i}", i))
            records = outbox(storage)
            assert len(records) == 4
            before = replica.applied
            shipper._trim(replica, records[0])
            shipper._trim(replica, records[1])  # the first still in flight: these wait ...
            shipper._trim(replica, records[2])
            deadline = asyncio.get_running_loop().time() + 10
            while outbox(storage) != records[3:]:
                assert asyncio.get_running_loop().time() < deadline, outbox(storage)
                await asyncio.sleep(0.01)
            await applied_in_order(replica)
            assert replica.applied - before == 3  # ... and go as one trim entry (and the flush's own)
            assert outbox(storage) == records[3:]
        finally:
            await stop(storage, engine)
    asyncio.run(go())
