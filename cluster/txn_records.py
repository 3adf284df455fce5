"""Transaction records: the one durable decision of each transaction.

A transaction's coordinator (the router that received TransactWriteItems)
and the recovery of a partition that holds one of its locks
(node/feed/txn_recovery.py) meet here. The record's state moves
PENDING -> COMMITTED or PENDING -> ABORTED exactly once per attempt, by a
compare-and-set through the record's partition leader, so whoever comes
first decides and the other learns the decision (presumed abort: a lock
whose attempt is not COMMITTED is released).

The records live in a hidden table (`TXN_TABLE`, created by the first
transaction like `cluster/function_code.py`'s table; '#' keeps user calls
out, its ``System`` mark keeps it out of ListTables). A record gets its
``expires`` (the table's TTL attribute) only once the transaction is done,
every participant having acknowledged, so a record never disappears while a
lock still names it; until then it also answers a repeated
ClientRequestToken (DynamoDB's 10-minute idempotency window).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from cluster.keys import item_key
from cluster.meta import TableInfo
from cluster.partitions import Cluster
from ddb import tables as ddb_tables
from ddb.encoding import encode_key, encode_partition_key, hash64
from ddb.errors import ConditionalCheckFailedException, ResourceInUseException, ServiceUnavailable, ValidationException
from ddb.expressions import Context, parse_condition, parse_update
from ddb.keys import KeySchema
from trireme_pb import node_pb2

TXN_TABLE = "trireme#transactions"
PENDING, COMMITTED, ABORTED = "PENDING", "COMMITTED", "ABORTED"
IDEMPOTENCY_S = 600  # how long a finished transaction's record answers its ClientRequestToken
WAIT_S = 10.0

Req = node_pb2.DataRequest


@dataclass(frozen=True)
class Record:
    id: str
    state: str
    attempt: int
    fingerprint: str
    started_ms: int
    done: bool = False  # `finish` ran: every participant acknowledged


def _spec() -> dict:
    spec = ddb_tables.parse_create_table({
        "TableName": "transactions", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]})
    return {**spec, "TableName": TXN_TABLE, "System": "transactions"}


def _record(raw: bytes) -> Record:
    item = orjson.loads(raw)
    return Record(item["id"]["S"], item["state"]["S"], int(item["attempt"]["N"]), item["fp"]["S"],
                  int(item["started"]["N"]), "expires" in item)


class TxnRecords:
    """The records table, through a router's or a node's partition client."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._schema: tuple[int, KeySchema] | None = None

    async def table(self) -> TableInfo:
        """The records table, created (with its TTL) on first use."""
        def active(state) -> bool:
            t = state.tables.get(TXN_TABLE)
            return t is not None and t.status == "ACTIVE" and bool(t.ttl.get("enabled"))
        state = self.cluster.state
        if state is None or not active(state):
            if state is None or TXN_TABLE not in state.tables:
                try:
                    await self.cluster.meta("create_table", {"name": TXN_TABLE, "spec": _spec()})
                except ResourceInUseException:
                    pass  # another router created it
            if not await self.cluster.wait_for(lambda s: TXN_TABLE in s.tables and
                                               s.tables[TXN_TABLE].status == "ACTIVE", WAIT_S):
                raise ServiceUnavailable("The transactions table is not available yet; retry shortly.")
            if not self.cluster.state.tables[TXN_TABLE].ttl.get("enabled"):
                try:
                    await self.cluster.meta("update_ttl", {"name": TXN_TABLE, "enabled": True,
                                                           "attribute": "expires",
                                                           "now_ms": int(time.time() * 1000), "cooldown_ms": 0})
                except ValidationException:
                    pass  # enabled meanwhile by another router
                await self.cluster.wait_for(active, WAIT_S)
        return self.cluster.state.tables[TXN_TABLE]

    def _locate(self, t: TableInfo, txn_id: str) -> tuple[int, bytes, bytes]:
        if self._schema is None or self._schema[0] != t.id:
            self._schema = (t.id, KeySchema.from_wire(t.spec["KeySchema"], t.spec["AttributeDefinitions"]))
        schema = self._schema[1]
        key = {"id": {"S": txn_id}}
        h = hash64(encode_partition_key(schema, key))
        return h, item_key(t.id, h, encode_key(schema, key)), orjson.dumps(key)

    async def read(self, txn_id: str) -> Record | None:
        """The record as its partition leader holds it now."""
        t = await self.table()
        h, key, _ = self._locate(t, txn_id)
        resp = await self.cluster.send(t.name, h, Req(op=Req.GET, key=key, consistent=True), to_leader=True)
        return _record(resp.item) if resp.item else None

    async def _update(self, txn_id: str, update: str, condition: str | None, values: dict) -> Record | None:
        """One conditional update of the record; None when the condition failed.

        Never re-sent blindly (`idempotent=False`): a compare-and-set applied
        once and then sent again would fail its condition and hide the win.
        """
        t = await self.table()
        h, key, key_item = self._locate(t, txn_id)
        ctx = Context({"#s": "state", "#a": "attempt", "#e": "expires"}, values)
        fields = dict(op=Req.UPDATE, key=key, item=key_item, key_names=["id"],
                      update=orjson.dumps(parse_update(update, ctx)), return_values=Req.ALL_NEW)
        if condition:
            fields["condition"] = orjson.dumps(parse_condition(condition, ctx))
        try:
            resp = await self.cluster.send(t.name, h, Req(**fields), to_leader=True, idempotent=False)
        except ConditionalCheckFailedException:
            return None
        return _record(resp.item)

    async def begin(self, txn_id: str, fingerprint: str) -> tuple[bool, Record]:
        """Start attempt 1 (True), or answer the record that exists (False)."""
        now = int(time.time() * 1000)
        rec = await self._update(
            txn_id, "SET #s = :p, #a = :one, fp = :fp, started = :now", "attribute_not_exists(id)",
            {":p": {"S": PENDING}, ":one": {"N": "1"}, ":fp": {"S": fingerprint}, ":now": {"N": str(now)}})
        if rec is not None:
            return True, rec
        return False, await self._read_after_refusal(txn_id, lambda r: r is None)

    async def restart(self, old: Record) -> Record | None:
        """The next attempt of an ABORTED transaction (a retried token after a
        cancellation); None when someone else moved the record first. An old
        PENDING attempt must be aborted with `decide` first."""
        now = int(time.time() * 1000)
        return await self._update(
            old.id, "SET #s = :p, #a = :next, started = :now REMOVE #e", "#s = :ab AND #a = :old",
            {":p": {"S": PENDING}, ":next": {"N": str(old.attempt + 1)}, ":now": {"N": str(now)},
             ":ab": {"S": ABORTED}, ":old": {"N": str(old.attempt)}})

    async def decide(self, txn_id: str, attempt: int, state: str) -> Record:
        """Move `attempt` from PENDING to `state`; answers the record after the
        call, whoever decided (check its state and attempt)."""
        rec = await self._update(txn_id, "SET #s = :to", "#s = :p AND #a = :a",
                                 {":to": {"S": state}, ":p": {"S": PENDING}, ":a": {"N": str(attempt)}})
        if rec is not None:
            return rec
        return await self._read_after_refusal(
            txn_id, lambda r: r is not None and r.state == PENDING and r.attempt == attempt)

    async def finish(self, txn_id: str, attempt: int) -> None:
        """Every participant acknowledged: the record may expire after the
        idempotency window (TTL)."""
        expires = int(time.time()) + IDEMPOTENCY_S
        await self._update(txn_id, "SET #e = :x", "#a = :a AND #s <> :p",
                           {":x": {"N": str(expires)}, ":a": {"N": str(attempt)}, ":p": {"S": PENDING}})

    async def _read_after_refusal(self, txn_id: str, unsettled: Callable[[Record | None], bool]) -> Record:
        """The record that made a compare-and-set fail. The leader evaluates
        conditions against writes it has proposed but not yet applied, and
        reads answer applied state only: a read may still show what the
        condition required (``unsettled``) until the winner applies, so it is
        read again until it does."""
        deadline = time.monotonic() + WAIT_S
        while True:
            rec = await self.read(txn_id)
            if not unsettled(rec):
                break
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"Transaction record {txn_id} did not settle; retry the request.")
            await asyncio.sleep(0.02)
        if rec is None:  # only `finish`ed records expire, and nothing asks for those but a token
            raise ServiceUnavailable(f"Transaction record {txn_id} vanished; retry the request.")
        return rec
