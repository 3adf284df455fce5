"""A replica of one table partition: item reads and leader-evaluated writes.

The leader evaluates a write against the newest state, which includes what it
has proposed but not yet applied (the overlay), so read-modify-write stays
atomic without holding latches across the Raft round trip: evaluation and
proposal happen in one step of the event loop. The entry carries the result
(the new item image or a delete), so followers apply it without evaluating.
"""

from __future__ import annotations

import asyncio
import functools
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from cluster.keys import (change_bounds, hash_range_bounds, pitr_bounds, pitr_key, pitr_position, read_u64,
                          split_item_key, stream_bounds, table_bounds, tombstone_bounds, txn_lock_bounds, u64)
from cluster.versions import Version
from ddb import items as ddb_items
from ddb.capacity import index_write_units
from ddb.errors import (DynamoDBError, ItemCollectionSizeLimitExceededException, ReplicatedWriteConflictException,
                        ServiceUnavailable, TransactionConflictException, ValidationException)
from ddb.expressions import evaluate, project
from ddb.indexes import local_spaces
from ddb.size import item_size
from node.partition import global_indexes as gsi
from node.partition.capacity import THROTTLES, PartitionCapacity, raw_read_units, raw_write_units
from node.partition import streams
from node.partition.split import WRONG_GROUP, apply_split, key_hash, median_of, split_command
from node.partition.index_writes import GsiReplicaMixin
from node.partition.txn_locks import TxnLocks, same_attempt
from node.partition.versions import VersionsMixin
from node.partition.local_indexes import (ITEM_COLLECTION_LIMIT, base_key_of, collection_bytes, collection_key,
                           index_mutations)
from node.raft.messages import Entry, Role, SnapshotMeta
from node.groups.replica import LEADER, Rejected, Replica, Reply, UnknownOutcome
from node.groups.snapshots import decode_records
from node.storage import DATA, META, STREAMS, VERSIONS, Batch
from trireme_pb import node_pb2

Req = node_pb2.DataRequest
Resp = node_pb2.DataResponse
GET, PUT, DELETE, UPDATE = Req.GET, Req.PUT, Req.DELETE, Req.UPDATE
CHECK = -1  # a ConditionCheck's evaluation: the condition only (not a DataRequest op)
TXN_KINDS = {node_pb2.TxnRef.PUT: PUT, node_pb2.TxnRef.UPDATE: UPDATE, node_pb2.TxnRef.DELETE: DELETE,
             node_pb2.TxnRef.CHECK: CHECK}
CONFLICT, ABSENT = "conflict", "absent"  # apply results of transaction entries that changed nothing
FROZEN = "frozen"  # apply result: item writes are frozen (FREEZE), so this one was not applied
FROZEN_MESSAGE = ("The table is being made a global table with MultiRegionConsistency STRONG; its writes "
                  "resume in a moment. Retry the request.")
FREEZE_DRAIN_S = 2.0  # how long a freeze waits for the transactions prepared before it to end
LOCKED_MESSAGE = ("The table cannot be made a global table with MultiRegionConsistency STRONG while transactions "
                  "on its items are in progress. Retry the request.")
HOT_KEYS = 512  # written keys a leader remembers, to split a hot partition where its writes divide
STAMP_KEYS = 100_000  # keys whose last write index a leader keeps for TransactGetItems' stamps
RETURN_VALUES = {v.number: v.name for v in Req.ReturnValues.DESCRIPTOR.values}  # as ddb.items names them
REGIONAL = ("member", "witness")  # an MRSC member's own settings, which a snapshot from another region keeps
_ITEM_HEADER = 12  # an item key's table id (4 bytes) and hash (8), as cluster.keys lays it out
_KEY_HASH = struct.Struct(">Q")
_LAST_HASH = (1 << 64) - 1  # a partition's `hi` when it holds the table's whole hash range


