"""Reclaiming a compacted Raft log's disk space (node/storage/reclaim.py)."""

from __future__ import annotations

import os
import time

from node.storage import RAFT, Storage
from node.storage.reclaim import Reclaimer, due


def test_due_once_the_dead_bytes_pass_the_floor_and_the_live_ones():
    assert not due(10 << 20, 0, floor=32 << 20)  # too little to bother
    assert not due(100 << 20, 60 << 20, floor=32 << 20)  # 40 MB dead, 60 live: would not halve it
    assert due(100 << 20, 40 << 20, floor=32 << 20)


def test_a_compacted_log_gives_its_space_back(tmp_path):
    db = Storage.open(tmp_path / "db")
    try:
        raft = db._views[RAFT]
        value = os.urandom(4000)  # incompressible, like sealed entries
        for start in range(1, 2001, 200):
            b = db.batch()
            db.raft.append_entries(b, "t1.p0", [(i, value) for i in range(start, start + 200)])
            db.write(b, sync=False)
        raft.flush()
        b = db.batch()
        db.raft.compact(b, "t1.p0", 1900)  # one range tombstone: the files still hold every entry
        db.write(b, sync=False)
        raft.flush()
        before = raft.property_int_value("rocksdb.total-sst-files-size")
        assert before > 7 << 20
        r = db._reclaimer
        assert r is not None
        r._floor = 1 << 20
        assert r.check() and r.reclaims == 1
        after = raft.property_int_value("rocksdb.total-sst-files-size")
        assert after < before / 5  # about the 100 entries kept
        assert db.raft.first_index("t1.p0") == 1901 and db.raft.entries("t1.p0", 1901, 2001)[-1] == value
        assert not r.check()  # nothing dead left
    finally:
        db.close()


def test_stop_waits_for_a_reclaim_in_progress_and_ends_the_thread():
    calls: list[str] = []
    r = Reclaimer(lambda: (100, 0), lambda: calls.append("compact"), every_s=0.01, floor=1)
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    r.stop()
    n = len(calls)
    assert n >= 1 and not r._thread.is_alive()
    time.sleep(0.05)
    assert len(calls) == n  # nothing after stop
