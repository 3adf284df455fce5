"""The TTL sweeper on a real one-node partition (engine, Raft group, storage;
no sockets): what a sweep deletes, that the delete is conditional on the item
being expired when the leader evaluates it, its local index entries, the
`by_ttl` mark on the logged mutation, no capacity, and the pace."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from cluster.index_defs import secondary_index
from cluster.keys import hash_range_bounds, item_key
from cluster.meta import LAST_HASH, MetaState, TableInfo
from ddb.encoding import encode_key, encode_key_value, encode_partition_key, hash64
from ddb.errors import ConditionalCheckFailedException
from ddb.indexes import indexes_of
from ddb.keys import KeySchema
from node.feed.ttl_sweeper import TtlSweeper
from node.groups.engine import Engine
from node.net.raft_codec import decode_entry
from node.partition.replica import PartitionReplica
from node.storage import DATA, Storage
from trireme_pb import node_pb2

GROUP = "t1.p0"
SPEC = {"TableName": "t",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "lsk")],
        "LocalSecondaryIndexes": [{"IndexName": "by_lsk", "Projection": {"ProjectionType": "ALL"},
                                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                 {"AttributeName": "lsk", "KeyType": "RANGE"}]}]}
SCHEMA = KeySchema.from_wire(SPEC["KeySchema"], SPEC["AttributeDefinitions"], has_indexes=True)
LOCAL = [secondary_index(ix, SCHEMA) for ix in indexes_of(SPEC) if ix.local]
Req = node_pb2.DataRequest


def table(enabled: bool = True) -> TableInfo:
    return TableInfo("t", 1, "u", "ACTIVE", 0.0, SPEC, [GROUP],
                     ttl={"attribute": "expires", "enabled": enabled, "changed_ms": 0})


def key_of(sk: str) -> bytes:
    key = {"pk": {"S": "p"}, "sk": {"S": sk}}
    return item_key(1, hash64(encode_partition_key(SCHEMA, key)), encode_key(SCHEMA, key))


def item(sk: str, expires: dict | None) -> dict:
    out = {"pk": {"S": "p"}, "sk": {"S": sk}, "lsk": {"S": "l" + sk}}
    if expires is not None:
        out["expires"] = expires
    return out


async def put(replica: PartitionReplica, sk: str, expires: dict | None) -> None:
    await replica.write(Req(op=Req.PUT, key=key_of(sk), item=orjson.dumps(item(sk, expires)),
                            partition_key_length=len(encode_key_value({"S": "p"})), local_indexes=LOCAL))


def stored(replica: PartitionReplica) -> set[str]:
    return {orjson.loads(v)["sk"]["S"] for _, v in replica.read_raw()}


def local_entries(replica: PartitionReplica) -> int:
    lo, hi = hash_range_bounds(1 | (1 << 24), 0, LAST_HASH + 1)  # by_lsk's key space
    return sum(1 for _ in replica.engine.storage.iter_range(DATA, lo, hi))


def run(tmp_path, test, **sweeper_args):
    """Run ``test(replica, sweeper)`` against a fresh one-node partition that leads."""
    async def go():
        storage = Storage.open(tmp_path / "db")
        engine = Engine("n1", storage, lambda node_id: None)
        engine.factories = {"partition": PartitionReplica}
        replica = engine.create(GROUP, {"kind": "partition", "table_id": 1, "lo": 0, "hi": LAST_HASH}, ["n1"])
        engine.start()
        state = MetaState(tables={"t": table()})
        sweeper = TtlSweeper(engine, lambda: state, **sweeper_args)
        try:
            deadline = time.monotonic() + 20
            while not (replica.raft.role.name == "LEADER" and replica.writable()):
                assert time.monotonic() < deadline, "the one-node group elected no leader"
                await asyncio.sleep(0.02)
            return await test(replica, sweeper, state)
        finally:
            await sweeper.stop()
            await engine.stop()
            storage.close()
    return asyncio.run(go())


def test_a_sweep_deletes_expired_items_and_their_local_entries_marked_by_ttl(tmp_path):
    async def test(replica, sweeper, state):
        now = int(time.time())
        for i in range(3):
            await put(replica, f"old{i}", {"N": str(now - 10)})
        await put(replica, "future", {"N": str(now + 3600)})
        await put(replica, "string", {"S": str(now - 10)})
        await put(replica, "none", None)
        assert local_entries(replica) == 6
        last = replica.engine.storage.raft.last_index(GROUP)
        assert await sweeper.sweep(replica) == 3
        assert stored(replica) == {"future", "string", "none"}
        assert local_entries(replica) == 3
        raft = replica.engine.storage.raft
        commands = [node_pb2.WriteCommand.FromString(decode_entry(e).data)
                    for e in raft.entries(GROUP, last + 1, raft.last_index(GROUP) + 1)]
        items = [m for c in commands for m in c.mutations if m.key.startswith(key_of("")[:4])]
        assert len(items) == 3 and all(m.delete and m.by_ttl for m in items)
        assert await sweeper.sweep(replica) == 0
    run(tmp_path, test)


def test_an_item_given_a_future_expiry_after_the_scan_is_not_deleted(tmp_path):
    async def test(replica, sweeper, state):
        now = int(time.time())
        await put(replica, "a", {"N": str(now - 10)})
        scanned = item("a", {"N": str(now - 10)})
        delete = sweeper.delete_request(state.tables["t"], key_of("a"), scanned, now)
        await put(replica, "a", {"N": str(now + 3600)})  # the application extends it meanwhile
        with pytest.raises(ConditionalCheckFailedException):
            await replica.write(delete)
        assert stored(replica) == {"a"}
        assert await sweeper.sweep(replica) == 0
    run(tmp_path, test)


def test_ttl_deletes_consume_no_capacity(tmp_path):
    async def test(replica, sweeper, state):
        now = int(time.time())
        for sk in ("a", "b"):
            await put(replica, sk, {"N": str(now - 10)})
        by_ttl = sweeper.delete_request(state.tables["t"], key_of("a"), item("a", {"N": "0"}), now)
        by_ttl.measure_capacity = True
        assert (await replica.write(by_ttl)).size == 0
        user = Req(op=Req.DELETE, key=key_of("b"), measure_capacity=True, local_indexes=LOCAL,
                   partition_key_length=len(encode_key_value({"S": "p"})))
        assert (await replica.write(user)).size > 0
    run(tmp_path, test)


def test_deletes_are_paced_and_disabling_ttl_stops_the_sweep(tmp_path):
    async def test(replica, sweeper, state):
        now = int(time.time())
        for i in range(6):
            await put(replica, f"old{i}", {"N": str(now - 10)})
        started = time.monotonic()
        assert await sweeper.sweep(replica) == 6
        assert time.monotonic() - started >= 5 / 20 * 0.9  # 20 deletes a second: 6 take 5 intervals
        await put(replica, "late", {"N": str(now - 10)})
        state.tables["t"] = table(enabled=False)
        sweeper._plan()
        assert not sweeper._drivers
        assert stored(replica) == {"late"}
    run(tmp_path, test, deletes_per_s=20)


def test_the_driver_sweeps_what_this_node_leads(tmp_path):
    async def test(replica, sweeper, state):
        await put(replica, "a", {"N": str(int(time.time()) - 10)})
        sweeper.start()
        deadline = time.monotonic() + 10
        while stored(replica):
            assert time.monotonic() < deadline, "the driver deleted nothing"
            await asyncio.sleep(0.05)
    run(tmp_path, test, sweep_s=0.1)


def test_an_item_a_transaction_holds_is_skipped_until_released(tmp_path):
    async def test(replica, sweeper, state):
        now = int(time.time())
        for sk in ("held", "free"):
            await put(replica, sk, {"N": str(now - 10)})
        ref = node_pb2.TxnRef(id="t1", attempt=1, kind=node_pb2.TxnRef.CHECK)
        await replica.prepare(Req(op=Req.TXN_PREPARE, key=key_of("held"), txn=ref))
        assert await sweeper.sweep(replica) == 1  # the held item waits for the next pass
        assert stored(replica) == {"held"}
        await replica.txn_release(Req(op=Req.TXN_RELEASE, key=key_of("held"), txn=ref))
        assert await sweeper.sweep(replica) == 1
        assert stored(replica) == set()
    run(tmp_path, test)
