"""The curve of throughput against routers and nodes: `trireme bench
--routers 1,2 --nodes-per-az 1,2` runs the workloads on one fresh cluster per
point of the grid (router processes on the DynamoDB port x storage nodes per
AZ), one cluster at a time so that no idle cluster takes the measured one's
cores, the points taking turns in every repetition (round) as the systems do
in the main run.

Every point's YCSB table has the same number of partitions (enough for every
node of the largest point to lead one), and the table's leaders and replicas
per node are read back from the cluster, so the table shows whether the
nodes really shared the work.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import run as runner
from bench import transfers, ycsb


@dataclass(frozen=True)
class Point:
    routers: int
    nodes_per_az: int


def counts(text: str, flag: str) -> list[int]:
    """`1,2` as [1, 2]; a ValueError naming `flag` for anything but positive integers."""
    try:
        out = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        out = []
    if not out or any(n < 1 for n in out):
        raise ValueError(f"{flag} takes positive integers, comma-separated (e.g. 1,2), not {text!r}")
    return list(dict.fromkeys(out))


def grid(routers: str, nodes_per_az: str) -> list[Point]:
    """Every (routers, nodes per AZ) pair, nodes per AZ varying fastest."""
    return [Point(r, n) for r in counts(routers, "--routers") for n in counts(nodes_per_az, "--nodes-per-az")]


def partitions(asked: int, points: list[Point]) -> int:
    """The YCSB tables' partitions: `asked`, else trireme up's 1 where there
    is one node per AZ, else one per node of the largest point (3 x its
    nodes per AZ), so each of its nodes can lead one (1 partition leaves 5
    of 6 nodes leading none) and every point runs the same table."""
    if asked:
        return asked
    most = max(p.nodes_per_az for p in points)
    return 1 if most == 1 else 3 * most


def layout(report: dict, table: str) -> dict[str, list[int]]:
    """Per node, [partitions of `table` it leads, replicas of it it holds],
    from a `trireme status` report (client/status.py gather)."""
    meta = report.get("meta") or {}
    t = meta.get("tables", {}).get(table, {})
    groups = set(t.get("partitions", []))
    out = {n: [0, 0] for n in sorted(meta.get("nodes", {}), key=_node_order)}
    for p in meta.get("partitions", {}).values():
        if p["id"] in groups:
            for v in p["voters"]:
                out.setdefault(v, [0, 0])[1] += 1
    for node, v in report.get("nodes", {}).items():
        for r in v.get("replicas", []):
            if r.get("group") in groups and r.get("role") == "LEADER":
                out.setdefault(node, [0, 0])[0] += 1
    return out


def _node_order(name: str) -> tuple[int, str]:
    digits = name.lstrip("n")
    return (int(digits), name) if digits.isdigit() else (1 << 30, name)


def render_layout(spread: dict[str, list[int]]) -> str:
    """`n1 2/6, n2 2/6, ...`: leaders/replicas of the table per node."""
    return ", ".join(f"{n} {lead}/{reps}" for n, (lead, reps) in spread.items())


async def read_layout(cluster: object, table: str = ycsb.TABLE) -> dict[str, list[int]]:
    """The layout of `table` on a running LocalCluster."""
    from client.status import gather_cluster
    return layout(await gather_cluster(cluster), table)


@dataclass
class Round:
    """One point's cluster in one repetition: what it was, its table's layout, its load rate."""
    point: Point
    rep: int
    layout: dict[str, list[int]]
    load_items_per_s: float

    def to_json(self) -> dict:
        return {"routers": self.point.routers, "nodes_per_az": self.point.nodes_per_az, "rep": self.rep,
                "layout": self.layout, "load_items_per_s": round(self.load_items_per_s, 1)}


def measure(points: list[Point], plan: list[tuple[str, int, bool]], args, start: Callable, tmp: Path,
            say: Callable[[str], None]) -> tuple[list[runner.Result], list[Round]]:
    """Every point of the grid in every repetition: a fresh cluster started
    by `start(data_dir, point)` (a bench.main System), loaded, the `plan`'s
    runs, its layout, stopped."""
    results: list[runner.Result] = []
    rounds: list[Round] = []
    total = args.reps * len(points) * len(plan)
    step = 0
    for rep in range(args.reps):
        for point in points:
            name = f"r{point.routers}n{point.nodes_per_az}"
            say(f"rep {rep + 1}: starting trireme ({3 * point.nodes_per_az} nodes, {point.routers} router(s)) ...")
            system = start(tmp / f"{name}-{rep + 1}", point)
            try:
                asyncio.run(runner.create_tables(system.endpoint))
                rate = asyncio.run(runner.load(system.endpoint, args.records))
                if any(w in transfers.WORKLOADS for w, _, _ in plan):
                    asyncio.run(runner.prime_transactions(system.endpoint, args.records))
                spread = asyncio.run(read_layout(system.cluster))
                rounds.append(Round(point, rep + 1, spread, rate))
                say(f"  loaded {args.records:,} items ({rate:,.0f}/s); {ycsb.TABLE} leaders/replicas by node: "
                    f"{render_layout(spread)}")
                for w, c, consistent in plan:
                    step += 1
                    say(f"[{step}/{total}] rep {rep + 1}: {point.routers} router(s), {point.nodes_per_az} node(s) "
                        f"per AZ: {w} clients={c}{' consistent' if consistent else ''} ...")
                    r = asyncio.run(runner.run(system.name, system.endpoints, system.pids, w, clients=c,
                                               seconds=args.seconds, warmup=args.warmup, records=args.records,
                                               distribution=args.distribution, consistent=consistent,
                                               seed=rep + 1))
                    r.routers, r.nodes_per_az = point.routers, point.nodes_per_az
                    say(f"    {r.ops_per_s:,.0f} ops/s, p99 {r.p99_ms:.1f} ms, errors {r.errors}")
                    results.append(r)
            finally:
                system.stop()
    return results, rounds


def render(results: list[runner.Result], rounds: list[Round]) -> str:
    """One row per workload and point: throughput (median, min-max over
    rounds), its ratio to the grid's first point (median of the per-round
    ratios), p99, the cores the cluster used, its CPU microseconds per
    operation (steadier than throughput on a shared machine) and each
    process's cores."""
    from client.status import table
    groups: dict[tuple, dict[Point, list[runner.Result]]] = {}
    for r in results:
        groups.setdefault((r.workload, r.clients, r.consistent), {}).setdefault(
            Point(r.routers, r.nodes_per_az), []).append(r)
    rows = []
    for (w, c, cons), by_point in groups.items():
        base = next(iter(by_point.values()))
        for point, rs in by_point.items():
            ratios = [a.ops_per_s / b.ops_per_s for a, b in zip(rs, base) if b.ops_per_s]
            procs = sorted({p for r in rs for p in r.cpu}, key=_process_order)
            each = " ".join(f"{p} {statistics.median(r.cpu.get(p, 0.0) for r in rs):.2f}" for p in procs)
            rows.append([w + (" SC" if cons else ""), str(c), str(point.routers), str(point.nodes_per_az),
                         runner.spread([r.ops_per_s for r in rs]),
                         f"{statistics.median(ratios):.2f}" if ratios else "-",
                         runner.spread([r.p99_ms for r in rs], 1), str(sum(r.errors for r in rs)),
                         f"{statistics.median(sum(r.cpu.values()) for r in rs):.2f}",
                         f"{statistics.median(1e6 * sum(r.cpu.values()) / r.ops_per_s for r in rs if r.ops_per_s):,.0f}"
                         if any(r.ops_per_s for r in rs) else "-", each])
    out = "THROUGHPUT AGAINST ROUTERS AND NODES (one fresh cluster per point and round)\n" + table(
        ["WORKLOAD", "CLIENTS", "ROUTERS", "NODES/AZ", "OPS/S median (min-max)", "VS FIRST", "P99 MS",
         "ERRORS", "CPU CORES", "CPU US/OP", "CORES BY PROCESS (median)"], rows)
    seen: dict[Point, list[str]] = {}
    for rd in rounds:
        text = render_layout(rd.layout)
        if text not in seen.setdefault(rd.point, []):
            seen[rd.point].append(text)
    lay = table(["ROUTERS", "NODES/AZ", f"{ycsb.TABLE} LEADERS/REPLICAS BY NODE (each layout seen)"],
                [[str(p.routers), str(p.nodes_per_az), " | ".join(texts)] for p, texts in seen.items()])
    return out + "\n\n" + lay


def _process_order(name: str) -> tuple[int, int, str]:
    kind = 0 if name.startswith("router") else 1
    digits = name.lstrip("routern")
    return (kind, int(digits) if digits.isdigit() else 1 << 30, name)
