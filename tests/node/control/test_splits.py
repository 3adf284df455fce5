"""When the controller splits a partition by itself (node/control/splits.py):
past the size limit at once, past the heat limit only when sustained, and
never again before fresh statistics."""

from __future__ import annotations

from node.control.splits import COOLDOWN_S, SplitLimits, SplitPlanner
from node.partition.split import median_of


def planner() -> SplitPlanner:
    return SplitPlanner(SplitLimits(max_bytes=1000, units_per_s=100, hot_s=3))


def test_size_past_the_limit_splits_and_then_waits_for_fresh_statistics():
    p = planner()
    assert p.due("g", [10, 1000], 0.0) is None
    assert p.due("g", [10, 1001], 0.0) == "size"
    p.split("g", "c", 0.0)
    assert p.due("g", [10, 1001], COOLDOWN_S - 1) is None and p.due("c", [10, 1001], 1.0) is None
    assert p.due("g", [10, 1001], COOLDOWN_S) == "size"


def test_heat_must_be_sustained():
    p = planner()
    p.observe("g", 0, 0.0)
    p.observe("g", 150, 1.0)  # 150 entries a second: hot from 0
    assert p.due("g", None, 1.0) is None
    p.observe("g", 300, 2.0)
    p.observe("g", 450, 3.0)
    assert p.due("g", None, 3.0) == "heat"
    p.observe("g", 460, 4.0)  # cooled down: the count starts again
    assert p.due("g", None, 4.0) is None
    p.observe("g", 10, 5.0)  # a new leader's lower index: a new baseline, not a rate
    assert p.heat["g"].hot_since is None


def test_no_heat_limit_means_no_heat_splits():
    p = SplitPlanner(SplitLimits(max_bytes=1000, units_per_s=0, hot_s=0))
    p.observe("g", 0, 0.0)
    p.observe("g", 10**6, 1.0)
    assert p.due("g", None, 5.0) is None


def test_the_split_point_is_a_median_above_the_first_hash():
    assert median_of([5, 1, 9, 7], 0) == 7
    assert median_of([3, 3, 3, 8], 3) == 8  # the partition's own first hash cannot start a partition
    assert median_of([3, 3], 3) is None and median_of([], 0) is None
