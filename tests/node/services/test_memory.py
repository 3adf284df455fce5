"""The admin op `memory`'s report counts what it names: RocksDB's memtables
grow with writes, the item cache with reads, the Raft tails with entries."""

from __future__ import annotations

import time

from node.groups.engine import Engine
from node.partition.replica import PartitionReplica
from node.services import malloc
from node.services import memory
from node.storage import DATA, Storage

CONFIG = {"kind": "partition", "table_id": 1, "lo": 0, "hi": 2**64 - 1}


def test_report_counts_memtables_item_cache_and_raft_tails(tmp_path):
    storage = Storage.open(tmp_path / "n1")
    try:
        engine = Engine("n1", storage, lambda peer: None)
        engine.factories = {"partition": PartitionReplica}
        engine.create("t1.p0", CONFIG, ["n1"])
        before = memory.report(engine)
        batch = storage.batch()
        for i in range(2000):
            batch.put(DATA, b"k%05d" % i, b"v" * 1000)
        storage.write(batch, sync=False)
        assert storage.get_item(b"k00001") == b"v" * 1000
        after = memory.report(engine)
        grown = after["rocksdb"]["cur-size-all-mem-tables"] - before["rocksdb"]["cur-size-all-mem-tables"]
        assert grown > 2000 * 1000
        assert after["item_cache"] >= 1000 > before["item_cache"]
        assert after["raft_tails"]["entries"] == len(engine.replicas["t1.p0"].raft.log.entries)
        assert after["smaps"]["Rss"] > 0 and after["smaps"]["Anonymous"] > 0
        assert after["malloc"]["in_use"] > 0
        trimmed = malloc.trim()
        assert trimmed["rss_after"] <= trimmed["rss_before"] + (1 << 20)
    finally:
        storage.close()


def test_the_trimmer_trims_once_the_rss_grows_past_its_slack():
    trimmer = malloc.Trimmer(slack=4 << 20, every=0.01)
    trimmer.start()
    try:
        # 16 MB more from the heap, written, until the RSS has grown past the
        # slack: the free memory glibc kept from this process's earlier tests
        # (an xdist worker's) is used first without growing the RSS at all.
        held: list = []
        deadline = time.monotonic() + 10
        while trimmer.trims == 0 and time.monotonic() < deadline and len(held) < 256 * 20:
            chunk = [b"x" * (64 << 10) for _ in range(256)]
            for i in range(0, len(chunk), 2):
                chunk[i] = None  # freed between live blocks
            held += chunk
            time.sleep(0.05)
        while trimmer.trims == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert trimmer.trims >= 1
        assert trimmer.status()["seconds"] > 0
    finally:
        trimmer.stop()
