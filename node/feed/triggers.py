"""Event source mappings: each partition leader delivers its stream shard to
the functions mapped to the stream, at least once and in order.

One poller per (mapping, partition) runs where the partition's Raft leader
is, so one is active per shard. It reads the applied (so committed) stream
records after the mapping's checkpoint from local storage, turns them into
Lambda's DynamoDB event (`ddb.streams.build_record` + `lambda_event_record`),
drops those the mapping's FilterCriteria reject, and invokes the function in
this node's own `FunctionRuntime` (worker processes; code fetched by its
upload key from the chunk table, `cluster/function_code.py`). Batches hold up
to BatchSize records, gathered for up to MaximumBatchingWindowInSeconds.

After a batch is handled the poller proposes the new checkpoint through the
partition's Raft log (``WriteCommand.checkpoint``, `PartitionReplica`
keeps it in the partition's configuration, which snapshots carry), so a new
leader resumes where the last one committed: records after it may be
delivered again (handlers must be idempotent, as on AWS), none is skipped.

Errors, as Lambda's stream pollers: a failed batch is retried
MaximumRetryAttempts times (-1: until the records age out), split in halves
first with BisectBatchOnFunctionError; with ReportBatchItemFailures the
checkpoint moves to the lowest failed record's SequenceNumber; records older
than MaximumRecordAgeInSeconds are discarded unprocessed. A discarded batch
goes to DestinationConfig.OnFailure (a function, invoked with Lambda's
DDBStreamBatchInfo record) and counted in the mapping's status (the meta
call ``mapping_result``: LastProcessingResult when it changes, and the
records given up, which GetEventSourceMapping answers as Trireme's own
``TriremeDiscardedRecords``).

ParallelizationFactor is accepted but each shard is delivered by one batch at
a time (per-item order is kept either way).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from cluster.function_code import CodeStore
from cluster.meta import MetaState
from cluster.partitions import Cluster
from cluster.tasks import cancel
from ddb import streams as ds
from ddb.errors import DynamoDBError, TrimmedDataAccessException
from ddb.event_filter import parse_filter_criteria, passes
from functions.model import Function
from functions.runtime import FunctionRuntime
from node.groups.replica import Rejected
from node.partition import streams
from node.partition.replica import PartitionReplica
from trireme_pb import node_pb2

if TYPE_CHECKING:
    from node.groups.engine import Engine

log = logging.getLogger(__name__)

POLL_S = float(os.environ.get("TRIREME_TRIGGER_POLL_S", "0.25"))  # Lambda polls a shard about 4 times a second
RETRY_S = float(os.environ.get("TRIREME_TRIGGER_RETRY_S", "0.5"))  # between retries of a failed batch
CHECK_S = 0.5  # how often leaderships and mappings are looked at
MAX_BATCH_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit
EVENTS = {node_pb2.StreamRecord.INSERT: "INSERT", node_pb2.StreamRecord.MODIFY: "MODIFY",
          node_pb2.StreamRecord.REMOVE: "REMOVE"}


class Triggers:
    """One poller task per (mapping, partition led here) whose source is the
    partition's table's stream."""

    def __init__(self, engine: Engine, view: Callable[[], MetaState | None], cluster: Callable[[], Cluster],
                 report: Callable[[str, dict], Awaitable[Any]], *, functions_dir: str | Path,
                 endpoint_url: str) -> None:
        self.engine = engine
        self.view = view
        self.cluster = cluster
        self.report = report  # a metadata call (the mapping's LastProcessingResult and discarded records)
        self.functions_dir = Path(functions_dir)
        self.endpoint_url = endpoint_url
        self._runtimes: dict[str, FunctionRuntime] = {}
        self._pollers: dict[tuple[str, str], asyncio.Task] = {}
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        await cancel([self._task, *self._pollers.values()])
        for rt in self._runtimes.values():
            await rt.close()

    def runtime(self, region: str) -> FunctionRuntime:
        rt = self._runtimes.get(region)
        if rt is None:
            rt = self._runtimes[region] = FunctionRuntime(
                code_dir=self.functions_dir / "code", log_dir=self.functions_dir / "logs",
                endpoint_url=self.endpoint_url, region=region)
        return rt

    async def _loop(self) -> None:
        while True:
            try:
                self._plan()
            except Exception:  # noqa: BLE001 (a bug here must not end delivery for the node's life)
                log.exception("trigger planning failed")
            await asyncio.sleep(CHECK_S)

    def _plan(self) -> None:
        self._pollers = {k: t for k, t in self._pollers.items() if not t.done()}
        state = self.view()
        if state is None or not state.mappings:
            return
        for group, replica in list(self.engine.replicas.items()):
            if not isinstance(replica, PartitionReplica) or not replica.is_leader:
                continue
            for mapping in self._mappings_of(state, replica):
                key = (mapping["uuid"], group)
                if key not in self._pollers:
                    self._pollers[key] = asyncio.create_task(self._poll(mapping["uuid"], group))

    @staticmethod
    def _mappings_of(state: MetaState, replica: PartitionReplica) -> list[dict]:
        t = state.table_by_id(replica.config["table_id"])
        if t is None or t.status == "DELETING":
            return []
        out = []
        for m in state.mappings.values():
            if not m["enabled"]:
                continue
            try:
                name = ds.parse_stream_arn(m["source"])
            except DynamoDBError:
                continue
            if name.table == t.name and t.stream(name.label) is not None:
                out.append(m)
        return out

    def _live(self, uuid_: str, group: str) -> tuple[dict, PartitionReplica] | None:
        """The mapping and the replica while this node leads the partition and the mapping is enabled."""
        state = self.view()
        replica = self.engine.replicas.get(group)
        if state is None or not isinstance(replica, PartitionReplica) or not replica.is_leader:
            return None
        mapping = state.mappings.get(uuid_)
        if mapping is None or mapping not in self._mappings_of(state, replica):
            return None
        return mapping, replica

    async def _poll(self, uuid_: str, group: str) -> None:
        poller = ShardPoller(self, uuid_, group)
        try:
            await poller.run()
        except Rejected:
            return  # no longer the leader: the next one resumes from the checkpoint
        except Exception:  # noqa: BLE001 (restarted at the next plan, from the checkpoint)
            log.exception("trigger %s on %s failed; restarting from its checkpoint", uuid_, group)
            await asyncio.sleep(RETRY_S)


class ShardPoller:
    """Delivers one partition's stream shard to one mapping's function."""

    def __init__(self, triggers: Triggers, uuid_: str, group: str) -> None:
        self.t = triggers
        self.uuid = uuid_
        self.group = group
        state = triggers.view()
        self.last_result = (state.mapping_status.get(uuid_, {}).get("last_result") if state is not None else None)

    async def run(self) -> None:
        while True:
            live = self.t._live(self.uuid, self.group)
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
            batch, nxt = await self._gather(stream, mapping, at)
            if not batch:
                if nxt != at:
                    await self._checkpoint(replica, nxt)  # only filtered-out records
                else:
                    await asyncio.sleep(POLL_S)
                continue
            await self._deliver(mapping, batch)
            await self._checkpoint(replica, nxt)

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
        """The next batch (Lambda's records, filtered) and the position after it."""
        deadline = time.monotonic() + mapping["window_s"]
        while True:
            resp = self._read(stream, at, mapping["batch_size"])
            full = len(resp.records) >= mapping["batch_size"]
            if full or not resp.records or time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        if not resp.records:  # stay put: an empty read's next position only moves past other entries
            return [], at
        nxt = (resp.stream_next.index, resp.stream_next.offset)
        arn, region = mapping["source"], ds.parse_stream_arn(mapping["source"]).region
        patterns = parse_filter_criteria({"Filters": [{"Pattern": p} for p in mapping["filters"]]})
        batch = []
        for r in resp.records:
            rec = ds.build_record(stream=arn, keys=orjson.loads(r.keys),
                                  old=orjson.loads(r.old_image) if r.old_image else None,
                                  new=orjson.loads(r.new_image) if r.new_image else None,
                                  view_type=stream["view"], position=ds.Position(0, r.position.index,
                                                                                 r.position.offset),
                                  created_ms=r.created_ms, region=region, by_ttl=r.by_ttl, event=EVENTS[r.event])
            event = ds.lambda_event_record(rec, arn)
            if not patterns or passes(patterns, event):
                batch.append({**event, "_created_ms": r.created_ms})  # (for the age limit; not sent)
        return batch, nxt

    # --- delivery ---------------------------------------------------------------

    async def _deliver(self, mapping: dict, batch: list[dict]) -> None:
        """Handle one batch to the end: delivered, or discarded (aged, retries
        exhausted) and reported to the on-failure destination."""
        pending = [batch]
        while pending:
            part = pending.pop(0)
            attempts = 0
            while part:
                part = await self._fresh(mapping, part)
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
                    await self._discard(mapping, part, "RetryAttemptsExhausted")
                    break
                await asyncio.sleep(RETRY_S)
                if self.t._live(self.uuid, self.group) is None:
                    raise Rejected("NOT_LEADER", f"{self.group}: no longer delivering {self.uuid}")

    async def _fresh(self, mapping: dict, part: list[dict]) -> list[dict]:
        """The records young enough to deliver; older ones are discarded (MaximumRecordAgeInSeconds)."""
        if mapping["max_age_s"] == -1:
            return part
        oldest_ms = time.time() * 1000 - mapping["max_age_s"] * 1000
        old = [r for r in part if r["_created_ms"] < oldest_ms]
        if old:
            await self._discard(mapping, old, "RecordAgeExceeded")
        return [r for r in part if r["_created_ms"] >= oldest_ms]

    async def _invoke(self, mapping: dict, part: list[dict]) -> tuple[bool, int | None]:
        """Run the function on ``part``: (success, index of the lowest reported failure)."""
        fn, code = self._function(mapping["function_arn"])
        if fn is None:
            await self._result("PROBLEM: Function not found")
            return False, None
        payload = orjson.dumps({"Records": [{k: v for k, v in r.items() if k != "_created_ms"} for r in part]})
        result = await self._run(mapping, fn, code, payload)
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

    def _function(self, arn: str) -> tuple[Function | None, str | None]:
        state = self.t.view()
        entry = state.functions.get(arn.rsplit(":", 1)[-1]) if state is not None else None
        if entry is None:
            return None, None
        return Function.from_record(entry["record"]), entry["code"]

    async def _run(self, mapping: dict, fn: Function, code: str, payload: bytes):
        rt = self.t.runtime(ds.parse_stream_arn(mapping["source"]).region)
        try:
            zip_bytes = None if rt.has_code(fn.code_sha256) else await CodeStore(self.t.cluster()).get(
                code, fn.code_size)
            return await rt.invoke(fn, payload, zip_bytes=zip_bytes, request_id=str(uuid.uuid4()))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (the code could not be fetched, or the runtime failed: retried)
            log.warning("trigger %s: invoking %s failed: %r", self.uuid, fn.name, exc)
            return None

    async def _discard(self, mapping: dict, part: list[dict], reason: str) -> None:
        """Records given up on: counted, and described to the on-failure destination."""
        log.warning("trigger %s on %s: %d record(s) discarded (%s)", self.uuid, self.group, len(part), reason)
        await self._result(self.last_result or "PROBLEM: Function call failed", discarded=len(part))
        target = mapping.get("on_failure")
        if not target or ":function:" not in target:
            return
        fn, code = self._function(target)
        if fn is None:
            log.warning("trigger %s: on-failure destination %s does not exist", self.uuid, target)
            return
        await self._run(mapping, fn, code, orjson.dumps(failure_record(mapping, self._shard_id(mapping), part,
                                                                        reason)))

    def _shard_id(self, mapping: dict) -> str:
        """The shard's id as DescribeStream shows it (router/streams.py)."""
        name = ds.parse_stream_arn(mapping["source"])
        state = self.t.view()
        t = state.tables.get(name.table) if state is not None else None
        s = t.stream(name.label) if t is not None else None
        return ds.shard_id(s["created_ms"], f"{t.uuid}|{s['label']}|{self.group}") if s is not None else self.group


def batch_item_failures(payload: bytes, sequence_numbers: list[str]) -> int | None:
    """The index in the batch to retry from, per a ReportBatchItemFailures
    answer (None: all succeeded). An empty or null list, or a null answer, is
    success; an itemIdentifier that is empty, null or not in the batch, or an
    answer of another shape, fails the whole batch (index 0)."""
    try:
        answer = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        return 0
    if answer is None:
        return None
    if not isinstance(answer, dict):
        return 0
    failures = answer.get("batchItemFailures")
    if not failures:
        return None
    if not isinstance(failures, list):
        return 0
    lowest = len(sequence_numbers)
    for f in failures:
        ident = f.get("itemIdentifier") if isinstance(f, dict) else None
        if not ident or ident not in sequence_numbers:
            return 0
        lowest = min(lowest, sequence_numbers.index(ident))
    return lowest


def failure_record(mapping: dict, shard: str, part: list[dict], reason: str) -> dict[str, Any]:
    """The invocation record Lambda sends an on-failure destination for a stream batch."""
    first, last = part[0], part[-1]
    return {
        "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": mapping["function_arn"],
                           "condition": reason, "approximateInvokeCount": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "DDBStreamBatchInfo": {
            "shardId": shard, "streamArn": mapping["source"], "batchSize": len(part),
            "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(first["dynamodb"]["ApproximateCreationDateTime"])),
            "approximateArrivalOfLastRecord": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(last["dynamodb"]["ApproximateCreationDateTime"])),
        },
    }
