"""Encryption at rest in the storage layer: values of a table's families are
sealed on the way in and opened on the way out; keys stay as they are."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from cluster import keys
from cluster.kms import MasterKeys, new_data_key
from node.storage import DATA, META, RAFT, STREAMS, VERSIONS, Storage, StorageConfig
from node.storage.encryption import DecryptionError, group_table

MARKER = b"MARKER-plaintext-4711"


@pytest.fixture
def master(tmp_path):
    return MasterKeys.create(tmp_path / "kms" / "master.key")


def _table(master, table_id, versions=1, current=None):
    ks = [{"id": v, "wrapped": master.wrap(new_data_key()), "created": 0.0} for v in range(1, versions + 1)]
    return SimpleNamespace(id=table_id, keys=ks, key_version=current or versions)


@pytest.fixture
def db(tmp_path, master):
    s = Storage.open(tmp_path / "db", master=master)
    s.learn_keys([_table(master, 7), _table(master, 8)])
    yield s
    s.close()


def _raw(db, cf, key):
    return db._view(cf).get(key)


def _item(table=7, pk=b"\x01pk"):
    return keys.item_key(table, 42, pk)


def test_every_table_family_is_sealed_and_reads_back(db):
    stored = {
        DATA: _item(),
        VERSIONS: _item(),
        STREAMS: keys.stream_record_key("t7.p0", 5, 0),
        RAFT: keys.raft_log_key(keys.encode_group("t7.h8000000000000000"), 3),
    }
    b = db.batch()
    for cf, k in stored.items():
        b.put(cf, k, MARKER)
    db.write(b)
    for cf, k in stored.items():
        assert MARKER not in _raw(db, cf, k), cf
        assert db.get(cf, k) == MARKER
        assert list(db.iter_range(cf, k, k + b"\x00")) == [(k, MARKER)]
        assert list(db.iter_range_fixed(cf, k, k + b"\x00")) == [(k, MARKER)]
    assert db.get_item(stored[DATA]) == MARKER
    assert db.multi_get(DATA, [stored[DATA], _item(pk=b"\x01none")]) == [MARKER, None]
    assert db.raft.entries("t7.h8000000000000000", 3, 4) == [MARKER]


def test_a_tables_index_spaces_are_sealed_under_its_key(db):
    """Local index entries, item collection sizes and index fences live in
    index spaces of the table id (ddb/indexes.py); they are the table's."""
    from ddb.indexes import COLLECTION_NUMBER, FENCE_NUMBER, index_space

    for number in (1, 5, FENCE_NUMBER, COLLECTION_NUMBER):
        k = _item(table=index_space(7, number))
        b = db.batch()
        b.put(DATA, k, MARKER)
        db.write(b)
        assert MARKER not in _raw(db, DATA, k), number
        assert db.get(DATA, k) == MARKER


def test_metadata_the_meta_group_and_raft_hard_states_stay_plain(db):
    hard_state = keys.raft_key(keys.encode_group("t7.p0"), keys.RAFT_HARD_STATE)
    b = db.batch()
    b.put(RAFT, keys.raft_log_key(keys.encode_group("meta"), 1), MARKER)
    b.put(META, b"Zsomething", MARKER)
    b.put(RAFT, hard_state, MARKER)
    db.write(b)
    assert _raw(db, RAFT, keys.raft_log_key(keys.encode_group("meta"), 1)) == MARKER
    assert _raw(db, META, b"Zsomething") == MARKER
    assert _raw(db, RAFT, hard_state) == db.get(RAFT, hard_state) == MARKER


def test_a_value_moved_to_another_table_does_not_open(tmp_path, master):
    # (the item cache off: it keeps what writes through Storage wrote, not what is changed behind its back)
    db = Storage.open(tmp_path / "plain-reads", StorageConfig(item_cache_bytes=0), master=master)
    db.learn_keys([_table(master, 7), _table(master, 8)])
    db.put_item(_item(7), MARKER)
    sealed = _raw(db, DATA, _item(7))
    db._view(DATA)[_item(8)] = sealed  # copied under table 8's key, bypassing the cipher
    with pytest.raises(DecryptionError, match="moved or tampered"):
        db.get_item(_item(8))
    db._view(DATA)[_item(7)] = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionError):
        db.get_item(_item(7))
    db.close()


def test_rotation_seals_new_values_with_the_new_version_and_opens_old_ones(db, master):
    db.put_item(_item(pk=b"\x01old"), b"old")
    t = _table(master, 7)
    rotated = SimpleNamespace(id=7, keys=[*db_keys(db, master, 7), {"id": 2, "wrapped": t.keys[0]["wrapped"],
                                                                    "created": 1.0}], key_version=2)
    db.learn_keys([rotated])
    db.put_item(_item(pk=b"\x01new"), b"new")
    assert _raw(db, DATA, _item(pk=b"\x01old"))[1:5] == (1).to_bytes(4, "big")
    assert _raw(db, DATA, _item(pk=b"\x01new"))[1:5] == (2).to_bytes(4, "big")
    assert db.get_item(_item(pk=b"\x01old")) == b"old"
    assert db.get_item(_item(pk=b"\x01new")) == b"new"
    assert db.cipher.versions(7) == (2, [1, 2])


