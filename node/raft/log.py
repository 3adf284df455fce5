"""The replicated log as one replica sees it.

Entries after the latest snapshot are the log. The newest of them are held in
memory; older ones that are durable and applied may be evicted to the
driver's storage (`evict`), which then serves them through a `LogReader`
when a lagging follower or a restart needs them, as etcd's raft reads its
Storage. Memory stays bounded by the eviction policy, not by history.
"""

from __future__ import annotations

from typing import Protocol

from .messages import Entry, EntryKind, Snapshot, SnapshotMeta


class LogReader(Protocol):
    """The driver's durable copy of entries the log evicted from memory."""

    def entries(self, lo: int, hi: int) -> list[Entry]:
        """Entries [lo, hi), all of them."""

    def conf_entries(self, lo: int, hi: int) -> list[Entry]:
        """The configuration-change entries in [lo, hi)."""


class RaftLog:
    __slots__ = ("snapshot", "entries", "base", "base_term", "reader", "commit", "applied", "stable",
                 "pending_snapshot")

    def __init__(self, snapshot: Snapshot | None = None, entries: list[Entry] | None = None,
                 commit: int = 0, applied: int = 0, *, reader: LogReader | None = None,
                 base: int | None = None) -> None:
        """`entries` start right after the snapshot, or after `base` when the
        entries up to `base` are on disk, served by `reader`."""
        self.snapshot = snapshot or Snapshot(SnapshotMeta())
        self.entries: list[Entry] = list(entries or [])
        self.reader = reader
        self.base = self.snapshot.meta.index if base is None else base  # last index not held in memory
        if self.base != self.snapshot.meta.index and reader is None:
            raise ValueError("entries before the in-memory ones need a reader")
        if self.entries and self.entries[0].index != self.base + 1:
            raise ValueError(f"log entries start at {self.entries[0].index}, expected {self.base + 1}")
        self.base_term = (self.snapshot.meta.term if self.base == self.snapshot.meta.index
                          else reader.entries(self.base, self.base + 1)[0].term)  # type: ignore[union-attr]
        self.commit = max(commit, self.snapshot.meta.index)
        self.applied = max(applied, self.snapshot.meta.index)
        self.stable = self.last_index()  # what we were given is durable
        self.pending_snapshot: Snapshot | None = None

    # -- positions -------------------------------------------------------
    @property
    def offset(self) -> int:
        """Index of the last entry covered by the snapshot."""
        return self.snapshot.meta.index

    def first_index(self) -> int:
        return self.snapshot.meta.index + 1

    def last_index(self) -> int:
        return self.base + len(self.entries)

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.base_term

    def term(self, index: int) -> int | None:
        """Term of the entry at index; None when compacted away or absent."""
        base = self.base
        if index > base:
            if index > base + len(self.entries):
                return None
            return self.entries[index - base - 1].term
        if index == base:
            return self.base_term
        off = self.snapshot.meta.index
        if index == off:
            return self.snapshot.meta.term
        if index < off:
            return None
        return self.reader.entries(index, index + 1)[0].term  # type: ignore[union-attr]

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def entry(self, index: int) -> Entry:
        if index <= self.base:
            return self.reader.entries(index, index + 1)[0]  # type: ignore[union-attr]
        return self.entries[index - self.base - 1]

    def slice(self, lo: int, hi: int, max_count: int | None = None) -> list[Entry]:
        """Entries [lo, hi); the caller checks lo > offset."""
        if max_count is not None:
            hi = min(hi, lo + max_count)
        base = self.base
        if lo > base:
            return self.entries[lo - base - 1:hi - base - 1]
        older = self.reader.entries(lo, min(hi, base + 1))  # type: ignore[union-attr]
        return older + self.entries[:hi - base - 1] if hi > base + 1 else older

    def conf_entries(self, lo: int, hi: int) -> list[Entry]:
        """The configuration changes in [lo, hi), without loading evicted entries."""
        base = self.base
        out = self.reader.conf_entries(lo, min(hi, base + 1)) if lo <= base else []  # type: ignore[union-attr]
        out.extend(e for e in self.entries[max(lo - base - 1, 0):max(hi - base - 1, 0)] if e.kind == EntryKind.CONF)
        return out

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Raft's election restriction: is a candidate's log at least as current as ours?"""
        lt = self.last_term()
        return last_term > lt or (last_term == lt and last_index >= self.last_index())

    # -- mutation --------------------------------------------------------
    def append(self, entries: list[Entry]) -> None:
        """Append entries that directly follow or overwrite a suffix of the log."""
        if not entries:
            return
        first = entries[0].index
        if first <= self.commit:
            raise AssertionError(f"overwriting committed index {first} (commit {self.commit})")
        if first > self.last_index() + 1:
            raise AssertionError(f"gap: appending {first} after {self.last_index()}")
        del self.entries[first - self.base - 1:]
        self.entries.extend(entries)
        if self.stable >= first:
            self.stable = first - 1

    def maybe_append(self, prev_index: int, prev_term: int, commit: int,
                     entries: tuple[Entry, ...]) -> tuple[int, int | None] | None:
        """AppendEntries on a follower: None on mismatch, else the new last
        index and where the log changed (None if it already held them all)."""
        if not self.match_term(prev_index, prev_term):
            return None
        last_new = prev_index + len(entries)
        changed = None
        for i, e in enumerate(entries):
            if e.index <= self.base:
                continue  # committed here (covered by our snapshot, or evicted): the leader has the same
            t = self.term(e.index)
            if t != e.term:
                self.append(list(entries[i:]))
                changed = e.index
                break
        self.commit_to(min(commit, last_new))
        return last_new, changed

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """Largest index <= index whose term is <= term: where a probe can resume."""
        index = min(index, self.last_index())
        while index > self.offset:
            t = self.term(index)
            if t is not None and t <= term:
                break
            index -= 1
        return index

    def commit_to(self, index: int) -> None:
        if index > self.commit:
            if index > self.last_index():
                raise AssertionError(f"commit {index} beyond last index {self.last_index()}")
            self.commit = index

    def unstable(self) -> list[Entry]:
        return self.entries[self.stable - self.base:]

    def stable_to(self, index: int, term: int) -> None:
        if self.term(index) == term and index > self.stable:
            self.stable = index

    def next_committed(self) -> list[Entry]:
        """Committed entries not yet handed out for application."""
        lo = max(self.applied, self.snapshot.meta.index) + 1
        hi = self.commit + 1
        return self.slice(lo, hi) if hi > lo else []

    def applied_to(self, index: int) -> None:
        if index > self.applied:
            self.applied = index

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log with a snapshot received from the leader."""
        self.snapshot = snapshot
        self.entries = []
        self.base, self.base_term = snapshot.meta.index, snapshot.meta.term
        self.commit = snapshot.meta.index
        self.stable = snapshot.meta.index
        self.pending_snapshot = snapshot

    def compact(self, snapshot: Snapshot) -> None:
        """Drop entries covered by a local snapshot the driver has taken."""
        idx = snapshot.meta.index
        if idx <= self.snapshot.meta.index:
            return
        if idx > self.applied:
            raise ValueError(f"snapshot index {idx} beyond applied {self.applied}")
        if idx > self.base:
            del self.entries[:idx - self.base]
            self.base, self.base_term = idx, snapshot.meta.term
        self.snapshot = snapshot

    def evict(self, index: int) -> int:
        """Drop from memory the entries up to `index` that are durable and
        applied (the reader serves them from now on); returns how many."""
        index = min(index, self.applied, self.stable)
        if self.reader is None or index <= self.base:
            return 0
        n = index - self.base
        self.base_term = self.entries[n - 1].term
        del self.entries[:n]
        self.base = index
        return n
