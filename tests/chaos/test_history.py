"""History model: events, pairing, JSON lines, timeline."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos import history as h
from chaos.history import Event, HistoryError


def sample() -> list[Event]:
    return [
        h.invoke(0, "write", "k1", 1, 10.0),
        h.invoke(1, "read", "k1", None, 10.001),
        h.ok(0, "write", "k1", 1, 10.002),
        h.nemesis("kill", "n2", 10.0025),
        h.ok(1, "read", "k1", 1, 10.003),
        h.invoke(2, "cas", "k1", [1, 2], 10.004),
        h.info(2, "cas", "k1", None, 10.5, "timeout"),
        h.invoke(0, "cas", "k1", (5, 6), 10.6),
        h.fail(0, "cas", "k1", None, 10.61, "ConditionalCheckFailed"),
        h.invoke(1, "write", "k1", "x y", 10.7),
    ]


# ------------------------------------------------------------------ events


def test_lists_become_tuples():
    e = h.invoke(0, "cas", ["a", 1], [1, [2, 3]], 0.0)
    assert e.value == (1, (2, 3)) and e.key == ("a", 1)
    assert hash(e.value)


def test_bad_event_type_and_time_rejected():
    with pytest.raises(HistoryError):
        Event("done", 0, "read", "k", None, 0.0)
    with pytest.raises(HistoryError):
        Event("ok", 0, "read", "k", None, float("nan"))


# ----------------------------------------------------------------- pairing


def test_pairing():
    ops = h.pair_operations(sample())
    assert [(o.index, o.process, o.f, o.status) for o in ops] == [
        (0, 0, "write", "ok"), (1, 1, "read", "ok"), (5, 2, "cas", "info"),
        (7, 0, "cas", "fail"), (9, 1, "write", "info")]
    read = ops[1]
    assert read.result == 1 and read.invoke_time == 10.001 and read.complete_time == 10.003
    assert ops[2].value == (1, 2) and ops[2].error == "timeout"
    assert ops[4].complete_time is None  # never completed: unknown outcome


def test_operations_accepts_either_form():
    ops = h.pair_operations(sample())
    assert h.operations(ops) == ops
    assert h.operations(sample()) == ops
    with pytest.raises(TypeError):
        h.operations([sample()[0], ops[0]])


@pytest.mark.parametrize("events,message", [
    ([h.ok(0, "read", "k", 1, 1.0)], "no pending invoke"),
    ([h.invoke(0, "read", "k", None, 0.0), h.invoke(0, "read", "k", None, 1.0)], "invokes again"),
    ([h.invoke(0, "read", "k", None, 0.0), h.ok(0, "write", "k", 1, 1.0)], "completes write"),
    ([h.invoke(0, "read", "k", None, 0.0), h.ok(0, "read", "j", 1, 1.0)], "completes read"),
    ([h.invoke(0, "read", "k", None, 2.0), h.ok(0, "read", "k", 1, 1.0)], "before its invoke"),
])
def test_malformed_histories_rejected(events, message):
    with pytest.raises(HistoryError, match=message):
        h.pair_operations(events)


def test_process_may_invoke_again_after_info():
    evs = [h.invoke(0, "write", "k", 1, 0.0), h.info(0, "write", "k", None, 1.0),
           h.invoke(0, "write", "k", 2, 2.0), h.ok(0, "write", "k", 2, 3.0)]
    assert [o.status for o in h.pair_operations(evs)] == ["info", "ok"]


def test_operation_str_is_readable():
    ops = h.pair_operations(sample())
    assert str(ops[1]) == "#1 p1 k1 read -> 1 ok [10.001000 .. 10.003000]"
    assert str(ops[2]) == "#5 p2 k1 cas 1 -> 2 info (timeout) [10.004000 .. 10.500000]"
    assert str(ops[4]).endswith("[10.700000 .. ...]")


# -------------------------------------------------------------- JSON lines


def test_jsonl_round_trip():
    evs = sample()
    text = h.to_jsonl(evs)
    assert text.count("\n") == len(evs)
    assert h.from_jsonl(text) == evs
    assert h.from_jsonl(text.splitlines(keepends=True)) == evs  # lines, as from a file
    assert h.from_jsonl("\n" + text + "\n\n") == evs


def test_jsonl_line_format():
    line = h.to_jsonl([h.info(3, "cas", "k", (1, 2), 0.25, "timeout")]).strip()
    assert line == ('{"time":0.25,"process":3,"type":"info","f":"cas","key":"k",'
                    '"value":[1,2],"error":"timeout"}')


def test_jsonl_converts_boto3_decimals():
    text = h.to_jsonl([h.ok(0, "read", "k", Decimal("3"), 0.0), h.ok(1, "read", "k", Decimal("1.5"), 0.0)])
    assert [e.value for e in h.from_jsonl(text)] == [3, 1.5]


def test_jsonl_errors_name_the_line():
    with pytest.raises(HistoryError, match="line 2: not JSON"):
        h.from_jsonl('{"time":0,"process":0,"type":"invoke","f":"read"}\n{oops\n')
    with pytest.raises(HistoryError, match="line 1: .*missing field 'time'"):
        h.from_jsonl('{"process":0,"type":"invoke","f":"read"}')


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3), max_leaves=6)
events = st.builds(
    Event,
    type=st.sampled_from(h.EVENT_TYPES),
    process=st.integers(0, 20) | st.just(h.NEMESIS),
    f=st.sampled_from(["read", "write", "cas", "add", "incr"]),
    key=st.none() | st.text(max_size=4) | st.integers(),
    value=values,
    time=st.floats(0, 1e6, allow_nan=False),
    error=st.none() | st.text(max_size=8),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(events, max_size=12))
def test_jsonl_round_trip_property(evs):
    assert h.from_jsonl(h.to_jsonl(evs)) == evs


# ---------------------------------------------------------------- timeline

GOLDEN = """\
 time(s)  lanes  process  key  operation    outcome         note
