"""Splitting a partition on a real one-node engine (Raft group, storage; no
sockets): the split point, the SPLIT entry's apply (the parent narrowed, the
child founded over the same storage with its items, local index entries and
transaction locks), writes for the other side refused with WRONG_GROUP at
lead and at apply, and both sides surviving a restart (node/partition/split.py)."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from cluster.keys import hash_range_bounds, item_key, table_bounds, txn_lock_bounds
from cluster.meta import LAST_HASH, TableInfo, split_child_id
from ddb.encoding import encode_key, encode_partition_key, hash64
from node.groups.engine import Engine
from node.groups.replica import Rejected
from node.partition.replica import PartitionReplica
from node.partition.split import (WRONG_GROUP, child_replication, child_stream, median_hash, parent_outbox_pending,
                                  split_command, splittable)
from node.storage import STREAMS, Storage
from tests.node.feed.test_ttl_sweeper import GROUP, LOCAL, SCHEMA
from tests.node.partition.test_versions import PKL
from trireme_pb import node_pb2

Req = node_pb2.DataRequest
CONFIG = {"kind": "partition", "table_id": 1, "lo": 0, "hi": LAST_HASH}


def key_and_hash(pk: str) -> tuple[bytes, int]:
    key = {"pk": {"S": pk}, "sk": {"S": "s"}}
    h = hash64(encode_partition_key(SCHEMA, key))
    return item_key(1, h, encode_key(SCHEMA, key)), h


def put(pk: str, v: int) -> node_pb2.DataRequest:
    item = {"pk": {"S": pk}, "sk": {"S": "s"}, "lsk": {"S": f"l{v}"}, "v": {"N": str(v)}}
    return Req(op=Req.PUT, key=key_and_hash(pk)[0], item=orjson.dumps(item), partition_key_length=PKL,
               local_indexes=LOCAL)


async def leading(replica, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not (replica.is_leader and replica.writable()):
        assert time.monotonic() < deadline, f"{replica.group} elected no leader"
        await asyncio.sleep(0.02)


async def start(path) -> tuple[Storage, Engine]:
    storage = Storage.open(path / "db")
    engine = Engine("n1", storage, lambda node_id: None)
    engine.factories = {"partition": PartitionReplica}
    engine.recover()
    engine.start()
    return storage, engine


async def stop(storage: Storage, engine: Engine) -> None:
    await engine.stop()
    storage.close()


def test_median_hash_halves_the_items_and_needs_two_hashes(tmp_path):
    storage = Storage.open(tmp_path / "db")
    try:
        hashes = []
        for i in range(9):
            key, h = key_and_hash(f"p{i}")
            storage.put_item(key, b"{}")
            hashes.append(h)
        lo, hi = item_key(1, 0, b""), item_key(2, 0, b"")
        assert median_hash(storage, lo, hi, 0) == sorted(hashes)[4]
        assert median_hash(storage, item_key(3, 0, b""), item_key(4, 0, b""), 0) is None  # no items
        low = min(hashes)
        only_lowest = item_key(1, low, b""), item_key(1, low + 1, b"")
        assert median_hash(storage, *only_lowest, low) is None  # one partition key: nothing to divide
    finally:
        storage.close()


def test_a_split_narrows_the_parent_and_founds_the_child_on_the_same_storage(tmp_path):
    async def go():
        storage, engine = await start(tmp_path)
        try:
            parent = engine.create(GROUP, CONFIG, ["n1"])
            opened = []
            engine.split_applied = opened.append  # (the node's control plane records it in the metadata)
            await leading(parent)
            for i in range(20):
                await parent.write(put(f"p{i}", i))
            mid = median_hash(storage, *parent.data_range(), 0)
            keys = {f"p{i}": key_and_hash(f"p{i}") for i in range(20)}
            right = sorted(pk for pk, (_, h) in keys.items() if h >= mid)
            left = sorted(pk for pk, (_, h) in keys.items() if h < mid)
            assert left and right
            # A transaction lock on an item of each side: each side keeps its own.
            for pk, txn in ((left[0], "tl"), (right[0], "tr")):
                prep = put(pk, 100)
                prep.op = Req.TXN_PREPARE
                prep.txn.CopyFrom(node_pb2.TxnRef(id=txn, attempt=1, kind=node_pb2.TxnRef.PUT))
                await parent.prepare(prep)
            split = await parent.propose_split(mid)
            child_id = split_child_id(1, mid)
            child = engine.replicas[child_id]
            assert split == {"child": child_id, "mid": mid, "index": child.config["split_index"], "voters": ["n1"],
                             "learners": []}
            assert parent.config["hi"] == mid - 1
            assert opened == [child]
            assert child.config["lo"] == mid and child.config["hi"] == LAST_HASH
            assert child.config["split_from"] == GROUP and child.raft.log.offset == parent.applied
            await leading(child)
            # Each side reads exactly its items (the same storage, nothing copied).
            assert [orjson.loads(v)["pk"]["S"] for _, v in parent.read_raw()] == sorted(
                left, key=lambda pk: keys[pk][0])
            assert sorted(orjson.loads(v)["pk"]["S"] for _, v in child.read_raw()) == right
            assert set(parent.locks.applied) == {keys[left[0]][0]}
            assert set(child.locks.applied) == {keys[right[0]][0]}
            assert [k for k, _ in storage.iter_range(STREAMS, *txn_lock_bounds(child_id))]
            # The wrong side refuses, reads and writes alike; the right side takes them.
            with pytest.raises(Rejected) as err:
                parent.write(put(right[1], 7))
            assert err.value.status == "WRONG_GROUP"
            with pytest.raises(Rejected):
                parent.get_now(Req(op=Req.GET, key=keys[right[1]][0]))
            with pytest.raises(Rejected):
                child.write(put(left[1], 7))
            await child.write(put(right[1], 7))
            got = child.get_now(Req(op=Req.GET, key=keys[right[1]][0], consistent=True)) or await child.get(
                Req(op=Req.GET, key=keys[right[1]][0], consistent=True))
            assert orjson.loads(got.item)["v"] == {"N": "7"}
            # A write proposed past the split for a key it gave away is refused at apply.
            cmd = node_pb2.WriteCommand(mutations=[node_pb2.Mutation(key=keys[right[2]][0], value=b"{}")])
            assert await parent.propose(cmd.SerializeToString()) == WRONG_GROUP
            # The same split again (a repeated proposal) changes nothing.
            assert await parent.propose(split_command(1, mid).SerializeToString()) == WRONG_GROUP
            # A range read reaching past the parent's new end: the router's map is stale.
            with pytest.raises(Rejected):
                await parent.read_range(Req(op=Req.RANGE, start=item_key(1, 0, b""), end=table_bounds(1)[1]))
            assert not parent_outbox_pending(storage, child.config)
        finally:
            await stop(storage, engine)
        # Both sides come back after a restart, with their ranges and locks.
        storage, engine = await start(tmp_path)
        try:
            parent, child = engine.replicas[GROUP], engine.replicas[child_id]
            assert (parent.config["hi"], child.config["lo"]) == (mid - 1, mid)
            await leading(parent)
            await leading(child)
            assert sorted(orjson.loads(v)["pk"]["S"] for _, v in child.read_raw()) == right
            assert set(child.locks.applied) == {keys[right[0]][0]}
            await child.write(put(right[3], 9))
        finally:
            await stop(storage, engine)
    asyncio.run(go())


def test_a_split_childs_streams_start_at_the_split_and_which_global_tables_split():
    """The child of a split at log index 40 records its open stream from
    there (its shard follows the parent's, which closes at 40); a stream
    that had ended leaves it an empty one. Tables with a stream split, MREC
    global tables too, except while a replica is being created; MRSC tables
    never do (their groups span regions), with the reason."""
    open_ = {"label": "b", "view": "KEYS_ONLY", "keys": ["pk"], "start": 9, "start_ms": 1, "end": None}
    closed = {**open_, "label": "a", "end": 7, "start": 3}
    assert child_stream(open_, 40) == {**open_, "start": 40}
    assert child_stream(closed, 40) == {**closed, "start": 7, "end": 7}
    table = TableInfo("t", 1, "u", "ACTIVE", 0.0, {}, streams=[{"label": "b"}])
    assert splittable(table) is None
    table.replicas = [{"region": "eu-west-1", "status": "ACTIVE"}]
    assert splittable(table) is None
    table.replicas.append({"region": "ap-south-1", "status": "CREATING"})
    assert "being created" in splittable(table)
    table.replicas, table.consistency = table.replicas[:1], "STRONG"
    assert "MRSC" in splittable(table) and "span" in splittable(table)


def test_a_split_childs_replication_resumes_a_backfill_at_its_first_item():
    """The child inherits the checkpoints and trim point; a backfill that had
    not reached the child's first item resumes there, one past it goes on."""
    first = hash_range_bounds(1, 1 << 40, 1 << 40)[0]
    settings = {"region": "us-east-1", "regions": ["a", "b"], "checkpoints": {"a": [5, 0], "b": [7, 1]},
                "trimmed": 3, "backfills": {"a": (first[:-1]).hex(), "b": (first + b"x").hex()}}
    assert child_replication(settings, 1, 1 << 40) == {**settings, "backfills": {"a": "", "b": (first + b"x").hex()}}
