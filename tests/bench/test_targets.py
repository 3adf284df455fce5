"""The TARGETS table: what each target reads from a run's results, and when
a target is met, missed, or not measured."""

from __future__ import annotations

from bench.index_lag import LagResult
from bench.run import COLD_UPDATES, HOT_UPDATES, Result
from bench.targets import NOT_MEASURED, TARGETS, IndexLag, Latency, LoadRate, Throughput, evaluate, render


def result(system: str, workload: str, ops: float, *, clients: int = 64, consistent: bool = False,
           p99: float = 3.0, hot_p99: float | None = None) -> Result:
    by_class = {} if hot_p99 is None else {HOT_UPDATES: {"ops": 100, "p50_ms": 1.0, "p99_ms": hot_p99, "max_ms": 50.0},
                                           COLD_UPDATES: {"ops": 80, "p50_ms": 1.0, "p99_ms": 2.0, "max_ms": 9.0}}
    return Result(system, workload, clients, consistent, 10.0, int(ops * 10), ops, 0, 1.0, 2.0, p99, 9.0,
                  by_class=by_class)


def row(rows, label_part: str, issue: int = 21):
    found = [r for r in rows if label_part in r.target and r.issue == issue]
    assert len(found) == 1, [r.target for r in rows]
    return found[0]


def test_a_throughput_target_is_the_median_of_the_per_repetition_ratios():
    # three repetitions: ratios 0.5, 1.5, 1.1 -> median 1.1 (the ratio of medians would be 1000/1000 = 1.0)
    results = [result("trireme", "A", x) for x in (500, 1500, 1000)] + [
        result("dynalite-mem", "A", x) for x in (1000, 1000, 909.09)]
    rows = evaluate(results, {}, [], [Throughput(21, "A", 64, False, 1.0), Throughput(14, "A", 64, False, 0.5)])
    assert [(r.issue, r.ratio, r.verdict) for r in rows] == [(21, "1.10x", "met"), (14, "1.10x", "met")]
    assert rows[0].trireme == "1,000" and rows[0].peer == "1,000"
    rows = evaluate(results, {}, [], [Throughput(21, "A", 64, False, 1.2)])
    assert rows[0].verdict == "missed" and rows[0].wanted == ">= 1.2x" and rows[0].issue == 21


def test_a_target_not_run_at_its_concurrency_or_without_the_peer_is_not_measured():
    results = [result("trireme", "B", 1000, clients=64), result("dynalite-mem", "B", 1000, clients=64),
               result("trireme", "W", 1000), result("moto", "W", 100)]
    rows = evaluate(results, {}, [], [Throughput(21, "B", 16, False, 1.0), Latency(21, "B", 16, 5.0),
                                      Throughput(21, "W", 64, False, 1.0)])
    assert all(r.verdict.startswith(NOT_MEASURED) for r in rows), rows
    assert "not run at 16" in rows[0].verdict and "no dynalite-mem" in rows[2].verdict
    assert rows[2].trireme == "1,000" and rows[2].peer == "-"


def test_latency_targets_read_the_run_or_the_hot_keys_class():
    results = [result("trireme", "B", 900, clients=16, p99=p) for p in (4.0, 6.0, 4.5)] + [
        result("dynalite-mem", "B", 1000, clients=16, p99=3.0)] + [
        result("trireme", "A", 900, hot_p99=p) for p in (19.0, 25.0, 30.0)] + [
        result("dynalite-mem", "A", 900, hot_p99=10.0)]
    rows = evaluate(results, {}, [], [Latency(21, "B", 16, 5.0), Latency(21, "A", 64, 20.0, HOT_UPDATES)])
    b, hot = rows
    assert (b.trireme, b.peer, b.ratio, b.verdict) == ("4.5", "3.0", "1.50x", "met")
    assert (hot.trireme, hot.peer, hot.verdict) == ("25.0", "10.0", "missed")
    assert "hottest 1%" in hot.target
    # a YCSB-A run that recorded no classes (a uniform distribution) does not measure the hot keys
    rows = evaluate([result("trireme", "A", 900)], {}, [], [Latency(21, "A", 64, 20.0, HOT_UPDATES)])
    assert rows[0].verdict.startswith(NOT_MEASURED)


def test_load_rate_and_index_lag():
    lags = [LagResult("idle", 200, 2.0, 4.9, 7.0, 0, 0.0), LagResult("under load", 200, 9.0, 15.0, 80.0, 1, 900.0)]
    rows = evaluate([], {"trireme": 12_000.0, "dynalite-mem": 10_000.0}, lags,
                    [LoadRate(21, 10_000), IndexLag(21, "idle", 5.0), IndexLag(21, "under load", 20.0)])
    assert [(r.trireme, r.peer, r.ratio, r.verdict) for r in rows[:2]] == [
        ("12,000", "10,000", "1.20x", "met"), ("4.9", "-", "-", "met")]
    assert rows[2].verdict == "missed" and "1 never seen" in rows[2].trireme  # p99 15 ms, but one probe lost
    rows = evaluate([], {"trireme": 9_000.0}, [], [LoadRate(21, 10_000), IndexLag(21, "idle", 5.0)])
    assert rows[0].verdict == "missed" and rows[0].peer == "-"
    assert rows[1].verdict.startswith(NOT_MEASURED)


def test_every_target_of_issues_14_and_21_has_a_row_and_the_table_counts_them():
    results = [result(s, w, 1000, clients=16 if w == "B" else 64, consistent=c, hot_p99=5.0 if w == "A" else None)
               for s in ("trireme", "dynalite-mem") for w, c in
               (("A", False), ("B", False), ("W", False), ("C", False), ("C", True), ("Q", False))]
    lags = [LagResult("idle", 10, 1.0, 2.0, 3.0, 0, 0.0), LagResult("under load", 10, 1.0, 30.0, 40.0, 0, 10.0)]
    rows = evaluate(results, {"trireme": 5000.0, "dynalite-mem": 9000.0}, lags)
    assert len(rows) == len(TARGETS) == 14
    assert {r.issue for r in rows} == {14, 21}
    assert not [r for r in rows if r.verdict not in ("met", "missed")]
    missed = {r.target for r in rows if r.verdict == "missed"}
    # ratio 1.0: A, B, W meet 1.0x, C 1.0x (14) and C SC 0.8x (14); C 1.3x, C SC 1.2x and Q 2.5x are missed
    assert {r.target for r in rows if r.verdict == "missed" and "ops/s" in r.target} == {
        "YCSB-C (64 clients) ops/s", "YCSB-C SC (64 clients) ops/s", "Query (64 clients) ops/s"}
    assert "BatchWriteItem load items/s" in missed and "GSI propagation p99 ms during YCSB-A-like load" in missed
    out = render(rows)
    assert out.startswith("TARGETS") and "9 of 14 measured met" in out and "VERDICT" in out
