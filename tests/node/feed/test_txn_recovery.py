"""Transaction recovery's decisions (node/feed/txn_recovery.py): which locks
it takes up at a real one-node partition, what each record state means for
them, and that it does nothing while the records table is unknown (the
whole path against a real cluster: tests/integration/test_txn_node.py)."""

from __future__ import annotations

from cluster.partitions import Cluster
from cluster.txn_records import ABORTED, COMMITTED, PENDING, Record
from node.feed.txn_recovery import TxnRecovery, outcome
from tests.node.partition.test_txn_locks import prepare_put, step
from tests.node.partition.test_versions import run
from trireme_pb import node_pb2

Req = node_pb2.DataRequest


def lock(attempt: int) -> node_pb2.TxnLock:
    return node_pb2.TxnLock(key=b"k", txn=node_pb2.TxnRef(id="t1", attempt=attempt))


def record(state: str, attempt: int) -> Record:
    return Record("t1", state, attempt, "fp", 0)


def test_a_lock_commits_only_when_its_own_attempt_committed():
    assert outcome(lock(2), record(COMMITTED, 2)) == COMMITTED
    assert outcome(lock(2), record(PENDING, 2)) == PENDING  # to decide (ABORTED, unless the coordinator won)
    assert outcome(lock(2), record(ABORTED, 2)) == ABORTED
    assert outcome(lock(1), record(COMMITTED, 2)) == ABORTED  # a later attempt: this one was aborted
    assert outcome(lock(1), record(PENDING, 2)) == ABORTED
    assert outcome(lock(1), None) == ABORTED  # presumed abort


def test_only_old_locks_without_a_pending_end_are_taken_up(tmp_path):
    async def test(replica):
        await replica.prepare(prepare_put("a", 1, "t1"))
        await replica.prepare(prepare_put("b", 1, "t1"))
        fresh = TxnRecovery(replica.engine, lambda: None, timeout_s=3600)
        assert fresh.abandoned() == []
        old = TxnRecovery(replica.engine, lambda: None, timeout_s=-1)
        assert sorted(lock.key for _, lock in old.abandoned()) == sorted(replica.locks.applied)
        commit = replica.txn_commit(step(Req.TXN_COMMIT, "a", "t1"))
        assert [lock.key for _, lock in old.abandoned()] == [step(Req.TXN_COMMIT, "b", "t1").key]
        await commit
    run(tmp_path, test)


def test_nothing_is_released_while_the_records_table_is_unknown(tmp_path):
    async def test(replica):
        await replica.prepare(prepare_put("a", 1, "t1"))
        unknown = Cluster([], "az-a", cluster_id="c1")  # no metadata view yet
        recovery = TxnRecovery(replica.engine, lambda: unknown, timeout_s=-1)
        assert await recovery.recover_once() == 0
        assert len(replica.locks.applied) == 1
    run(tmp_path, test)
