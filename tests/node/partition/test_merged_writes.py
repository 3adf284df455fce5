"""Plain item writes proposed in one engine turn share one Raft entry
(node/groups/merge.py, PartitionReplica.combine), each applied and answered
as if alone: on a real one-node partition (engine, Raft group, storage)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from ddb.errors import ServiceUnavailable
from node.groups.replica import Rejected, UnknownOutcome
from node.partition import streams
from tests.node.partition.test_split import CONFIG, key_and_hash, leading, median_hash, put, start, stop
from tests.node.partition.test_versions import (GROUP, PKL, LOCAL, enable_stream, key_of, local_entries, put_req,
                                                run, value_of)
from trireme_pb import node_pb2

Req = node_pb2.DataRequest


def delete_req(sk: str) -> node_pb2.DataRequest:
    return Req(op=Req.DELETE, key=key_of(sk), partition_key_length=PKL, local_indexes=LOCAL)


def test_writes_of_one_turn_share_an_entry_and_apply_in_order(tmp_path):
    async def test(replica):
        await enable_stream(replica)
        await replica.write(put_req("b", 1))
        last = replica.raft.log.last_index()
        # Queued before the engine's next turn: a put, the same item again, a
        # delete, and another item (each evaluated on the ones before it).
        futs = [replica.write(put_req("a", 1)), replica.write(put_req("a", 2)), replica.write(delete_req("b")),
                replica.write(put_req("c", 3))]
        answers = await asyncio.gather(*futs)
        assert [a.status for a in answers] == [node_pb2.OK] * 4
        assert replica.raft.log.last_index() == last + 1  # one entry for the four
        assert value_of(replica, "a")["v"] == {"N": "2"} and value_of(replica, "b") is None
        assert value_of(replica, "c")["v"] == {"N": "3"}
        assert sorted(e["lsk"]["S"] for e in local_entries(replica)) == ["l2", "l3"]
        stream = streams.find(replica.config, "L")
        recs = streams.read(replica.engine.storage, GROUP, stream, (0, 0), 100, 1 << 20).records
        E = node_pb2.StreamRecord
        assert [r.event for r in recs] == [E.INSERT, E.INSERT, E.MODIFY, E.REMOVE, E.INSERT]
        assert [(r.position.index, r.position.offset) for r in recs[1:]] == [(last + 1, i) for i in range(4)]
        assert orjson.loads(recs[2].old_image)["v"] == {"N": "1"}
    run(tmp_path, test)


def test_a_merged_entry_whose_outcome_is_unknown_fails_every_write(tmp_path):
    async def test(replica):
        futs = [replica.write(put_req(sk, 1)) for sk in "xyz"]
        replica.feed(0.0)  # proposed now, as the engine's turn would (no await: the turn waits)
        assert len(replica._proposals) == 1  # noqa: SLF001 (one entry for the three)
        replica.close("stopping")
        for fut in futs:
            with pytest.raises(UnknownOutcome):
                await fut
    run(tmp_path, test)


def test_a_split_applied_first_refuses_only_the_writes_it_moved(tmp_path):
    async def go():
        storage, engine = await start(tmp_path)
        try:
            parent = engine.create(GROUP, CONFIG, ["n1"])
            await leading(parent)
            for i in range(20):
                await parent.write(put(f"p{i}", i))
            mid = median_hash(storage, *parent.data_range(), 0)
            left = [f"q{i}" for i in range(40) if key_and_hash(f"q{i}")[1] < mid][:2]
            right = [f"q{i}" for i in range(40) if key_and_hash(f"q{i}")[1] >= mid][:2]
            # The split is proposed first, the writes behind it in the same turn:
            # they were checked before the split applied, and share one entry.
            split = parent.propose_split(mid)
            names = [left[0], right[0], left[1], right[1]]
            futs = [parent.write(put(pk, 1)) for pk in names]
            last = parent.raft.log.last_index()
            results = await asyncio.gather(split, *futs, return_exceptions=True)
            assert parent.raft.log.last_index() == last + 2  # the split and one entry of writes
            assert results[0]["mid"] == mid
            moved = [r for r in results[1:] if isinstance(r, Rejected)]
            assert [isinstance(r, Rejected) for r in results[1:]] == [False, True, False, True]
            assert all(r.status == "WRONG_GROUP" for r in moved)
            stored = {orjson.loads(v)["pk"]["S"] for _, v in parent.read_raw()}
            assert set(left) <= stored and not set(right) & stored
            child = engine.replicas[results[0]["child"]]
            assert not set(right) & {orjson.loads(v)["pk"]["S"] for _, v in child.read_raw()}
        finally:
            await stop(storage, engine)
    asyncio.run(go())


def test_frozen_refuses_every_write_of_a_merged_entry(tmp_path):
    async def test(replica):
        freeze = replica.propose(node_pb2.WriteCommand(freeze=True).SerializeToString())
        futs = [replica.write(put_req(sk, 1)) for sk in "xy"]
        await freeze
        for fut in futs:
            with pytest.raises(ServiceUnavailable):
                await fut
        assert value_of(replica, "x") is None and value_of(replica, "y") is None
    run(tmp_path, test)
