"""BATCH_WRITE (PartitionReplica.write_batch): a BatchWriteItem's items of one
partition in one request, each evaluated, proposed and answered as if alone,
on a real one-node partition (engine, Raft group, storage)."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from node.groups.replica import Rejected
from node.partition.capacity import Limits
from node.partition.split import key_hash
from node.services.data import _error_response
from tests.node.partition.test_merged_writes import delete_req
from tests.node.partition.test_versions import item, key_of, put_req, run, value_of
from trireme_pb import node_pb2

Req = node_pb2.DataRequest


def _error(exc: BaseException) -> node_pb2.DataResponse:
    return _error_response(0, exc, "")


def batch(*parts: node_pb2.DataRequest) -> node_pb2.DataRequest:
    req = Req(op=Req.BATCH_WRITE)
    req.parts.extend(parts)
    return req


def test_each_part_is_applied_and_answered_in_order_in_one_entry(tmp_path):
    async def test(replica):
        await replica.write(put_req("b", 1))
        last = replica.raft.log.last_index()
        resp = await replica.write_batch(batch(put_req("a", 1), put_req("a", 2), delete_req("b"), put_req("c", 3)),
                                         _error)
        assert [p.status for p in resp.parts] == [node_pb2.OK] * 4
        assert replica.raft.log.last_index() == last + 1  # the four share one entry
        assert value_of(replica, "a")["v"] == {"N": "2"} and value_of(replica, "b") is None
        assert value_of(replica, "c")["v"] == {"N": "3"}
        empty = await replica.write_batch(batch(), _error)
        assert list(empty.parts) == []
    run(tmp_path, test)


def test_a_throttled_part_is_answered_alone_and_the_others_applied(tmp_path):
    async def test(replica):
        # Room for about one small write: the second part finds the bucket empty.
        replica.capacity.configure(Limits(write=1.0, burst_s=1.0), time.monotonic())
        resp = await replica.write_batch(batch(put_req("a", 1), put_req("b", 2)), _error)
        assert resp.parts[0].status == node_pb2.OK
        assert resp.parts[1].status == node_pb2.DDB_ERROR
        assert resp.parts[1].error_type == "ProvisionedThroughputExceededException"
        assert value_of(replica, "a") is not None and value_of(replica, "b") is None
    run(tmp_path, test)


def test_a_part_outside_the_partition_is_refused_alone(tmp_path):
    async def test(replica):
        mine = put_req("a", 1)
        foreign = put_req("x", 1)
        foreign.key = foreign.key[:4] + b"\xff" * 8 + foreign.key[12:]  # the last hash there is
        replica.config = {**replica.config, "hi": key_hash(mine.key)}  # as if it split just past "a"
        resp = await replica.write_batch(batch(mine, foreign), _error)
        assert [p.status for p in resp.parts] == [node_pb2.OK, node_pb2.WRONG_GROUP]
        assert value_of(replica, "a") is not None
    run(tmp_path, test)


def test_not_the_leader_refuses_the_whole_request(tmp_path):
    async def test(replica):
        replica.raft._become_follower(replica.raft.term + 1, None)  # noqa: SLF001 (deposed, as a higher term does)
        with pytest.raises(Rejected) as e:
            replica.write_batch(batch(put_req("a", 1)), _error)
        assert e.value.status == "NOT_LEADER"
        await asyncio.sleep(0)
    run(tmp_path, test)


def test_a_provisioned_tables_put_is_priced_by_the_larger_of_the_item_before_and_after(tmp_path):
    async def test(replica):
        big = Req(op=Req.PUT, key=key_of("a"), item=orjson.dumps({**item("a", 1), "pad": {"S": "x" * 3000}}))
        small = Req(op=Req.PUT, key=key_of("a"), item=orjson.dumps(item("a", 2)))
        replica.capacity.configure(Limits(write=1e6), time.monotonic())
        charged = []
        for req in (big, small, small, big):
            before = replica.capacity.write_units
            await replica.write(req)
            charged.append(replica.capacity.write_units - before)
        # 3 KB and more: three units; over a 3 KB item too; a small one over a small one: one.
        assert charged == [3, 3, 1, 3]
    run(tmp_path, test)
