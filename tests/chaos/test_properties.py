"""Property tests: the checkers accept whatever a correct system can produce,
reject known corruptions, and agree with a naive oracle on tiny histories."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chaos.checks import check_counter, check_set
from chaos.history import INFO, OK, Event, Operation, pair_operations
from chaos.linear import check_register
from chaos.simulate import (corrupt_one_read, corrupt_stale_read, counter_history,
                            register_history, set_history)
from tests.chaos.helpers import assert_witness
from tests.chaos.reference import brute_linearizable

# Seeds rather than st.randoms(): drawing every random choice through
# Hypothesis is two orders of magnitude slower for histories this size.
seeds = st.integers(0, 2**32).map(random.Random)

SETTINGS = settings(max_examples=120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

sim_params = st.fixed_dictionaries({
    "processes": st.integers(1, 8),
    "ops": st.integers(0, 120),
    "keys": st.integers(1, 3),
    "read_rate": st.floats(0.0, 0.9),
    "cas_rate": st.floats(0.0, 0.4),
    "info_rate": st.sampled_from([0.0, 0.05, 0.2, 0.5]),
    "fail_rate": st.sampled_from([0.0, 0.05]),
    "values": st.sampled_from([None, None, 2, 4]),
})


# For corruption tests: enough reads that there is usually one to corrupt.
corrupt_params = sim_params.map(lambda p: dict(p, ops=max(p["ops"], 10) * 2,
                                               read_rate=max(p["read_rate"], 0.3)))


def _register(rnd: random.Random, params: dict) -> list[Event]:
    return register_history(rnd, **params)


@SETTINGS
@given(seeds, sim_params)
def test_simulated_linearizable_histories_pass(rnd, params):
    h = _register(rnd, params)
    res = check_register(h)
    assert res.valid is True, res.explain()
    ops = pair_operations(h)
    for key, r in res.keys.items():
        assert_witness(r.order, [o for o in ops if o.key == key])


@SETTINGS
@given(seeds, corrupt_params)
def test_read_of_never_written_value_is_caught(rnd, params):
    bad = corrupt_one_read(rnd, _register(rnd, params), value="never-written")
    event("corrupted" if bad else "no ok read to corrupt")
    if bad is None:
        return
    res = check_register(bad)
    assert res.valid is False
    assert any(r.impossible for r in res.failures)


@SETTINGS
@given(seeds, corrupt_params)
def test_stale_read_is_caught_by_the_search(rnd, params):
    params = dict(params, values=None)  # unique values: a stale read is certainly wrong
    bad = corrupt_stale_read(rnd, _register(rnd, params), late=0.0)
    event("corrupted" if bad else "no stale read possible")
    if bad is None:
        return
    res = check_register(bad)
    assert res.valid is False, res.explain()
    failed = res.failures[0]
    assert not failed.impossible and failed.blocking is not None


# Tiny arbitrary histories (not necessarily linearizable): both verdicts
# occur, and the real checker, with all its pruning, must agree with the
# naive definition.

@st.composite
def tiny_histories(draw) -> list[Operation]:
    n = draw(st.integers(1, 7))
    vals = [None, *range(draw(st.integers(1, 3)))]
    ops = []
    for i in range(n):
        f = draw(st.sampled_from(["read", "write", "cas"]))
        start = draw(st.integers(0, 10))
        end = start + draw(st.integers(0, 5))
        status = draw(st.sampled_from([OK, OK, OK, INFO, INFO, "fail"]))
        value = result = None
        if f == "read":
            result = draw(st.sampled_from(vals)) if status == OK else None
        elif f == "write":
            value = draw(st.sampled_from(vals))
        else:
            value = (draw(st.sampled_from(vals)), draw(st.sampled_from(vals)))
        open_ended = status == INFO and draw(st.booleans())
        ops.append(Operation(i, i, f, "k", value, result, status, float(start),
                             None if open_ended else float(end)))
    return ops


@settings(max_examples=1500, deadline=None)
@given(tiny_histories())
def test_agrees_with_naive_oracle(ops):
    res = check_register(ops)
    event(f"linearizable: {res.valid}")
    assert res.valid == brute_linearizable(ops), "\n".join(map(str, ops)) + "\n" + res.explain()
    if res.valid:
        assert_witness(res.keys["k"].order, ops)


# ----------------------------------------------------------- set / counter

set_params = st.fixed_dictionaries({
    "processes": st.integers(1, 8),
    "adds": st.integers(0, 80),
    "info_rate": st.sampled_from([0.0, 0.1, 0.5]),
    "fail_rate": st.sampled_from([0.0, 0.1]),
})


@SETTINGS
@given(seeds, set_params)
def test_simulated_set_histories_pass_and_corruptions_fail(rnd, params):
    h = set_history(rnd, **params)
    res = check_set(h)
    assert res.valid is True, res.explain()
    final = h[-1]
    ops = pair_operations(h)
    acked = [o.value for o in ops if o.f == "add" and o.status == OK]
    if acked:  # drop an acknowledged element: lost
        victim = rnd.choice(acked)
        dropped = Event(final.type, final.process, final.f, final.key,
                        tuple(x for x in final.value if x != victim), final.time)
        res = check_set(h[:-1] + [dropped])
        assert res.valid is False and res.keys["s"].lost == (victim,)
    phantom = Event(final.type, final.process, final.f, final.key,
                    final.value + (-1,), final.time)
    res = check_set(h[:-1] + [phantom])
    assert res.valid is False and res.keys["s"].phantom == (-1,)


counter_params = st.fixed_dictionaries({
    "processes": st.integers(1, 8),
    "ops": st.integers(0, 100),
    "read_rate": st.floats(0.0, 0.5),
    "info_rate": st.sampled_from([0.0, 0.1, 0.5]),
    "fail_rate": st.sampled_from([0.0, 0.1]),
})


@SETTINGS
@given(seeds, counter_params)
def test_simulated_counter_histories_pass_and_corruptions_fail(rnd, params):
    h = counter_history(rnd, **params)
    res = check_counter(h)
    assert res.valid is True, res.explain()
    final = h[-1]
    upper = res.keys["c"].final.upper
    inflated = Event(final.type, final.process, final.f, final.key, upper + 1, final.time)
    assert check_counter(h[:-1] + [inflated]).valid is False
