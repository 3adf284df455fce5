"""TransactWriteItems and TransactGetItems: the router that receives a
transaction coordinates it (txn-design.md, ARCHITECTURE.md "Transactions").

Writes are two-phase with presumed abort: the transaction's record
(`cluster/txn_records.py`) is begun PENDING, every action is prepared (its
condition evaluated and its item locked) at its partition leader, then the
record is decided COMMITTED or ABORTED by one compare-and-set, and the locks
are committed or released. A coordinator that dies leaves PENDING records and
locks that the partitions' recovery finishes (`node/feed/txn_recovery.py`).

Reads take no locks: every item is read at its leader with its stamp, twice;
equal stamps and no lock in between mean no write landed between the reads,
so the first round's items were all current at one instant.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import uuid
from typing import Any

import orjson

from cluster.faults import parse_crash_at
from cluster.meta import TableInfo
from cluster.txn_records import ABORTED, COMMITTED, PENDING, Record, TxnRecords
from ddb import transactions as tx
from ddb.errors import (DynamoDBError, IdempotentParameterMismatchException, InternalServerError,
                        ResourceNotFoundException, TransactionConflictException, TransactionInProgressException)
from ddb.keys import KeySchema
from ddb.strong_tables import check_transaction
from router import capacity
from router.context import Tables
from router.node_requests import item_fields
from trireme_pb import node_pb2

log = logging.getLogger(__name__)
Req = node_pb2.DataRequest
KINDS = {"Put": node_pb2.TxnRef.PUT, "Update": node_pb2.TxnRef.UPDATE, "Delete": node_pb2.TxnRef.DELETE,
         "ConditionCheck": node_pb2.TxnRef.CHECK}
# A PENDING record younger than this belongs to a live coordinator (the
# partitions' recovery waits as long before it aborts one).
TXN_TIMEOUT_S = float(os.environ.get("TRIREME_TXN_TIMEOUT_S", "5"))
LOCKED_WAIT_S = 1.0  # how long TransactGetItems waits out a transaction holding one of its items
COMMIT_TRIES = 5


class Crash:
    """Where the router process dies on purpose (the coordinator-kill tests)."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.acks: dict[str, int] = {}  # acknowledgements per counted step

    def at(self, step: str, acked: bool = False) -> None:
        where = self.cluster.faults.txn_crash_at
        if not where:
            return
        want, count = parse_crash_at(where)
        if acked:
            self.acks[step] = self.acks.get(step, 0) + 1
        if want == step and self.acks.get(step, 0) >= count:
            log.warning("txn_crash_at %s: the router exits now", where)
            os._exit(17)


def _not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException(tx.TABLE_NOT_FOUND)


