"""Hand-made register histories with known verdicts."""

from __future__ import annotations

import pytest

from chaos.history import Operation, pair_operations
from chaos.linear import check_register
from tests.chaos.helpers import assert_witness, history, op


def verdict(h, **kw):
    return check_register(h, **kw).valid


def check_ok(h, **kw):
    res = check_register(h, **kw)
    assert res.valid is True, res.explain()
    for key, r in res.keys.items():
        assert_witness(r.order, [o for o in pair_operations(h) if o.key == key],
                       kw.get("initial"))
    return res


def check_bad(h, **kw):
    res = check_register(h, **kw)
    assert res.valid is False, res.explain()
    return res


# ------------------------------------------------------------------- basics


def test_empty_history_is_linearizable():
    assert verdict([]) is True


def test_sequential_write_then_read():
    check_ok(history(op(0, "write", 1, 0, 1), op(0, "read", 1, 2, 3)))


def test_read_of_absent_item_before_any_write():
    check_ok(history(op(0, "read", None, 0, 1), op(0, "write", 1, 2, 3)))


def test_initial_value_can_be_chosen():
    check_ok(history(op(0, "read", 0, 0, 1)), initial=0)
    check_bad(history(op(0, "read", None, 0, 1)), initial=0)


# --------------------------------------------------------------- stale reads


def test_stale_read_after_completed_write():
    h = history(op(0, "write", 1, 0, 1), op(0, "write", 2, 2, 3), op(1, "read", 1, 4, 5))
    res = check_bad(h)
    text = res.explain()
    assert "NOT linearizable" in text
    assert "read returned 1, but the register holds 2" in text


def test_read_of_absent_after_completed_write():
    check_bad(history(op(0, "write", 1, 0, 1), op(1, "read", None, 2, 3)))


def test_read_concurrent_with_write_may_see_either_value():
    check_ok(history(op(0, "write", 1, 0, 10), op(1, "read", None, 1, 2)))
    check_ok(history(op(0, "write", 1, 0, 10), op(1, "read", 1, 1, 2)))


def test_value_cannot_go_back_once_newer_value_read():
    # The write is still in flight, but once a read saw 1, a later read
    # cannot see the absent value again.
    check_bad(history(op(0, "write", 1, 0, 10), op(1, "read", 1, 1, 2), op(1, "read", None, 3, 4)))


def test_touching_windows_count_as_concurrent():
    # The read starts at the very instant the write completes: either order.
    check_ok(history(op(0, "write", 1, 0, 1), op(1, "read", None, 1, 2)))


# ---------------------------------------------------------- concurrent writes


def test_concurrent_writes_either_order():
    base = [op(0, "write", 1, 0, 10), op(1, "write", 2, 0, 10)]
    check_ok(history(*base, op(2, "read", 1, 11, 12)))
    check_ok(history(*base, op(2, "read", 2, 11, 12)))


def test_concurrent_writes_one_reader_sees_both_orders_over_time():
    base = [op(0, "write", 1, 0, 10), op(1, "write", 2, 0, 10)]
    check_ok(history(*base, op(2, "read", 1, 1, 2), op(2, "read", 2, 3, 4)))
    check_ok(history(*base, op(2, "read", 2, 1, 2), op(2, "read", 1, 3, 4)))


def test_two_readers_disagree_on_write_order():
    # p2 sees 1 then 2, p3 sees 2 then 1: no single order explains both.
    h = history(op(0, "write", 1, 0, 10), op(1, "write", 2, 0, 10),
                op(2, "read", 1, 1, 2), op(2, "read", 2, 3, 4),
                op(3, "read", 2, 1, 2), op(3, "read", 1, 3, 4))
    check_bad(h)


def test_value_settles_after_concurrent_writes():
    base = [op(0, "write", 1, 0, 10), op(1, "write", 2, 0, 10)]
    check_bad(history(*base, op(2, "read", 1, 11, 12), op(3, "read", 2, 13, 14)))


# ------------------------------------------------------------ never written


def test_read_of_value_never_written():
    res = check_bad(history(op(0, "write", 1, 0, 1), op(1, "read", 99, 2, 3)))
    r = res.keys["x"]
    assert [o.result for o in r.impossible] == [99]
    assert "no operation invoked before they completed writes" in res.explain()


