"""The trigger check on hand-made histories: each kind of violation is found."""

from __future__ import annotations

from chaos.history import INFO, OK, Operation
from chaos.trigger_check import TriggerChecker


def op(i, f, key, value, status=OK, result=None):
    return Operation(i, 0, f, key, value, result, status, 0.0, 1.0)


WRITES = [op(1, "write", "a", 1), op(2, "write", "a", 2), op(3, "write", "a", 3, status=INFO)]


def check(seen, last, items):
    c = TriggerChecker()
    for w in WRITES:
        c.feed(w)
    c.feed(op(99, "read", "trigger", None, result={"items": items, "seen": seen, "last": last}))
    return c.result()


def test_every_write_delivered_and_the_copy_equal_to_the_items_is_valid():
    assert check({"a": [1, 2]}, {"a": 2}, {"a": 2}).valid is True
    assert check({"a": [1, 2, 3]}, {"a": 3}, {"a": 3}).valid is True  # the unknown one applied


def test_each_violation_is_found():
    cases = {
        "never reached the handler": ({"a": [2]}, {"a": 2}, {"a": 2}),
        "never written": ({"a": [1, 2, 7]}, {"a": 2}, {"a": 2}),
        "the handler's last": ({"a": [1, 2]}, {"a": 1}, {"a": 2}),  # out of order, or a record lost at the end
    }
    for problem, (seen, last, items) in cases.items():
        res = check(seen, last, items)
        assert res.valid is False and any(problem in p for p in res.problems), (problem, res.problems)


def test_without_a_final_read_the_verdict_is_unknown():
    c = TriggerChecker()
    c.feed(WRITES[0])
    assert c.result().valid is None
