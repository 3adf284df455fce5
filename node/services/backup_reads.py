"""A backup's reads of its partitions (router/backups.py): each partition's
items from one consistent view, in pages of about `PAGE_BYTES`, the view
kept open between pages under a cursor (dropped once idle for `IDLE_S`)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import orjson

from node.groups.engine import Engine
from node.groups.replica import Rejected
from node.partition.replica import PartitionReplica
from trireme_pb import node_pb2

PAGE_BYTES = 1 << 20
IDLE_S = 60.0


class BackupReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # cursor -> group, applied index, scan, last used, the index its PITR log starts at (None: off)
        self._open: dict[str, tuple[str, int, Iterator[bytes], float, int | None]] = {}

    def pitr(self, body: dict) -> dict:
        """A page of a partition's point-in-time recovery log after ``after`` ([index, offset])."""
        group = str(body.get("group", ""))
        replica = self.engine.replicas.get(group)
        if not isinstance(replica, PartitionReplica):
            raise Rejected("WRONG_GROUP", f"no replica of {group}")
        after = body.get("after") or [0, 0]
        records, done = replica.pitr_records((int(after[0]), int(after[1])), PAGE_BYTES)
        return {"records": records, "done": done, "start": (replica.config.get("pitr") or {}).get("start")}

    async def trim_pitr(self, body: dict) -> dict:
        """Drop a partition's point-in-time recovery log up to index ``upto``
        (its oldest base's: router/pitr.py `Pitr.roll`), through the
        partition's Raft log so every replica drops the same records."""
        group = str(body.get("group", ""))
        replica = self.engine.replicas.get(group)
        if not isinstance(replica, PartitionReplica):
            raise Rejected("WRONG_GROUP", f"no replica of {group}")
        replica.check_leader()
        cmd = node_pb2.WriteCommand(pitr_config=orjson.dumps({"enabled": True, "trim": int(body["upto"])}),
                                    timestamp_ms=int(time.time() * 1000))
        await replica.propose(cmd.SerializeToString())
        return {"ok": True}

    def read(self, body: dict) -> dict:
        """One page: ``{"items": [item JSON text], "applied": index, "cursor": next or None,
        "pitr_start": the index the partition's PITR log starts at, None: off}``.
        Without a cursor, a new view of the partition at its leader."""
        now = time.monotonic()
        for c in [c for c, (_, _, _, used, _) in self._open.items() if now - used > IDLE_S]:
            del self._open[c]
        cursor = body.get("cursor")
        if cursor:
            if cursor not in self._open:
                raise Rejected("UNAVAILABLE", f"backup cursor {cursor} expired or unknown (the read restarts)")
            group, index, scan, _, start = self._open.pop(cursor)
        else:
            group = str(body.get("group", ""))
            replica = self.engine.replicas.get(group)
            if not isinstance(replica, PartitionReplica):
                raise Rejected("WRONG_GROUP", f"no replica of {group}")
            index, scan = replica.backup_scan()
            start = (replica.config.get("pitr") or {}).get("start")
        items, size = [], 0
        for value in scan:
            items.append(value.decode())
            size += len(value)
            if size >= PAGE_BYTES:
                cursor = secrets.token_hex(8)
                self._open[cursor] = (group, index, scan, now, start)
                return {"items": items, "applied": index, "cursor": cursor, "pitr_start": start}
        return {"items": items, "applied": index, "cursor": None, "pitr_start": start}
