"""When a group compacts its stored log (Replica.compact_due): every
`compact_every` entries, or sooner once they hold about COMPACT_BYTES."""

from __future__ import annotations

from types import SimpleNamespace

from node.groups.replica import COMPACT_BYTES, Replica
from node.raft.messages import Entry


def _replica(behind: int, entry_bytes: int, every: int = 2000) -> SimpleNamespace:
    log = SimpleNamespace(offset=100, entries=[Entry(1, 100 + behind, b"x" * entry_bytes)] if entry_bytes >= 0 else [])
    return SimpleNamespace(raft=SimpleNamespace(log=log), compact_every=every, compact_to=lambda: 100 + behind)


def test_small_entries_compact_every_so_many():
    assert not Replica.compact_due(_replica(1999, 100))
    assert Replica.compact_due(_replica(2000, 100))


def test_large_entries_compact_by_bytes():
    size = 64 << 10
    n = COMPACT_BYTES // size
    assert not Replica.compact_due(_replica(n - 1, size))
    assert Replica.compact_due(_replica(n, size))
    assert not Replica.compact_due(_replica(0, COMPACT_BYTES * 2))  # nothing behind: nothing to drop
    assert not Replica.compact_due(_replica(10, -1))  # no entry in memory to estimate from