--------  -----  -------  ---  -----------  --------------  ------------------------------------
0.000000  [      p0       k1   write 1      invoke
0.001000  | [    p1       k1   read ?       invoke
0.002000  ] |    p0       k1   write 1      ok              took 2.0 ms
0.002500    |    nemesis       kill n2      fault
0.003000    ]    p1       k1   read -> 1    ok              took 2.0 ms
0.004000      [  p2       k1   cas 1 -> 2   invoke
0.500000      ?  p2       k1   cas 1 -> 2   info (unknown)  took 496.0 ms; timeout
0.600000  [      p0       k1   cas 5 -> 6   invoke
0.610000  x      p0       k1   cas 5 -> 6   fail            took 10.0 ms; ConditionalCheckFailed
0.700000    [    p1       k1   write 'x y'  invoke
"""


def test_timeline_golden():
    assert h.render_timeline(sample(), legend=False) == GOLDEN


def test_timeline_sorts_by_time_and_keeps_ties_in_history_order():
    evs = list(reversed(sample()))
    out = h.render_timeline(evs, legend=False, lanes=False).splitlines()[2:]
    times = [float(line.split()[0]) for line in out]
    assert times == sorted(times)
    tie = [h.invoke(0, "read", "k", None, 1.0), h.invoke(1, "read", "k", None, 1.0)]
    lines = h.render_timeline(tie, legend=False, lanes=False).splitlines()[2:]
    assert [line.split()[1] for line in lines] == ["p0", "p1"]


def test_timeline_legend_explains_outcomes():
    out = h.render_timeline(sample())
    assert out.startswith("Timeline: 10 events, 5 operations by 3 processes on 1 key(s), "
                          "1 fault event(s)")
    for word in ("invoke", "ok", "fail", "info", "unknown outcome", "Lane order: p0 p1 p2"):
        assert word in out


def test_timeline_absolute_times_and_absent_values():
    evs = [h.invoke(0, "read", "k", None, 5.0), h.ok(0, "read", "k", None, 5.5)]
    out = h.render_timeline(evs, relative=False, legend=False)
    assert "5.500000" in out and "read -> absent" in out


def test_timeline_without_lanes_for_many_processes():
    evs = [h.invoke(p, "read", "k", None, float(p)) for p in range(20)]
    out = h.render_timeline(evs, legend=False)
    assert "lanes" not in out.splitlines()[0]


def test_timeline_of_empty_history():
    assert "time(s)" in h.render_timeline([])


def test_timeline_set_and_counter_ops():
    evs = [h.invoke(0, "add", "s", 7, 0.0), h.ok(0, "add", "s", 7, 0.1),
           h.invoke(1, "incr", "c", 3, 0.2), h.ok(1, "incr", "c", 3, 0.3),
           h.invoke(0, "read", "s", None, 0.4), h.ok(0, "read", "s", [7], 0.5)]
    out = h.render_timeline(evs, legend=False)
    assert "add 7" in out and "incr +3" in out and "read -> [7]" in out
