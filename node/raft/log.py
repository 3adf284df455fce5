"""The replicated log as one replica sees it, held in memory.

Entries after the latest snapshot stay in memory; the driver persists the
unstable tail that each Ready hands it and compacts with snapshots, so memory
stays bounded by the compaction policy, not by history.
"""

from __future__ import annotations

from .messages import Entry, Snapshot, SnapshotMeta


class RaftLog:
    __slots__ = ("snapshot", "entries", "commit", "applied", "stable", "pending_snapshot")

    def __init__(self, snapshot: Snapshot | None = None, entries: list[Entry] | None = None,
                 commit: int = 0, applied: int = 0) -> None:
        self.snapshot = snapshot or Snapshot(SnapshotMeta())
        self.entries: list[Entry] = list(entries or [])
        first = self.snapshot.meta.index + 1
        if self.entries and self.entries[0].index != first:
            raise ValueError(f"log entries start at {self.entries[0].index}, expected {first}")
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
        return self.snapshot.meta.index + len(self.entries)

    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snapshot.meta.term

    def term(self, index: int) -> int | None:
        """Term of the entry at index; None when compacted away or absent."""
        off = self.snapshot.meta.index
        if index == off:
            return self.snapshot.meta.term
        if index < off or index > off + len(self.entries):
            return None
        return self.entries[index - off - 1].term

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def entry(self, index: int) -> Entry:
        return self.entries[index - self.snapshot.meta.index - 1]

    def slice(self, lo: int, hi: int, max_count: int | None = None) -> list[Entry]:
        """Entries [lo, hi); the caller checks lo > offset."""
        off = self.snapshot.meta.index
        if max_count is not None:
            hi = min(hi, lo + max_count)
        return self.entries[lo - off - 1:hi - off - 1]

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
        off = self.snapshot.meta.index
        if first <= self.commit:
            raise AssertionError(f"overwriting committed index {first} (commit {self.commit})")
        if first > self.last_index() + 1:
            raise AssertionError(f"gap: appending {first} after {self.last_index()}")
        del self.entries[first - off - 1:]
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
            t = self.term(e.index)
            if t is None and e.index <= self.offset:
                continue  # already covered by our snapshot
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
        return self.entries[self.stable - self.snapshot.meta.index:]

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
        del self.entries[:idx - self.snapshot.meta.index]
        self.snapshot = snapshot
