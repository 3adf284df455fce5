"""A group's Raft entries read back from storage once the core evicted them
from memory (the core's `LogReader`): a lagging follower or a restart needs
them, everything else runs on the in-memory tail.
"""

from __future__ import annotations

import os

from cluster import keys
from node.raft.messages import Entry, EntryKind
from node.storage import RAFT, Storage
from node.net.raft_codec import decode_entry

# Entries kept in memory per group: enough for followers a few round trips
# behind. Past twice this many, the oldest durable and applied ones go.
MEMORY_ENTRIES = int(os.environ.get("TRIREME_RAFT_MEMORY_ENTRIES", "512"))

# A membership entry's encoding ends with its kind field (4, varint 1); a
# normal entry leaves the field out. A cheap filter before decoding.
_CONF_SUFFIX = b"\x20\x01"


class DiskLog:
    def __init__(self, storage: Storage, group: str) -> None:
        self.storage = storage
        self.group = group

    def entries(self, lo: int, hi: int) -> list[Entry]:
        return [decode_entry(b) for b in self.storage.raft.entries(self.group, lo, hi)]

    def conf_entries(self, lo: int, hi: int) -> list[Entry]:
        if lo >= hi:
            return []
        enc = keys.encode_group(self.group)
        out = []
        for _, value in self.storage.iter_range(RAFT, keys.raft_log_bound(enc, lo), keys.raft_log_bound(enc, hi)):
            if value.endswith(_CONF_SUFFIX):
                e = decode_entry(value)
                if e.kind == EntryKind.CONF:
                    out.append(e)
        return out


def trim(log, keep: int = MEMORY_ENTRIES) -> int:
    """Evict the oldest entries once more than 2 x `keep` are in memory."""
    if len(log.entries) <= 2 * keep:
        return 0
    return log.evict(log.last_index() - keep)
