"""Transaction recovery: no item stays locked by a coordinator that died.

Each partition leader looks, every ``CHECK_S``, at its transaction locks
(node/partition/txn_locks.py) older than ``TIMEOUT_S`` and settles them by
the transaction's record (cluster/txn_records.py), presumed abort:

- COMMITTED by the lock's attempt: commit it here (the coordinator decided
  and may have died before telling this partition);
- PENDING with the lock's attempt: decide ABORTED (a compare-and-set: should
  the coordinator decide COMMITTED first, that wins and is committed here);
- ABORTED, another attempt, or no record: release.

A live coordinator finishes well within the timeout, so recovery only meets
the abandoned ones; it may race a slow one, and the record's single decision
makes either order right. Nothing is done while the records table is not in
this node's metadata view (a lock's record cannot be absent then: it is
created before any prepare), so a stale view never releases a committed lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cluster.partitions import Cluster
from cluster.tasks import cancel
from cluster.txn_records import ABORTED, COMMITTED, PENDING, TXN_TABLE, Record, TxnRecords
from node.groups.replica import Rejected
from node.partition.replica import PartitionReplica
from trireme_pb import node_pb2

if TYPE_CHECKING:
    from node.groups.engine import Engine

log = logging.getLogger(__name__)

TIMEOUT_S = float(os.environ.get("TRIREME_TXN_TIMEOUT_S", "5"))  # a lock this old is recovered
CHECK_S = 1.0

Req = node_pb2.DataRequest


def outcome(lock: node_pb2.TxnLock, rec: Record | None) -> str:
    """What a lock's attempt came to: COMMITTED, ABORTED, or PENDING (to decide)."""
    if rec is None or rec.attempt != lock.txn.attempt:
        return ABORTED  # no record, or a later attempt (started only once this one was aborted)
    return rec.state


class TxnRecovery:
    """Settles this node's partitions' abandoned transaction locks."""

    def __init__(self, engine: Engine, client: Callable[[], Cluster], *, timeout_s: float = TIMEOUT_S,
                 check_s: float = CHECK_S) -> None:
        self.engine = engine
        self.client = client  # the node's partition client, following its metadata view
        self.timeout_s = timeout_s
        self.check_s = check_s
        self._records: TxnRecords | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel([self._task])

    async def _run(self) -> None:
        while True:
            try:
                await self.recover_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 (tried again next round)
                log.exception("transaction recovery failed")
            await asyncio.sleep(self.check_s)

    def abandoned(self) -> list[tuple[PartitionReplica, node_pb2.TxnLock]]:
        """The locks older than the timeout at the partitions this node leads."""
        cutoff = int((time.time() - self.timeout_s) * 1000)
        return [(replica, lock) for replica in list(self.engine.replicas.values())
                if isinstance(replica, PartitionReplica) and replica.writable()
                for lock in replica.locks.older_than(cutoff)]

    async def recover_once(self) -> int:
        """One round; the number of locks settled."""
        work = self.abandoned()
        if not work:
            return 0
        cluster = self.client()
        if cluster.state is None or TXN_TABLE not in cluster.state.tables:
            return 0
        if self._records is None or self._records.cluster is not cluster:
            self._records = TxnRecords(cluster)
        records: dict[str, asyncio.Task] = {}  # one read per transaction
        for _, lock in work:
            if lock.txn.id not in records:
                records[lock.txn.id] = asyncio.ensure_future(self._records.read(lock.txn.id))
        done = await asyncio.gather(*(self._settle(replica, lock, records[lock.txn.id]) for replica, lock in work),
                                    return_exceptions=True)
        for failed in done:
            if isinstance(failed, BaseException):
                log.warning("transaction recovery: %r (tried again next round)", failed)
        return sum(1 for d in done if d is True)

    async def _settle(self, replica: PartitionReplica, lock: node_pb2.TxnLock, record: asyncio.Future) -> bool:
        txn = lock.txn
        state = outcome(lock, await record)
        if state == PENDING:
            state = outcome(lock, await self._records.decide(txn.id, txn.attempt, ABORTED))
        req = Req(op=Req.TXN_COMMIT if state == COMMITTED else Req.TXN_RELEASE, key=lock.key, txn=txn)
        try:
            resp = await (replica.txn_commit(req) if state == COMMITTED else replica.txn_release(req))
        except Rejected:
            return False  # no longer the leader: the next one recovers
        if not resp.txn_absent:
            log.info("transaction %s attempt %d: %s its lock on %s in %s (recovered after %.1fs)", txn.id,
                     txn.attempt, "committed" if state == COMMITTED else "released", lock.key.hex(),
                     replica.group, time.time() - lock.prepared_ms / 1000)
        return not resp.txn_absent
