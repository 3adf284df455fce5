"""glibc's heap: its counters, and a thread that hands its free pages back.

A node's allocations are large and of every size (client batches of 25 KB,
merged Raft entries of up to ~0.5 MB, RocksDB's memtable arenas and blocks,
from the loop and RocksDB's and gRPC's threads), so glibc's arenas keep
tens of MB of freed memory between live blocks that its own trimming, at
the top of a heap only, never returns: measured during a BatchWriteItem
load, 24-44 MB of a node's RSS (`python -m bench.batch_load`; a
malloc_trim took 32-40 MB of RSS back). `Trimmer` calls malloc_trim
whenever the RSS grew past what the last trim left.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

# RSS growth (MB) since the last trim that makes the next; 0 turns trimming off.
TRIM_MB = int(os.environ.get("TRIREME_MALLOC_TRIM_MB", "4"))
_PAGE = os.sysconf("SC_PAGE_SIZE")


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                 "uordblks", "fordblks", "keepcost")]


def _libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")  # CDLL: calls release the GIL
        libc.mallinfo2.restype = _Mallinfo2
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc, or older than 2.33
        return None


_LIBC = _libc()


def rss() -> int:
    """This process's resident bytes (/proc/self/statm: one short read)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def info() -> dict[str, int]:
    """Bytes in use by allocations, free bytes glibc keeps in its arenas,
    the arenas' size, and large blocks it mmapped ({} without glibc)."""
    if _LIBC is None:
        return {}
    m = _LIBC.mallinfo2()
    return {"in_use": m.uordblks + m.hblkhd, "free_kept": m.fordblks, "arena": m.arena, "mmapped": m.hblkhd}


def trim() -> dict[str, float]:
    """malloc_trim: the RSS before and after, and the seconds it took."""
    if _LIBC is None:
        return {}
    before = rss()
    t0 = time.perf_counter()
    _LIBC.malloc_trim(0)
    took = time.perf_counter() - t0
    return {"rss_before": before, "rss_after": rss(), "seconds": took}


class Trimmer:
    """Every `every` seconds, a trim if the RSS is `slack` bytes above the
    lowest it was since the last trim (a look at statm otherwise: a trim
    walks every arena, 0.5-10 ms, so only when there is memory to gain)."""

    def __init__(self, slack: int = TRIM_MB << 20, every: float = 0.5) -> None:
        self.slack = slack
        self.every = every
        self.trims = 0
        self.released = 0  # bytes of RSS the trims gave back
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="malloc-trim", daemon=True)

    def start(self) -> None:
        if self.slack > 0 and _LIBC is not None:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        floor = rss()
        while not self._stop.wait(self.every):
            now = rss()
            if now - floor < self.slack:
                floor = min(floor, now)
                continue
            t = trim()
            self.trims += 1
            self.released += max(0, int(t["rss_before"] - t["rss_after"]))
            self.seconds += t["seconds"]
            floor = int(t["rss_after"])

    def status(self) -> dict[str, float]:
        return {"trims": self.trims, "released": self.released, "seconds": self.seconds}
