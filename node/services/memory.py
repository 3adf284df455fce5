"""What holds a node's memory (admin op ``memory``): the kernel's view of the
process, glibc's heap, RocksDB's own counters, the Python heap and the
node's caches and queues. `python -m bench.batch_load` samples it to say
which consumer grows under a load (issue 21: RSS under 200 MB)."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from typing import Any

from node.groups.disk_log import held_bytes
from node.services import malloc
from node.storage.families import FAMILIES

_ROCKS_PER_FAMILY = ("rocksdb.cur-size-all-mem-tables", "rocksdb.estimate-table-readers-mem")
_ROCKS_SHARED = ("rocksdb.block-cache-usage", "rocksdb.block-cache-pinned-usage")
_SMAPS = ("Rss", "Anonymous", "Pss_File", "Shared_Clean", "Private_Clean")


def smaps() -> dict[str, int]:
    """/proc/self/smaps_rollup's sizes in bytes (Rss, Anonymous, ...)."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == "kB" and parts[0].rstrip(":") in _SMAPS:
                    out[parts[0].rstrip(":")] = int(parts[1]) << 10
    except OSError:
        pass
    return out


def rocksdb(storage: Any) -> dict[str, int]:
    """RocksDB's memtables and index/filter readers summed over families, and its block cache."""
    out: dict[str, int] = {}
    views = storage._views  # noqa: SLF001 (read-only counters)
    for prop in _ROCKS_PER_FAMILY:
        out[prop.removeprefix("rocksdb.")] = sum(views[f].property_int_value(prop) or 0 for f in FAMILIES)
    for prop in _ROCKS_SHARED:
        out[prop.removeprefix("rocksdb.")] = views[FAMILIES[0]].property_int_value(prop) or 0
    return out


def block_cache_entries(storage: Any) -> str:
    """What the block cache holds by role (data, filter, index blocks: RocksDB's own line)."""
    text = storage._views[FAMILIES[0]].property_value("rocksdb.block-cache-entry-stats") or ""  # noqa: SLF001
    return next((line for line in text.splitlines() if line.startswith("Block cache entry stats")), "")


def raft_tails(engine: Any) -> dict[str, int]:
    """The Raft logs' in-memory entries, and the bytes they hold (as `disk_log.trim` counts them), over all groups."""
    entries = size = 0
    for r in list(engine.replicas.values()):
        log = r.raft.log.entries
        entries += len(log)
        size += sum(map(held_bytes, log))
    return {"entries": entries, "bytes": size}


def report(engine: Any, top: int = 0, trim_first: bool = False,
           trimmer: malloc.Trimmer | None = None) -> dict[str, Any]:
    """Every consumer this node can count, in bytes; `top` tracemalloc lines
    if tracing; `trim_first`: after a malloc_trim (its effect under "trim")."""
    trimmed = malloc.trim() if trim_first else None
    storage = engine.storage
    items = storage._items  # noqa: SLF001
    out: dict[str, Any] = {
        "smaps": smaps(),
        "malloc": malloc.info(),
        "rocksdb": rocksdb(storage),
        "block_cache_entries": block_cache_entries(storage),
        "python": {"allocated_blocks": sys.getallocatedblocks(), "gc_count": list(gc.get_count())},
        "raft_tails": raft_tails(engine),
        "item_cache": items.size if items is not None else 0,
    }
    peers = getattr(engine.transport, "_peers", {})
    out["peer_send_buffers"] = sum(
        p.direct.transport.get_write_buffer_size() for p in peers.values()
        if getattr(p, "direct", None) is not None and not p.direct.is_closing())
    if trimmer is not None:
        out["trimmer"] = trimmer.status()
    if trimmed is not None:
        out["trim"] = trimmed
    if tracemalloc.is_tracing():
        cur, peak = tracemalloc.get_traced_memory()
        out["tracemalloc"] = {"current": cur, "peak": peak}
        if top:
            stats = tracemalloc.take_snapshot().statistics("lineno")[:top]
            out["tracemalloc"]["top"] = [[str(s.traceback[0]), s.size, s.count] for s in stats]
    return out
