"""The checker's recording and judging side without a cluster: the history
streamed to disk, analysed in one pass, in memory that stays bounded."""

from __future__ import annotations

import random
import threading
import tracemalloc
from collections import Counter

from chaos import history as h
from chaos.runner import CheckConfig, Nemesis, Recorder, judge
from tests.integration.conftest import wait_until


def write_set_history(path, n: int) -> None:
    """The shape that took `trireme check --workload set` to 24 GB: many
    unique adds, faults among them, and one final read holding every element."""
    t = 0.0
    with open(path, "w", encoding="utf-8") as f:
        for e in range(1, n + 1):
            p = e % 5
            f.write(h.event_line(h.invoke(p, "add", "set", e, t)))
            t += 0.001
            f.write(h.event_line(h.ok(p, "add", "set", e, t) if e % 97 else h.info(p, "add", "set", e, t, "timeout")))
            t += 0.001
            if e % 500 == 0:
                f.write(h.event_line(h.nemesis("kill", "n2", t)))
        f.write(h.event_line(h.invoke("final", "read", "set", None, t)))
        f.write(h.event_line(h.ok("final", "read", "set", list(range(1, n + 1)), t + 1)))


def test_judging_a_long_set_history_stays_bounded(tmp_path):
    # Before: the timeline padded every row to the width of the final read's
    # cell (every element), so memory grew with the square of the run's
    # length; here that was over 100 MB, at 60 s of real load 24 GB.
    n = 2000
    path = tmp_path / "history.jsonl"
    write_set_history(path, n)
    tracemalloc.start()
    try:
        report = judge(CheckConfig(workload="set", out_dir=tmp_path), path, Counter(kill=n // 500), (True, "ok"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.valid is True, report.explanation
    assert report.operations == n + 1
    # A few hundred bytes per element (the set check needs one record each), nothing per event.
    assert peak < 1_000_000 + 1_000 * n, f"peak {peak / 1e6:.1f} MB for {n} elements"
    lines = (tmp_path / "timeline.txt").read_text().splitlines()
    assert len(lines) > 2 * n and max(len(line) for line in lines) < 400
    assert f"({n} elements)" in lines[-1]


def test_judge_reads_the_history_back_and_measures_stalls(tmp_path):
    path = tmp_path / "history.jsonl"
    evs = [*_write(0, "a", 1, 0.0, 1.0), *_write(1, "b", 2, 0.5, 3.0),
           h.nemesis("kill", "n1", 5.0),
           *_write(0, "a", 3, 5.5, 6.0), *_write(1, "b", 4, 6.5, 9.0), h.nemesis("restart", "n1", 9.5)]
    path.write_text(h.to_jsonl(evs))
    report = judge(CheckConfig(workload="register", out_dir=tmp_path), path, Counter(kill=1), (True, "ok"))
    assert report.valid is True
    # a: last ack 1.0 before the kill, first after 6.0; b: 3.0 to 9.0: the worst key counts.
    assert "kill p50 6.00s p90 6.00s p99 6.00s max 6.00s (n=1)" in report.summary
    # From the kill at 5.0: a acked again at 6.0, b at 9.0.
    assert "from the fault to the worst key's first ack after it: kill p50 4.00s p90 4.00s" in report.summary
    assert "slowest from the fault (history time; see the logs): 4.00s kill n1 at 5.0s" in report.summary
    assert report.history == evs
    assert (tmp_path / "summary.txt").read_text().startswith(report.summary)


def test_stall_quantiles_by_nearest_rank(tmp_path):
    path = tmp_path / "history.jsonl"
    evs = [*_write(0, "a", 1, 0.0, 1.0), h.nemesis("kill", "n1", 1.5), *_write(0, "a", 2, 2.0, 2.5),
           h.nemesis("kill", "n2", 3.0), *_write(0, "a", 3, 3.5, 6.5)]
    path.write_text(h.to_jsonl(evs))
    report = judge(CheckConfig(workload="register", out_dir=tmp_path), path, Counter(kill=2), (True, "ok"))
    # Gaps 1.5 s and 4 s: p99 of two stalls is the larger one (it was the smaller, below the p50).
    assert "kill p50 1.50s p90 4.00s p99 4.00s max 4.00s (n=2)" in report.summary
    assert "slowest from the fault (history time; see the logs): 3.50s kill n2 at 3.0s, 1.00s kill n1 at 1.5s" \
        in report.summary


def test_judge_of_a_run_cut_short_counts_pending_operations_as_unknown(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text(h.to_jsonl([*_write(0, "a", 1, 0.0, 1.0), h.invoke(1, "write", "a", 2, 1.5),
                                h.invoke(0, "read", "a", None, 2.0), h.ok(0, "read", "a", 2, 2.5)]))
    report = judge(CheckConfig(workload="register", out_dir=tmp_path), path, Counter(), (True, "ok"))
    assert report.valid is True, report.explanation
    assert "write info: 1" in report.summary


def test_recorder_streams_events_in_time_order_from_many_threads(tmp_path):
    rec = Recorder(tmp_path / "h.jsonl")

    def client(p: int) -> None:
        for i in range(200):
            rec.invoke(p, "add", "set", p * 1000 + i)
            rec.ok(p, "add", "set", p * 1000 + i)

    threads = [threading.Thread(target=client, args=(p,)) for p in range(4)]
    for t in threads:
        t.start()
    rec.nemesis("kill", "n1")
    for t in threads:
        t.join()
    assert "800 operations (800 ok, 0 fail, 0 unknown, 0 in flight)" == rec.progress()
    rec.close()
    rec.ok(9, "add", "set", 1)  # a client that outlived the run is ignored, not an error
    events = list(h.read_jsonl(rec.path))
    assert len(events) == 1601
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert len(h.pair_operations(events)) == 800


def _write(p: int, key: str, v: int, start: float, end: float) -> list[h.Event]:
    return [h.invoke(p, "write", key, v, start), h.ok(p, "write", key, v, end)]


class _Refusing:
    """A cluster whose nodes cannot be split for the first two tries (a node
    still restarting after a kill), killed and restarted at once."""

    def __init__(self) -> None:
        self.split_tries = 0

    def nodes(self) -> list[str]:
        return ["n1", "n2", "n3"]

    def kill(self, node: str) -> None:
        pass

    def restart(self, node: str) -> None:
        pass

    def split(self, a, b) -> None:
        self.split_tries += 1
        if self.split_tries <= 2:
            raise RuntimeError("admin port of n2 not up yet")

    def heal(self) -> None:
        pass


def test_a_fault_that_cannot_be_injected_keeps_its_turn(tmp_path):
    rec = Recorder(tmp_path / "history.jsonl")
    cfg = CheckConfig(workload="set", nemesis=("partition", "kill"), duration=1, interval=0.01, seed=1)
    nemesis = Nemesis(cfg, _Refusing(), rec, random.Random(2))
    nemesis._order = iter(["partition", "kill", "kill", "kill", "kill", "kill", "partition"])  # partition, then kills
    nemesis.thread.start()
    wait_until(lambda: nemesis.injected["partition"] and nemesis.injected["kill"], 10, "both kinds injected")
    nemesis.stop.set()
    nemesis.thread.join(5)
    # The partition was refused twice and taken at its third try, before any kill.
    assert nemesis.injected["partition"] >= 1 and nemesis.injected["kill"] >= 1
    rec.close()
    kinds = [e.f for e in h.read_jsonl(rec.path) if e.process == "nemesis"]
    assert kinds[:3] == ["skip", "skip", "partition"], kinds


class _SlowToCatchUp(_Refusing):
    """A killed node that takes three looks to catch up after its restart."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def caught_up(self, node: str) -> bool:
        self.looks += 1
        return self.looks >= 3


def test_settle_makes_the_next_fault_wait_until_a_restarted_node_caught_up(tmp_path):
    rec = Recorder(tmp_path / "history.jsonl")
    cluster = _SlowToCatchUp()
    cfg = CheckConfig(workload="set", nemesis=("kill",), duration=1, interval=0.01, seed=1, settle=True)
    nemesis = Nemesis(cfg, cluster, rec, random.Random(2))
    nemesis.thread.start()
    wait_until(lambda: nemesis.injected["kill"] >= 2, 10, "two kills")
    nemesis.stop.set()
    nemesis.thread.join(5)
    rec.close()
    assert cluster.looks >= 3  # the second kill came only once the first victim caught up
    without = _SlowToCatchUp()
    nemesis = Nemesis(CheckConfig(workload="set", nemesis=("kill",), duration=1, interval=0.01, seed=1),
                      without, Recorder(tmp_path / "h2.jsonl"), random.Random(2))
    nemesis.thread.start()
    wait_until(lambda: nemesis.injected["kill"] >= 2, 10, "two kills")
    nemesis.stop.set()
    nemesis.thread.join(5)
    assert without.looks == 0
