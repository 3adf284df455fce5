"""The TARGETS table at the end of `trireme bench`: every target issues 14
and 21 set, with what this run measured (Trireme and the peer the targets
are set against: dynalite in memory), the ratio, and whether it was met.

Pure: it reads the results a run produced and returns rows, so what counts
as met is tested without starting anything. A target whose workload (at the
target's concurrency), peer or probe was not part of the run says so rather
than borrowing a number from elsewhere.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.index_lag import LagResult
from bench.run import HOT_UPDATES, Result

PEER = "dynalite-mem"
NOT_MEASURED = "not measured in this run"


@dataclass(frozen=True)
class Throughput:
    """Trireme's throughput at least `wanted` times the peer's (the median of per-repetition ratios)."""
    issue: int
    workload: str
    clients: int
    consistent: bool
    wanted: float

    @property
    def label(self) -> str:
        name = {"C": "YCSB-C", "A": "YCSB-A", "B": "YCSB-B", "W": "YCSB-W", "Q": "Query"}[self.workload]
        return f"{name}{' SC' if self.consistent else ''} ({self.clients} clients) ops/s"

    @property
    def wanted_text(self) -> str:
        return f">= {self.wanted:.1f}x"


@dataclass(frozen=True)
class Latency:
    """Trireme's p99 (median over repetitions) of a run, or of one class of its requests, under `wanted` ms."""
    issue: int
    workload: str
    clients: int
    wanted: float
    request_class: str = ""  # "" : every request of the run

    @property
    def label(self) -> str:
        if self.request_class:
            return f"{self.request_class} p99 ms (YCSB-{self.workload}, {self.clients} clients)"
        return f"YCSB-{self.workload} ({self.clients} clients) p99 ms"

    @property
    def wanted_text(self) -> str:
        return f"< {self.wanted:g} ms"


@dataclass(frozen=True)
class LoadRate:
    """BatchWriteItem load items/s at least `wanted`."""
    issue: int
    wanted: float
    label: str = "BatchWriteItem load items/s"

    @property
    def wanted_text(self) -> str:
        return f">= {self.wanted:,.0f}/s"


@dataclass(frozen=True)
class IndexLag:
    """Global secondary index propagation p99 of a phase of bench/index_lag.py under `wanted` ms."""
    issue: int
    phase: str  # "idle" or "under load"
    wanted: float

    @property
    def label(self) -> str:
        return "GSI propagation p99 ms " + ("idle" if self.phase == "idle" else "during YCSB-A-like load")

    @property
    def wanted_text(self) -> str:
        return f"< {self.wanted:g} ms"


Target = Throughput | Latency | LoadRate | IndexLag

TARGETS: tuple[Target, ...] = (
    Throughput(21, "A", 64, False, 1.0),
    Throughput(14, "A", 64, False, 0.5),
    Throughput(21, "B", 16, False, 1.0),
    Latency(21, "B", 16, 5.0),
    Throughput(21, "W", 64, False, 1.0),
    LoadRate(21, 10_000),
    Latency(21, "A", 64, 20.0, HOT_UPDATES),
    IndexLag(21, "idle", 5.0),
    IndexLag(21, "under load", 20.0),
    Throughput(21, "C", 64, False, 1.3),
    Throughput(14, "C", 64, False, 1.0),
    Throughput(21, "C", 64, True, 1.2),
    Throughput(14, "C", 64, True, 0.8),
    Throughput(21, "Q", 64, False, 2.5),
)


@dataclass(frozen=True)
class Row:
    issue: int
    target: str
    wanted: str
    trireme: str  # the measured value, or "-"
    peer: str
    ratio: str  # Trireme / peer, or "-"
    verdict: str  # "met", "missed", or NOT_MEASURED (with why)

    def cells(self) -> list[str]:
        return [f"#{self.issue}", self.target, self.wanted, self.trireme, self.peer, self.ratio, self.verdict]


def _runs(results: Sequence[Result], system: str, workload: str, clients: int, consistent: bool) -> list[Result]:
    return [r for r in results if (r.system, r.workload, r.clients, r.consistent) == (system, workload, clients,
                                                                                       consistent)]


