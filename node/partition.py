"""A replica of one table partition: item reads and leader-evaluated writes.

The leader evaluates a write against the newest state, which includes what it
has proposed but not yet applied (the overlay), so read-modify-write stays
atomic without holding latches across the Raft round trip: evaluation and
proposal happen in one step of the event loop. The entry carries the result
(the new item image or a delete), so followers apply it without evaluating.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from ddb.errors import DynamoDBError
from node.raft.messages import Entry, Role
from node.replica import Rejected, Replica
from node.storage import Batch
from trireme_pb import node_pb2

WriteResult = tuple[bytes, bytes]  # (item bytes to return, body JSON)

_MISSING = object()


class PartitionReplica(Replica):
    kind = "partition"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # key -> [pending value (None: delete), number of pending proposals]
        self._overlay: dict[bytes, list] = {}

    # --- reads ------------------------------------------------------------

    def current(self, key: bytes) -> bytes | None:
        """The newest value of `key` as the leader must evaluate against."""
        pending = self._overlay.get(key)
        if pending is not None:
            return pending[0]
        return self.engine.storage.get_item(key)

    def serves_eventual_reads(self) -> bool:
        """A voter that knows a leader (or is one) holds a recent copy; a
        fresh learner may hold nothing yet."""
        r = self.raft
        return r.id in r.conf.voters and (r.lead is not None or r.role == Role.LEADER)

    async def get(self, req: node_pb2.DataRequest) -> WriteResult:
        if req.consistent:
            if self.raft.role != Role.LEADER:
                raise Rejected("NOT_LEADER", f"not the leader of {self.group}", self.raft.lead)
            await self.linearizable_read()
        elif not self.serves_eventual_reads():
            raise Rejected("UNAVAILABLE", f"replica of {self.group} is not caught up", self.raft.lead)
        value = self.engine.storage.get_item(req.key)
        if value is None:
            return b"", b""
        if req.args:
            from ddb import items as ddb_items
            projected = ddb_items.evaluate_get(orjson.loads(req.args), orjson.loads(value))
            return (orjson.dumps(projected) if projected is not None else b""), b""
        return value, b""

    # --- writes -------------------------------------------------------------

    async def write_checked(self, req: node_pb2.DataRequest) -> WriteResult:
        """`write`, but a refusal (a failed condition) is only answered once a
        linearizable read confirms this leader's state is current: a deposed
        leader must not fail a condition that the real state satisfies."""
        try:
            fut = self.write(req)
        except DynamoDBError:
            r = self.raft
            if r.lease_valid() and self.engine.clock_fresh():
                raise
            await self.linearizable_read()
            fut = self.write(req)
        return await fut

    def write(self, req: node_pb2.DataRequest) -> asyncio.Future:
        """Evaluate a put/delete/update now and propose its result.

        Raises DynamoDBError (a failed condition, a bad update) or Rejected
        synchronously; otherwise returns a future of the response.
        """
        self.check_leader()
        key = req.key
        args = orjson.loads(req.args) if req.args else None
        op = req.op
        if op == "put" and args is None:
            new: bytes | None = req.item
            returned = b""
        else:
            from ddb import items as ddb_items
            old_raw = self.current(key)
            old = orjson.loads(old_raw) if old_raw is not None else None
            if op == "put":
                outcome = ddb_items.evaluate_put(args, old, orjson.loads(req.item))
                new = req.item
            elif op == "delete":
                outcome = ddb_items.evaluate_delete(args or {}, old)
                new = None
            elif op == "update":
                outcome = ddb_items.evaluate_update(args, old, orjson.loads(req.item))
                new = orjson.dumps(outcome.new_item) if outcome.new_item is not None else None
            else:
                raise Rejected("UNAVAILABLE", f"unknown write op {op!r}")
            returned = orjson.dumps(outcome.returned) if outcome.returned else b""
        cmd = node_pb2.WriteCommand(mutations=[node_pb2.Mutation(
            key=key, value=new or b"", delete=new is None)])
        slot = self._overlay.get(key)
        if slot is None:
            self._overlay[key] = [new, 1]
        else:
            slot[0] = new
            slot[1] += 1

        def done(_applied: bool, key: bytes = key) -> None:
            s = self._overlay.get(key)
            if s is not None:
                s[1] -= 1
                if s[1] <= 0:
                    del self._overlay[key]

        fut = self.propose(cmd.SerializeToString(), done)
        result: asyncio.Future = asyncio.get_running_loop().create_future()

        def finish(f: asyncio.Future) -> None:
            if result.done():
                return
            exc = f.exception()
            if exc is not None:
                result.set_exception(exc)
            else:
                result.set_result((returned, b""))

        fut.add_done_callback(finish)
        return result

    def apply_entry(self, batch: Batch, entry: Entry) -> Any:
        cmd = node_pb2.WriteCommand.FromString(entry.data)
        for m in cmd.mutations:
            if m.delete:
                batch.delete_item(m.key)
            else:
                batch.put_item(m.key, m.value)
        return None

    def on_role(self, role: Role) -> None:
        super().on_role(role)
        if role != Role.LEADER:
            # Pending proposals resolve when their index applies; what the
            # next leader decides does not go through our overlay.
            self._overlay.clear()

    # --- raw access for tests and convergence checks --------------------------

    def data_range(self) -> tuple[bytes, bytes]:
        from node.storage import hash_range_bounds
        c = self.config
        return hash_range_bounds(c["table_id"], c["lo"], c["hi"] + 1)

    def read_raw(self) -> list[tuple[bytes, bytes]]:
        c = self.config
        return list(self.engine.storage.iter_hash_range(c["table_id"], c["lo"], c["hi"] + 1))

