"""The hot spot that splits for heat: the before/after arithmetic, and a short
real run in which the table's partitions split under the hot set."""

from __future__ import annotations

import asyncio

import pytest

from bench import hot_split
from bench.hot_split import SETTLE_S, WARMUP_S, SplitResult, render, summarize


def test_before_is_from_the_warm_up_to_the_split_and_after_starts_once_settled():
    split_at = 5.0
    # 10 updates a second before the split (1 ms each), 30 a second after it (2 ms each), for 12 seconds
    lat = [(s + i / 10, 1_000_000) for s in range(5) for i in range(10)]
    lat += [(s + i / 30, 2_000_000) for s in range(5, 12) for i in range(30)]
    r = summarize(SplitResult(20, 8, 100, 6, None), split_at, [2] * 5 + [4] * 7, lat, 3)
    assert r.split_at_s == 5.0 and r.ops == [10] * 5 + [30] * 7 and r.errors == 3
    assert r.before_ops_per_s == 10.0 and r.before_p99_ms == 1.0  # seconds WARMUP_S..5
    assert r.after_ops_per_s == 30.0 and r.after_p99_ms == 2.0  # seconds 5 + SETTLE_S..12
    assert WARMUP_S < split_at and split_at + SETTLE_S < 12
    out = render(r)
    assert "3.00x" in out and "before the split" in out and "100 log entries/s for 6 s" in out


def test_a_split_at_the_end_of_the_warm_up_shortens_it():
    # CI once saw the first split at the second sample (2.0 s = WARMUP_S): "before" was empty, 0 updates/s
    lat = [(i / 100, 1_000_000) for i in range(500)]
    r = summarize(SplitResult(20, 8, 2, 2, None), 2.0, [2, 2, 3, 4, 4], lat, 0)
    assert r.before_from_s == 1.0 and r.before_ops_per_s == 100.0
    assert "1-2 s" in render(r)


def test_no_split_says_so():
    r = summarize(SplitResult(20, 8, 100, 6, None), None, [2] * 4, [(0.5, 1_000_000)], 0)
    assert r.split_at_s is None and r.before_ops_per_s == 0.0
    assert "no split within 4 s" in render(r) and "partitions per second: 2 2 2 2" in render(r)


@pytest.mark.slow  # a cluster of its own (about 20 s); not serial: a split at 2 entries/s comes under any load
def test_a_hot_set_splits_its_table_and_both_phases_are_measured(tmp_path):
    cluster = hot_split.start_cluster(tmp_path, units_per_s=2, hot_s=2)
    try:
        addrs = [p.addr for p in cluster.procs.values() if p.kind == "node"]
        r = asyncio.run(hot_split.measure(cluster.endpoint, addrs, keys=20, clients=8, units_per_s=2, hot_s=2,
                                          after_s=1, give_up_s=40))
    finally:
        cluster.stop()
    assert r.split_at_s is not None, r
    assert r.partitions[0] == 1 and r.partitions[-1] > 1  # (trireme up's one partition, then its halves)
    assert r.errors == 0 and r.before_ops_per_s > 0 and r.after_ops_per_s > 0
    assert sum(r.ops) > 0 and len(r.ops) == len(r.partitions)
