"""A partition's transaction locks (issue 17; the design: notes/txn-design.md).

TXN_PREPARE stores a lock per item through the partition's log: the attempt
that holds it and the write its commit applies. Until TXN_COMMIT or
TXN_RELEASE removes it (again through the log), ordinary writes to the item
are refused with TransactionConflictException.

Locks live in the streams family under the partition's prefix
(cluster/keys.py ``txn_lock_key``), so snapshots carry them, and every
replica mirrors the applied ones in memory (few: only items of transactions
in flight), so a new leader knows them at once. The leader also overlays
what it has proposed but not yet applied, as it does for items: a write
evaluated after a prepare was proposed already sees the lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable

from cluster.keys import txn_lock_bounds, txn_lock_key
from ddb.errors import TransactionConflictException
from node.storage import STREAMS, Batch, Storage
from trireme_pb import node_pb2

ENDED_KEPT = 10_000  # attempts remembered as ended, so a late duplicate prepare cannot lock again


def same_attempt(a: node_pb2.TxnRef, b: node_pb2.TxnRef) -> bool:
    return a.id == b.id and a.attempt == b.attempt


class TxnLocks:
    """The locks of one partition: applied (every replica) and pending (the leader)."""

    def __init__(self, storage: Storage, group: str) -> None:
        self.group = group
        self.applied: dict[bytes, node_pb2.TxnLock] = self.stored(storage)
        # Leader: key -> [the lock once its proposals apply (None: unlocked), proposals pending]
        self.pending: dict[bytes, list] = {}
        self._ended: OrderedDict[tuple[bytes, str, int], None] = OrderedDict()

    def stored(self, storage: Storage) -> dict[bytes, node_pb2.TxnLock]:
        return self.decode(storage.iter_range(STREAMS, *txn_lock_bounds(self.group)))

    def decode(self, records: Iterable[tuple[bytes, bytes]]) -> dict[bytes, node_pb2.TxnLock]:
        """The locks among ``(streams key, value)`` records (a scan or a snapshot's)."""
        lo, hi = txn_lock_bounds(self.group)
        locks = (node_pb2.TxnLock.FromString(v) for k, v in records if lo <= k < hi)
        return {lock.key: lock for lock in locks}

    # --- the leader's view ---------------------------------------------------

    def holder(self, key: bytes) -> node_pb2.TxnLock | None:
        """The lock on ``key`` once everything proposed applies."""
        slot = self.pending.get(key)
        if slot is not None:
            return slot[0]
        return self.applied.get(key)

    def check_free(self, key: bytes) -> None:
        """An ordinary write's check (callers test ``applied or pending`` first: the hot path)."""
        if self.holder(key) is not None:
            raise TransactionConflictException()

    def ended(self, key: bytes, ref: node_pb2.TxnRef) -> bool:
        """Did this attempt's lock on ``key`` commit or release (recently, as
        far as this replica remembers: the leader's check, never an apply's)?"""
        return (key, ref.id, ref.attempt) in self._ended

    def pend(self, key: bytes, lock: node_pb2.TxnLock | None) -> Callable[[bool], None]:
        """Note a proposal that locks (or unlocks: None) ``key``; call the
        result once its outcome is known."""
        slot = self.pending.get(key)
        if slot is None:
            slot = self.pending[key] = [lock, 1]
        else:
            slot[0] = lock
            slot[1] += 1
        pending = self.pending

        def done(_applied: bool) -> None:
            s = pending.get(key)
            if s is not None:
                s[1] -= 1
                if s[1] <= 0:
                    del pending[key]
        return done

    def older_than(self, cutoff_ms: int) -> list[node_pb2.TxnLock]:
        """Applied locks prepared before ``cutoff_ms`` that no pending proposal ends."""
        return [lock for key, lock in self.applied.items()
                if lock.prepared_ms < cutoff_ms and key not in self.pending]

    # --- applying (every replica) ---------------------------------------------

    def apply_lock(self, batch: Batch, lock: node_pb2.TxnLock) -> bool:
        """Store a prepared lock; False when another attempt holds the item
        (the leader checked first, so only a deposed leader's entry does)."""
        held = self.applied.get(lock.key)
        if held is not None and not same_attempt(held.txn, lock.txn):
            return False  # (decided from the stored state only: every replica decides alike)
        batch.put(STREAMS, txn_lock_key(self.group, lock.key), lock.SerializeToString())
        self.applied[lock.key] = lock
        return True

    def apply_unlock(self, batch: Batch, ref: node_pb2.TxnLock) -> bool:
        """Remove ``ref.key``'s lock iff ``ref.txn``'s attempt holds it."""
        held = self.applied.get(ref.key)
        if held is None or not same_attempt(held.txn, ref.txn):
            return False
        batch.delete(STREAMS, txn_lock_key(self.group, ref.key))
        del self.applied[ref.key]
        ended = self._ended
        ended[(ref.key, ref.txn.id, ref.txn.attempt)] = None
        if len(ended) > ENDED_KEPT:
            ended.popitem(last=False)
        return True
