"""Streams on this node: partition leaders keep their partition's stream
settings in step with the metadata and report where each stream's shard
starts and ends; every replica trims its records past the retention.

The settings go through the partition's log (``WriteCommand.stream_config``)
so every replica starts and stops recording at the same entry. The table
stays CREATING or UPDATING until every partition has reported (the
controller watches `TableInfo.streams_settled`), so a write acknowledged
after UpdateTable's table is ACTIVE again has its record.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Awaitable

import orjson

from cluster.meta import TableInfo
from cluster.tasks import cancel
from node.partition import streams
from node.partition.replica import PartitionReplica
from trireme_pb import node_pb2

if TYPE_CHECKING:
    from node.control.view import Control
    from node.groups.engine import Engine

log = logging.getLogger(__name__)

SWEEP_S = 0.1
# Records are kept this long (DynamoDB: 24 hours); shorter for tests.
RETENTION_S = float(os.environ.get("TRIREME_STREAM_RETENTION_S", str(24 * 3600)))
TRIM_EVERY_S = min(60.0, max(0.5, RETENTION_S / 10))
TRIM_MOST = 500  # records one replica drops per pass: trimming never holds the loop long


def wanted_streams(t: TableInfo) -> list[dict]:
    """The stream settings the metadata asks of a table's partitions."""
    keys = [k["AttributeName"] for k in t.spec["KeySchema"]]
    return [{"label": s["label"], "view": s["view"], "keys": keys, "enabled": s["status"] == "ENABLED"}
            for s in t.streams]


def _applied(config: dict) -> list[tuple[str, bool]]:
    return [(s["label"], s["end"] is None) for s in config.get("streams", [])]


class StreamKeeper:
    """Runs on every node: one sweep task for the leaders' settings and
    reports, and the periodic trim of every replica's records."""

    def __init__(self, engine: Engine, control: Control) -> None:
        self.engine = engine
        self.control = control
        self._task: asyncio.Task | None = None
        self._busy: dict[str, asyncio.Task] = {}  # group -> its settings or report in flight
        # (metadata version, leaders) of the last sweep that found nothing to do: a sweep is
        # only needed when the metadata or leadership changed, or work finished or failed.
        self._idle: tuple | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        await cancel([self._task, *self._busy.values()])

    async def _loop(self) -> None:
        next_trim = 0.0
        while True:
            await asyncio.sleep(SWEEP_S)
            try:
                self._sweep()
                if time.monotonic() >= next_trim:
                    next_trim = time.monotonic() + TRIM_EVERY_S
                    await self._trim()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 (the next sweep retries)
                log.exception("stream sweep failed")

    async def _trim(self) -> None:
        """Drop every replica's records past the retention, a few hundred at a
        time with the loop free in between."""
        cutoff = int((time.time() - RETENTION_S) * 1000)
        for group, replica in list(self.engine.replicas.items()):
            if isinstance(replica, PartitionReplica) and replica.config.get("streams"):
                while streams.trim(self.engine.storage, group, cutoff, TRIM_MOST) == TRIM_MOST:
                    await asyncio.sleep(0)
                    if self.engine.replicas.get(group) is not replica:
                        break  # removed meanwhile

    def _sweep(self) -> None:
        """Start the settings and reports each leader owes, one at a time per partition."""
        view = self.control.view
        if view is None:
            return
        leaders = [(g, r) for g, r in self.engine.replicas.items() if isinstance(r, PartitionReplica)
                   and (r.is_leader or "member" in r.config)]  # (an MRSC member reports to its region)
        state = (view.version, frozenset(g for g, _ in leaders))
        if state == self._idle:
            return
        tables = {t.id: t for t in view.tables.values()}
        started = False
        for group, replica in leaders:
            busy = self._busy.get(group)
            if busy is not None and not busy.done():
                continue
            t = tables.get(replica.config.get("table_id"))
            work = self._work(t, replica) if t is not None else None
            if work is not None:
                self._busy[group] = asyncio.create_task(self._run(group, work))
                started = True
            else:
                self._busy.pop(group, None)
        self._busy = {g: task for g, task in self._busy.items() if not task.done()}
        self._idle = None if started or self._busy else state

    def _work(self, t: TableInfo, replica: PartitionReplica) -> Awaitable | None:
        """What this leader must do for its table's streams now, if anything:
        propose the settings the metadata asks for, or report a start or end.
        A member of a group spanning regions (MRSC) that is not its leader
        only reports, to its own region's metadata: the settings are the same
        in every region and each member starts with them (node/control/view.py)."""
        if not replica.is_leader:
            return self._report(t, replica)
        pitr = t.keeps_pitr_log()  # point-in-time recovery's log (router/pitr.py) goes the same way
        if pitr != ("pitr" in replica.config):
            cmd = node_pb2.WriteCommand(pitr_config=orjson.dumps({"enabled": pitr}),
                                        timestamp_ms=int(time.time() * 1000))
            return replica.propose(cmd.SerializeToString())
        wanted = wanted_streams(t)
        if [(w["label"], w["enabled"]) for w in wanted] != _applied(replica.config):
            cmd = node_pb2.WriteCommand(stream_config=orjson.dumps(wanted), timestamp_ms=int(time.time() * 1000))
            return replica.propose(cmd.SerializeToString())
        return self._report(t, replica)

    def _report(self, t: TableInfo, replica: PartitionReplica) -> Awaitable | None:
        """Report where this partition started or ended a stream, if the metadata lacks it."""
        for s in replica.config.get("streams", []):
            meta = t.stream(s["label"])
            if meta is None:
                continue
            shard = meta["shards"].get(replica.group, {})
            report = {k: s[k] for k in ("start", "end") if s[k] is not None and k not in shard}
            if report:
                return self.control.meta_request("stream_shard", {"name": t.name, "label": s["label"],
                                                                  "group": replica.group, **report})
        return None

    async def _run(self, group: str, work: Awaitable) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (retried at the next sweep; leadership may have moved)
            log.info("%s: stream settings or report failed (retrying): %r", group, exc)
            await asyncio.sleep(0.5)
        finally:
            self._idle = None  # what comes next (a report after the settings applied) needs a sweep
