"""Storage: items, range scans, atomic cross-family batches, reopen."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from cluster import keys
from ddb.encoding import encode_key_value, hash64
from node.storage import DATA, META, RAFT, STREAMS, Storage, StorageClosed, StorageError

TABLE = 7


def _pk(s: str) -> bytes:
    return encode_key_value({"S": s})


def _sk(n: int) -> bytes:
    return encode_key_value({"N": str(n)})


def _key(pk: str, sk: int, table: int = TABLE) -> bytes:
    p = _pk(pk)
    return keys.item_key(table, hash64(p), p, _sk(sk))


@pytest.fixture
def db(tmp_path):
    s = Storage.open(tmp_path / "db")
    yield s
    s.close()


def test_get_put_delete(db):
    k = _key("a", 1)
    assert db.get_item(k) is None
    db.put_item(k, b"v1")
    assert db.get_item(k) == b"v1"
    db.put_item(k, b"v2", sync=False)
    assert db.get(DATA, k) == b"v2"
    db.delete_item(k)
    assert db.get_item(k) is None
    assert db.multi_get(DATA, []) == []


@pytest.fixture
def partition(db):
    """Sort keys -3..9 under pk "p", plus neighbours that must never leak in."""
    sks = list(range(-3, 10))
    for sk in sks:
        db.put_item(_key("p", sk), str(sk).encode(), sync=False)
    for other in ("o", "pp", "q"):
        db.put_item(_key(other, 0), b"other", sync=False)
    db.put_item(_key("p", 0, table=TABLE + 1), b"other table", sync=False)
    p = _pk("p")
    return keys.item_prefix(TABLE, hash64(p), p), sks


def _values(it):
    return [int(v) for _, v in it]


def test_query_forward_and_backward(db, partition):
    prefix, sks = partition
    assert _values(db.iter_items(prefix)) == sks
    assert _values(db.iter_items(prefix, forward=False)) == sks[::-1]
    assert _values(db.iter_items(prefix, limit=3)) == sks[:3]
    assert _values(db.iter_items(prefix, forward=False, limit=2)) == [9, 8]


@pytest.mark.parametrize("start", [-3, 0, 4, 9])
def test_query_exclusive_start(db, partition, start):
    prefix, sks = partition
    start_key = _key("p", start)
    assert _values(db.iter_items(prefix, exclusive_start=start_key)) == [s for s in sks if s > start]
    assert _values(db.iter_items(prefix, forward=False, exclusive_start=start_key)) == [
        s for s in reversed(sks) if s < start
    ]


def test_query_start_key_missing_from_db(db, partition):
    prefix, _ = partition
    # 2.5 sorts between 2 and 3 and was never stored
    p = _pk("p")
    start = keys.item_key(TABLE, hash64(p), p, encode_key_value({"N": "2.5"}))
    assert _values(db.iter_items(prefix, exclusive_start=start))[0] == 3
    assert _values(db.iter_items(prefix, forward=False, exclusive_start=start))[0] == 2


def test_hash_range_scan_partitions_the_table(db):
    stored = {}
    for i in range(200):
        k = _key(f"k{i}", 0)
        db.put_item(k, b"%d" % i, sync=False)
        stored[k] = b"%d" % i
    db.put_item(_key("x", 0, table=TABLE - 1), b"other", sync=False)
    db.put_item(_key("x", 0, table=TABLE + 1), b"other", sync=False)
    cuts = [0, 1 << 62, 1 << 63, 3 << 62, 1 << 64]
    seen = []
    for lo, hi in zip(cuts, cuts[1:]):
        part = list(db.iter_hash_range(TABLE, lo, hi))
        assert all(lo <= keys.split_item_key(k)[1] < hi for k, _ in part)
        assert [k for k, _ in part] == sorted(k for k, _ in part)
        seen += part
    assert dict(seen) == stored and len(seen) == len(stored)
    # paginated scan with an exclusive start gives the same sequence
    whole = list(db.iter_hash_range(TABLE, 0, 1 << 64))
    pages, start = [], None
    while True:
        page = list(db.iter_hash_range(TABLE, 0, 1 << 64, exclusive_start=start, limit=17))
        if not page:
            break
        pages += page
        start = page[-1][0]
    assert pages == whole


def test_iter_range_bounds(db):
    for k in (b"a", b"b", b"c", b"d"):
        db.put_item(k, k, sync=False)
    assert [k for k, _ in db.iter_range(DATA, b"b", b"d")] == [b"b", b"c"]
    assert [k for k, _ in db.iter_range(DATA, b"b", b"d", reverse=True)] == [b"c", b"b"]
    assert [k for k, _ in db.iter_range(DATA, b"b", None, reverse=True)] == [b"d", b"c", b"b"]
    assert list(db.iter_range(DATA, b"c", b"b")) == []
    assert list(db.iter_range(DATA, b"a", None, limit=0)) == []


def test_a_fixed_scan_reads_the_family_as_it_was_when_opened(db):
    """Snapshot streams read this way from a worker thread while writes go on."""
    for k in (b"a", b"b", b"c", b"d"):
        db.put_item(k, b"old", sync=False)
    scan = db.iter_range_fixed(DATA, b"b", b"z")
    db.put_item(b"bb", b"new", sync=False)
    db.put_item(b"c", b"new", sync=False)
    db.delete_item(b"d", sync=False)
    batch = db.batch()
    batch.delete_range(DATA, b"a", b"z")
    db.write(batch)
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(list, scan).result() == [(b"b", b"old"), (b"c", b"old"), (b"d", b"old")]
    assert list(db.iter_range(DATA, b"a", b"z")) == []


def test_batch_spans_families_and_is_atomic(db):
    b = db.batch()
    b.put_item(b"item", b"x")
    b.put_stream_record(b"rec", b"r")
    b.set_applied_index("g1", 42)
    db.raft.append_entries(b, "g1", [(1, b"e1"), (2, b"e2")])
    assert db.get_item(b"item") is None and db.applied_index("g1") == 0  # nothing before write
    assert len(b) == 5
    db.write(b)
    assert db.get_item(b"item") == b"x"
    assert db.get(STREAMS, b"rec") == b"r"
    assert db.applied_index("g1") == 42
    assert db.raft.entries("g1", 1, 3) == [b"e1", b"e2"]
    with pytest.raises(StorageError):
        db.write(b)  # single use


def test_batch_order_put_after_delete_range(db):
    db.put_item(b"k1", b"old", sync=False)
    b = db.batch()
    b.delete_range(DATA, b"k", b"l")
    b.put(DATA, b"k2", b"new")
    db.write(b)
    assert db.get_item(b"k1") is None and db.get_item(b"k2") == b"new"


def test_unknown_family_rejected(db):
    with pytest.raises(ValueError):
        db.get("nope", b"k")
    with pytest.raises(ValueError):
        db.batch().put("nope", b"k", b"v")


def test_groups_listed_and_dropped(db):
    b = db.batch()
    for g in ("t1.p0", "t1.p1"):
        b.set_group_config(g, g.encode())
        b.set_applied_index(g, 5)
        db.raft.append_entries(b, g, [(1, b"e")])
        db.raft.save_hard_state(b, g, b"hs")
    b.put_item(_key("a", 1), b"v")
    db.write(b)
    assert db.list_groups() == ["t1.p0", "t1.p1"]
    b = db.batch()
    db.drop_group(b, "t1.p0", data_range=keys.table_bounds(TABLE))
    db.write(b)
    assert db.list_groups() == ["t1.p1"]
    assert db.applied_index("t1.p0") == 0 and db.raft.hard_state("t1.p0") is None
    assert db.raft.last_index("t1.p0") == 0
    assert db.raft.hard_state("t1.p1") == b"hs" and db.group_config("t1.p1") == b"t1.p1"
    assert db.get_item(_key("a", 1)) is None


def test_reopen_keeps_everything(tmp_path):
    path = tmp_path / "db"
    with Storage.open(path) as s:
        b = s.batch()
        b.put_item(b"k", b"v")
        b.set_applied_index("g", 9)
        b.set_group_config("g", b"cfg")
        s.write(b, sync=False)
        s.flush_wal()
    with Storage.open(path) as s:
        assert s.get_item(b"k") == b"v"
        assert s.applied_index("g") == 9 and s.list_groups() == ["g"]
        assert s.get(META, keys.meta_key(keys.META_GROUP, keys.encode_group("g"))) == b"cfg"


def test_close_is_idempotent_and_releases_the_lock(tmp_path):
    path = tmp_path / "db"
    s = Storage.open(path)
    s.put_item(b"a", b"1")
    s.put_item(b"b", b"2")
    scan = s.iter_range(DATA, b"", None)
    next(scan)  # a live iterator must not keep the DB open
    leftover = s.batch()
    s.close()
    s.close()
    assert s.closed
    for call in (lambda: s.get_item(b"a"), s.batch, lambda: s.put_item(b"c", b"3"), s.flush_wal):
        with pytest.raises(StorageClosed):
            call()
    with pytest.raises(StorageClosed):
        leftover.put_item(b"c", b"3")
    with Storage.open(path) as again:  # would fail on the LOCK if still open
        assert again.get_item(b"b") == b"2"
    assert RAFT  # families are exported
