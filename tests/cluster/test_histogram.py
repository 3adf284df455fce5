"""The lock-free latency histogram: Prometheus' `le` semantics (a value on a
bound counts in that bucket), cumulative counts, sums, merging."""

from __future__ import annotations

from hypothesis import given, strategies as st

from cluster.histogram import BUCKETS, Buckets


def test_a_value_on_a_bound_counts_in_that_bucket():
    b = Buckets()
    b.observe(BUCKETS[0])
    b.observe(BUCKETS[-1] * 2)
    cum = dict(b.cumulative())
    assert cum[repr(BUCKETS[0])] == 1
    assert cum[repr(BUCKETS[-1])] == 1
    assert cum["+Inf"] == 2 == b.count
    assert b.sum == BUCKETS[0] + BUCKETS[-1] * 2


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=50),
       st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), max_size=50))
def test_cumulative_counts_match_the_values_and_merge(xs, ys):
    a, b = Buckets(), Buckets()
    for x in xs:
        a.observe(x)
    for y in ys:
        b.observe(y)
    a.add(b)
    values = xs + ys
    for bound, count in a.cumulative():
        limit = float("inf") if bound == "+Inf" else float(bound)
        assert count == sum(1 for v in values if v <= limit)
    assert abs(a.sum - sum(values)) < 1e-6