def db_keys(db, master, table_id):
    """The key records a node keeps (as the metadata had them)."""
    return [{"id": v, "wrapped": w, "created": 0.0}
            for (t, v), w in sorted(db.cipher._wrapped.items()) if t == table_id]


def test_a_restart_opens_values_before_it_sees_the_metadata(tmp_path, master):
    s = Storage.open(tmp_path / "db", master=master)
    s.learn_keys([_table(master, 9)])
    s.put_item(_item(9), MARKER)
    s.close()
    again = Storage.open(tmp_path / "db", master=MasterKeys.load(master.path))
    try:
        assert again.get_item(_item(9)) == MARKER
    finally:
        again.close()


def test_a_value_of_an_unknown_key_version_is_refused_not_misread(tmp_path, master):
    s = Storage.open(tmp_path / "db", master=master)
    s.learn_keys([_table(master, 9)])
    s.put_item(_item(9), MARKER)
    s.close()
    other = Storage.open(tmp_path / "db2", master=master)
    try:
        other._view(DATA)[_item(9)] = b"\xe7\x00\x00\x00\x05" + bytes(40)
        with pytest.raises(DecryptionError, match="no data key version 5"):
            other.get_item(_item(9))
    finally:
        other.close()


def test_without_a_master_key_values_are_stored_as_they_are(tmp_path):
    s = Storage.open(tmp_path / "db")
    try:
        s.put_item(_item(), MARKER)
        assert _raw(s, DATA, _item()) == MARKER
        assert not s.cipher.enabled
    finally:
        s.close()


def test_a_table_without_a_key_is_stored_plain_and_still_reads(db):
    db.put_item(_item(99), MARKER)
    assert _raw(db, DATA, _item(99)) == MARKER
    assert db.get_item(_item(99)) == MARKER


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000), st.sampled_from([DATA, STREAMS, VERSIONS, RAFT]))
def test_any_value_round_trips(tmp_path_factory, value, cf):
    path = tmp_path_factory.mktemp("kms")
    master = MasterKeys.create(path / "master.key")
    s = Storage.open(path / "db", master=master)
    try:
        s.learn_keys([_table(master, 7)])
        k = {DATA: _item(), VERSIONS: _item(), STREAMS: keys.txn_lock_key("t7.p1", _item()),
             RAFT: keys.raft_key(keys.encode_group("t7.p1"), keys.RAFT_SNAPSHOT_META)}[cf]
        b = s.batch()
        b.put(cf, k, value)
        s.write(b)
        assert s.get(cf, k) == value
        if value:
            assert _raw(s, cf, k) != value
    finally:
        s.close()


def test_group_table():
    assert group_table("t7.p0") == 7
    assert group_table("t12.h8000000000000000") == 12
    assert group_table("meta") is None
    assert group_table("tx.p0") is None


def test_value_sizes_are_the_plaintext_sizes_without_opening(db):
    db.put_item(_item(7, b"\x01a"), b"x" * 10)
    db.put_item(_item(99, b"\x01b"), b"y" * 7)  # a table without a key
    lo, hi = keys.table_bounds(7)
    assert list(db.value_sizes(DATA, lo, hi)) == [10]
    assert list(db.value_sizes(DATA, *keys.table_bounds(99))) == [7]


def test_reseal_moves_old_versions_to_the_current_one_in_steps(db, master):
    for i in range(5):
        db.put_item(_item(7, bytes([1, i])), b"v%d" % i)
    db.put_item(_item(8, b"\x01z"), b"other")
    rotated = SimpleNamespace(id=7, keys=[*db_keys(db, master, 7), _table(master, 7).keys[0] | {"id": 2}],
                              key_version=2)
    db.learn_keys([rotated])
    lo, hi = keys.table_bounds(7)
    total = resealed = 0
    start = lo
    while start is not None:
        seen, n, start = db.reseal(DATA, start, hi, limit=2)
        total, resealed = total + seen, resealed + n
    assert (total, resealed) == (5, 5)
    assert {_raw(db, DATA, k)[1:5] for k, _ in db.iter_range(DATA, lo, hi)} == {(2).to_bytes(4, "big")}
    assert [v for _, v in db.iter_range(DATA, lo, hi)] == [b"v%d" % i for i in range(5)]
    assert db.reseal(DATA, lo, hi, limit=100) == (5, 0, None)  # nothing stale any more
    assert _raw(db, DATA, _item(8, b"\x01z"))[1:5] == (1).to_bytes(4, "big")  # another table's: untouched