class Transactions:
    def __init__(self, api: Tables) -> None:
        self.api = api
        self.records = TxnRecords(api.cluster)
        self._background: set[asyncio.Task] = set()

    def operations(self) -> dict[str, Any]:
        return {"TransactWriteItems": self.transact_write_items, "TransactGetItems": self.transact_get_items}

    def _tables(self, names: list[str]) -> dict[str, TableInfo]:
        out = {}
        for name in names:
            try:
                out[name] = self.api.table(name)
            except ResourceNotFoundException:
                raise _not_found() from None
            check_transaction(name, out[name].consistency)  # MRSC tables refuse transactions
        return out

    def _bound(self, actions: list[tx.Action], tables: dict[str, TableInfo]) -> dict[str, KeySchema]:
        schemas = {name: self.api.schema(t) for name, t in tables.items()}
        for a in actions:
            t = tables[a.req.table_name]
            tx.bind(a, schemas[t.name], self.api.indexes(t))
        if any(a.error for a in actions):
            raise tx.cancelled([a.error for a in actions])
        tx.check_bound(actions, schemas)
        return schemas

    # --- TransactWriteItems ------------------------------------------------------

    async def transact_write_items(self, body: dict) -> dict:
        txn = tx.parse_transact_write(body)
        tables = self._tables(txn.tables)
        self._bound(txn.actions, tables)
        txn_id = tx.transaction_id(txn.token, uuid.uuid4().hex)
        rec = await self._begin(txn_id, txn)
        crash = Crash(self.api.cluster)
        if rec.state == COMMITTED:  # the token's transaction committed already: nothing changes
            if not rec.done:  # its coordinator may still be committing (or dead): the write is visible on return
                await self._finish_all(Req.TXN_COMMIT, tables, txn.actions, dict(id=txn_id, attempt=rec.attempt),
                                       crash)
            return self._replayed(txn)
        crash.at("after_begin")
        ref = dict(id=txn_id, attempt=rec.attempt)
        outcomes = await asyncio.gather(*(self._prepare(body, tables, a, ref, crash) for a in txn.actions),
                                        return_exceptions=True)
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        decided = await self._decide(txn_id, rec.attempt, ABORTED if failed else COMMITTED)
        crash.at("after_decide")
        ours = decided.attempt == rec.attempt and decided.state == COMMITTED
        if not ours:
            await self._finish_all(Req.TXN_RELEASE, tables, txn.actions, ref, crash)
            self._background_finish(txn_id, rec.attempt)
            if not failed:  # recovery took the transaction for dead and aborted it
                raise tx.cancelled([TransactionConflictException() for _ in txn.actions])
            for o in failed:
                if not tx.has_reason(o):
                    raise o  # unavailable, outcome unknown: not a cancellation
            raise tx.cancelled([o if isinstance(o, BaseException) else None for o in outcomes])
        await self._finish_all(Req.TXN_COMMIT, tables, txn.actions, ref, crash)
        self._background_finish(txn_id, rec.attempt)
        return self._written(txn, tables, outcomes, body)

    async def _begin(self, txn_id: str, txn: tx.WriteTransaction) -> Record:
        """This attempt's PENDING record, or the COMMITTED one of the token's earlier call."""
        started, rec = await self.records.begin(txn_id, txn.fingerprint)
        if started:
            return rec
        if rec.fingerprint != txn.fingerprint:
            raise IdempotentParameterMismatchException()
        if rec.state == COMMITTED:
            return rec
        if rec.state == PENDING:
            if time.time() * 1000 - rec.started_ms < TXN_TIMEOUT_S * 1000:
                raise TransactionInProgressException()
            rec = await self.records.decide(txn_id, rec.attempt, ABORTED)
            if rec.state == COMMITTED:
                return rec
            if rec.state == PENDING:  # another router restarted it meanwhile
                raise TransactionInProgressException()
        restarted = await self.records.restart(rec)
        if restarted is None:
            raise TransactionInProgressException()
        return restarted

    async def _decide(self, txn_id: str, attempt: int, state: str) -> Record:
        """The decision; when its answer is lost, the record as it is now."""
        try:
            return await self.records.decide(txn_id, attempt, state)
        except DynamoDBError:
            rec = await self.records.read(txn_id)
            if rec is None or rec.state == PENDING:
                raise InternalServerError("The outcome of this transaction is unknown: its record could not be "
                                          "decided. Read the items to see whether it was applied.") from None
            return rec

    async def _prepare(self, body: dict, tables: dict[str, TableInfo], a: tx.Action, ref: dict,
                       crash: Crash) -> node_pb2.DataResponse:
        t = tables[a.req.table_name]
        h, skey = self.api.locate(t, a.key)
        fields = item_fields(a.req)
        fields.pop("return_values", None)
        if a.kind == "Put":
            fields["item"] = orjson.dumps(a.req.item)
        elif a.kind == "Update":
            fields["item"] = orjson.dumps(a.key)
        if a.kind != "ConditionCheck":
            fields = self.api.with_capacity(body, self.api.with_indexes(t, a.key, fields), t)
        else:
            fields = self.api.with_capacity(body, fields)
        req = Req(op=Req.TXN_PREPARE, key=skey, txn=node_pb2.TxnRef(kind=KINDS[a.kind], **ref), **fields)
        resp = await self.api.cluster.send(t.name, h, req, to_leader=True)
        crash.at("after_prepare", acked=True)
        return resp

    async def _finish_all(self, op: int, tables: dict[str, TableInfo], actions: list[tx.Action], ref: dict,
                          crash: Crash) -> None:
        """TXN_COMMIT (or TXN_RELEASE) every action's lock, retried until each is acknowledged.
        A release goes to every item, prepared or not: a prepare whose answer was lost may have locked it."""
        async def one(a: tx.Action) -> None:
            t = tables[a.req.table_name]
            h, skey = self.api.locate(t, a.key)
            for i in range(COMMIT_TRIES):
                try:
                    await self.api.cluster.send(t.name, h, Req(op=op, key=skey, txn=node_pb2.TxnRef(**ref)),
                                                to_leader=True)
                    break
                except DynamoDBError as exc:
                    if i == COMMIT_TRIES - 1:
                        if op == Req.TXN_COMMIT:
                            raise InternalServerError(
                                "The transaction committed, but an item did not acknowledge it yet; the partition "
                                "will apply it (retry reads).") from exc
                        return  # the partition's recovery releases it
                    await asyncio.sleep(0.05 * (1 + random.random()) * (i + 1))
            if op == Req.TXN_COMMIT:
                crash.at("after_commit", acked=True)
        results = await asyncio.gather(*(one(a) for a in actions), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    def _background_finish(self, txn_id: str, attempt: int) -> None:
        async def finish() -> None:
            for i in range(10):
                try:
                    await self.records.finish(txn_id, attempt)
                    return
                except DynamoDBError:
                    await asyncio.sleep(0.2 * (i + 1))
            log.warning("transaction %s attempt %d: its record could not be marked done", txn_id, attempt)
        task = asyncio.get_running_loop().create_task(finish())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _written(self, txn: tx.WriteTransaction, tables: dict[str, TableInfo], outcomes: list,
                 body: dict) -> dict:
        out: dict[str, Any] = {}
        if txn.return_capacity != "NONE":
            tally = capacity.Tally()
            for a, resp in zip(txn.actions, outcomes):
                units = {name: [local, 2 * u] for name, (local, u) in capacity.index_units(resp).items()}
                tally.add(a.req.table_name, 2 * capacity.write_units(resp.size), units)
            out["ConsumedCapacity"] = tally.consumed(txn.tables, txn.return_capacity)
        if txn.return_metrics == "SIZE":
            metrics: dict[str, list] = {}
            for a, resp in zip(txn.actions, outcomes):
                if a.kind != "ConditionCheck" and resp.HasField("item_collection_size"):
                    schema = self.api.schema(tables[a.req.table_name])
                    gb = resp.item_collection_size / (1 << 30)
                    entry = {"ItemCollectionKey": {schema.hash_key: a.key[schema.hash_key]},
                             "SizeEstimateRangeGB": [float(int(gb)), float(int(gb) + 1)]}
                    if entry not in metrics.setdefault(a.req.table_name, []):
                        metrics[a.req.table_name].append(entry)
            out["ItemCollectionMetrics"] = metrics
        return out

    def _replayed(self, txn: tx.WriteTransaction) -> dict:
        """A repeated token of a committed transaction: success again, nothing changed.
        DynamoDB then reports the read units of reading the items (one each, here)."""
        out: dict[str, Any] = {}
        if txn.return_capacity != "NONE":
            tally = capacity.Tally()
            for a in txn.actions:
                tally.add(a.req.table_name, capacity.read_units(0, True))
            out["ConsumedCapacity"] = tally.consumed(txn.tables, txn.return_capacity)
        if txn.return_metrics == "SIZE":
            out["ItemCollectionMetrics"] = {}
        return out

    # --- TransactGetItems --------------------------------------------------------

    async def transact_get_items(self, body: dict) -> bytes:
        gets = tx.parse_transact_get(body)
        names = list(dict.fromkeys(g.req.table_name for g in gets))
        tables = self._tables(names)
        self._bound(gets, tables)
        deadline = time.monotonic() + LOCKED_WAIT_S
        backoff = 0.01
        while True:
            first = await self._read_round(body, tables, gets)
            locked = [r.txn_locked for r in first]
            if not any(locked):
                if len(gets) == 1:
                    break  # one item: its read is atomic by itself
                second = await self._read_round(body, tables, gets)
                if not any(r.txn_locked for r in second) and all(
                        a.item_stamp == b.item_stamp for a, b in zip(first, second)):
                    break
            elif time.monotonic() >= deadline:
                raise tx.cancelled([TransactionConflictException() if lk else None for lk in locked])
            await asyncio.sleep(backoff * (1 + random.random()))
            backoff = min(backoff * 2, 0.2)
        out = b'{"Responses":[' + b",".join(b'{"Item":' + r.item + b"}" if r.item else b"{}" for r in first) + b"]}"
        if not capacity.wanted(body):
            return out
        tally = capacity.Tally()
        for g, r in zip(gets, first):
            tally.add(g.req.table_name, 2 * capacity.read_units(r.size, True))
        return capacity.add(out, body, tally.consumed(names, capacity.mode(body)))

    async def _read_round(self, body: dict, tables: dict[str, TableInfo],
                          gets: list[tx.Action]) -> list[node_pb2.DataResponse]:
        async def one(g: tx.Action) -> node_pb2.DataResponse:
            t = tables[g.req.table_name]
            h, skey = self.api.locate(t, g.key)
            fields = self.api.with_capacity(body, item_fields(g.req))
            return await self.api.cluster.send(t.name, h, Req(op=Req.GET, key=skey, consistent=True, txn_read=True,
                                                              **fields), to_leader=True)
        return list(await asyncio.gather(*(one(g) for g in gets)))
