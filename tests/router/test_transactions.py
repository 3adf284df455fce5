"""The coordinator's decisions (router/transactions.py) in the cases a real
cluster reaches only by bad timing: recovery deciding first, a decision whose
answer is lost, a partition that cannot answer, a replayed token whose
coordinator died, reads racing writes. The partitions and the record table
are in-memory stand-ins with the node ops' and `TxnRecords`' contracts
(the real ones: tests/integration/test_transactions.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from cluster.faults import Faults, parse_crash_at
from cluster.meta import MetaState, TableInfo
from cluster.partitions import Cluster
from cluster.txn_records import ABORTED, COMMITTED, PENDING, Record
from ddb.errors import (ConditionalCheckFailedException, InternalServerError, ServiceUnavailable,
                        TransactionCanceledException, TransactionInProgressException)
from router import transactions as rt
from router.api import Api
from trireme_pb import node_pb2

Req = node_pb2.DataRequest
SPEC = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}


class Records:
    """The records table's compare-and-set semantics, in memory."""

    def __init__(self) -> None:
        self.recs: dict[str, Record] = {}
        self.lose_decision = False

    async def begin(self, txn_id, fp):
        if txn_id in self.recs:
            return False, self.recs[txn_id]
        self.recs[txn_id] = Record(txn_id, PENDING, 1, fp, int(time.time() * 1000))
        return True, self.recs[txn_id]

    async def decide(self, txn_id, attempt, state):
        rec = self.recs[txn_id]
        if rec.state == PENDING and rec.attempt == attempt:
            self.recs[txn_id] = dataclasses.replace(rec, state=state)
        if self.lose_decision:
            raise InternalServerError("outcome unknown")
        return self.recs[txn_id]

    async def restart(self, old):
        rec = self.recs[old.id]
        if rec.state != ABORTED or rec.attempt != old.attempt:
            return None
        self.recs[old.id] = dataclasses.replace(rec, state=PENDING, attempt=rec.attempt + 1, done=False)
        return self.recs[old.id]

    async def finish(self, txn_id, attempt):
        self.recs[txn_id] = dataclasses.replace(self.recs[txn_id], done=True)

    async def read(self, txn_id):
        return self.recs.get(txn_id)


