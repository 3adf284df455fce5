"""The stream check on hand-made histories: each kind of violation is found."""

from __future__ import annotations

from chaos.history import INFO, OK, Operation
from chaos.stream_check import StreamChecker


def op(i, f, key, value, status=OK, start=0.0, done=1.0, result=None):
    return Operation(i, 0, f, key, value, result, status, start, done)


def check(writes, records, items):
    c = StreamChecker()
    for w in writes:
        c.feed(w)
    c.feed(op(99, "read", "stream", None, result={"records": records, "items": items}, start=50, done=51))
    return c.result()


# Writes to "a": 1 then 2 (2 begins after 1 is acknowledged); 3 unknown outcome.
WRITES = [op(1, "write", "a", 1, start=0, done=1), op(2, "write", "a", 2, start=2, done=3),
          op(3, "write", "a", 3, status=INFO, start=4, done=5)]


def test_a_history_with_one_record_per_write_in_order_is_valid():
    assert check(WRITES, [["a", 1], ["a", 2]], {"a": 2}).valid is True
    assert check(WRITES, [["a", 1], ["a", 2], ["a", 3]], {"a": 3}).valid is True  # the unknown one applied


def test_each_violation_is_found():
    cases = {
        "has no record": ([["a", 1]], {"a": 1}),
        "has two records": ([["a", 1], ["a", 1], ["a", 2]], {"a": 2}),
        "never written": ([["a", 1], ["a", 2], ["a", 7]], {"a": 7}),
        "precedes": ([["a", 2], ["a", 1]], {"a": 1}),
        "final value": ([["a", 1], ["a", 2]], {"a": 3}),  # 3 applied without its record
    }
    for problem, (records, items) in cases.items():
        res = check(WRITES, records, items)
        assert res.valid is False and any(problem in p for p in res.problems), (problem, res.explain())


def test_without_a_final_read_the_verdict_is_unknown():
    c = StreamChecker()
    for w in WRITES:
        c.feed(w)
    assert c.result().valid is None
