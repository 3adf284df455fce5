"""Raft log persistence: append, truncate, compact, bounded reads."""

from __future__ import annotations

import pytest

from node.storage import LogCompacted, LogUnavailable, Storage


@pytest.fixture
def db(tmp_path):
    s = Storage.open(tmp_path / "db")
    yield s
    s.close()


def _append(db, group, entries):
    b = db.batch()
    db.raft.append_entries(b, group, entries)
    db.write(b, sync=False)


def test_fresh_log(db):
    assert db.raft.first_index("g") == 1 and db.raft.last_index("g") == 0
    assert db.raft.entries("g", 1, 1) == []
    with pytest.raises(LogUnavailable):
        db.raft.entries("g", 1, 2)


def test_append_read_and_max_bytes(db):
    _append(db, "g", [(i, b"x" * i) for i in range(1, 11)])
    _append(db, "other", [(1, b"o")])
    assert db.raft.first_index("g") == 1 and db.raft.last_index("g") == 10
    assert db.raft.entries("g", 3, 6) == [b"xxx", b"xxxx", b"xxxxx"]
    assert db.raft.entries("g", 1, 11, max_bytes=6) == [b"x", b"xx", b"xxx"]
    assert db.raft.entries("g", 10, 11, max_bytes=1) == [b"x" * 10]  # at least one
    with pytest.raises(LogUnavailable):
        db.raft.entries("g", 9, 12)


def test_non_consecutive_append_rejected(db):
    with pytest.raises(ValueError):
        db.raft.append_entries(db.batch(), "g", [(1, b"a"), (3, b"c")])


def test_truncate_suffix_then_append_in_one_batch(db):
    _append(db, "g", [(i, b"old%d" % i) for i in range(1, 8)])
    b = db.batch()
    db.raft.truncate_suffix(b, "g", 4)
    db.raft.append_entries(b, "g", [(4, b"new4"), (5, b"new5")])
    db.write(b)
    assert db.raft.last_index("g") == 5
    assert db.raft.entries("g", 3, 6) == [b"old3", b"new4", b"new5"]


def test_compact(db):
    _append(db, "g", [(i, b"e") for i in range(1, 11)])
    b = db.batch()
    db.raft.compact(b, "g", 4)
    db.write(b)
    assert db.raft.first_index("g") == 5 and db.raft.last_index("g") == 10
    assert db.raft.compacted_index("g") == 4
    with pytest.raises(LogCompacted):
        db.raft.entries("g", 3, 6)
    b = db.batch()
    db.raft.compact(b, "g", 10)
    db.write(b)
    assert db.raft.first_index("g") == 11 and db.raft.last_index("g") == 10
    with pytest.raises(ValueError):
        db.raft.compact(db.batch(), "g", 3)


def test_hard_state_and_snapshot_meta(db):
    b = db.batch()
    db.raft.save_hard_state(b, "g", b"term=3")
    db.raft.save_snapshot(b, "g", b"snap")
    db.write(b)
    assert db.raft.hard_state("g") == b"term=3"
    assert db.raft.snapshot("g") == b"snap"
    assert db.raft.hard_state("h") is None
