"""A partition's ownership test (every write asks it twice, every replica's
apply once more) agrees with the split's definition: an item key is owned
when its hash is in the partition's range; a shorter key is not an item key
and is always owned."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, strategies as st

from node.partition.replica import PartitionReplica
from node.partition.split import key_hash

HASHES = st.integers(0, (1 << 64) - 1)


@given(key=st.binary(max_size=40), lo=HASHES, hi=HASHES)
def test_owns_is_the_hash_in_range(key, lo, hi):
    partition = SimpleNamespace(config={"lo": min(lo, hi), "hi": max(lo, hi)})
    h = key_hash(key)
    assert PartitionReplica.owns(partition, key) == (h is None or min(lo, hi) <= h <= max(lo, hi))


@given(table=st.integers(0, (1 << 32) - 1), h=HASHES, rest=st.binary(max_size=20))
def test_an_item_key_at_the_range_edges(table, h, rest):
    key = table.to_bytes(4, "big") + h.to_bytes(8, "big") + rest
    assert PartitionReplica.owns(SimpleNamespace(config={"lo": h, "hi": h}), key)
    if h:
        assert not PartitionReplica.owns(SimpleNamespace(config={"lo": 0, "hi": h - 1}), key)