def test_read_of_value_written_only_later():
    check_bad(history(op(1, "read", 5, 0, 1), op(0, "write", 5, 2, 3)))


def test_failed_write_does_not_explain_read():
    check_bad(history(op(0, "write", 7, 0, 1, status="fail"), op(1, "read", 7, 2, 3)))


# ---------------------------------------------------------------------- cas


def test_cas_chain():
    check_ok(history(op(0, "write", 0, 0, 1), op(1, "cas", (0, 1), 2, 3),
                     op(2, "cas", (1, 2), 4, 5), op(0, "read", 2, 6, 7)))


def test_cas_chain_concurrent_casses_order_themselves():
    # Both cas are concurrent; only the order 0->1->2 makes both succeed.
    check_ok(history(op(0, "write", 0, 0, 1), op(1, "cas", (1, 2), 2, 10),
                     op(2, "cas", (0, 1), 2, 10), op(0, "read", 2, 11, 12)))


def test_two_cas_from_same_value_cannot_both_succeed():
    check_bad(history(op(0, "write", 0, 0, 1), op(1, "cas", (0, 1), 2, 10),
                      op(2, "cas", (0, 2), 2, 10)))


def test_cas_that_succeeded_on_wrong_value():
    check_bad(history(op(0, "write", 1, 0, 1), op(1, "cas", (0, 2), 2, 3)))


def test_cas_on_absent_item():
    check_ok(history(op(0, "cas", (None, 1), 0, 1), op(0, "read", 1, 2, 3)))


def test_failed_cas_that_would_have_changed_state():
    # fail = definitely did not happen: the register must still hold 1.
    base = [op(0, "write", 2, 0, 1), op(0, "write", 1, 2, 3),
            op(1, "cas", (1, 2), 4, 5, status="fail")]
    check_ok(history(*base, op(2, "read", 1, 6, 7)))
    res = check_bad(history(*base, op(2, "read", 2, 6, 7)))
    assert "read returned 2, but the register holds 1" in res.explain()


def test_failed_cas_cannot_be_the_only_writer():
    check_bad(history(op(0, "write", 1, 0, 1), op(1, "cas", (1, 2), 2, 3, status="fail"),
                      op(2, "read", 2, 4, 5)))


# ------------------------------------------------------- unknown outcomes


def test_info_write_explains_later_read():
    h = history(op(0, "write", 1, 0, 1), op(1, "write", 2, 2, 3, status="info"),
                op(2, "read", 2, 10, 11))
    check_ok(h)


def test_info_write_may_take_effect_long_after_client_gave_up():
    # Read 1 after the timeout, then 2: the write landed later still.
    h = history(op(0, "write", 1, 0, 1), op(1, "write", 2, 2, 3, status="info"),
                op(2, "read", 1, 4, 5), op(2, "read", 2, 50, 51))
    check_ok(h)


def test_info_write_may_never_happen():
    check_ok(history(op(0, "write", 1, 0, 1), op(1, "write", 2, 2, 3, status="info"),
                     op(2, "read", 1, 10, 11)))


def test_info_write_happens_at_most_once():
    h = history(op(0, "write", 1, 0, 1), op(1, "write", 2, 2, 3, status="info"),
                op(2, "read", 2, 4, 5), op(0, "write", 1, 6, 7), op(2, "read", 2, 8, 9))
    check_bad(h)


def test_info_write_cannot_explain_read_before_its_invoke():
    # 2 was written (and overwritten by 3) before the read; the info write of
    # 2 began only after the read completed, so it cannot explain it.
    h = history(op(0, "write", 2, 0, 1), op(0, "write", 3, 2, 3),
                op(1, "read", 2, 4, 5), op(2, "write", 2, 6, 7, status="info"))
    res = check_bad(h)
    assert not res.keys["x"].impossible  # decided by the search, not the pre-check
    # Had the info write begun before the read completed, it would explain it.
    check_ok(history(op(0, "write", 2, 0, 1), op(0, "write", 3, 2, 3),
                     op(1, "read", 2, 4, 5), op(2, "write", 2, 4.5, 7, status="info")))


def test_info_write_alone_cannot_explain_earlier_read():
    check_bad(history(op(1, "read", 2, 0, 1), op(2, "write", 2, 5, 6, status="info")))