class Partitions:
    """Items, locks and stamps of every key; `fail` makes a key's prepare raise."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes]] = []
        self.locks: dict[bytes, str] = {}
        self.fail: dict[bytes, Exception] = {}
        self.stamps: dict[bytes, int] = {}
        self.locked_reads: set[bytes] = set()

    async def send(self, table, h, req, *, to_leader, idempotent=True):
        self.sent.append((req.op, req.key))
        ref = f"{req.txn.id}/{req.txn.attempt}"
        if req.op == Req.TXN_PREPARE:
            if req.key in self.fail:
                raise self.fail[req.key]
            self.locks[req.key] = ref
            return node_pb2.DataResponse(size=10)
        if req.op in (Req.TXN_COMMIT, Req.TXN_RELEASE):
            absent = self.locks.get(req.key) != ref
            if not absent:
                del self.locks[req.key]
            return node_pb2.DataResponse(txn_absent=absent)
        assert req.op == Req.GET and req.txn_read
        stamp = self.stamps.get(req.key, 0)
        self.stamps[req.key] = stamp + 1 if req.key in self.fail else stamp  # `fail` on a GET: always changing
        return node_pb2.DataResponse(item=b'{"pk":{"S":"x"}}', txn_locked=req.key in self.locked_reads,
                                     item_stamp=stamp)


def setup() -> tuple[Api, Partitions, Records]:
    cluster = Cluster([], "az-a", deadline_s=1.0, cluster_id="c1")
    state = MetaState(version=1)
    state.tables["tab"] = TableInfo("tab", 1, "u", "ACTIVE", 0.0, dict(SPEC))
    cluster.install(state)
    parts, records = Partitions(), Records()
    cluster.send = parts.send  # type: ignore[method-assign]
    api = Api(cluster, region="us-east-1")
    api.transactions.records = records  # type: ignore[assignment]
    return api, parts, records


def puts(*pks: str, **extra) -> dict:
    return {"TransactItems": [{"Put": {"TableName": "tab", "Item": {"pk": {"S": pk}}}} for pk in pks], **extra}


def key(api: Api, pk: str) -> bytes:
    return api.locate(api.table("tab"), {"pk": {"S": pk}})[1]


def ops(parts: Partitions, op: int) -> set[bytes]:
    return {k for o, k in parts.sent if o == op}


def test_commit_goes_to_every_item_after_the_decision():
    api, parts, records = setup()
    out = asyncio.run(api.transactions.transact_write_items(puts("a", "b", ReturnConsumedCapacity="TOTAL")))
    assert out == {"ConsumedCapacity": [{"TableName": "tab", "CapacityUnits": 4.0}]}
    assert ops(parts, Req.TXN_COMMIT) == {key(api, "a"), key(api, "b")} and not parts.locks
    (rec,) = records.recs.values()
    assert rec.state == COMMITTED


def test_a_failed_condition_releases_every_item_and_answers_reasons_in_order():
    api, parts, records = setup()
    parts.fail[key(api, "b")] = ConditionalCheckFailedException(item={"pk": {"S": "b"}})
    with pytest.raises(TransactionCanceledException) as exc:
        asyncio.run(api.transactions.transact_write_items(puts("a", "b", "c")))
    assert [r.code for r in exc.value.reasons] == ["None", "ConditionalCheckFailed", "None"]
    assert exc.value.reasons[1].item == {"pk": {"S": "b"}}
    assert ops(parts, Req.TXN_RELEASE) == {key(api, p) for p in "abc"} and not parts.locks
    assert not ops(parts, Req.TXN_COMMIT)


def test_recovery_deciding_first_cancels_with_conflicts():
    api, parts, records = setup()
    real_decide = records.decide

    async def recovery_first(txn_id, attempt, state):
        await real_decide(txn_id, attempt, ABORTED)  # a partition's recovery took it for dead
        return await real_decide(txn_id, attempt, state)
    records.decide = recovery_first
    with pytest.raises(TransactionCanceledException) as exc:
        asyncio.run(api.transactions.transact_write_items(puts("a", "b")))
    assert [r.code for r in exc.value.reasons] == ["TransactionConflict", "TransactionConflict"]
    assert not parts.locks and not ops(parts, Req.TXN_COMMIT)


def test_an_unavailable_partition_aborts_and_answers_its_error():
    api, parts, records = setup()
    parts.fail[key(api, "b")] = ServiceUnavailable("partition down")
    with pytest.raises(ServiceUnavailable):
        asyncio.run(api.transactions.transact_write_items(puts("a", "b")))
    assert not parts.locks and list(records.recs.values())[0].state == ABORTED


def test_a_lost_decision_answer_is_read_back():
    api, parts, records = setup()
    records.lose_decision = True
    asyncio.run(api.transactions.transact_write_items(puts("a")))
    assert ops(parts, Req.TXN_COMMIT) == {key(api, "a")}


def test_tokens_in_progress_replayed_and_restarted():
    async def go():
        api, parts, records = setup()
        body = puts("a", ClientRequestToken="tok")
        txn_id = rt.tx.transaction_id("tok", "")
        fp = rt.tx.fingerprint(body)
        records.recs[txn_id] = Record(txn_id, PENDING, 1, fp, int(time.time() * 1000))
        with pytest.raises(TransactionInProgressException):
            await api.transactions.transact_write_items(body)
        # Older than the timeout: the dead attempt is aborted, the call runs as attempt 2.
        records.recs[txn_id] = Record(txn_id, PENDING, 1, fp, 0)
        await api.transactions.transact_write_items(body)
        assert records.recs[txn_id].state == COMMITTED and records.recs[txn_id].attempt == 2
        # Committed but not done (its coordinator died while committing): a replay commits again, changes nothing.
        records.recs[txn_id] = dataclasses.replace(records.recs[txn_id], done=False)
        parts.sent.clear()
        assert await api.transactions.transact_write_items(body) == {}
        assert [op for op, _ in parts.sent] == [Req.TXN_COMMIT]
        parts.sent.clear()
        await api.transactions.transact_write_items(body)  # done: nothing is sent at all
        assert parts.sent == []
    asyncio.run(go())


def test_reads_wait_out_locks_then_cancel_only_the_locked_items(monkeypatch):
    monkeypatch.setattr(rt, "LOCKED_WAIT_S", 0.05)
    api, parts, _ = setup()
    parts.locked_reads.add(key(api, "b"))
    body = {"TransactItems": [{"Get": {"TableName": "tab", "Key": {"pk": {"S": p}}}} for p in "ab"]}
    with pytest.raises(TransactionCanceledException) as exc:
        asyncio.run(api.transactions.transact_get_items(body))
    assert [r.code for r in exc.value.reasons] == ["None", "TransactionConflict"]


def test_reads_repeat_until_two_rounds_agree():
    api, parts, _ = setup()
    body = {"TransactItems": [{"Get": {"TableName": "tab", "Key": {"pk": {"S": p}}}} for p in "ab"]}
    calls = 0
    real = parts.send

    async def changing_twice(*args, **kwargs):
        nonlocal calls
        calls += 1
        resp = await real(*args, **kwargs)
        if calls <= 4:  # a write lands between the rounds, twice
            resp.item_stamp = calls
        return resp
    api.cluster.send = changing_twice
    out = asyncio.run(api.transactions.transact_get_items(body))
    assert out.startswith(b'{"Responses":[{"Item":') and calls >= 6


def test_crash_steps_are_checked():
    assert parse_crash_at("after_prepare:3") == ("after_prepare", 3)
    assert parse_crash_at("after_decide") == ("after_decide", 0)
    for bad in ("after_prepare", "after_begin:1", "later", "after_commit:x"):
        with pytest.raises(ValueError, match="txn_crash_at"):
            Faults.from_json({"txn_crash_at": bad})
    assert Faults.from_json({"txn_crash_at": "after_commit:2"}).to_json()["txn_crash_at"] == "after_commit:2"
