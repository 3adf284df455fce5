"""Key layouts: the ranges we scan must be exactly the keys we mean."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster import keys
from ddb.encoding import encode_key_value

U64 = st.integers(0, (1 << 64) - 1)
TABLE = st.integers(0, keys.MAX_TABLE_ID)
_strings = st.text(max_size=12).map(lambda s: encode_key_value({"S": s}))
_numbers = st.integers(-(10**20), 10**20).map(lambda n: encode_key_value({"N": str(n)}))
ENCODED = st.one_of(_strings, _numbers)


@given(TABLE, U64, ENCODED, ENCODED, ENCODED)
def test_item_key_sits_in_its_prefix_table_and_hash_range(table, h, pk, sk, other_sk):
    key = keys.item_key(table, h, pk, sk)
    prefix = keys.item_prefix(table, h, pk)
    assert key.startswith(prefix)
    succ = keys.prefix_successor(prefix)
    assert succ is None or key < succ
    lo, hi = keys.table_bounds(table)
    assert lo <= key < hi
    hlo, hhi = keys.hash_range_bounds(table, h, 1 << 64)
    assert hlo <= key < hhi
    assert keys.split_item_key(key) == (table, h, pk + sk)
    # sort-key order inside one partition key is the encoding's order
    other = keys.item_key(table, h, pk, other_sk)
    assert (key < other) == (sk < other_sk)


@given(TABLE, U64, U64, U64)
def test_hash_range_bounds_hold_exactly_the_hashes_inside(table, h, a, b):
    lo_hash, hi_hash = sorted((a, b))
    lo, hi = keys.hash_range_bounds(table, lo_hash, hi_hash)
    key = keys.item_key(table, h, b"S\x00\x00")
    assert (lo <= key < hi) == (lo_hash <= h < hi_hash)


@given(TABLE, TABLE, U64, ENCODED)
def test_tables_do_not_overlap(t1, t2, h, pk):
    key = keys.item_key(t1, h, pk)
    lo, hi = keys.table_bounds(t2)
    assert (lo <= key < hi) == (t1 == t2)


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20), st.integers(0, 1 << 40))
def test_raft_groups_never_share_keys(g1, g2, index):
    e1, e2 = keys.encode_group(g1), keys.encode_group(g2)
    lo, hi = keys.raft_group_bounds(e2)
    for key in (keys.raft_log_key(e1, index), keys.raft_key(e1, keys.RAFT_HARD_STATE)):
        assert (lo <= key < hi) == (g1 == g2)
    llo, lhi = keys.raft_log_bounds(e1)
    assert llo <= keys.raft_log_key(e1, index) < lhi
    assert keys.raft_log_index(keys.raft_log_key(e1, index)) == index
    assert keys.decode_meta_group(keys.meta_key(keys.META_GROUP, e1)) == g1


@given(st.integers(0, (1 << 64) - 2))
def test_log_keys_sort_by_index(i):
    e = keys.encode_group("g")
    assert keys.raft_log_key(e, i) < keys.raft_log_key(e, i + 1) < keys.raft_log_bound(e, 1 << 64)


def test_prefix_successor():
    assert keys.prefix_successor(b"ab") == b"ac"
    assert keys.prefix_successor(b"a\xff\xff") == b"b"
    assert keys.prefix_successor(b"\xff\xff") is None
    assert keys.prefix_successor(b"") is None


@pytest.mark.parametrize("bad", [-1, keys.MAX_TABLE_ID + 1])
def test_table_id_range_checked(bad):
    with pytest.raises(ValueError):
        keys.item_key(bad, 0, b"")
    with pytest.raises(ValueError):
        keys.table_bounds(bad)


def test_bad_group_and_hash_range_rejected():
    with pytest.raises(ValueError):
        keys.encode_group("")
    with pytest.raises(ValueError):
        keys.encode_group("x" * 256)
    with pytest.raises(ValueError):
        keys.hash_range_bounds(1, 5, 4)
    with pytest.raises(ValueError):
        keys.hash_range_bounds(1, 0, (1 << 64) + 1)
