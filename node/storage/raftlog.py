"""Raft log persistence for every group on the node, in the ``raft`` family.

Entries are opaque bytes (the raft core serializes them). Index bookkeeping
follows etcd's raft storage: after ``compact(upto)`` with nothing left in the
log, ``first_index == upto + 1`` and ``last_index == upto``; a fresh log has
``first_index == 1`` and ``last_index == 0``.

Writers add to a :class:`Batch` so an append commits together with whatever
else the caller put in it; readers see committed state only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cluster import keys
from .batch import Batch, encode_group
from .errors import LogCompacted, LogUnavailable
from .families import RAFT

if TYPE_CHECKING:
    from .db import Storage


class RaftLog:
    """Raft log, hard state and snapshot metadata of each group (``Storage.raft``)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    # --- writes (into a batch) -----------------------------------------

    def append_entries(self, batch: Batch, group: str | bytes, entries: Sequence[tuple[int, bytes]]) -> None:
        """Put consecutive ``(index, entry)`` pairs. Does not truncate: on a
        conflict call :meth:`truncate_suffix` first, in the same batch."""
        enc = encode_group(group)
        prev = -1
        for index, data in entries:
            if prev >= 0 and index != prev + 1:
                raise ValueError(f"entries not consecutive: {index} after {prev}")
            batch.put(RAFT, keys.raft_log_key(enc, index), data)
            prev = index

    def truncate_suffix(self, batch: Batch, group: str | bytes, from_index: int) -> None:
        """Delete entries with index >= ``from_index`` (a follower's conflicting tail)."""
        enc = encode_group(group)
        batch.delete_range(RAFT, keys.raft_log_bound(enc, from_index), keys.raft_log_bounds(enc)[1])

    def compact(self, batch: Batch, group: str | bytes, upto_index: int) -> None:
        """Delete entries with index <= ``upto_index`` (covered by a snapshot)."""
        enc = encode_group(group)
        current = self.compacted_index(group)
        if upto_index < current:
            raise ValueError(f"compact to {upto_index} below compacted index {current}")
        lo, _ = keys.raft_log_bounds(enc)
        batch.delete_range(RAFT, lo, keys.raft_log_bound(enc, upto_index + 1))
        batch.put(RAFT, keys.raft_key(enc, keys.RAFT_COMPACTED), keys.u64(upto_index))

    def save_hard_state(self, batch: Batch, group: str | bytes, data: bytes) -> None:
        batch.put(RAFT, keys.raft_key(encode_group(group), keys.RAFT_HARD_STATE), data)

    def save_snapshot(self, batch: Batch, group: str | bytes, data: bytes) -> None:
        """The group's latest snapshot (its metadata, and the state when the
        state travels in it): where a restart's log begins."""
        batch.put(RAFT, keys.raft_key(encode_group(group), keys.RAFT_SNAPSHOT_META), data)

    # --- reads ----------------------------------------------------------

    def hard_state(self, group: str | bytes) -> bytes | None:
        return self._storage.get(RAFT, keys.raft_key(encode_group(group), keys.RAFT_HARD_STATE))

    def snapshot(self, group: str | bytes) -> bytes | None:
        return self._storage.get(RAFT, keys.raft_key(encode_group(group), keys.RAFT_SNAPSHOT_META))

    def compacted_index(self, group: str | bytes) -> int:
        """Highest index removed by :meth:`compact`; 0 when never compacted."""
        value = self._storage.get(RAFT, keys.raft_key(encode_group(group), keys.RAFT_COMPACTED))
        return 0 if value is None else keys.read_u64(value)

    def first_index(self, group: str | bytes) -> int:
        enc = encode_group(group)
        lo, hi = keys.raft_log_bounds(enc)
        for key, _ in self._storage.iter_range(RAFT, lo, hi, limit=1):
            return keys.raft_log_index(key)
        return self.compacted_index(group) + 1

    def last_index(self, group: str | bytes) -> int:
        enc = encode_group(group)
        lo, hi = keys.raft_log_bounds(enc)
        for key, _ in self._storage.iter_range(RAFT, lo, hi, reverse=True, limit=1):
            return keys.raft_log_index(key)
        return self.compacted_index(group)

    def entries(self, group: str | bytes, lo: int, hi: int, *, max_bytes: int | None = None) -> list[bytes]:
        """Entries with index in ``[lo, hi)``.

        With ``max_bytes``, stops before the total would exceed it but always
        returns at least one entry. Raises :class:`LogCompacted` or
        :class:`LogUnavailable` if an entry in the range is missing.
        """
        if lo >= hi:
            return []
        enc = encode_group(group)
        out: list[bytes] = []
        size = 0
        expected = lo
        for key, value in self._storage.iter_range(
            RAFT, keys.raft_log_bound(enc, lo), keys.raft_log_bound(enc, hi)
        ):
            if keys.raft_log_index(key) != expected:
                break
            size += len(value)
            if max_bytes is not None and out and size > max_bytes:
                return out
            out.append(value)
            expected += 1
        if expected < hi:
            if expected <= self.compacted_index(group):
                raise LogCompacted(f"{group!r}: entry {expected} compacted")
            raise LogUnavailable(f"{group!r}: entry {expected} not in log")
        return out
