"""A backup's reads of its partitions (router/backups.py): each partition's
items from one consistent view, in pages of about `PAGE_BYTES`, the view
kept open between pages under a cursor (dropped once idle for `IDLE_S`)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

from node.groups.engine import Engine
from node.groups.replica import Rejected
from node.partition.replica import PartitionReplica

PAGE_BYTES = 1 << 20
IDLE_S = 60.0


class BackupReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._open: dict[str, tuple[str, int, Iterator[bytes], float]] = {}  # cursor -> group, index, scan, used

    def read(self, body: dict) -> dict:
        """One page: ``{"items": [item JSON text], "applied": index, "cursor": next or None}``.
        Without a cursor, a new view of the partition at its leader."""
        now = time.monotonic()
        for c in [c for c, (*_, used) in self._open.items() if now - used > IDLE_S]:
            del self._open[c]
        cursor = body.get("cursor")
        if cursor:
            if cursor not in self._open:
                raise Rejected("UNAVAILABLE", f"backup cursor {cursor} expired or unknown (the read restarts)")
            group, index, scan, _ = self._open.pop(cursor)
        else:
            group = str(body.get("group", ""))
            replica = self.engine.replicas.get(group)
            if not isinstance(replica, PartitionReplica):
                raise Rejected("WRONG_GROUP", f"no replica of {group}")
            index, scan = replica.backup_scan()
        items, size = [], 0
        for value in scan:
            items.append(value.decode())
            size += len(value)
            if size >= PAGE_BYTES:
                cursor = secrets.token_hex(8)
                self._open[cursor] = (group, index, scan, now)
                return {"items": items, "applied": index, "cursor": cursor}
        return {"items": items, "applied": index, "cursor": None}
