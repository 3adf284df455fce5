"""Transaction locks on a real one-node partition (engine, Raft group,
storage; no sockets): TXN_PREPARE evaluates like a write and locks, TXN_COMMIT
applies through the write path once, TXN_RELEASE changes nothing, ordinary
writes to a locked item conflict, each step is idempotent per attempt, and
locks survive restarts and travel in snapshots (node/partition/txn_locks.py)."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from cluster.keys import txn_lock_bounds
from ddb.errors import ConditionalCheckFailedException, ServiceUnavailable, TransactionConflictException
from ddb.expressions import Context, parse_condition, parse_update
from node.groups.engine import Engine
from node.groups.snapshots import encode_records
from node.partition import streams
from node.partition.replica import FREEZE_DRAIN_S, PartitionReplica
from node.storage import STREAMS, Storage
from tests.node.feed.test_ttl_sweeper import GROUP, LOCAL, key_of
from tests.node.partition.test_versions import (PKL, enable_stream, item, local_entries, put_req, run, started,
                                                stopped, value_of)
from trireme_pb import node_pb2

Req = node_pb2.DataRequest
Ref = node_pb2.TxnRef


def ref(txn: str, attempt: int = 1, kind: int = Ref.PUT) -> node_pb2.TxnRef:
    return Ref(id=txn, attempt=attempt, kind=kind)


def prepare_put(sk: str, v: int, txn: str, attempt: int = 1, **extra) -> node_pb2.DataRequest:
    req = put_req(sk, v)
    req.op = Req.TXN_PREPARE
    req.txn.CopyFrom(ref(txn, attempt))
    for name, value in extra.items():
        setattr(req, name, value)
    return req


def step(op: int, sk: str, txn: str, attempt: int = 1) -> node_pb2.DataRequest:
    return Req(op=op, key=key_of(sk), txn=ref(txn, attempt))


def condition(text: str, values: dict) -> bytes:
    return orjson.dumps(parse_condition(text, Context({}, values)))


def stream_records(replica: PartitionReplica) -> list:
    stream = streams.find(replica.config, "L")
    return streams.read(replica.engine.storage, GROUP, stream, (0, 0), 100, 1 << 20).records


def test_prepare_locks_ordinary_writes_out_and_commit_applies_once(tmp_path):
    async def test(replica):
        await enable_stream(replica)
        await replica.write(put_req("a", 1))
        resp = await replica.write_checked(prepare_put("a", 2, "t1", measure_capacity=True), replica.prepare)
        assert resp.size > 0  # answered like a write: its capacity
        # Ordinary writes, TTL deletes included, and other attempts conflict; reads see the committed item.
        for write in (replica.write, lambda r: replica.write_checked(r)):
            for req in (put_req("a", 3), Req(op=Req.DELETE, key=key_of("a"), ttl_delete=True)):
                with pytest.raises(TransactionConflictException) as err:
                    await write(req)
                assert err.value.message == "Transaction is ongoing for the item"
        with pytest.raises(TransactionConflictException):
            replica.prepare(prepare_put("a", 4, "t2"))
        with pytest.raises(TransactionConflictException):
            replica.prepare(prepare_put("a", 4, "t1", attempt=2))
        got = replica.read_item(Req(op=Req.GET, key=key_of("a")))
        assert orjson.loads(got.item)["v"] == {"N": "1"}
        assert (await replica.prepare(prepare_put("a", 2, "t1"))).SerializeToString() == b""  # again: OK
        assert value_of(replica, "a")["v"] == {"N": "1"} and [e["lsk"] for e in local_entries(replica)] == [
            {"S": "l1"}]
        records = len(stream_records(replica))
        done = await replica.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))
        assert not done.txn_absent
        assert value_of(replica, "a")["v"] == {"N": "2"}
        assert [e["lsk"] for e in local_entries(replica)] == [{"S": "l2"}]  # the local index moved with it
        assert len(stream_records(replica)) == records + 1  # one stream record
        assert (await replica.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))).txn_absent  # again: done already
        assert not replica.locks.applied and list(replica.engine.storage.iter_range(
            STREAMS, *txn_lock_bounds(GROUP))) == []
        # A late duplicate prepare of the ended attempt cannot lock again.
        with pytest.raises(TransactionConflictException):
            replica.prepare(prepare_put("a", 2, "t1"))
        await replica.write(put_req("a", 5))  # free again
        assert value_of(replica, "a")["v"] == {"N": "5"}
        assert len(stream_records(replica)) == records + 2
    run(tmp_path, test)


def test_concurrent_duplicates_follow_the_first_proposal(tmp_path):
    async def test(replica):
        first = replica.prepare(prepare_put("a", 1, "t1"))
        second = replica.prepare(prepare_put("a", 1, "t1"))  # before the first applied
        await asyncio.gather(first, second)
        c1 = replica.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))
        c2 = replica.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))
        r1, r2 = await asyncio.gather(c1, c2)
        assert not r1.txn_absent and not r2.txn_absent and r1 is not r2
        assert value_of(replica, "a")["v"] == {"N": "1"}
    run(tmp_path, test)


def test_release_changes_nothing_and_frees_the_item(tmp_path):
    async def test(replica):
        await replica.write(put_req("a", 1))
        delete = Req(op=Req.TXN_PREPARE, key=key_of("a"), txn=ref("t1", kind=Ref.DELETE),
                     partition_key_length=PKL, local_indexes=LOCAL)
        await replica.write_checked(delete, replica.prepare)
        assert (await replica.txn_release(step(Req.TXN_RELEASE, "a", "t2"))).txn_absent  # not its lock
        assert replica.locks.holder(key_of("a")) is not None
        assert not (await replica.txn_release(step(Req.TXN_RELEASE, "a", "t1"))).txn_absent
        assert (await replica.txn_release(step(Req.TXN_RELEASE, "a", "t1"))).txn_absent
        assert (await replica.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))).txn_absent  # released: nothing applies
        assert value_of(replica, "a")["v"] == {"N": "1"}
        await replica.write(put_req("a", 2))
    run(tmp_path, test)


def test_prepare_evaluates_conditions_and_updates_as_writes_do(tmp_path):
    async def test(replica):
        await replica.write(put_req("a", 1))
        failing = Req(op=Req.TXN_PREPARE, key=key_of("a"), txn=ref("t1", kind=Ref.CHECK),
                      condition=condition("v = :two", {":two": {"N": "2"}}), return_old_on_condition_failure=True)
        with pytest.raises(ConditionalCheckFailedException) as err:
            await replica.write_checked(failing, replica.prepare)
        assert err.value.item == item("a", 1)
        assert replica.locks.holder(key_of("a")) is None  # refused: no lock
        check = Req(op=Req.TXN_PREPARE, key=key_of("a"), txn=ref("t1", kind=Ref.CHECK),
                    condition=condition("v = :one", {":one": {"N": "1"}}))
        await replica.write_checked(check, replica.prepare)
        assert not replica.locks.holder(key_of("a")).HasField("commit")
        await replica.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))  # a ConditionCheck changes nothing
        assert value_of(replica, "a") == item("a", 1)
        ctx = Context({}, {":d": {"N": "10"}, ":l": {"S": "l9"}})
        update = Req(op=Req.TXN_PREPARE, key=key_of("a"), txn=ref("t2", kind=Ref.UPDATE),
                     item=orjson.dumps({"pk": {"S": "p"}, "sk": {"S": "a"}}), key_names=["pk", "sk"],
                     update=orjson.dumps(parse_update("ADD v :d SET lsk = :l", ctx)),
                     partition_key_length=PKL, local_indexes=LOCAL)
        await replica.write_checked(update, replica.prepare)
        assert value_of(replica, "a")["v"] == {"N": "1"}
        await replica.txn_commit(step(Req.TXN_COMMIT, "a", "t2"))
        assert value_of(replica, "a")["v"] == {"N": "11"}
        assert [e["lsk"] for e in local_entries(replica)] == [{"S": "l9"}]
    run(tmp_path, test)


def test_txn_reads_report_locks_and_stamps_that_change_with_the_item(tmp_path):
    async def test(replica):
        await replica.write(put_req("a", 1))
        await replica.write(put_req("b", 1))

        def read(sk: str) -> node_pb2.DataResponse:
            return replica.read_item(Req(op=Req.GET, key=key_of(sk), consistent=True, txn_read=True))
        a1, b1 = read("a"), read("b")
        assert not a1.txn_locked and orjson.loads(a1.item)["v"] == {"N": "1"}
        await replica.write(put_req("b", 2))
        assert read("a").item_stamp == a1.item_stamp and read("b").item_stamp != b1.item_stamp
        await replica.prepare(prepare_put("a", 2, "t1"))
        locked = read("a")
        assert locked.txn_locked and orjson.loads(locked.item)["v"] == {"N": "1"}  # the committed item
        commit = replica.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))
        assert read("a").txn_locked  # until the commit applied
        await commit
        after = read("a")
        assert not after.txn_locked and after.item_stamp != a1.item_stamp
        assert orjson.loads(after.item)["v"] == {"N": "2"}
    run(tmp_path, test)


async def restarted(tmp_path) -> tuple[Storage, Engine, PartitionReplica]:
    storage = Storage.open(tmp_path / "db")
    engine = Engine("n1", storage, lambda node_id: None)
    engine.factories = {"partition": PartitionReplica}
    engine.recover()
    engine.start()
    replica = engine.replicas[GROUP]
    deadline = time.monotonic() + 20
    while not (replica.is_leader and replica.writable()):
        assert time.monotonic() < deadline, "the one-node group elected no leader"
        await asyncio.sleep(0.02)
    return storage, engine, replica


def test_locks_survive_a_restart_and_stamps_differ_across_terms(tmp_path):
    async def go():
        storage, engine, replica = await started(tmp_path)
        try:
            await replica.write(put_req("a", 1))
            await replica.prepare(prepare_put("a", 2, "t1"))
            await replica.prepare(prepare_put("b", 1, "t1"))
            stamp = replica.read_item(Req(op=Req.GET, key=key_of("a"), consistent=True, txn_read=True)).item_stamp
        finally:
            await stopped(storage, engine)
        storage, engine, replica = await restarted(tmp_path)
        try:
            assert set(replica.locks.applied) == {key_of("a"), key_of("b")}
            with pytest.raises(TransactionConflictException):
                replica.write(put_req("a", 3))
            got = replica.read_item(Req(op=Req.GET, key=key_of("a"), consistent=True, txn_read=True))
            assert got.txn_locked and got.item_stamp != stamp  # another term: another stamp
            await replica.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))
            await replica.txn_release(step(Req.TXN_RELEASE, "b", "t1"))
            assert value_of(replica, "a")["v"] == {"N": "2"} and value_of(replica, "b") is None
        finally:
            await stopped(storage, engine)
    asyncio.run(go())


def test_a_snapshot_carries_the_locks(tmp_path):
    async def go():
        storage, engine, replica = await started(tmp_path / "a")
        try:
            await replica.write(put_req("a", 1))
            await replica.prepare(prepare_put("a", 2, "t1"))
            meta, records = replica.snapshot_state()
            chunks = list(encode_records(records))
        finally:
            await stopped(storage, engine)
        storage, engine, other = await started(tmp_path / "b")
        try:
            batch = storage.batch()
            other.write_state(batch, meta, chunks)
            storage.write(batch)
            other.install_snapshot(None)
            assert list(other.locks.applied) == [key_of("a")]
            with pytest.raises(TransactionConflictException):
                other.write(put_req("a", 3))
            await other.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))
            assert value_of(other, "a")["v"] == {"N": "2"}
        finally:
            await stopped(storage, engine)
    asyncio.run(go())


def test_a_deposed_leader_forgets_its_pending_locks(tmp_path):
    async def test(replica):
        replica.locks.pend(key_of("z"), node_pb2.TxnLock(key=key_of("z"), txn=ref("t9")))
        assert replica.locks.holder(key_of("z")) is not None
        replica.on_role(type(replica.raft.role).FOLLOWER)
        assert replica.locks.holder(key_of("z")) is None and replica._stamps is None
    run(tmp_path, test)


def test_a_freeze_answers_only_once_the_transactions_prepared_before_it_ended(tmp_path):
    """FREEZE (making a table MRSC) and transactions exclude each other: a
    freeze waits for the locks prepared before it (their commits still apply)
    and answers a retryable 503 if they outlast FREEZE_DRAIN_S; a prepare
    after the freeze (evaluated before it applied, or after) is cancelled with
    TransactionConflict and locks nothing. So no commit ever follows the freeze's
    answer, the point after which the router finds the table empty."""
    async def test(replica):
        await replica.prepare(prepare_put("a", 1, "t1"))
        freeze = asyncio.ensure_future(replica.freeze(Req(op=Req.FREEZE, freeze=True)))
        await asyncio.sleep(0)  # the freeze is proposed first
        late = replica.prepare(prepare_put("b", 1, "t2"))  # evaluated before the freeze applied
        with pytest.raises(TransactionConflictException):
            await late
        assert "frozen" in replica.config and not freeze.done()  # frozen, but t1 still holds "a"
        with pytest.raises(TransactionConflictException):
            replica.prepare(prepare_put("c", 1, "t3"))
        assert not (await replica.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))).txn_absent  # commits while frozen
        await asyncio.wait_for(freeze, 5)  # ... and then the freeze answers
        assert value_of(replica, "a")["v"] == {"N": "1"}
        assert value_of(replica, "b") is None and value_of(replica, "c") is None
        assert not replica.locks.applied
        # A lock that outlasts the wait: the freeze is refused (the router thaws and the caller retries).
        await replica.freeze(Req(op=Req.FREEZE, freeze=False))
        await replica.prepare(prepare_put("d", 1, "t4"))
        t0 = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="transactions on its items are in progress"):
            await replica.freeze(Req(op=Req.FREEZE, freeze=True))
        assert time.monotonic() - t0 >= FREEZE_DRAIN_S * 0.9
        await replica.freeze(Req(op=Req.FREEZE, freeze=False))
        await replica.txn_release(step(Req.TXN_RELEASE, "d", "t4"))
        await replica.freeze(Req(op=Req.FREEZE, freeze=True))  # no lock: answered at once
    run(tmp_path, test)
