"""The global-index side of a partition replica, in its log and state machine.

As a base partition: an applied index configuration (a log entry, so every
replica switches at the same position), the outbox records every applied
write leaves for its indexes, and backfill chunks that send existing items
to a new index. As an index partition: shipped changes, applied unless their
base leader's term is older than one already seen (a deposed leader that
still ships must not undo what its successor shipped).

The hand-off from backfill to ACTIVE: a partition reports its backfill done
once the outbox is shipped up to its last chunk, so a write applied after
that chunk may still be in the outbox when the index turns ACTIVE. While an
index this partition has backfilled is CREATING, a write is therefore
answered only once the outbox is shipped up to it (``hold_for_index``): every
write answered before the index is ACTIVE is in it when it is. Writes applied
before the last chunk need no wait (the report waits for them), and so do
writes while every index is ACTIVE.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

from cluster.keys import hash_range_bounds, pitr_bounds, pitr_key, read_u64, split_item_key, u64
from node.partition import global_indexes as gsi
from node.partition import streams
from node.partition.capacity import raw_write_units
from node.groups.replica import Rejected, UnknownOutcome
from node.storage import DATA, STREAMS, Batch
from trireme_pb import node_pb2

_ABSENT = object()


class GsiReplicaMixin:
    """Mixed into PartitionReplica; uses its engine, group, config and proposals."""

    def _init_gsi(self) -> None:
        # Values written by entries of the batch being applied (not yet readable from storage).
        self._applying: dict[bytes, bytes | None] = {}
        self._fences: dict[str, int] = {}
        self.globals = gsi.global_indexes(self.config.get("gsi", []))
        self.outbox_last = 0  # highest log index with an outbox record (0: look in storage)
        self.stream = streams.open_stream(self.config)  # the enabled stream's settings, or None
        self._shipped_upto = 0  # every outbox record up to this log index is acknowledged by its index
        self._applied_command = 0  # the log index of the last write command applied
        # Answers held until the outbox is shipped that far: (log index, answer, its future).
        self._ship_waiters: list[tuple[int, Callable[[], None], asyncio.Future]] = []

    # --- applying ----------------------------------------------------------------

    def applied_value(self, key: bytes) -> bytes | None:
        value = self._applying.get(key, _ABSENT)
        if value is _ABSENT:
            return self.engine.storage.get_item(key)
        return value  # type: ignore[return-value]

    def apply_command(self, batch: Batch, index: int, cmd: node_pb2.WriteCommand) -> Any:
        self._applied_command = index
        if cmd.config:
            self._apply_config(batch, orjson.loads(cmd.config))
            return None
        if cmd.stream_config:
            self._set_streams(batch, streams.applied_settings(
                self.config.get("streams", []), orjson.loads(cmd.stream_config), index, cmd.timestamp_ms))
            return None
        if cmd.pitr_config:
            pitr_config = orjson.loads(cmd.pitr_config)
            if "trim" in pitr_config:
                self._trim_pitr(batch, pitr_config["trim"])
            else:
                self._set_pitr(batch, index, cmd.timestamp_ms, pitr_config.get("enabled", False))
            return None
        if cmd.replication_config:
            self.apply_replication_config(batch, index, orjson.loads(cmd.replication_config))  # type: ignore[attr-defined]
            return None
        if cmd.HasField("replication_checkpoint"):
            self.apply_replication_checkpoint(batch, cmd.replication_checkpoint)  # type: ignore[attr-defined]
            return None
        if cmd.collect_tombstones:
            self.apply_collect(batch, cmd.collect_tombstones)  # type: ignore[attr-defined]
            return None
        if cmd.fence_source and not self._fence_ok(batch, cmd.fence_source, cmd.fence_term):
            return "fenced"
        replicated = cmd.HasField("replicated")
        if replicated and self.superseded(cmd, cmd.mutations[0].key):  # type: ignore[attr-defined]
            return "superseded"
        versioned = replicated or cmd.version_ts != 0
        stream = self.stream
        pitr = self.config.get("pitr")
        if not (pitr is not None or self.globals or stream is not None or versioned or cmd.HasField("backfill")
                or cmd.trim_outbox):
            # A plain item write (the common entry): its items and nothing else.
            applying = self._applying
            for m in cmd.mutations:
                key = m.key  # (each protobuf field read makes a new object: once)
                if m.delete:
                    applying[key] = None
                    batch.delete_item(key)
                else:
                    applying[key] = value = m.value
                    batch.put_item(key, value)
            return None
        changes: list[node_pb2.GsiChange] = []
        table = self.config["table_id"].to_bytes(4, "big")
        recorded = logged = 0
        for offset, m in enumerate(cmd.mutations):
            value = None if m.delete else m.value
            if pitr is not None and m.key.startswith(table):
                # Point-in-time recovery: every item write, in log order, with its time (router/pitr.py).
                batch.put(STREAMS, pitr_key(self.group, index, offset), orjson.dumps(
                    {"t": cmd.timestamp_ms or pitr["start_ms"], "k": m.key.hex(),
                     "v": None if value is None else value.decode()}))
            if (self.globals or stream is not None or versioned) and m.key.startswith(table):
                raw = self.applied_value(m.key)
                old = orjson.loads(raw) if raw else None
                new = orjson.loads(value) if value is not None else None
                if versioned:
                    logged += self.apply_version(batch, index, logged, cmd, m, old, new)  # type: ignore[attr-defined]
                if self.globals:
                    changes += gsi.changes(self.globals, m.key, old, new)
                if stream is not None:
                    # A write proposed just before the stream's settings applied carries no
                    # time of its own: the enabling entry's is as close as any replica knows.
                    rec = streams.stream_record(stream, old, new, cmd.timestamp_ms or stream["start_ms"], m.by_ttl)
                    if rec is not None:
                        streams.put_record(batch, self.group, index, recorded, rec)
                        recorded += 1
            self._applying[m.key] = value
            if value is None:
                batch.delete_item(m.key)
            else:
                batch.put_item(m.key, value)
        result = None
        if cmd.HasField("backfill"):
            result = self._apply_backfill(batch, index, cmd.backfill, changes)
        if cmd.trim_outbox:
            lo, _ = gsi.outbox_bounds(self.group)
            batch.delete_range(STREAMS, lo, gsi.outbox_key(self.group, cmd.trim_outbox + 1))
            self.note_shipped(cmd.trim_outbox)  # (whichever leader shipped them: held answers may go)
        if changes and not self.config.get("witness"):  # (a witness region has no indexes to ship to)
            batch.put(STREAMS, gsi.outbox_key(self.group, index),
                      node_pb2.GsiChanges(changes=changes).SerializeToString())
            self.outbox_last = index
            if self.is_leader or "member" in self.config:  # type: ignore[attr-defined]
                self.engine.outbox_filled(self.group)  # type: ignore[attr-defined]
        if logged:
            self.note_logged()  # type: ignore[attr-defined]
        return "applied" if replicated else result

    def _apply_config(self, batch: Batch, wanted: list[dict]) -> None:
        """Switch to a new set of global indexes, keeping backfill progress of those that stay."""
        have = {(c["name"], c["tid"]): c for c in self.config.get("gsi", [])}
        self._set_config(batch, [have.get((c["name"], c["tid"]), c) for c in wanted])

    def _set_config(self, batch: Batch, indexes: list[dict]) -> None:
        self.config = {**self.config, "gsi": indexes}
        batch.set_group_config(self.group, orjson.dumps(self.config))
        self.globals = gsi.global_indexes(indexes)

    def _set_pitr(self, batch: Batch, index: int, now_ms: int, enabled: bool) -> None:
        """Start (at ``index``) or stop point-in-time recovery's log; stopping drops it."""
        if enabled == ("pitr" in self.config):
            return
        config = {k: v for k, v in self.config.items() if k != "pitr"}
        if enabled:
            config["pitr"] = {"start": index, "start_ms": now_ms}
        else:
            batch.delete_range(STREAMS, *pitr_bounds(self.group))
        self.config = config
        batch.set_group_config(self.group, orjson.dumps(self.config))

    def _trim_pitr(self, batch: Batch, upto: int) -> None:
        """Drop the point-in-time log up to index ``upto``: it now starts there."""
        pitr = self.config.get("pitr")
        if pitr is None or upto <= pitr["start"]:
            return
        batch.delete_range(STREAMS, pitr_bounds(self.group)[0], pitr_key(self.group, upto + 1, 0))
        self.config = {**self.config, "pitr": {**pitr, "start": upto}}
        batch.set_group_config(self.group, orjson.dumps(self.config))

    def _set_streams(self, batch: Batch, settings: list[dict]) -> None:
        self.config = {**self.config, "streams": settings}
        batch.set_group_config(self.group, orjson.dumps(self.config))
        self.stream = streams.open_stream(self.config)

    def _base_bounds(self) -> tuple[bytes, bytes]:
        c = self.config
        return hash_range_bounds(c["table_id"], c["lo"], c["hi"] + 1)

    def _apply_backfill(self, batch: Batch, log_index: int, bf: node_pb2.GsiBackfill,
                        changes: list[node_pb2.GsiChange]) -> dict:
        """Send the next ``bf.limit`` existing items to a new index (the same on every replica).
        The last chunk records its log index: the backfill is complete once the
        outbox has shipped everything up to it."""
        conf = next((c for c in self.config.get("gsi", []) if c["name"] == bf.index), None)
        if conf is None or not conf["backfill"]:
            return {"done": True}
        index = gsi.GlobalIndex.from_config(conf)
        lo, hi = self._base_bounds()
        if conf["cursor"] is not None:  # (a split's child inherits its parent's: start in our range)
            lo = max(lo, bytes.fromhex(conf["cursor"]) + b"\x00")
        scanned = dict(self.engine.storage.iter_range(DATA, lo, hi, limit=bf.limit))
        done = len(scanned) < bf.limit
        upto = hi if done else max(scanned)
        for key, value in self._applying.items():  # this batch's writes, not in storage yet
            if lo <= key < hi and (done or key <= upto):
                scanned[key] = value
        for key in sorted(scanned):
            value = scanned[key]
            if value is not None:
                changes += gsi.changes([index], key, None, orjson.loads(value))
        conf = {**conf, "cursor": None if done else upto.hex(), "backfill": not done, "done_at": log_index}
        self._set_config(batch, [conf if c["name"] == bf.index else c for c in self.config["gsi"]])
        return {"done": done}

    # --- the hand-off from backfill to ACTIVE ------------------------------------

    def hold_for_index(self, fut: asyncio.Future) -> asyncio.Future:
        """``fut`` (a proposed write's answer), held after it applies until the
        outbox is shipped up to it if an index this partition has backfilled is
        still CREATING then: the index turns ACTIVE once every base partition
        reported its backfill, and nothing answered before that may be missing
        from it. Only while an index of the table is being created."""
        creating = self.engine.index_creating  # type: ignore[attr-defined]
        if not any(creating(ix.name) for ix in self.globals):
            return fut  # (an index created later starts with a backfill that reaches this write)
        out = fut.get_loop().create_future()
        fut.add_done_callback(lambda f: self._answer_after_hand_off(f, out))
        return out

    def _answer_after_hand_off(self, fut: asyncio.Future, out: asyncio.Future) -> None:
        if out.done():
            return
        if fut.cancelled():
            out.cancel()
            return

        def answer() -> None:
            if not out.done():
                exc = fut.exception()
                if exc is not None:
                    out.set_exception(exc)
                else:
                    out.set_result(fut.result())

        if fut.exception() is not None or not self._handing_over():
            answer()
            return
        # (the engine moves `applied` after a batch's answers: this write's own index may be past it)
        self._when_shipped(max(self.applied, self._applied_command), answer, out)  # type: ignore[attr-defined]

    def _handing_over(self) -> bool:
        """Has this partition finished backfilling an index that is not ACTIVE yet?"""
        creating = self.engine.index_creating  # type: ignore[attr-defined]
        return any(not c["backfill"] and "done_at" in c and creating(c["name"]) for c in self.config.get("gsi", []))

    def _when_shipped(self, upto: int, then: Callable[[], None], out: asyncio.Future) -> None:
        """Call ``then`` once no outbox record up to log index ``upto`` is unshipped."""
        if self._unshipped(upto):
            self._ship_waiters.append((upto, then, out))
        else:
            then()

    def _unshipped(self, upto: int) -> bool:
        """Does the outbox hold a record up to ``upto`` not known shipped?"""
        if upto <= self._shipped_upto:
            return False
        lo = gsi.outbox_key(self.group, self._shipped_upto + 1)
        hi = gsi.outbox_key(self.group, upto + 1)
        return any(True for _ in self.engine.storage.iter_range(STREAMS, lo, hi, limit=1))  # type: ignore[attr-defined]

    def note_shipped(self, upto: int) -> None:
        """Every outbox record up to log index ``upto`` is acknowledged by its
        index partitions (this leader's shipment, or a trim entry applied):
        answers held until then go."""
        if upto <= self._shipped_upto:
            return
        self._shipped_upto = upto
        if self._ship_waiters:
            waiting, self._ship_waiters = self._ship_waiters, []
            for w in waiting:
                if w[2].done():
                    continue
                if self._unshipped(w[0]):
                    self._ship_waiters.append(w)
                else:
                    w[1]()

    def close(self, reason: str) -> None:
        """Held answers end as outcome unknown: applied, not known to be in the index yet."""
        super().close(reason)  # type: ignore[misc]
        waiters, self._ship_waiters = self._ship_waiters, []
        for _, _, out in waiters:
            if not out.done():
                out.set_exception(UnknownOutcome(reason))

    def _fence_ok(self, batch: Batch, source: str, term: int) -> bool:
        known = self._fences.get(source)
        key = gsi.fence_key(self.config["table_id"], self.config["lo"], source)
        if known is None:
            stored = self.applied_value(key)
            known = read_u64(stored) if stored else 0
        if term < known:
            return False
        if term > known:
            batch.put_item(key, u64(term))
            self._applying[key] = u64(term)
        self._fences[source] = term
        return True

    # --- as an index partition's leader -------------------------------------------

    async def write_index(self, req: node_pb2.DataRequest) -> node_pb2.DataResponse:
        """Apply shipped index changes (INDEX_WRITE); answers ``fenced`` when the shipper's term is stale."""
        self.check_leader()  # type: ignore[attr-defined]
        changes = req.index_changes.changes
        c = self.config
        for ch in changes:
            table_id, h, _ = split_item_key(ch.key)
            if table_id != c["table_id"] or not c["lo"] <= h <= c["hi"]:
                raise Rejected("WRONG_GROUP", f"index entry outside {self.group}")
        self.hot_keys.extend(ch.key for ch in changes)  # type: ignore[attr-defined] (a heat split's point)
        # Metered as the index's writes; its limit applies at the base table (index_units in replica.py).
        self.capacity.count_write(sum(raw_write_units(len(ch.value)) for ch in changes))  # type: ignore[attr-defined]
        cmd = node_pb2.WriteCommand(
            mutations=[node_pb2.Mutation(key=ch.key, value=ch.value, delete=ch.delete) for ch in changes],
            fence_source=req.fence_source, fence_term=req.fence_term)
        result = await self.propose(cmd.SerializeToString())  # type: ignore[attr-defined]
        return node_pb2.DataResponse(fenced=result == "fenced")
