"""Giving back the disk space of compacted Raft logs.

A group drops its log behind the compaction point with one range tombstone
(``RaftLog.compact``), but RocksDB frees the entries' space only when a
compaction rewrites the files holding them, and with level compaction that
waits until the ``raft`` family's levels outgrow their targets: under a
steady write load the family held two or three times its live entries
(`python -m bench.batch_load`: a node's directory at 2.35x its data after
200,000 items). A `Reclaimer` thread looks at the family every few seconds
and compacts it whole once the bytes its files hold beyond RocksDB's
estimate of the live data pass both a floor and the live data itself, so
the rewriting costs at most about one extra write of the live log per
reclaim. RocksDB's compaction runs without the GIL, beside the event loop.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

EVERY_S = 5.0
FLOOR_BYTES = int(os.environ.get("TRIREME_RAFT_RECLAIM_MB", "32")) << 20  # below this, never worth a compaction


def due(total: int, live: int, floor: int = FLOOR_BYTES) -> bool:
    """Should a family whose files hold ``total`` bytes, ``live`` of them
    live, be compacted now? Once the dead bytes pass the floor and the live
    ones (so a reclaim at least halves the family)."""
    dead = total - live
    return dead >= floor and dead >= live


class Reclaimer:
    """A thread compacting a column family when `due`. ``sizes`` answers the
    family's (total, live) bytes, ``compact`` compacts it; both are called
    from this thread only, and never once `stop` returned."""

    def __init__(self, sizes: Callable[[], tuple[int, int]], compact: Callable[[], None],
                 every_s: float = EVERY_S, floor: int = FLOOR_BYTES) -> None:
        self._sizes = sizes
        self._compact = compact
        self._every_s = every_s
        self._floor = floor
        self._stop = threading.Event()
        self._lock = threading.Lock()  # held through a reclaim: `stop` waits for it to end
        self.reclaims = 0
        self._thread = threading.Thread(target=self._run, name="raft-reclaim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the thread; returns once no reclaim runs (the database may then close)."""
        self._stop.set()
        with self._lock:
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(self._every_s)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            with self._lock:
                if self._stop.is_set():
                    return
                try:
                    self.check()
                except Exception:  # noqa: BLE001 (a closed database or a RocksDB error: try again later)
                    log.exception("reclaiming the Raft log's space failed")

    def check(self) -> bool:
        """One look: compacts when `due`; True when it did."""
        total, live = self._sizes()
        if not due(total, live, self._floor):
            return False
        self._compact()
        self.reclaims += 1
        after, _ = self._sizes()
        log.info("Raft log files compacted: %.1f MB -> %.1f MB", total / 2**20, after / 2**20)
        return True
