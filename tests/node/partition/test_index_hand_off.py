"""The hand-off from a new global index's backfill to ACTIVE, on a real
one-node engine (Raft group, storage; no sockets): once this partition has
backfilled an index that is still CREATING, a write is answered only when the
outbox is shipped up to it (a shipment acknowledged, or a trim entry applied),
so no write answered before the index turns ACTIVE is missing from it
(node/partition/index_writes.py ``hold_for_index``). The backfill's report
waits only for its last chunk's changes; a write applied just after it was
answered at once and could still be in the outbox when the index was ACTIVE."""

from __future__ import annotations

import asyncio

import orjson

from node.partition import global_indexes as gsi
from node.storage import STREAMS
from tests.node.partition.test_split import put, leading, start, stop
from trireme_pb import node_pb2

GROUP = "t1.p0"
CONFIG = {"kind": "partition", "table_id": 1, "lo": 0, "hi": 2**64 - 1}
HIDDEN = "t#by_v"
INDEX = gsi.config_entry(HIDDEN, 7, {
    "AttributeDefinitions": [{"AttributeName": "v", "AttributeType": "N"}],
    "KeySchema": [{"AttributeName": "v", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}},
    backfill=True)


def outbox(storage) -> list[int]:
    return [gsi.outbox_index(k) for k, _ in storage.iter_range(STREAMS, *gsi.outbox_bounds(GROUP))]


async def applied_in_order(replica) -> None:
    """Every earlier proposal has applied and its answer's callbacks ran: a
    later entry's answer comes after theirs."""
    await replica.propose(node_pb2.WriteCommand().SerializeToString())
    await asyncio.sleep(0)


async def backfilled(replica) -> None:
    """Configure the index and backfill it (one chunk: the partition is small)."""
    await replica.propose(node_pb2.WriteCommand(config=orjson.dumps([INDEX])).SerializeToString())
    await replica.write(put("before", 1))
    done = await replica.propose(node_pb2.WriteCommand(backfill=node_pb2.GsiBackfill(
        index=HIDDEN, limit=100)).SerializeToString())
    assert done == {"done": True}
    conf = replica.config["gsi"][0]
    assert conf["backfill"] is False and conf["done_at"] > 0


def test_a_write_after_the_backfill_is_answered_once_shipped_while_the_index_is_creating(tmp_path):
    async def go():
        storage, engine = await start(tmp_path)
        try:
            replica = engine.create(GROUP, CONFIG, ["n1"])
            await leading(replica)
            creating = {HIDDEN}
            engine.index_creating = lambda table: table in creating
            await backfilled(replica)
            replica.note_shipped(replica.applied)  # (the shipper shipped the backfill, then reported it)

            held = replica.write(put("during", 2))
            await applied_in_order(replica)
            assert not held.done()  # applied, its index change still in the outbox
            at = outbox(storage)[-1]
            replica.note_shipped(at - 1)
            await asyncio.sleep(0)
            assert not held.done()
            replica.note_shipped(at)  # its index partition acknowledged it
            assert (await held).ByteSize() >= 0

            # A trim entry (this or a later leader shipped it) releases as well.
            held = replica.write(put("during2", 3))
            await applied_in_order(replica)
            assert not held.done()
            await replica.propose(node_pb2.WriteCommand(trim_outbox=replica.applied).SerializeToString())
            await held
            assert outbox(storage) == []

            # Once the index is ACTIVE, writes are answered as they apply.
            creating.clear()
            answered = replica.write(put("after", 4))
            await applied_in_order(replica)
            assert answered.done()
        finally:
            await stop(storage, engine)

    asyncio.run(go())


def test_writes_while_backfilling_or_with_nothing_to_ship_are_not_held(tmp_path):
    async def go():
        storage, engine = await start(tmp_path)
        try:
            replica = engine.create(GROUP, CONFIG, ["n1"])
            await leading(replica)
            engine.index_creating = lambda table: True
            await replica.propose(node_pb2.WriteCommand(config=orjson.dumps([INDEX])).SerializeToString())
            # Backfilling: the backfill's report waits for this write's changes (it precedes the last chunk).
            answered = replica.write(put("early", 1))
            await applied_in_order(replica)
            assert answered.done()
            await replica.propose(node_pb2.WriteCommand(backfill=node_pb2.GsiBackfill(
                index=HIDDEN, limit=100)).SerializeToString())
            await replica.propose(node_pb2.WriteCommand(trim_outbox=replica.applied).SerializeToString())
            # Backfilled, the outbox empty: a write that leaves no index change has nothing to wait for.
            item = put("no_v", 0)
            item.item = orjson.dumps({"pk": {"S": "no_v"}, "sk": {"S": "s"}})
            answered = replica.write(item)
            await applied_in_order(replica)
            assert answered.done()
        finally:
            await stop(storage, engine)

    asyncio.run(go())


def test_a_held_answer_ends_as_outcome_unknown_when_the_replica_closes(tmp_path):
    async def go():
        storage, engine = await start(tmp_path)
        try:
            replica = engine.create(GROUP, CONFIG, ["n1"])
            await leading(replica)
            engine.index_creating = lambda table: True
            await backfilled(replica)
            held = replica.write(put("during", 2))
            await applied_in_order(replica)
            assert not held.done()
            engine.destroy(GROUP)
            try:
                await held
            except Exception as exc:  # noqa: BLE001
                assert type(exc).__name__ == "UnknownOutcome", exc
            else:
                raise AssertionError("a held answer outlived its replica")
        finally:
            await stop(storage, engine)

    asyncio.run(go())
