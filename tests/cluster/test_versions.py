"""The hybrid logical clock and the version order of global tables
(cluster/versions.py): timestamps never go back, come after every one
observed, stay near the wall clock; versions tie-break by region."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cluster.versions import BASE, HybridClock, Version, from_wire, make_ts, ms_of, pack, to_wire, unpack

# A script of clock events: ("tick", new wall ms offset) or ("observe", remote ts offset).
EVENTS = st.lists(st.tuples(st.sampled_from(["now", "observe", "wall"]), st.integers(-5_000, 5_000)),
                  max_size=60)


@given(EVENTS)
def test_timestamps_increase_and_follow_every_observed_one(events):
    wall = [1_700_000_000_000]
    clock = HybridClock(lambda: wall[0])
    last = 0
    observed = 0
    for kind, delta in events:
        if kind == "wall":
            wall[0] += delta  # the wall clock may even go back
        elif kind == "observe":
            remote = make_ts(wall[0] + delta, abs(delta) % 7)
            clock.observe(remote)
            observed = max(observed, remote)
        else:
            ts = clock.now()
            assert ts > last and ts > observed
            assert ms_of(ts) >= wall[0]  # never behind the wall clock
            last = ts


def test_a_clock_stays_on_the_wall_clock_until_it_sees_one_ahead():
    wall = [1000]
    clock = HybridClock(lambda: wall[0])
    assert clock.now() == make_ts(1000) and clock.now() == make_ts(1000, 1)
    wall[0] = 1001
    assert clock.now() == make_ts(1001)
    clock.observe(make_ts(5000, 3))  # a region whose clock runs ahead
    assert clock.now() == make_ts(5000, 4)


@given(st.integers(0, 2**48), st.integers(0, 2**48), st.sampled_from(["eu-west-1", "us-east-1"]),
       st.sampled_from(["eu-west-1", "us-east-1"]))
def test_versions_order_by_timestamp_then_region(ts1, ts2, r1, r2):
    a, b = Version(ts1, r1), Version(ts2, r2)
    if ts1 != ts2:
        assert (a < b) == (ts1 < ts2)
    else:
        assert (a < b) == (r1 < r2)
    assert BASE <= a


@given(st.integers(1, 2**64 - 1), st.text(min_size=1, max_size=20), st.booleans())
def test_stored_and_wire_forms_round_trip(ts, region, tombstone):
    v = Version(ts, region)
    assert unpack(pack(v, tombstone)) == (v, tombstone)
    assert from_wire(to_wire(v)) == v


@pytest.mark.parametrize("bad", [None, {}, {"Ts": "1", "Region": "r"}, {"Ts": 0, "Region": "r"},
                                 {"Ts": 1, "Region": ""}, {"Ts": 1, "Region": "r", "X": 1}, {"Ts": True, "Region": "r"}])
def test_malformed_wire_versions_are_refused(bad):
    with pytest.raises(ValueError):
        from_wire(bad)
