"""The ttl workload's checker on hand-made histories."""

from __future__ import annotations

import pytest

from chaos.history import operations
from chaos.ttl_check import TtlChecker, TtlResult
from tests.chaos.helpers import history, op


def check(*ops) -> TtlResult:
    checker = TtlChecker()
    for o in operations(history(*ops)):
        checker.feed(o)
    return checker.result()


def add(p, key, t, status="ok"):
    return op(p, "add", key, t, t + 0.1, status=status, key="ttl")


def rescue(p, key, t, status="ok"):
    return op(p, "rescue", key, t, t + 0.1 if status is not None else None, status=status or "ok", key="ttl")


def read(keys, t=100):
    return op("final", "read", keys, t, t + 1, key="ttl")


def test_expired_items_gone_the_rest_present_is_valid():
    res = check(add(0, "k1", 0), add(0, "d2", 1), add(1, "d3", 1), rescue(1, "d3", 2), add(1, "d4", 3),
                rescue(1, "d4", 4, status="fail"), read(["d3", "k1"]))
    assert res.valid is True, res.explain()
    assert (res.kept, res.doomed, res.rescued, res.deleted) == (1, 3, 1, 2)


def test_a_lost_kept_item_or_rescued_item_is_invalid():
    res = check(add(0, "k1", 0), add(0, "d2", 1), rescue(0, "d2", 2), read([]))
    assert res.valid is False
    assert res.lost == ("k1", "d2")
    assert "LOST (2)" in res.explain()


def test_an_expired_item_no_rescue_reached_must_be_gone():
    res = check(add(0, "d1", 0), add(1, "d2", 0), rescue(0, "d2", 1, status="fail"), read(["d1", "d2"]))
    assert res.valid is False and res.unexpired == ("d1", "d2")


@pytest.mark.parametrize("status", ["info", None])  # unknown outcome, or no answer before the run ended
def test_an_expired_item_a_rescue_may_have_reached_may_stay_or_go(status):
    for present in (["d1"], []):
        res = check(add(0, "d1", 0), rescue(0, "d1", 1, status=status), read(present))
        assert res.valid is True, res.explain()


def test_unknown_puts_may_be_present_and_phantoms_are_invalid():
    assert check(add(0, "k1", 0, status="info"), read(["k1"])).valid is True
    assert check(add(0, "k1", 0, status="info"), read([])).valid is True
    res = check(add(0, "k1", 0), read(["k1", "k9"]))
    assert res.valid is False and res.phantom == ("k9",)


def test_without_a_final_read_the_verdict_is_unknown():
    assert check(add(0, "k1", 0)).valid is None
    with pytest.raises(ValueError):
        check(op(0, "cas", (1, 2), 0, 1, key="ttl"))
