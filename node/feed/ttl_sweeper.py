"""Time to Live: each partition leader finds its expired items and deletes them.

A leader of a partition whose table has TTL enabled walks the partition's
items in key order, a few hundred per step with a pause between steps, and
proposes a DELETE for each expired one (ddb/ttl.py decides which) through its
Raft log like any write: conditional on the item still being expired when
the leader evaluates it (an update in between that moved the expiry wins),
flagged ``ttl_delete`` so the mutation carries ``by_ttl`` and no capacity is
counted, and with the table's local index definitions so its LSI entries go
with it (global indexes follow through the partition's outbox). Deletes are
paced per partition so foreground writes keep their latency.

Nothing is persisted: a new leader starts a full sweep, and a sweep starts
every ``TRIREME_TTL_SWEEP_S`` seconds (default 30, so an item goes within
about a minute of its expiry). Expired items not yet deleted are still read,
as in DynamoDB.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING

import orjson

from cluster.index_defs import secondary_index
from cluster.meta import MetaState, TableInfo
from cluster.tasks import cancel, every
from ddb.encoding import encode_key_value
from ddb.errors import DynamoDBError
from ddb.expressions import parse_condition, request_context
from ddb.indexes import indexes_of
from ddb.keys import KeySchema
from ddb.ttl import expiry_condition, is_expired
from node.groups.replica import Rejected
from node.partition.replica import PartitionReplica
from node.raft.messages import Role
from node.storage import DATA
from trireme_pb import node_pb2

if TYPE_CHECKING:
    from node.groups.engine import Engine

log = logging.getLogger(__name__)

SWEEP_S = float(os.environ.get("TRIREME_TTL_SWEEP_S", "30"))  # from one sweep's start to the next
DELETES_PER_S = float(os.environ.get("TRIREME_TTL_DELETES_PER_S", "100"))  # per partition
SCAN_STEP = 256  # items looked at per step
STEP_PAUSE_S = 0.005  # between steps: the loop serves foreground requests meanwhile
CHECK_S = 0.5  # how often leaderships and TTL settings are looked at


class TtlSweeper:
    """One driver task per partition this node leads whose table has TTL on."""

    def __init__(self, engine: Engine, view: Callable[[], MetaState | None], *, sweep_s: float = SWEEP_S,
                 deletes_per_s: float = DELETES_PER_S) -> None:
        self.engine = engine
        self.view = view
        self.sweep_s = sweep_s
        self.delete_interval_s = 1.0 / deletes_per_s
        self._drivers: dict[str, asyncio.Task] = {}
        self._requests: dict[str, tuple[dict, KeySchema, list[node_pb2.SecondaryIndex]]] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(every(CHECK_S, self._plan, "TTL sweeper planning", log))

    async def stop(self) -> None:
        await cancel([self._task, *self._drivers.values()])

    def _plan(self) -> None:
        """Start a driver for each partition led here with TTL on; drivers
        end by themselves when either stops."""
        for group, task in list(self._drivers.items()):
            if task.done():
                del self._drivers[group]
        for group, replica in list(self.engine.replicas.items()):
            if group not in self._drivers and isinstance(replica, PartitionReplica) \
                    and self._table_of(replica) is not None:
                self._drivers[group] = asyncio.create_task(self._drive(group))

    def _table_of(self, replica: PartitionReplica) -> TableInfo | None:
        """The table to sweep while this replica leads its partition and the
        table has TTL enabled (else None)."""
        if replica.raft.role != Role.LEADER:
            return None
        state = self.view()
        t = state.table_by_id(replica.config["table_id"]) if state is not None else None
        return t if t is not None and t.ttl.get("enabled") and t.status != "DELETING" else None

    async def _drive(self, group: str) -> None:
        while True:
            replica = self.engine.replicas.get(group)
            if not isinstance(replica, PartitionReplica) or self._table_of(replica) is None:
                return
            started = time.monotonic()
            try:
                await self.sweep(replica)
            except Rejected:
                return  # no longer the leader: the next one sweeps
            except Exception:  # noqa: BLE001
                log.exception("TTL sweep of %s failed", group)
            await asyncio.sleep(max(0.0, self.sweep_s - (time.monotonic() - started)))

    async def sweep(self, replica: PartitionReplica) -> int:
        """One pass over the partition's items; the number of deletes proposed
        that applied. Raises Rejected when leadership is lost."""
        lo, hi = replica.data_range()
        storage = self.engine.storage
        cursor = lo
        deleted = 0
        next_at = time.monotonic()
        while True:
            t = self._table_of(replica)
            if t is None:
                raise Rejected("NOT_LEADER", f"{replica.group}: not leading or TTL is off")
            attribute = t.ttl["attribute"]
            needle = orjson.dumps(attribute) + b":"
            step = list(islice(storage.iter_range(DATA, cursor, hi), SCAN_STEP))
            now = int(time.time())
            pending: list[asyncio.Future] = []
            lost: Rejected | None = None
            for key, value in step:
                if needle not in value:  # cheap: most items have no such top-level attribute at all
                    continue
                item = orjson.loads(value)
                if not is_expired(item, attribute, now):
                    continue
                wait = next_at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                next_at = max(next_at, time.monotonic()) + self.delete_interval_s
                try:
                    pending.append(replica.write(self.delete_request(t, key, item, now)))
                except DynamoDBError:
                    continue  # no longer expired (updated meanwhile): it stays
                except Rejected as exc:
                    lost = exc
                    break
            for outcome in await asyncio.gather(*pending, return_exceptions=True):
                if isinstance(outcome, Rejected):
                    lost = outcome
                elif isinstance(outcome, BaseException):
                    log.debug("TTL delete in %s did not apply: %s", replica.group, outcome)
                else:
                    deleted += 1
            if lost is not None:
                raise lost
            if len(step) < SCAN_STEP:
                return deleted
            cursor = step[-1][0] + b"\x00"
            await asyncio.sleep(STEP_PAUSE_S)

    def delete_request(self, t: TableInfo, key: bytes, item: dict, now: int) -> node_pb2.DataRequest:
        """The DELETE a router would send for a DeleteItem with the expiry
        condition, flagged as TTL's."""
        spec = expiry_condition(t.ttl["attribute"], now)
        condition = parse_condition(spec["ConditionExpression"], request_context(spec, True))
        req = node_pb2.DataRequest(op=node_pb2.DataRequest.DELETE, key=key, condition=orjson.dumps(condition),
                                   ttl_delete=True)
        schema, local = self._table_request(t)
        if local:
            req.partition_key_length = len(encode_key_value(item[schema.hash_key]))
            req.local_indexes.extend(local)
        return req

    def _table_request(self, t: TableInfo) -> tuple[KeySchema, list[node_pb2.SecondaryIndex]]:
        """The table's key schema and local index definitions, kept while its spec stays."""
        cached = self._requests.get(t.name)
        if cached is None or cached[0] is not t.spec:
            schema = KeySchema.from_wire(t.spec["KeySchema"], t.spec["AttributeDefinitions"], has_indexes=True)
            local = [secondary_index(ix, schema) for ix in indexes_of(t.spec) if ix.local]
            cached = self._requests[t.name] = (t.spec, schema, local)
        return cached[1], cached[2]