def _p99(rs: list[Result], request_class: str) -> float | None:
    """The median over repetitions of the p99 (of one class of requests); None if no repetition has it."""
    xs = [r.p99_ms if not request_class else r.by_class[request_class]["p99_ms"]
          for r in rs if not request_class or r.by_class.get(request_class, {}).get("ops")]
    return statistics.median(xs) if xs else None


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


def evaluate(results: Sequence[Result], load_rates: dict[str, float], index_lags: Sequence[LagResult],
             targets: Sequence[Target] = TARGETS, peer: str = PEER) -> list[Row]:
    """One row per target: `results` of the workload runs, `load_rates` (system -> items/s of the
    BatchWriteItem load), `index_lags` (bench/index_lag.py's idle and loaded phases)."""
    rows = []
    for t in targets:
        if isinstance(t, Throughput):
            mine = _runs(results, "trireme", t.workload, t.clients, t.consistent)
            theirs = _runs(results, peer, t.workload, t.clients, t.consistent)
            pairs = [a.ops_per_s / b.ops_per_s for a, b in zip(mine, theirs) if b.ops_per_s]
            ratio = statistics.median(pairs) if pairs else None
            verdict = (_verdict(ratio >= t.wanted) if ratio is not None
                       else f"{NOT_MEASURED} ({'no ' + peer if mine else 'not run at ' + str(t.clients)})")
            rows.append(Row(t.issue, t.label, t.wanted_text,
                            f"{statistics.median(r.ops_per_s for r in mine):,.0f}" if mine else "-",
                            f"{statistics.median(r.ops_per_s for r in theirs):,.0f}" if theirs else "-",
                            f"{ratio:.2f}x" if ratio is not None else "-", verdict))
        elif isinstance(t, Latency):
            mine = _p99(_runs(results, "trireme", t.workload, t.clients, False), t.request_class)
            theirs = _p99(_runs(results, peer, t.workload, t.clients, False), t.request_class)
            rows.append(Row(t.issue, t.label, t.wanted_text, f"{mine:.1f}" if mine is not None else "-",
                            f"{theirs:.1f}" if theirs is not None else "-",
                            f"{mine / theirs:.2f}x" if mine is not None and theirs else "-",
                            _verdict(mine < t.wanted) if mine is not None
                            else f"{NOT_MEASURED} (YCSB-{t.workload} at {t.clients} clients)"))
        elif isinstance(t, LoadRate):
            mine, theirs = load_rates.get("trireme"), load_rates.get(peer)
            rows.append(Row(t.issue, t.label, t.wanted_text, f"{mine:,.0f}" if mine else "-",
                            f"{theirs:,.0f}" if theirs else "-",
                            f"{mine / theirs:.2f}x" if mine and theirs else "-",
                            _verdict(mine >= t.wanted) if mine else NOT_MEASURED))
        else:
            lag = next((x for x in index_lags if x.phase == t.phase), None)
            if lag is None:
                rows.append(Row(t.issue, t.label, t.wanted_text, "-", "-", "-", f"{NOT_MEASURED} (--index-probes 0)"))
                continue
            missing = lag.missing
            # a probe never seen is a lag beyond the give-up time: the target is missed whatever the p99 says
            rows.append(Row(t.issue, t.label, t.wanted_text,
                            f"{lag.p99_ms:.1f}" + (f" ({missing} never seen)" if missing else ""), "-", "-",
                            _verdict(lag.p99_ms < t.wanted and not missing)))
    return rows


def render(rows: Sequence[Row]) -> str:
    from client.status import table
    met = sum(r.verdict == "met" for r in rows)
    measured = sum(r.verdict in ("met", "missed") for r in rows)
    return (f"TARGETS (issues 14 and 21; the peer: {PEER}; {met} of {measured} measured met)\n"
            + table(["ISSUE", "TARGET", "WANTED", "TRIREME", "PEER", "RATIO", "VERDICT"], [r.cells() for r in rows]))
