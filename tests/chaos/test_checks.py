"""Set and counter checkers on hand-made histories."""

from __future__ import annotations

import pytest

from chaos.checks import check_counter, check_set
from tests.chaos.helpers import history, op


def add(p, element, start, end, status="ok", key="s"):
    return op(p, "add", element, start, end, status=status, key=key)


def read(p, value, start, end, key="s"):
    return op(p, "read", value, start, end, key=key)


def incr(p, delta, start, end, status="ok", key="c"):
    return op(p, "incr", delta, start, end, status=status, key=key)


# ---------------------------------------------------------------------- set


def test_set_all_acknowledged_present():
    res = check_set(history(add(0, 1, 0, 1), add(1, 2, 0, 1), read(0, [1, 2], 5, 6)))
    assert res.valid is True, res.explain()
    r = res.keys["s"]
    assert (r.attempted, r.acknowledged, r.lost, r.phantom) == (2, 2, (), ())


def test_set_lost_acknowledged_insert():
    res = check_set(history(add(0, 1, 0, 1), add(1, 2, 0, 1), read(0, [1], 5, 6)))
    assert res.valid is False
    assert res.keys["s"].lost == (2,)
    assert "LOST (1): 2" in res.explain()


def test_set_phantom_element():
    res = check_set(history(add(0, 1, 0, 1), read(0, [1, 9], 5, 6)))
    assert res.valid is False
    assert res.keys["s"].phantom == (9,)
    assert "PHANTOM (1): 9" in res.explain()


def test_set_info_insert_may_be_present_or_absent():
    base = [add(0, 1, 0, 1), add(1, 2, 0, 1, status="info"), add(2, 3, 0, 1, status="info")]
    res = check_set(history(*base, read(0, [1, 2], 5, 6)))
    assert res.valid is True, res.explain()
    assert res.keys["s"].recovered == (2,) and res.keys["s"].not_recovered == (3,)
    assert res.keys["s"].unknown == 2


def test_set_failed_insert_must_be_absent():
    res = check_set(history(add(0, 1, 0, 1, status="fail"), read(0, [1], 5, 6)))
    assert res.valid is False and res.keys["s"].unexpected == (1,)
    assert check_set(history(add(0, 1, 0, 1, status="fail"), read(0, [], 5, 6))).valid is True


def test_set_insert_concurrent_with_final_read_may_be_absent():
    res = check_set(history(add(0, 1, 4, 7), read(1, [], 5, 6)))
    assert res.valid is True, res.explain()
    assert res.keys["s"].late_acknowledged == (1,)
    assert check_set(history(add(0, 1, 4, 7), read(1, [1], 5, 6))).valid is True


def test_set_insert_begun_after_final_read_cannot_be_in_it():
    res = check_set(history(add(0, 1, 7, 8), read(1, [1], 5, 6)))
    assert res.valid is False and res.keys["s"].unexpected == (1,)


def test_set_uses_last_read_and_absent_item_is_empty():
    res = check_set(history(add(0, 1, 0, 1), read(1, None, 0.2, 0.3), read(1, [1], 5, 6)))
    assert res.valid is True, res.explain()
    assert res.keys["s"].final_read.invoke_time == 5
    res = check_set(history(add(0, 1, 0, 1), read(1, None, 5, 6)))
    assert res.keys["s"].lost == (1,)


def test_set_duplicates_are_a_violation():
    res = check_set(history(add(0, 1, 0, 1), read(0, [1, 1], 5, 6)))
    assert res.valid is False and res.keys["s"].duplicates == (1,)


def test_set_without_final_read_is_unknown():
    res = check_set(history(add(0, 1, 0, 1)))
    assert res.valid is None and "no final read" in res.explain()


def test_set_keys_checked_separately():
    res = check_set(history(add(0, 1, 0, 1, key="a"), add(1, 2, 0, 1, key="b"),
                            read(0, [1], 5, 6, key="a"), read(1, [], 5, 6, key="b")))
    assert res.keys["a"].valid is True and res.keys["b"].valid is False


def test_set_rejects_other_functions():
    with pytest.raises(ValueError):
        check_set(history(op(0, "write", 1, 0, 1, key="s")))


# ------------------------------------------------------------------ counter


def test_counter_final_value_within_bounds():
    h = history(incr(0, 1, 0, 1), incr(1, 2, 0, 1), incr(2, 5, 0, 1, status="info"),
                incr(3, 100, 0, 1, status="fail"), read(0, 3, 5, 6, key="c"))
    res = check_counter(h)
    assert res.valid is True, res.explain()
    r = res.keys["c"]
    assert (r.ok_sum, r.info_sum, r.final.lower, r.final.upper, r.final.value) == (3, 5, 3, 8, 3)
    assert "final value 3, allowed [3, 8]" in res.explain()
    assert check_counter(h[:-2] + history(read(0, 8, 5, 6, key="c"))).valid is True


@pytest.mark.parametrize("value", [2, 9, 103])
def test_counter_final_value_out_of_bounds(value):
    h = history(incr(0, 1, 0, 1), incr(1, 2, 0, 1), incr(2, 5, 0, 1, status="info"),
                incr(3, 100, 0, 1, status="fail"), read(0, value, 5, 6, key="c"))
    res = check_counter(h)
    assert res.valid is False
    assert "OUT OF BOUNDS" in res.explain()


def test_counter_absent_item_reads_as_zero():
    assert check_counter(history(read(0, None, 0, 1, key="c"))).valid is True
    assert check_counter(history(incr(0, 1, 0, 1), read(0, None, 5, 6, key="c"))).valid is False


def test_counter_intermediate_reads_respect_their_own_bounds():
    # A read concurrent with an increment may or may not include it; a read
    # after it must.
    base = [incr(0, 4, 2, 6)]
    assert check_counter(history(*base, read(1, 0, 3, 4, key="c"))).valid is True
    assert check_counter(history(*base, read(1, 4, 3, 4, key="c"))).valid is True
    res = check_counter(history(*base, read(1, 0, 7, 8, key="c")))
    assert res.valid is False and len(res.keys["c"].violations) == 1
    # ...and a read that completed before the increment began cannot include it.
    assert check_counter(history(*base, read(1, 4, 0, 1, key="c"))).valid is False


def test_counter_negative_deltas_widen_the_lower_bound():
    h = history(incr(0, 10, 0, 1), incr(1, -3, 2, 3, status="info"), read(0, 7, 5, 6, key="c"))
    res = check_counter(h)
    assert res.valid is True, res.explain()
    assert (res.keys["c"].final.lower, res.keys["c"].final.upper) == (7, 10)


def test_counter_without_reads_is_unknown():
    assert check_counter(history(incr(0, 1, 0, 1))).valid is None


def test_counter_rejects_non_numbers():
    with pytest.raises(ValueError):
        check_counter(history(incr(0, "x", 0, 1)))
    with pytest.raises(ValueError):
        check_counter(history(read(0, "x", 0, 1, key="c")))
