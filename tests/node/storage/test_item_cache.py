"""The item cache never answers what the database no longer holds: every
write through Storage changes it, range deletes empty it, and a read that a
write overtook does not fill it."""

from __future__ import annotations

import threading

import pytest

from cluster import keys
from node.storage import DATA, Storage, StorageConfig
from node.storage.item_cache import MISSING, ItemCache


def _item(pk: bytes) -> bytes:
    return keys.item_key(7, 42, pk)


@pytest.fixture
def db(tmp_path):
    s = Storage.open(tmp_path / "db", StorageConfig(item_cache_bytes=1 << 20))
    yield s
    s.close()


def _raw(db, key):
    return db._view(DATA).get(key)


def test_reads_follow_every_write_put_delete_and_range_delete(db):
    k = _item(b"a")
    assert db.get_item(k) is None  # an absent item is cached as absent
    db.put_item(k, b"v1")
    assert db.get_item(k) == b"v1" == _raw(db, k)
    b = db.batch()
    b.put_item(k, b"v2")
    b.put_item(k, b"v3")  # the last write of a batch wins, as in RocksDB
    db.write(b)
    assert db.get_item(k) == b"v3" == _raw(db, k)
    db.delete_item(k)
    assert db.get_item(k) is None
    db.put_item(k, b"v4")
    b = db.batch()
    b.delete_range(DATA, _item(b""), _item(b"\xff"))
    db.write(b)
    assert db.get_item(k) is None and _raw(db, k) is None


def test_a_failed_write_leaves_the_key_forgotten_not_stale(db):
    k = _item(b"a")
    db.put_item(k, b"v1")
    b = db.batch()
    b.put_item(k, b"v2")
    db.write(b)
    with pytest.raises(Exception):  # noqa: B017 (a batch commits once)
        db.write(b)
    assert db.get_item(k) == b"v2"


def _held(cache, key, value):
    cache.fill(cache.generation(), key, value)
    assert cache.get(key) == value


def test_a_read_overtaken_by_a_write_does_not_fill():
    cache = ItemCache(1 << 20)
    gen = cache.generation()  # a read starts, finds "old" in the database...
    token = cache.begin_write([b"k"])  # ...a write of "new" begins and ends meanwhile
    cache.end_write(token, [(b"k", b"new")])
    cache.fill(gen, b"k", b"old")
    assert cache.get(b"k") is MISSING
    _held(cache, b"k", b"new")
    gen = cache.generation()
    token = cache.begin_write([b"k"])
    cache.fill(gen, b"k", b"new")  # read before the write's end: not kept
    assert cache.get(b"k") is MISSING
    cache.end_write(token, [(b"k", b"newer")])
    assert cache.get(b"k") == b"newer"  # (held when the write began: it takes the write's value)


def test_two_writes_at_once_leave_the_key_forgotten():
    cache = ItemCache(1 << 20)
    _held(cache, b"k", b"before")
    first = cache.begin_write([b"k"])
    second = cache.begin_write([b"k"])
    cache.end_write(second, [(b"k", b"second")])
    cache.end_write(first, [(b"k", b"first")])  # which reached the database last is unknown
    assert cache.get(b"k") is MISSING


def test_the_budget_holds_and_the_oldest_go_first():
    cache = ItemCache(1000)
    for i in range(20):
        cache.fill(cache.generation(), bytes([i]), b"x" * 100)
    assert cache.size <= 1000
    assert cache.get(bytes([19])) == b"x" * 100 and cache.get(bytes([0])) is MISSING
    cache.fill(cache.generation(), b"big", b"x" * 5000)  # larger than the whole budget: not kept
    assert cache.get(b"big") is MISSING and cache.size <= 1000


def test_writes_keep_held_keys_current_and_add_no_others():
    cache = ItemCache(1 << 20)
    _held(cache, b"read", b"v1")
    token = cache.begin_write([b"read", b"unread"])
    cache.end_write(token, [(b"read", b"v2"), (b"unread", b"w"), (b"read", b"v3")])
    assert cache.get(b"read") == b"v3" and cache.get(b"unread") is MISSING


def test_reads_on_another_thread_never_see_an_older_value_after_a_newer_one(db):
    k = _item(b"hot")
    db.put_item(k, (0).to_bytes(8, "big"))
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        last = 0
        while not stop.is_set():
            v = int.from_bytes(db.get_item(k), "big")
            if v < last:
                errors.append(f"read {v} after {last}")
                return
            last = v

    t = threading.Thread(target=reader)
    t.start()
    try:
        for i in range(1, 2000):
            db.put_item(k, i.to_bytes(8, "big"), sync=False)
    finally:
        stop.set()
        t.join(10)
    assert not errors
    assert db.get_item(k) == (1999).to_bytes(8, "big")


def test_off_reads_the_database_each_time(tmp_path):
    s = Storage.open(tmp_path / "db", StorageConfig(item_cache_bytes=0))
    try:
        s.put_item(_item(b"a"), b"v")
        s._view(DATA)[_item(b"a")] = b"changed behind its back"
        assert s.get_item(_item(b"a")) == b"changed behind its back"
    finally:
        s.close()