def test_operation_without_completion_counts_as_info():
    check_ok(history(op(0, "write", 1, 0, 1), op(1, "write", 2, 2, None),
                     op(2, "read", 2, 10, 11)))


def test_info_read_constrains_nothing():
    h = history(op(0, "write", 1, 0, 1), op(1, "read", None, 2, 3, status="info"),
                op(1, "read", 1, 4, 5))
    res = check_ok(h)
    assert res.keys["x"].dropped_info_reads == 1


def test_info_cas_may_or_may_not_apply():
    base = [op(0, "write", 1, 0, 1), op(1, "cas", (1, 2), 2, 3, status="info")]
    check_ok(history(*base, op(2, "read", 2, 4, 5)))
    check_ok(history(*base, op(2, "read", 1, 4, 5)))
    check_ok(history(*base, op(2, "read", 1, 4, 5), op(2, "read", 2, 6, 7)))
    check_bad(history(*base, op(2, "read", 2, 4, 5), op(2, "read", 1, 6, 7)))


def test_info_cas_chain_explains_read():
    h = history(op(0, "write", 1, 0, 1), op(1, "write", 5, 2, 3, status="info"),
                op(2, "cas", (5, 6), 2, 3, status="info"), op(3, "read", 6, 10, 11))
    check_ok(h)


def test_unobserved_info_writes_are_ignored():
    h = history(op(0, "write", 1, 0, 1), *[op(p, "write", 100 + p, 2, 3, status="info")
                                           for p in range(1, 30)],
                op(0, "read", 1, 4, 5))
    res = check_ok(h)
    assert res.keys["x"].dropped_info_unobserved == 29


# ------------------------------------------------------------ multiple keys


def test_keys_are_independent_registers():
    h = history(op(0, "write", 1, 0, 1, key="a"), op(1, "read", 1, 2, 3, key="b"),
                op(2, "read", 1, 2, 3, key="a"))
    res = check_register(h)
    assert res.valid is False
    assert res.keys["a"].linearizable is True
    assert [r.key for r in res.failures] == ["b"]


def test_accepts_paired_operations():
    ops = [Operation(0, 0, "write", "x", 1, 1, "ok", 0.0, 1.0),
           Operation(2, 1, "read", "x", None, 1, "ok", 2.0, 3.0)]
    assert check_register(ops).valid is True


# --------------------------------------------------------------- explanation


def test_explanation_shows_prefix_state_and_candidates():
    # Writes 1 then 2 complete; a read returning 1 overlaps a write of 3.
    # The deepest attempt places 1, 2, 3 and then cannot place the read.
    h = history(op(0, "write", 1, 0, 1), op(0, "write", 2, 2, 3), op(1, "read", 1, 4, 5),
                op(2, "write", 3, 4, 6))
    res = check_bad(h)
    r = res.keys["x"]
    assert [o.value for o in r.prefix][:2] == [1, 2]
    assert r.value_after_prefix == r.prefix[-1].value
    assert r.blocking is not None and r.blocking.f == "read"
    assert r.blocking in r.unplaced
    text = res.explain()
    assert "Longest order found" in text
    assert f"register holds: {r.value_after_prefix}" in text
    assert "read returned 1, but the register holds" in text
    assert "must take effect before it completed at 5.000000" in text


def test_explanation_of_linearizable_is_one_line():
    res = check_ok(history(op(0, "write", 1, 0, 1)))
    assert "linearizable" in str(res) and "NOT" not in str(res)


# ------------------------------------------------------------------- limits


def test_budget_exhaustion_is_unknown_not_a_verdict():
    # Twelve concurrent writes, then two reads that disagree after all of
    # them completed: no pre-check catches it, the search must.
    h = history(*[op(p, "write", p, 0, 10) for p in range(12)],
                op(20, "read", 0, 11, 12), op(20, "read", 1, 13, 14))
    res = check_register(h, max_steps=5)
    assert res.valid is None
    assert res.keys["x"].linearizable is None
    assert "UNKNOWN" in res.explain()
    assert check_register(h).valid is False


def test_unsupported_function_is_an_error():
    with pytest.raises(ValueError, match="unsupported function"):
        check_register(history(op(0, "add", 1, 0, 1)))


def test_malformed_cas_is_an_error():
    with pytest.raises(ValueError, match="cas value"):
        check_register(history(op(0, "cas", 1, 0, 1)))
