"""The global workload's checker (chaos/lww_check.py) on hand-made histories:
what last writer wins allows passes, and each way to break it (regions that
differ, a phantom item, a lost write, a missing stream record) is caught."""

from __future__ import annotations

from chaos.history import INFO, OK, Operation
from chaos.lww_check import LwwChecker

US, EU = "us-east-1", "eu-west-1"


class H:
    """A history under construction: write operations, then final reads."""

    def __init__(self) -> None:
        self.ops: list[Operation] = []

    def w(self, region: str, f: str, key: str, v: int, start: float, end: float | None,
          status: str = OK) -> Operation:
        op = Operation(len(self.ops), f"{region}/0", f, key, v, None, status, start, end)
        self.ops.append(op)
        return op

    def final(self, items: dict, regions=(US, EU), streams: dict | None = None) -> None:
        for r in regions:
            self.ops.append(Operation(len(self.ops), "final", "read", r, None, items, OK, 100, 101))
        for r, records in (streams or {}).items():
            self.ops.append(Operation(len(self.ops), "final", "stream", r, None, records, OK, 101, 102))

    def check(self, skew_s: float = 1.0):
        c = LwwChecker(skew_s)
        for op in self.ops:
            c.feed(op)
        return c.result()


def test_concurrent_writes_in_two_regions_may_end_with_either():
    for winner, region in ((1, US), (2, EU)):
        h = H()
        h.w(US, "put", "k", 1, 0.0, 0.1)
        h.w(EU, "update", "k", 2, 0.05, 0.12)
        h.final({"k": [winner, region, "put" if winner == 1 else "update"]})
        res = h.check()
        assert res.valid is True, res.explain()


def test_a_write_acknowledged_before_the_winner_began_in_its_region_is_lost():
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.w(US, "put", "k", 2, 0.2, 0.3)
    h.final({"k": [1, US, "put"]})
    res = h.check()
    assert res.valid is False and "LOST" in res.explain() and "#1" in res.lost[0]


def test_across_regions_order_counts_only_beyond_the_clock_margin():
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.w(EU, "put", "k", 2, 0.5, 0.6)  # began 0.4 s after: within the 1 s margin
    h.final({"k": [1, US, "put"]})
    assert h.check().valid is True
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.w(EU, "put", "k", 2, 2.0, 2.1)
    h.final({"k": [1, US, "put"]})
    assert h.check().valid is False


def test_an_unknown_outcome_write_may_win_at_any_time():
    h = H()
    h.w(US, "put", "k", 1, 0.0, None, INFO)
    h.w(US, "put", "k", 2, 0.2, 0.3)
    h.final({"k": [1, US, "put"]})
    assert h.check().valid is True


def test_absent_needs_a_delete_that_no_acknowledged_write_followed():
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.w(EU, "delete", "k", 2, 0.2, 0.3)
    h.final({})
    assert h.check().valid is True
    h.w(EU, "put", "k", 3, 0.4, 0.5)  # after the delete, in its region: the item must exist
    assert h.check().valid is False
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.final({})
    res = h.check()
    assert res.valid is False and "never deleted" in res.lost[0]
    h = H()
    h.w(US, "put", "k", 1, 0.0, None, INFO)  # nothing certainly written
    h.final({})
    assert h.check().valid is True


def test_phantoms_and_diverged_regions_are_caught():
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.final({"k": [1, EU, "put"]})  # value 1 was written in us-east-1, not eu-west-1
    res = h.check()
    assert res.valid is False and res.phantom
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.w(US, "put", "k", 2, 0.0, 0.1, "fail")
    h.final({"k": [2, US, "put"]})  # a failed write did not happen
    assert h.check().phantom
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.w(EU, "put", "k", 2, 0.0, 0.1)
    h.final({"k": [1, US, "put"]}, regions=(US,))
    h.final({"k": [2, EU, "put"]}, regions=(EU,))
    res = h.check()
    assert res.valid is False and res.diverged and "DIVERGED" in res.explain()
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.final({"k": [1, US, "put"]}, regions=(EU,))
    h.final({"k": [1, US, "put"], "x": [5, US, "put"]}, regions=(US,))  # a phantom in one region only
    res = h.check()
    assert res.diverged and len(res.phantom) == 1 and "never written" in res.phantom[0]


def test_streams_hold_every_local_write_and_every_final_value():
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.w(EU, "put", "k", 2, 0.2, 0.3)
    h.final({"k": [2, EU, "put"]}, streams={US: [["k", 1], ["k", 2]], EU: [["k", 2]]})
    res = h.check()
    assert res.valid is True and res.streams_checked, res.explain()
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    h.w(EU, "put", "k", 2, 0.2, 0.3)
    h.final({"k": [2, EU, "put"]}, streams={US: [["k", 1]], EU: [["k", 2], ["k", 7]]})
    res = h.check()
    assert res.valid is False
    assert any("no record of the final" in s for s in res.stream)  # the winner never reached us-east-1's stream
    assert any("nobody wrote" in s for s in res.stream)


def test_no_final_read_is_unknown():
    h = H()
    h.w(US, "put", "k", 1, 0.0, 0.1)
    assert h.check().valid is None