class PartitionReplica(VersionsMixin, GsiReplicaMixin, Replica):
    kind = "partition"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # key -> [pending value (None: delete), number of pending proposals, their origin region]
        self._overlay: dict[bytes, list] = {}
        self._installed_config: dict | None = None  # from a snapshot being installed
        self.locks = TxnLocks(self.engine.storage, self.group)
        self._installed_locks: dict | None = None  # from a snapshot being installed
        self._caught_up_to = 0  # the last outbox record a snapshot being installed added (an MRSC member)
        self._txn_inflight: dict[tuple, asyncio.Future] = {}  # (key, id, attempt, op) -> its proposal's answer
        self._drain_waiters: list[asyncio.Future] = []  # freezes waiting for the applied locks to end
        # Leader, once a TransactGetItems read came: key -> index of its last
        # applied write; keys not in it were last written at or before the floor.
        self._stamps: dict[bytes, int] | None = None
        self._stamp_floor = 0
        self.split_pending: tuple[str, dict] | None = None  # a split applied in the batch being written
        self.hot_keys: deque[bytes] = deque(maxlen=HOT_KEYS)  # the leader's latest written keys: heat splits
        self.capacity = PartitionCapacity()  # units metered here and, when limited, its buckets
        self._init_gsi()
        self._init_versions()

    # --- reads ------------------------------------------------------------

    def current(self, key: bytes) -> bytes | None:
        """The newest value of `key` as the leader must evaluate against."""
        pending = self._overlay.get(key)
        if pending is not None:
            return pending[0]
        return self.engine.storage.get_item(key)

    def serves_eventual_reads(self) -> bool:
        """A voter that knows a leader (or is one, or lost it a moment ago by
        a closed connection and is electing the next) holds a recent copy; a
        fresh learner may hold nothing yet."""
        r = self.raft
        return r.id in r.conf.voters and (r.lead is not None or r.role == LEADER or r.lost_leader_recently())

    def _read_ready(self, consistent: bool) -> bool:
        """May this replica serve the read now? False: a strongly consistent
        read must first confirm leadership (ReadIndex). Raises Rejected."""
        if consistent:
            if self.raft.role != LEADER:
                raise Rejected("NOT_LEADER", f"not the leader of {self.group}", self.raft.lead)
            return self.lease_read_ok()
        if not self.serves_eventual_reads():
            raise Rejected("UNAVAILABLE", f"replica of {self.group} is not caught up", self.raft.lead)
        return True

    async def _ready_to_read(self, consistent: bool) -> None:
        if not self._read_ready(consistent):
            await self.linearizable_read()

    async def get(self, req: node_pb2.DataRequest) -> node_pb2.DataResponse:
        self.check_owns(req.key)
        await self._ready_to_read(req.consistent)
        self.check_owns(req.key)  # (a split may have applied meanwhile)
        return self.read_item(req)

    def get_now(self, req: node_pb2.DataRequest) -> node_pb2.DataResponse | None:
        """`get` without a task when no wait is needed (None: it is).
        (Each field read once: a protobuf field read makes a new object.)"""
        key, consistent = req.key, req.consistent
        self.check_owns(key)
        return self.read_item(req, key, consistent) if self._read_ready(consistent) else None

    def owns(self, key: bytes) -> bool:
        """Is item ``key`` in this partition's hash range (a split may have given it away)?
        (`key_hash` inlined: every write asks twice, every replica once more.)"""
        if len(key) < _ITEM_HEADER:
            return True  # not an item key
        h = _KEY_HASH.unpack_from(key, 4)[0]
        c = self.config
        return c["lo"] <= h <= c["hi"]

    def owns_hash(self, h: int) -> bool:
        c = self.config
        return c["lo"] <= h <= c["hi"]

    def check_owns(self, key: bytes) -> None:
        """Raises WRONG_GROUP for a key this partition does not hold: the
        router's map is older than a split, and it retries with a newer one.
        A key of another table id was built from a map older than its table's
        move onto new partitions (made MRSC): the caller builds it again."""
        if not self.owns(key):
            raise Rejected("WRONG_GROUP", f"key outside {self.group} (it split)")
        if len(key) >= 4 and int.from_bytes(key[:4], "big") != self.config["table_id"]:
            raise ServiceUnavailable("The table moved to new partitions (it was made a global table with "
                                     "MultiRegionConsistency STRONG). Retry the request.")

    def read_item(self, req: node_pb2.DataRequest, key: bytes | None = None,
                  consistent: bool | None = None) -> node_pb2.DataResponse:
        """A GET's answer (without its id); ``key`` and ``consistent``: the
        request's, when the caller read them already. Raises the throttling
        error when the partition's read capacity is spent."""
        if key is None:
            key, consistent = req.key, req.consistent
        value = self.engine.storage.get_item(key)
        cap = self.capacity
        txn_read, measure = req.txn_read, req.measure_capacity
        if value is None or not (measure or cap.exact):
            units = raw_read_units(len(value) if value else 0, consistent or txn_read)
        else:
            units = raw_read_units(item_size(orjson.loads(value)), consistent or txn_read)
        cap.read(units, time.monotonic())
        if txn_read:
            resp = self._item_answer(req, value, measure)
            # Held also while its commit or release is only proposed: the item may change any moment.
            resp.txn_locked = key in self.locks.applied or self.locks.holder(key) is not None
            resp.item_stamp = self.item_stamp(key)
            return resp
        return self._item_answer(req, value, measure)

    def _item_answer(self, req: node_pb2.DataRequest, value: bytes | None, measure: bool) -> node_pb2.DataResponse:
        if value is None:
            return Resp()
        proj = req.projection
        if not (proj or measure):
            return Resp(item=value)
        item = orjson.loads(value)
        resp = Resp(item=orjson.dumps(project(item, orjson.loads(proj))) if proj else value)
        if measure:
            resp.size = item_size(item)
        return resp

    async def read_range(self, req: node_pb2.DataRequest) -> node_pb2.DataResponse:
        """One page of a Query or Scan: items with keys in ``[start, end)``.

        ``limit`` counts items evaluated (before the filter) and ``max_bytes``
        the item data read, as DynamoDB's Limit and 1 MB page do; when either
        stops the page, ``last_key`` is the last key evaluated. Items travel
        as stored unless a filter or projection needs them parsed.
        """
        await self._ready_to_read(req.consistent)
        lo, hi = self._clamp(req.start, req.end)
        if req.exclusive:
            if req.reverse:
                hi = min(hi, req.exclusive)
            else:
                lo = max(lo, req.exclusive + b"\x00")
        filt = orjson.loads(req.filter) if req.filter else None
        proj = orjson.loads(req.projection) if req.projection else None
        cap = req.measure_capacity or self.capacity.exact
        read_size = fetched = 0  # DynamoDB's size of the items (entries) read and fetched, for ConsumedCapacity
        fetch = req.fetch_table or None  # a local index entry stands for its base item (this table id)
        limit, max_bytes = req.limit or None, req.max_bytes or None
        out: list[bytes] = []
        scanned = size = 0
        last = b""
        full = False
        storage = self.engine.storage
        for key, value in storage.iter_range(DATA, lo, hi, req.reverse):
            scanned += 1
            size += len(value)
            entry = value
            if fetch is not None:
                value = storage.get_item(base_key_of(key, fetch)) or value
            item = orjson.loads(value) if cap or filt is not None or proj is not None else None
            if cap:
                if fetch is None:
                    read_size += item_size(item)
                else:  # the index entry read, and the table item fetched for it
                    read_size += item_size(orjson.loads(entry))
                    fetched += item_size(item)
            if filt is None and proj is None:
                out.append(value)
            else:
                if filt is None or evaluate(filt, item):
                    out.append(value if proj is None else orjson.dumps(project(item, proj)))
            if (limit is not None and scanned >= limit) or (max_bytes is not None and size >= max_bytes):
                last, full = key, True
                break
        units = raw_read_units(read_size + fetched if cap else size, req.consistent)
        self.capacity.read(units, time.monotonic())
        resp = Resp(count=len(out), scanned=scanned, last_key=last if full else b"", bytes_read=size,
                    size=read_size, fetched_size=fetched)
        if not req.count_only:
            resp.item = b"[" + b",".join(out) + b"]"
        return resp

    def _clamp(self, start: bytes, end: bytes) -> tuple[bytes, bytes]:
        """Never read outside this partition's hash range, whatever the router
        believed (its map may be stale)."""
        c = self.config
        if len(start) < 12:
            raise Rejected("WRONG_GROUP", f"range start outside {self.group}")
        table_id, h, _ = split_item_key(start)
        own_end = hash_range_bounds(table_id, c["lo"], c["hi"] + 1)[1]
        if not c["lo"] <= h <= c["hi"] or own_end < end <= table_bounds(table_id)[1]:
            # (a range past our end in our table: the router's map predates a split)
            raise Rejected("WRONG_GROUP", f"range outside {self.group}")
        return start, min(end, own_end)

    def item_stamp(self, key: bytes) -> int:
        """A number that changes whenever the item may have changed (at this
        leader: its last write's index; another leader: another term)."""
        if self.raft.role != LEADER:
            raise Rejected("NOT_LEADER", f"not the leader of {self.group}", self.raft.lead)
        stamps = self._stamps
        if stamps is None:
            stamps = self._stamps = {}
            self._stamp_floor = self.raft.log.applied
        return (self.raft.term << 40) ^ stamps.get(key, self._stamp_floor)

    def _note_stamps(self, stamps: dict[bytes, int], cmd: node_pb2.WriteCommand, index: int) -> None:
        for m in cmd.mutations:
            stamps[m.key] = index
        if len(stamps) > STAMP_KEYS:
            stamps.clear()
            self._stamp_floor = index

    # --- stream records (node/partition/streams.py) ----------------------------

    def read_stream(self, req: node_pb2.DataRequest) -> node_pb2.DataResponse:
        """STREAM_READ or STREAM_SHARD. Any voter may answer: it holds only
        applied (so committed) records, and positions are log positions, so a
        lagging replica answers fewer records, never other ones. Routers ask
        the leader, which holds the newest."""
        if not self.serves_eventual_reads():
            raise Rejected("UNAVAILABLE", f"replica of {self.group} is not caught up", self.raft.lead)
        storage = self.engine.storage
        stream = streams.find(self.config, req.stream_label)
        if req.op == Req.STREAM_SHARD:
            horizon, latest = streams.shard_positions(storage, self.group, stream)
            return Resp(horizon=horizon, latest=latest)
        frm = (req.stream_from.index, req.stream_from.offset)
        return streams.read(storage, self.group, stream, frm, req.limit or 1000, req.max_bytes or (1 << 20))

    # --- writes -------------------------------------------------------------

    async def write_checked(self, req: node_pb2.DataRequest,
                            write: Callable[[node_pb2.DataRequest], asyncio.Future] | None = None
                            ) -> node_pb2.DataResponse:
        """`write` (or ``write``: `prepare`), but a refusal (a failed condition)
        is only answered once a linearizable read confirms this leader's state
        is current: a deposed leader must not fail a condition that the real
        state satisfies."""
        write = write or self.write
        try:
            fut = write(req)
        except THROTTLES:
            raise
        except DynamoDBError:
            if self.lease_held():
                raise
            await self.linearizable_read()
            fut = write(req)
        return await fut

    def write(self, req: node_pb2.DataRequest, reply: Reply | None = None) -> asyncio.Future | Reply:
        """Evaluate a put/delete/update now and propose its result.

        Raises DynamoDBError (a failed condition, a bad update, an item a
        transaction holds) or Rejected synchronously; otherwise returns a
        future of the response (without its id): ``reply`` when given and
        the table has no global index (whose hand-off may hold the answer).
        """
        self.check_leader()
        key = req.key  # (each protobuf field read makes a new object: once)
        self.check_owns(key)
        if "frozen" in self.config:
            raise ServiceUnavailable(FROZEN_MESSAGE)
        self.hot_keys.append(key)
        locks = self.locks
        if locks.applied or locks.pending:  # the one check a write pays while no transaction runs
            locks.check_free(key)
        origin = req.origin_region
        if origin:  # a strongly consistent global table: one region's write of an item at a time
            pending = self._overlay.get(key)
            if pending is not None and pending[2] and pending[2] != origin:
                raise ReplicatedWriteConflictException(
                    "The request was rejected because one or more items in the request are being modified by "
                    "a request in another Region.")
        new, extra, resp = self._evaluate(req, req.op, key=key)
        cmd, version = self._command(key, new, extra, req.ttl_delete)
        return self._propose_write(cmd, version, lambda _result: resp, origin=origin,
                                   writes=None if extra else ((key, new),), reply=reply)

    def write_batch(self, req: node_pb2.DataRequest,
                    error: Callable[[BaseException], node_pb2.DataResponse]) -> asyncio.Future:
        """BATCH_WRITE: each part `write` as if it came alone (one request
        and one answer for a BatchWriteItem's items of this partition instead
        of one each), answered in ``parts`` in order, a failed part by
        ``error(exc)``. Raises Rejected (nothing proposed) when not the leader.
        A refused part is only answered so while the lease shows this
        leader's state current (as `write_checked` makes sure); otherwise it
        answers UNAVAILABLE, and the router sends it again on its own."""
        self.check_leader()
        origin = req.origin_region
        out: asyncio.Future = asyncio.get_running_loop().create_future()
        answers: list[node_pb2.DataResponse | None] = []
        left = [1]  # the parts not answered yet, and one until every part is proposed

        def finish() -> None:
            left[0] -= 1
            if left[0] == 0 and not out.done():
                out.set_result(Resp(parts=answers))

        def settle(i: int, resp: node_pb2.DataResponse | None, exc: BaseException | None) -> None:
            if exc is not None:
                resp = error(UnknownOutcome(f"{self.group}: proposal cancelled")
                             if isinstance(exc, asyncio.CancelledError) else exc)
            answers[i] = resp
            finish()

        def settled(i: int, fut: asyncio.Future) -> None:  # (a future: the answer waits for an index's hand-off)
            exc = asyncio.CancelledError() if fut.cancelled() else fut.exception()
            settle(i, None if exc is not None else fut.result(), exc)

        for i, part in enumerate(req.parts):
            if origin:
                part.origin_region = origin
            answers.append(None)
            try:
                reply = Reply(functools.partial(settle, i))  # (each part's outcome, without a future)
                fut = self.write(part, reply)
            except THROTTLES as exc:
                answers[i] = error(exc)
                continue
            except DynamoDBError as exc:
                answers[i] = error(exc if self.lease_held() else
                                   Rejected("UNAVAILABLE", f"{self.group}: confirming leadership"))
                continue
            except Exception as exc:  # noqa: BLE001 (Rejected, or a bug: that part's answer)
                answers[i] = error(exc)
                continue
            left[0] += 1
            if fut is not reply:
                fut.add_done_callback(functools.partial(settled, i))
        finish()
        return out

    def _evaluate(self, req: node_pb2.DataRequest, op: int, *, commit: bool = False, charge: int = 1,
                  key: bytes | None = None) -> tuple[bytes | None, list[node_pb2.Mutation], node_pb2.DataResponse]:
        """Evaluate ``req`` as the write ``op`` (or CHECK: the condition only)
        against the newest state: the item's new value (None: deleted), the
        local index mutations and the answer. ``commit``: a prepared
        transaction's write, checked at its prepare, so no limit refuses it.
        ``charge``: the write's units are metered (and admitted by the
        partition's buckets) this many times: 2 for a transaction's prepare,
        0 for its commit. ``key``: the request's, when the caller read it.
        Raises DynamoDBError (throttling too)."""
        if key is None:
            key = req.key
        extra: list = []
        resp = Resp()
        cap = self.capacity
        wanted = req.measure_capacity  # the caller's ConsumedCapacity needs the exact size
        measure = wanted or cap.exact
        if op == PUT and not (wanted or self.globals or req.condition or req.return_values or req.local_indexes):
            # A plain put: nothing needs the old item but (a provisioned table's) exact price.
            item = req.item  # (a copy of the item each read: once)
            if charge:
                cap.write(charge * (self._exact_put_units(key, item) if measure else raw_write_units(len(item))),
                          time.monotonic())
            return item, extra, resp
        old_raw = self.current(key)
        old = orjson.loads(old_raw) if old_raw is not None else None
        cond = orjson.loads(req.condition) if req.condition else None
        rv, rvf = RETURN_VALUES[req.return_values], req.return_old_on_condition_failure
        if op == PUT:
            new = req.item
            outcome = ddb_items.evaluate_put(old, orjson.loads(new), cond, rv, rvf)
        elif op == DELETE:
            outcome = ddb_items.evaluate_delete(old, cond, rv, rvf)
            new = None
        elif op == UPDATE:
            key_item, update = req.item, req.update
            # (the JSON bounds the sizes from above: see evaluate_update; the key starts a new item only)
            outcome = ddb_items.evaluate_update(
                old, orjson.loads(key_item) if old is None else {}, orjson.loads(update) if update else {},
                tuple(req.key_names), cond, rv, rvf, size_bound=len(old_raw or key_item) + len(update))
            new = orjson.dumps(outcome.new_item) if outcome.new_item is not None else None
        elif op == CHECK:
            ddb_items.evaluate_delete(old, cond, "NONE", rvf)  # the condition, nothing changed
            if measure:
                resp.size = item_size(old) if old else 0
            if charge:
                cap.write(charge * raw_write_units(resp.size if measure else len(old_raw or b"")), time.monotonic())
            return old_raw, extra, resp
        else:
            raise ValueError(f"not a write: {Req.Op.Name(op)}")
        if outcome.returned:
            resp.item = orjson.dumps(outcome.returned)
        if outcome.new_item is not None and not commit:
            for g in self.globals:
                problem = g.key_error(old, outcome.new_item)
                if problem is not None:
                    raise ValidationException(problem)
        if req.local_indexes:
            extra, resp.item_collection_size = self._local_indexes(key, req, old, outcome.new_item,
                                                                   limit=not commit)
        if req.ttl_delete or not charge:  # TTL deletes consume no capacity
            return new, extra, resp
        if measure:
            # DynamoDB charges a write by the larger of the item before and after.
            resp.size = max(item_size(old) if old else 0, item_size(outcome.new_item) if outcome.new_item else 0)
            for name, (local, units) in index_write_units(req.capacity_indexes, old, outcome.new_item).items():
                resp.index_writes.add(index=name, local=local, units=units)
            units = raw_write_units(resp.size)
        else:
            units = raw_write_units(max(len(old_raw or b""), len(new or b"")))
        cap.write(charge * units, time.monotonic(), self._index_units(cap, resp, old, outcome.new_item, units)
                  if cap.limits.gsi_write else None)
        return new, extra, resp

    def _exact_put_units(self, key: bytes, item: bytes) -> int:
        """A put's write units at DynamoDB's price (the larger of the item
        before and after). The stored JSON bounds an item's size from above
        (it spells every name and value, plus type descriptors), so the old
        item is parsed and measured only when that bound could cost more."""
        units = raw_write_units(item_size(orjson.loads(item)))
        old_raw = self.current(key)
        if old_raw is not None and raw_write_units(len(old_raw)) > units:
            units = max(units, raw_write_units(item_size(orjson.loads(old_raw))))
        return units

    def _index_units(self, cap: PartitionCapacity, resp: Resp, old: dict | None, new: dict | None,
                     units: int) -> dict[str, float]:
        """The writes a write causes to each global index, for an index's
        back-pressure: as measured for ConsumedCapacity, else the item's units
        for every index whose keys the item has before or after."""
        if resp.index_writes:
            return {w.index: w.units for w in resp.index_writes if not w.local}
        out = {}
        for g in self.globals:
            names = [a for a, _, _ in g.keys.attributes()]
            if any(item is not None and all(a in item for a in names) for item in (old, new)):
                out[g.index_name] = float(units)
        return out

    def _command(self, key: bytes, new: bytes | None, extra: list[node_pb2.Mutation],
                 by_ttl: bool) -> tuple[node_pb2.WriteCommand, Version | None]:
        """The entry of an evaluated write, and the item's version (global tables)."""
        cmd = node_pb2.WriteCommand()
        # (only the fields set: the entry's bytes are the same, one message less to build and copy)
        if new is not None:
            cmd.mutations.add(key=key, value=new)
        elif by_ttl:
            cmd.mutations.add(key=key, delete=True, by_ttl=True)
        else:
            cmd.mutations.add(key=key, delete=True)
        if extra:
            cmd.mutations.extend(extra)
        version = None
        settings = self.replication
        if settings is not None:  # a global table: the item's version (node/partition/versions.py)
            cmd.version_ts = self.hlc.now()
            version = Version(cmd.version_ts, settings["region"])
        return cmd, version

    def replicate(self, req: node_pb2.DataRequest) -> asyncio.Future:
        """Apply another region's change (REPLICATE) iff its version is newer
        than the item's: answered ``superseded`` otherwise. Raises Rejected or
        DynamoDBError synchronously, like `write`."""
        self.check_leader()
        key = req.key
        self.check_owns(key)
        version = Version(req.version.ts, req.version.region)
        self.hlc.observe(version.ts)
        if version <= self.newest_version(key):
            return _answered(Resp(superseded=True))
        new = req.item or None
        cmd = node_pb2.WriteCommand(mutations=[node_pb2.Mutation(key=key, value=new or b"", delete=new is None)],
                                    replicated=req.version)
        if req.local_indexes:
            old_raw = self.current(key)
            # Not refused at the limit: the origin region accepted the write, and
            # the regions converge to its collection (refusing would stall the feed).
            extra, _ = self._local_indexes(key, req, orjson.loads(old_raw) if old_raw is not None else None,
                                           orjson.loads(new) if new is not None else None, limit=False)
            cmd.mutations.extend(extra)
        return self._propose_write(cmd, version, self.replicate_result)

    # --- transactions (node/partition/txn_locks.py) ----------------------------------

    def prepare(self, req: node_pb2.DataRequest) -> asyncio.Future:
        """TXN_PREPARE: evaluate the action ``req.txn.kind`` names as `write`
        does, then lock the item for the attempt with the write its commit
        applies. Again for a held lock: answered OK. Raises DynamoDBError
        (TransactionConflictException: another attempt holds the item) or
        Rejected synchronously, like `write`."""
        tag, again = self._txn_step(req)
        if again is not None:
            return again
        key, ref = req.key, req.txn
        held = self.locks.holder(key)
        if held is not None:
            if same_attempt(held.txn, ref):
                return _answered(Resp())
            raise TransactionConflictException()
        if "frozen" in self.config:  # (a prepare proposed before the freeze applies is refused at apply)
            raise TransactionConflictException()
        if self.locks.ended(key, ref):  # a late duplicate: the attempt is over here
            raise TransactionConflictException()
        op = TXN_KINDS.get(ref.kind)
        if op is None:
            raise ValueError("TXN_PREPARE names no action (txn.kind)")
        new, extra, resp = self._evaluate(req, op, charge=2)  # DynamoDB charges a transaction's writes twice
        lock = node_pb2.TxnLock(key=key, txn=ref, prepared_ms=int(time.time() * 1000))
        if op != CHECK:
            lock.commit.CopyFrom(Req(op=PUT if new is not None else DELETE, key=key, item=new or b"",
                                     local_indexes=req.local_indexes,
                                     partition_key_length=req.partition_key_length))

        def answer(result: Any) -> node_pb2.DataResponse:
            if result == CONFLICT:
                raise TransactionConflictException()
            return resp
        return self._track(tag, self._propose_write(node_pb2.WriteCommand(txn_lock=lock), None, answer,
                                                    (key, lock)))

    def txn_commit(self, req: node_pb2.DataRequest) -> asyncio.Future:
        """TXN_COMMIT: apply the attempt's prepared write as `write` would
        (local indexes, GSI outbox, stream record, version: once, at apply)
        and unlock the item in the same entry."""
        return self._end_txn(req, commit=True)

    def txn_release(self, req: node_pb2.DataRequest) -> asyncio.Future:
        """TXN_RELEASE: unlock the item, changing nothing."""
        return self._end_txn(req, commit=False)

    def _end_txn(self, req: node_pb2.DataRequest, commit: bool) -> asyncio.Future:
        """Answered ``txn_absent`` when the attempt holds no lock on the key (done already)."""
        tag, again = self._txn_step(req)
        if again is not None:
            return again
        key, ref = req.key, req.txn
        held = self.locks.holder(key)
        if held is None or not same_attempt(held.txn, ref):
            return _answered(Resp(txn_absent=True))
        version = None
        if commit and held.HasField("commit"):
            new, extra, _ = self._evaluate(held.commit, held.commit.op, commit=True, charge=0)
            cmd, version = self._command(key, new, extra, False)
        else:
            cmd = node_pb2.WriteCommand()
        cmd.txn_unlock.CopyFrom(node_pb2.TxnLock(key=key, txn=ref))
        return self._track(tag, self._propose_write(cmd, version, lambda result: Resp(txn_absent=result == ABSENT),
                                                    (key, None)))

    def _txn_step(self, req: node_pb2.DataRequest) -> tuple[tuple, asyncio.Future | None]:
        """A transaction step's tag, and (for the same step in flight) the
        answer to follow. Raises Rejected when not the leader."""
        self.check_leader()
        self.check_owns(req.key)
        ref = req.txn
        tag = (req.key, ref.id, ref.attempt, req.op)
        again = self._txn_inflight.get(tag)
        return tag, (_follow(again) if again is not None else None)

    def _track(self, tag: tuple, fut: asyncio.Future) -> asyncio.Future:
        """Remember a transaction step in flight: the same request again follows it."""
        inflight = self._txn_inflight
        inflight[tag] = fut

        def gone(_f: asyncio.Future) -> None:
            if inflight.get(tag) is fut:
                del inflight[tag]
        fut.add_done_callback(gone)
        return fut

    def _propose_write(self, cmd: node_pb2.WriteCommand, version: Version | None,
                       answer: Callable[[Any], node_pb2.DataResponse],
                       lock: tuple[bytes, node_pb2.TxnLock | None] | None = None,
                       origin: str = "", writes: tuple[tuple[bytes, bytes | None], ...] | None = None,
                       reply: Reply | None = None) -> asyncio.Future | Reply:
        """Propose an evaluated write; the future answers ``answer(applied result)``
        (or fails with the DynamoDBError it raises). ``lock``: the (key, lock
        or None) the entry leaves, for later evaluations to see meanwhile.
        ``origin``: the region a strongly consistent global table's write came from.
        ``writes``: the command's mutations as (key, value or None: deleted),
        when the caller has them (reading them back from ``cmd`` copies each value).
        ``reply``: given the outcome instead of a future (`Replica.propose`), unless
        the answer may wait for an index's hand-off."""
        if self.stream is not None or "pitr" in self.config:
            cmd.timestamp_ms = int(time.time() * 1000)  # the records' ApproximateCreationDateTime, PITR's time
        item_key = b""
        if version is not None:
            item_key = cmd.mutations[0].key if cmd.mutations else b""
            self.pend_version(item_key, version)
        unlock = self.locks.pend(*lock) if lock is not None else None
        if writes is None:  # (each protobuf field read makes a new object: once)
            writes = tuple((m.key, None if m.delete else m.value) for m in cmd.mutations)
        # Later writes evaluate against these values until they apply.
        overlay = self._overlay
        keys = []
        for key, value in writes:
            keys.append(key)
            slot = overlay.get(key)
            if slot is None:
                overlay[key] = [value, 1, origin]
            else:
                slot[0] = value
                slot[1] += 1
                slot[2] = slot[2] or origin

        def done(_applied: bool) -> None:
            for k in keys:
                s = overlay.get(k)
                if s is not None:
                    s[1] -= 1
                    if s[1] <= 0:
                        del overlay[k]
            if version is not None:
                self.unpend_version(item_key)
            if unlock is not None:
                unlock(_applied)

        def applied(result: Any) -> node_pb2.DataResponse:
            if result == WRONG_GROUP:
                raise Rejected("WRONG_GROUP", f"key outside {self.group} (it split before this write applied)")
            if result == FROZEN:
                if lock is not None and lock[1] is not None:  # a prepare after the freeze: cancelled, nothing locked
                    raise TransactionConflictException()
                raise ServiceUnavailable(FROZEN_MESSAGE)
            return answer(result)

        # A plain item write (no version, no lock) may share its entry (`combine`).
        merge = len(keys) if version is None and lock is None else None
        if self.globals:  # the hand-off to a new index may hold the answer (index_writes.py): a future
            return self.hold_for_index(self.propose(cmd.SerializeToString(), done, applied, merge))
        return self.propose(cmd.SerializeToString(), done, applied, merge, reply)

    def combine(self, parts: list[tuple[bytes, int]]) -> bytes:
        """Plain write commands concatenate into one (protobuf merges repeated
        fields by appending), with each one's count of mutations (`parts`)."""
        return b"".join([data for data, _ in parts]) + node_pb2.WriteCommand(
            parts=[n for _, n in parts]).SerializeToString()

    def _local_indexes(self, key: bytes, req: node_pb2.DataRequest, old: dict | None,
                       new: dict | None, limit: bool = True) -> tuple[list[node_pb2.Mutation], int]:
        """The item's local index entries and its collection's new size, refusing
        growth past the item collection limit (if ``limit``)."""
        pkl, indexes = req.partition_key_length, req.local_indexes
        mutations = index_mutations(key, pkl, indexes, old, new)
        counter = collection_key(key, pkl)
        current = self.current(counter)
        before = read_u64(current) if current else 0
        total = before - collection_bytes(old, indexes) + collection_bytes(new, indexes)
        if limit and total > before and total > ITEM_COLLECTION_LIMIT:
            raise ItemCollectionSizeLimitExceededException(
                f"Item collection size limit exceeded: this partition key's items and local index "
                f"entries would take {total} bytes, over the limit of {ITEM_COLLECTION_LIMIT}")
        mutations.append(node_pb2.Mutation(key=counter, value=u64(total)) if total > 0
                         else node_pb2.Mutation(key=counter, delete=True))
        return mutations, total

    def apply(self, batch: Batch, rd: Any) -> list:
        self._applying.clear()  # the previous batch is durable: storage has it all
        self._versions_applying.clear()
        return super().apply(batch, rd)

    def apply_entry(self, batch: Batch, entry: Entry) -> Any:
        cmd = node_pb2.WriteCommand.FromString(entry.data)
        if cmd.parts:
            return self._apply_merged(batch, entry.index, cmd)
        if cmd.HasField("split"):
            return apply_split(self, batch, entry, cmd.split)
        # (each field asked once: a plain write's entry pays for every feature's check)
        locking, unlocking = cmd.HasField("txn_lock"), cmd.HasField("txn_unlock")
        key = (cmd.txn_lock.key if locking else cmd.txn_unlock.key if unlocking
               else cmd.mutations[0].key if cmd.mutations and not cmd.fence_source else None)
        if key is not None and not self.owns(key):
            return WRONG_GROUP  # proposed before this replica's split applied: never applied here
        if cmd.freeze or cmd.thaw:
            self.config = {k: v for k, v in self.config.items() if k != "frozen"}
            if cmd.freeze:
                self.config["frozen"] = True
            batch.set_group_config(self.group, orjson.dumps(self.config))
            return None
        if key is not None and "frozen" in self.config and not unlocking:
            # A transaction prepared before the freeze still commits or releases: the
            # freeze is only answered once none is left (`freeze`), so no commit follows it.
            return FROZEN
        if cmd.HasField("checkpoint"):
            return self._apply_checkpoint(batch, cmd.checkpoint)
        if locking:
            return None if self.locks.apply_lock(batch, cmd.txn_lock) else CONFLICT
        if unlocking:
            if not self.locks.apply_unlock(batch, cmd.txn_unlock):
                return ABSENT  # the commit's write goes with its lock only
            if not cmd.mutations:
                return None
        result = self.apply_command(batch, entry.index, cmd)
        stamps = self._stamps
        if stamps is not None:
            self._note_stamps(stamps, cmd, entry.index)
        return result

    def _apply_merged(self, batch: Batch, index: int, cmd: node_pb2.WriteCommand) -> list:
        """A merged entry's writes, as each alone would apply: each one's
        result, in order (node/groups/merge.py)."""
        if "frozen" in self.config:
            return [FROZEN] * len(cmd.parts)
        mutations = cmd.mutations
        parts = cmd.parts
        c = self.config
        lo, hi = c["lo"], c["hi"]
        results: list
        if lo == 0 and hi == _LAST_HASH:  # the whole hash range (a table of one partition): every part owned
            results = [None] * len(parts)
        else:
            results, at = [], 0
            for n in parts:  # (`owns` inlined: a merged entry asks it of every part on every replica)
                key = mutations[at].key
                results.append(None if len(key) < _ITEM_HEADER or lo <= _KEY_HASH.unpack_from(key, 4)[0] <= hi
                               else WRONG_GROUP)  # proposed before this replica's split applied
                at += n
        keep: list[node_pb2.Mutation] | None = None
        if WRONG_GROUP in results:
            keep, at = [], 0
            for n, result in zip(parts, results):
                if result is None:
                    keep.extend(mutations[at:at + n])
                at += n
            cmd = node_pb2.WriteCommand(mutations=keep, timestamp_ms=cmd.timestamp_ms)
        if keep is None or keep:
            self.apply_command(batch, index, cmd)
            if self._stamps is not None:
                self._note_stamps(self._stamps, cmd, index)
        return results

    async def freeze(self, req: node_pb2.DataRequest) -> node_pb2.DataResponse:
        """FREEZE: stop (or resume) item writes at this point of the log, so
        whoever reads the partition strongly afterwards has seen its last
        write until it is thawed. Answers once applied here and no
        transaction prepared before it holds a lock any more (their commits
        apply first); ServiceUnavailable (retryable) when some still do after
        FREEZE_DRAIN_S, so a commit can never follow the freeze's answer."""
        self.check_leader()
        await self.propose(node_pb2.WriteCommand(freeze=req.freeze, thaw=not req.freeze).SerializeToString())
        if req.freeze and self.locks.applied:
            waiter = asyncio.get_running_loop().create_future()
            self._drain_waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, FREEZE_DRAIN_S)
            except TimeoutError:
                raise ServiceUnavailable(LOCKED_MESSAGE) from None
            finally:
                if waiter in self._drain_waiters:
                    self._drain_waiters.remove(waiter)
        return Resp()

    def _apply_checkpoint(self, batch: Batch, cp: node_pb2.TriggerCheckpoint) -> None:
        """An event source mapping's place in this partition's stream, in the
        configuration (snapshots carry it); it never moves back, so a deposed
        poller's late checkpoint cannot undo its successor's."""
        have = self.config.get("checkpoints", {})
        at = [cp.index, cp.offset]
        if cp.mapping in have and have[cp.mapping] >= at:
            return
        self.config = {**self.config, "checkpoints": {**have, cp.mapping: at}}
        batch.set_group_config(self.group, orjson.dumps(self.config))

    def status(self) -> dict:
        """The Admin ``replicas`` row, with each event source mapping's place
        here (the log index it resumes after): the console shows a trigger's
        position and lag from it."""
        out = super().status()
        checkpoints = self.config.get("checkpoints")
        if checkpoints:
            out["checkpoints"] = {m: at[0] for m, at in checkpoints.items()}
        return out

    def checkpoint(self, mapping: str) -> tuple[int, int] | None:
        """Where a mapping resumes in this partition's stream (None: it has not started)."""
        at = self.config.get("checkpoints", {}).get(mapping)
        return (at[0], at[1]) if at is not None else None

    def after(self, rd: Any, results: list, now: float) -> None:
        if self._drain_waiters and not self.locks.applied:  # (durable now: a freeze waiting on them answers)
            waiters, self._drain_waiters = self._drain_waiters, []
            for w in waiters:
                if not w.done():
                    w.set_result(None)
        pending, self.split_pending = self.split_pending, None
        if pending is not None:  # the split's batch is written: its new group's replica opens from it
            child = self.engine.open(*pending)
            if self.is_leader:
                child.raft.campaign()  # lead it here too, rather than wait out an election timeout
                self.engine.wake()
            self.engine.split_applied(child)
        super().after(rd, results, now)

    def hot_split_point(self) -> int | None:
        """Where to split for heat: the median hash of the keys written lately
        (None: they do not span two hashes)."""
        return median_of([h for h in map(key_hash, self.hot_keys) if h is not None and self.owns_hash(h)],
                         self.config["lo"])

    def propose_split(self, mid: int) -> asyncio.Future:
        """Propose splitting at hash ``mid``; resolves to the split (the child's
        id, ``mid`` and membership) once applied, or WRONG_GROUP."""
        self.check_leader()
        c = self.config
        if not c["lo"] < mid <= c["hi"]:
            raise ValueError(f"hash {mid} does not divide {self.group} [{c['lo']}, {c['hi']}]")
        return self.propose(split_command(c["table_id"], mid).SerializeToString())

    def on_role(self, role: Role) -> None:
        super().on_role(role)
        if role != LEADER:
            # Pending proposals resolve when their index applies; what the
            # next leader decides does not go through our overlay.
            self._overlay.clear()
            self._pending_versions.clear()
            self.locks.pending.clear()
            self._stamps = None

    # --- snapshots (node/groups/snapshots.py) -------------------------------------------

    snapshot_mode = "stream"
    _CONFIG = b"config"  # the META record of a snapshot: the partition's configuration

    def state_ranges(self) -> list[tuple[str, bytes, bytes]]:
        """Where this partition's state lives: its items, local index entries
        and collection sizes in its hash range, its items' versions, its index
        outbox, its stream records, its change log, tombstones and
        transaction locks (a member
        caught up from a snapshot serves the same)."""
        c = self.config
        return ([(DATA, *hash_range_bounds(space, c["lo"], c["hi"] + 1)) for space in local_spaces(c["table_id"])]
                + [(VERSIONS, *hash_range_bounds(c["table_id"], c["lo"], c["hi"] + 1)),
                   (STREAMS, *gsi.outbox_bounds(self.group)), (STREAMS, *stream_bounds(self.group)),
                   (STREAMS, *change_bounds(self.group)), (STREAMS, *tombstone_bounds(self.group)),
                   (STREAMS, *txn_lock_bounds(self.group)), (STREAMS, *pitr_bounds(self.group))])

    def snapshot_state(self) -> tuple[SnapshotMeta, Iterator[tuple[str, bytes, bytes]]]:
        storage = self.engine.storage
        index = storage.applied_index(self.group)
        meta = SnapshotMeta(index, self.raft.log.term(index) or 0, self.raft.conf_at(index))
        # Opened now, between two writes: the scans read the state at `index`
        # however long the stream takes (Storage.iter_range_fixed).
        scans = [(cf, storage.iter_range_fixed(cf, lo, hi)) for cf, lo, hi in self.state_ranges()]
        config = orjson.dumps(self.config)

        def records() -> Iterator[tuple[str, bytes, bytes]]:
            for cf, scan in scans:
                for key, value in scan:
                    yield cf, key, value
            yield META, self._CONFIG, config
        return meta, records()

    def write_state(self, batch: Batch, meta: SnapshotMeta, chunks: list[bytes]) -> None:
        """Install a snapshot's state. A member of a group spanning regions
        (MRSC, ``member``) keeps its own settings (`REGIONAL`) and its own
        region's index outbox, not the sender's (another region's, shipped
        there), and adds the index changes of the entries it skipped."""
        regional = "member" in self.config
        owes = regional and bool(self.config.get("gsi")) and not self.config.get("witness")  # index changes
        outbox = gsi.outbox_bounds(self.group)
        for cf, lo, hi in self.state_ranges():
            if not (regional and cf == STREAMS and lo == outbox[0]):
                batch.delete_range(cf, lo, hi)
        table = self.config["table_id"].to_bytes(4, "big")
        items: dict[bytes, bytes] = {}  # the snapshot's items (if it owes its region their index changes)
        locks: list[tuple[bytes, bytes]] = []
        for chunk in chunks:
            for cf, key, value in decode_records(chunk):
                if cf == META:
                    config = orjson.loads(value)
                    if regional:
                        config = {**{k: v for k, v in config.items() if k not in REGIONAL},
                                  **{k: self.config[k] for k in REGIONAL if k in self.config}}
                    batch.set_group_config(self.group, orjson.dumps(config))
                    self._installed_config = config
                    continue
                if cf == STREAMS:
                    if regional and outbox[0] <= key < outbox[1]:
                        continue
                    locks.append((key, value))
                elif owes and cf == DATA and key.startswith(table):
                    items[key] = value
                batch.put(cf, key, value)
        self._installed_locks = self.locks.decode(locks)
        if owes:
            self._catch_up_outbox(batch, meta.index, items)

    def _catch_up_outbox(self, batch: Batch, index: int, items: dict[bytes, bytes]) -> None:
        """Outbox records for the entries between this member's applied index
        and the snapshot's ``index``, which it never applied: the index changes
        from its items now to the snapshot's (``items``), so its region's
        indexes, shipped its own outbox in order, converge to the snapshot's items."""
        storage = self.engine.storage
        changes = gsi.catch_up_changes(self.globals, storage.iter_range(DATA, *self._base_bounds()), items)
        records = gsi.catch_up_records(changes, storage.applied_index(self.group) + 1, index)
        for at, record in records:
            batch.put(STREAMS, gsi.outbox_key(self.group, at), record.SerializeToString())
        self._caught_up_to = records[-1][0] if records else 0

    def install_snapshot(self, snap: Any) -> None:
        self.streams.staged = None
        if self._installed_config is not None:
            self.config, self._installed_config = self._installed_config, None
        if self._installed_locks is not None:
            self.locks.applied, self._installed_locks = self._installed_locks, None
        self._stamps = None
        self._init_gsi()  # (and the stream settings)
        if self._caught_up_to:  # this member's region's outbox has records to ship
            self.outbox_last, self._caught_up_to = self._caught_up_to, 0
            self.engine.outbox_filled(self.group)

    # --- raw access for tests and convergence checks --------------------------

    def data_range(self) -> tuple[bytes, bytes]:
        c = self.config
        return hash_range_bounds(c["table_id"], c["lo"], c["hi"] + 1)

    def backup_scan(self) -> tuple[int, Iterator[bytes]]:
        """The partition's items (DynamoDB JSON) as they are at its applied
        index, which is answered too: one consistent view for a backup, read
        at the leader (so it holds every write the leader acknowledged),
        however long the reading takes (Storage.iter_range_fixed)."""
        self.check_leader()
        index = self.engine.storage.applied_index(self.group)
        scan = self.engine.storage.iter_range_fixed(DATA, *self.data_range())
        return index, (value for _, value in scan)

    def pitr_records(self, after: tuple[int, int], most_bytes: int) -> tuple[list[list], bool]:
        """Point-in-time recovery's log after position ``after``, at the leader:
        ``[index, offset, time ms, storage key hex, item JSON or None]`` in log
        order, about ``most_bytes`` of them, and whether that was all."""
        self.check_leader()
        lo, hi = pitr_bounds(self.group)
        out, size = [], 0
        for key, value in self.engine.storage.iter_range(STREAMS, max(lo, pitr_key(self.group, *after)), hi):
            index, offset = pitr_position(key)
            if (index, offset) <= after:
                continue
            rec = orjson.loads(value)
            out.append([index, offset, rec["t"], rec["k"], rec["v"]])
            size += len(value)
            if size >= most_bytes:
                return out, False
        return out, True

    def read_raw(self) -> list[tuple[bytes, bytes]]:
        c = self.config
        return list(self.engine.storage.iter_hash_range(c["table_id"], c["lo"], c["hi"] + 1))


def _answered(resp: node_pb2.DataResponse) -> asyncio.Future:
    done: asyncio.Future = asyncio.get_running_loop().create_future()
    done.set_result(resp)
    return done


def _follow(fut: asyncio.Future) -> asyncio.Future:
    """A future with ``fut``'s outcome (a repeated request's answer)."""
    out: asyncio.Future = asyncio.get_running_loop().create_future()

    def copy(f: asyncio.Future) -> None:
        if out.done():
            return
        if f.cancelled():
            out.cancel()
        elif f.exception() is not None:
            out.set_exception(f.exception())
        else:
            resp = Resp()
            resp.CopyFrom(f.result())  # each answer gets its own id
            out.set_result(resp)
    fut.add_done_callback(copy)
    return out
