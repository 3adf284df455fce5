"""One mapping's delivery of one partition's stream shard (`ShardPoller`):
read a window after the checkpoint, deliver its lanes, commit the window's
end; errors handled as Lambda's stream pollers handle them."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import orjson

from cluster.tasks import cancel
from ddb import streams as ds
from ddb.errors import TrimmedDataAccessException
from ddb.event_filter import parse_filter_criteria, passes
from node.feed.triggers.context import TriggerContext
from node.feed.triggers.records import batch_item_failures, failure_item, failure_record, split_lanes
from node.groups.replica import Rejected
from node.partition import streams
from node.partition.replica import PartitionReplica
from trireme_pb import node_pb2

log = logging.getLogger(__name__)

POLL_S = float(os.environ.get("TRIREME_TRIGGER_POLL_S", "0.25"))  # Lambda polls a shard about 4 times a second
RETRY_S = float(os.environ.get("TRIREME_TRIGGER_RETRY_S", "0.5"))  # between retries of a failed batch
MAX_BATCH_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
EVENTS = {node_pb2.StreamRecord.INSERT: "INSERT", node_pb2.StreamRecord.MODIFY: "MODIFY",
          node_pb2.StreamRecord.REMOVE: "REMOVE"}


class ShardPoller:
    """Delivers one partition's stream shard to one mapping's function."""

    def __init__(self, context: TriggerContext, uuid_: str, group: str) -> None:
        self.t = context
        self.uuid = uuid_
        self.group = group
        state = context.view()
        self.last_result = (state.mapping_status.get(uuid_, {}).get("last_result") if state is not None else None)

    async def run(self) -> None:
        while True:
            live = self.t.live(self.uuid, self.group)
            if live is None:
                return
            mapping, replica = live
            stream = streams.find(replica.config, ds.parse_stream_arn(mapping["source"]).label)
            if stream is None:  # the settings are not applied here yet
                await asyncio.sleep(POLL_S)
                continue
            at = replica.checkpoint(self.uuid)
            if at is None:
                at = self._start(stream, mapping)
                await self._checkpoint(replica, at)
                continue
            if self._parent_first(replica, at):
                await asyncio.sleep(POLL_S)
                continue
            window, nxt = await self._gather(stream, mapping, at)
            if not window:
                if nxt != at:
                    await self._checkpoint(replica, nxt)  # only filtered-out records
                else:
                    await asyncio.sleep(POLL_S)
                continue
            await self._deliver_window(mapping, window)
            await self._checkpoint(replica, nxt)

    def _parent_first(self, replica: PartitionReplica, at: tuple[int, int]) -> bool:
        """Must this partition, a split's child still at its first record, wait
        for the mapping's poller of the partition it split from to deliver every
        record up to the split (so an item's records keep their order across
        it, parent shard before child, as Lambda reads DynamoDB Streams)? The
        parent's checkpoint is read from its replica on this node: a split
        leaves both on the same nodes; once the controller moved the parent
        away, the child goes on."""
        c = replica.config
        if "split_from" not in c or at > (c["split_index"] + 1, 0):
            return False
        parent = self.t.engine.replicas.get(c["split_from"])
        stream = streams.open_stream(parent.config) if isinstance(parent, PartitionReplica) else None
        if stream is None:
            return False
        done = parent.checkpoint(self.uuid)
        if done is None:
            return True  # its poller has not started: it may have records before the split to deliver
        try:
            left = streams.read(self.t.engine.storage, parent.group, stream, done, 1, MAX_BATCH_BYTES).records
        except TrimmedDataAccessException:
            return False
        return bool(left) and left[0].position.index <= c["split_index"]

    def _start(self, stream: dict, mapping: dict) -> tuple[int, int]:
        """Where a new mapping starts: the shard's oldest record, or what comes next (LATEST)."""
        horizon, latest = streams.shard_positions(self.t.engine.storage, self.group, stream)
        at = latest if mapping["starting_position"] == "LATEST" else horizon
        return at.index, at.offset

    async def _checkpoint(self, replica: PartitionReplica, at: tuple[int, int]) -> None:
        cmd = node_pb2.WriteCommand(checkpoint=node_pb2.TriggerCheckpoint(mapping=self.uuid, index=at[0],
                                                                          offset=at[1]))
        await replica.propose(cmd.SerializeToString())

    def _read(self, stream: dict, frm: tuple[int, int], limit: int) -> node_pb2.DataResponse:
        try:
            return streams.read(self.t.engine.storage, self.group, stream, frm, limit, MAX_BATCH_BYTES)
        except TrimmedDataAccessException:
            horizon, _ = streams.shard_positions(self.t.engine.storage, self.group, stream)
            log.warning("trigger %s on %s: records before %s were trimmed before delivery", self.uuid,
                        self.group, (horizon.index, horizon.offset))
            return streams.read(self.t.engine.storage, self.group, stream, (horizon.index, horizon.offset),
                                limit, MAX_BATCH_BYTES)

    async def _gather(self, stream: dict, mapping: dict, at: tuple[int, int]) -> tuple[list[dict], tuple[int, int]]:
        """The next window (Lambda's records, filtered: up to BatchSize for
        each of the ParallelizationFactor lanes) and the position after it."""
        limit = mapping["batch_size"] * mapping["parallelization"]
        deadline = time.monotonic() + mapping["window_s"]
        while True:
            resp = self._read(stream, at, limit)
            full = len(resp.records) >= limit
            if full or not resp.records or time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        if not resp.records:  # stay put: an empty read's next position only moves past other entries
            return [], at
        nxt = (resp.stream_next.index, resp.stream_next.offset)
        arn, region = mapping["source"], ds.parse_stream_arn(mapping["source"]).region
        patterns = parse_filter_criteria({"Filters": [{"Pattern": p} for p in mapping["filters"]]})
        window = []
        for r in resp.records:
            rec = ds.build_record(stream=arn, keys=orjson.loads(r.keys),
                                  old=orjson.loads(r.old_image) if r.old_image else None,
                                  new=orjson.loads(r.new_image) if r.new_image else None,
                                  view_type=stream["view"], position=ds.Position(0, r.position.index,
                                                                                 r.position.offset),
                                  created_ms=r.created_ms, region=region, by_ttl=r.by_ttl, event=EVENTS[r.event])
            event = ds.lambda_event_record(rec, arn)
            if not patterns or passes(patterns, event):
                window.append({**event, "_created_ms": r.created_ms})  # (for the age limit; not sent)
        return window, nxt

    # --- delivery ---------------------------------------------------------------

    async def _deliver_window(self, mapping: dict, window: list[dict]) -> None:
        """Deliver a window's lanes concurrently, each lane's batches one after
        another; returns when every record is handled (the first error, such
        as a lost leadership, cancels the other lanes)."""
        size = mapping["batch_size"]

        async def lane(records: list[dict]) -> None:
            for i in range(0, len(records), size):
                await self._deliver(mapping, records[i:i + size])
        tasks = [asyncio.create_task(lane(records)) for records in split_lanes(window, mapping["parallelization"])]
        try:
            await asyncio.gather(*tasks)
        finally:
            await cancel(tasks)

    async def _deliver(self, mapping: dict, batch: list[dict]) -> None:
        """Handle one batch to the end: delivered, or discarded (aged, retries
        exhausted) and reported to the on-failure destination."""
        pending = [batch]
        while pending:
            part = pending.pop(0)
            attempts = 0
            while part:
                part = await self._fresh(mapping, part, attempts)
                if not part:
                    break
                ok, failed_from = await self._invoke(mapping, part)
                if ok:
                    break
                if failed_from is not None and failed_from > 0:
                    part = part[failed_from:]  # the records before the lowest failure are done
                attempts += 1
                if mapping["bisect"] and len(part) > 1:
                    half = len(part) // 2
                    pending[:0] = [part[:half], part[half:]]
                    break
                if mapping["max_retries"] != -1 and attempts > mapping["max_retries"]:
                    await self._discard(mapping, part, "RetryAttemptsExhausted", attempts)
                    break
                await asyncio.sleep(RETRY_S)
                if self.t.live(self.uuid, self.group) is None:
                    raise Rejected("NOT_LEADER", f"{self.group}: no longer delivering {self.uuid}")

    async def _fresh(self, mapping: dict, part: list[dict], attempts: int) -> list[dict]:
        """The records young enough to deliver; older ones are discarded (MaximumRecordAgeInSeconds)
        after ``attempts`` invocations."""
        if mapping["max_age_s"] == -1:
            return part
        oldest_ms = time.time() * 1000 - mapping["max_age_s"] * 1000
        old = [r for r in part if r["_created_ms"] < oldest_ms]
        if old:
            await self._discard(mapping, old, "RecordAgeExceeded", attempts)
        return [r for r in part if r["_created_ms"] >= oldest_ms]

    async def _invoke(self, mapping: dict, part: list[dict]) -> tuple[bool, int | None]:
        """Run the function on ``part``: (success, index of the lowest reported failure)."""
        fn, code = self.t.function(mapping["function_arn"])
        if fn is None:
            await self._result("PROBLEM: Function not found")
            return False, None
        payload = orjson.dumps({"Records": [{k: v for k, v in r.items() if k != "_created_ms"} for r in part]})
        self.t.iterator_age_ms[(self.uuid, self.group)] = time.time() * 1000 - min(r["_created_ms"] for r in part)
        result = await self.t.invoke(self._region(mapping), fn, code, payload)
        failed: int | None = 0
        if result is not None and result.function_error is None:
            failed = None
            if "ReportBatchItemFailures" in mapping["response_types"]:
                failed = batch_item_failures(result.payload, [r["dynamodb"]["SequenceNumber"] for r in part])
        await self._result("OK" if failed is None else "PROBLEM: Function call failed")
        return failed is None, failed

    async def _result(self, result: str, discarded: int = 0) -> None:
        """Tell the metadata how the mapping fares: when its LastProcessingResult changes, or records were lost."""
        if result == self.last_result and not discarded:
            return
        try:
            await self.t.report("mapping_result", {"uuid": self.uuid, "result": result, "discarded": discarded})
            self.last_result = result
        except Exception as exc:  # noqa: BLE001 (status only: delivery goes on)
            log.info("trigger %s: could not report its status: %r", self.uuid, exc)

    @staticmethod
    def _region(mapping: dict) -> str:
        return ds.parse_stream_arn(mapping["source"]).region

    # --- records given up on -----------------------------------------------------

    async def _discard(self, mapping: dict, part: list[dict], reason: str, attempts: int) -> None:
        """Records given up on after ``attempts`` invocations: counted, and
        described to the on-failure destination."""
        log.warning("trigger %s on %s: %d record(s) discarded (%s)", self.uuid, self.group, len(part), reason)
        await self._result(self.last_result or "PROBLEM: Function call failed", discarded=len(part))
        target = mapping.get("on_failure")
        if not target:
            return
        record = failure_record(mapping, self._shard_id(mapping), part, reason, invocations=attempts)
        if ":function:" in target:
            fn, code = self.t.function(target)
            if fn is None:
                log.warning("trigger %s: on-failure destination %s does not exist", self.uuid, target)
                return
            await self.t.invoke(self._region(mapping), fn, code, orjson.dumps(record))
        else:
            await self._to_table(mapping, target.split(":table/", 1)[1], record)

    async def _to_table(self, mapping: dict, table: str, record: dict) -> None:
        """Write the failure record into an on-failure destination table
        (`records.failure_item`): through the router, so its indexes and
        stream see it as any write. A table that is gone or cannot hold it, or
        a write that fails, loses the record (logged; the discard is counted)."""
        keys = self.t.table_keys(table)
        try:
            if keys is None:
                raise ValueError("no such table")
            await self.t.put_item(self._region(mapping), table, failure_item(record, *keys))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (the discard stands; only its description is lost)
            log.warning("trigger %s: could not write the failure record into table %s: %s", self.uuid, table, exc)

    def _shard_id(self, mapping: dict) -> str:
        """The shard's id as DescribeStream shows it (router/streams.py)."""
        name = ds.parse_stream_arn(mapping["source"])
        state = self.t.view()
        t = state.tables.get(name.table) if state is not None else None
        s = t.stream(name.label) if t is not None else None
        return ds.partition_shard_id(t.uuid, s, self.group) if s is not None else self.group
