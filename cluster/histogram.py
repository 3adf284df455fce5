"""A latency histogram cheap enough for hot paths: a bisect and two additions
per observation, no lock (one event loop writes it). The /metrics endpoints of
routers and nodes (router/metrics.py, node/services/metrics_http.py) turn it into
Prometheus' cumulative buckets at scrape time; prometheus_client's own
Histogram takes a lock and a label lookup per observation.
"""

from __future__ import annotations

from bisect import bisect_left

# Seconds: from a cached read (sub-millisecond) to a request at its deadline.
BUCKETS: tuple[float, ...] = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Buckets:
    """Counts per bucket (not cumulative; the last one is +Inf) and the sum."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.sum += seconds

    def add(self, other: Buckets) -> None:
        for i, c in enumerate(other.counts):
            self.counts[i] += c
        self.sum += other.sum

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound, observations at or below it) pairs, "+Inf" last, as
        prometheus_client's HistogramMetricFamily takes them."""
        out, total = [], 0
        for bound, c in zip((*map(repr, BUCKETS), "+Inf"), self.counts):
            total += c
            out.append((bound, total))
        return out
