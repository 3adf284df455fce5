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
# And about this many bytes of them: merged BatchWriteItem entries carry tens
# of KB each, and 1,024 of them held 40-75 MB per group (a node's RSS passed
# 250 MB loading 200,000 items, `python -m bench.batch_load`).
# 4 MB is two seconds of a 1,000,000-item BatchWriteItem load's entries (one
# leader for the table, 2,200 items/s): a node holds 4-8 MB, not 8-16.
MEMORY_BYTES = int(os.environ.get("TRIREME_RAFT_MEMORY_MB", "4")) << 20
MEMORY_MIN = 16  # entries kept whatever their size

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


def held_bytes(e: Entry) -> int:
    """What an entry in memory holds: its data and, once encoded, its encoding."""
    return len(e.data) + (len(e.wire) if e.wire is not None else 0)


def trim(log, keep: int = MEMORY_ENTRIES, budget: int = MEMORY_BYTES) -> int:
    """Evict the oldest entries once more than 2 x `keep` are in memory, or
    more than twice the `budget` in bytes, estimated from the largest of five
    entries spread over the tail (a few looks a turn, not a sum), each its
    data and, once encoded, its encoding (`Entry.wire`) too. The newest entry
    alone was no estimate: merged BatchWriteItem entries range from one batch
    to a dozen, and a small newest one let 30 MB stay per group."""
    entries = log.entries
    n = len(entries)
    if n > 2 * MEMORY_MIN:
        size = max(held_bytes(entries[i]) for i in (0, n >> 2, n >> 1, n - (n >> 2) - 1, n - 1))
        keep = min(keep, max(MEMORY_MIN, budget // (size or 1)))
    if n <= 2 * keep:
        return 0
    return log.evict(log.last_index() - keep)
