"""The load generator's data: YCSB keys, the zipfian skew, request bodies."""

from __future__ import annotations

import random
from collections import Counter

import orjson
from hypothesis import given
from hypothesis import strategies as st

from bench import ycsb


def test_fnv_scatters_and_is_stable():
    h = ycsb.FNV_OFFSET
    for byte in (5).to_bytes(8, "little"):  # FNV-1a over the long's bytes, low byte first
        h = ((h ^ byte) * ycsb.FNV_PRIME) % (1 << 64)
    assert ycsb.fnv64(5) == h
    assert len({ycsb.key_name(i) for i in range(10_000)}) == 10_000


def test_zipfian_is_skewed_and_in_range():
    z = ycsb.Zipfian(10_000, rng=random.Random(3))
    counts = Counter(z() for _ in range(50_000))
    assert all(0 <= k < 10_000 for k in counts)
    top = counts.most_common(10)
    assert top[0][1] > 50_000 * 0.05  # the hottest key takes several percent at theta 0.99
    assert sum(c for _, c in top) > 50_000 * 0.15
    ranks = [k for k, _ in top]
    assert max(ranks) - min(ranks) > 1000  # hot keys spread over the key space (scrambled)


def test_uniform_covers_the_keys():
    pick = ycsb.chooser("uniform", 100, random.Random(1))
    assert len({pick() for _ in range(5_000)}) == 100


@given(st.integers(0, 999), st.booleans())
def test_bodies_are_valid_dynamodb_json(k, consistent):
    rng = random.Random(k)
    keys = [ycsb.key_name(i).encode() for i in range(1000)]
    b = ycsb.Bodies(keys, consistent, rng)
    get = orjson.loads(b.get(k))
    assert get["Key"] == {"key": {"S": ycsb.key_name(k)}} and get.get("ConsistentRead", False) == consistent
    item = orjson.loads(b.put(k, ycsb.values_blob(rng)))["Item"]
    assert set(item) == {"key"} | {f"field{i}" for i in range(10)}
    assert 1000 < len(orjson.dumps(item)) < 1300  # about 1 KB
    upd = orjson.loads(b.update(k))
    assert upd["UpdateExpression"] == "SET #f = :v" and upd["ExpressionAttributeNames"]["#f"].startswith("field")
    q = orjson.loads(b.query(k))
    assert q["TableName"] == ycsb.QTABLE and q["ExpressionAttributeValues"][":k"]["S"] == ycsb.key_name(k)


def test_the_zipfian_names_the_rank_behind_each_key_and_its_hottest_1_percent_takes_most_draws():
    z = ycsb.Zipfian(20_000, rng=random.Random(5))
    hot = ycsb.hottest(20_000)
    assert hot == 200 and ycsb.hottest(50) == 1
    draws = 20_000
    hits = 0
    for _ in range(draws):
        k = z()
        assert k == ycsb.fnv64(z.last_rank) % 20_000
        hits += z.last_rank < hot
    assert 0.45 < hits / draws < 0.7  # zeta(200) / zeta(20,000) at theta 0.99: about 56%
