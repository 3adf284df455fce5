"""`trireme bench`: YCSB-style workloads against a fresh Trireme cluster and,
when asked, the peers (dynalite, moto), interleaved, with a readable table
and a JSON file.

The machines this runs on are shared and noisy, so every figure is the
median of several repetitions (with min and max), the systems take turns
(A, B, A, B ...), and Trireme's ratio to each peer is taken per repetition.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import curve, hot_split, index_lag, replication, targets, transfers, ycsb
from bench import run as runner

DEFAULT_WORKLOADS = "C,B,A,W,Q,K"
DEFAULT_CLIENTS = {"B": 16, "T": 16, "H": 16}  # the rest: 64
READS = ("C", "B", "A", "Q", "S")
SECURED = {"trireme-auth": "--auth", "trireme-tls": "--tls"}  # --security: the same cluster, secured
SECURED_WORKLOADS = ("C", "A")  # what --security runs against them (eventually consistent reads)


@dataclass
class System:
    name: str
    endpoint: str
    endpoints: list[str]  # clients spread over these (Trireme's routers)
    pids: dict[str, int]
    stop: object  # () -> None
    cluster: object = None  # Trireme's LocalCluster (its layout is read from it)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def start_trireme(data_dir: Path, routers: int = 1, name: str = "trireme", nodes_per_az: int = 1,
                  partitions: int = 1) -> System:
    """A fresh cluster with `routers` router processes sharing the one
    DynamoDB port (`trireme up --router-workers`), `nodes_per_az` storage
    nodes in each of the three AZs and `partitions` per table; `name`
    trireme-auth starts it with --auth (the load generator signs with the
    admin's keys), trireme-tls with --tls."""
    from bench.http import sign_for
    from deploy.local import LocalCluster
    cluster = LocalCluster(data_dir, router_port=0, node_base_port=0, router_workers=routers,
                           nodes_per_az=nodes_per_az, partitions_per_table=partitions,
                           auth=name == "trireme-auth", tls=name == "trireme-tls")
    cluster.plan()
    cluster.start(wait_s=90)
    pids = {p.name: p.pid for p in cluster.procs.values()}
    endpoints = [cluster.endpoint]  # one port, however many routers serve it
    keys = cluster.credentials()
    if keys is not None:
        for endpoint in {cluster.endpoint, *endpoints}:
            sign_for(endpoint, *keys, cluster.region)
    return System(name, cluster.endpoint, endpoints, pids, cluster.stop, cluster)


def start_peer(name: str, data_dir: Path) -> System:
    from bench.peers import start_peer as start
    from deploy.local import free_port
    peer = start(name, free_port("127.0.0.1"), data_dir / name, log=_say)
    return System(name, peer.endpoint, [peer.endpoint], {f"{name}:{pid}": pid for pid in peer.pids()}, peer.stop)


def start_trivial() -> System:
    """The trivial server, in its own process (so it has a core of its own)."""
    from deploy.local import free_port
    port = free_port("127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "bench.trivial", str(port)])
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("the trivial server did not start") from None
            time.sleep(0.05)

    def stop() -> None:
        proc.terminate()
        proc.wait(10)
    return System("trivial", endpoint, [endpoint], {"trivial": proc.pid}, stop)


def _progress(system: str):
    last = [0.0]

    def show(done: int, total: int, elapsed: float) -> None:
        if elapsed - last[0] >= 2 or done == total:
            last[0] = elapsed
            _say(f"  {system}: loaded {done:,}/{total:,} items ({done / max(elapsed, 1e-9):,.0f}/s)")
    return show


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="trireme bench", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return run(p.parse_args(argv))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workloads", default=DEFAULT_WORKLOADS,
                   help="comma-separated from " + ", ".join(f"{k} ({v})" for k, v in runner.WORKLOADS.items()).replace("%", "%%")
                   + f"; default {DEFAULT_WORKLOADS}")
    p.add_argument("--peers", default="", help="compare against: dynalite-mem, dynalite-leveldb, moto "
                                               "(comma-separated; installed on first use)")
    p.add_argument("--clients", default="",
                   help="concurrent clients per run, comma-separated to run each level in turn "
                        "(default: 16 for workload B, 64 for the others)")
    p.add_argument("--records", type=int, default=20_000, help="items loaded (default 20,000)")
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run (default 10)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring (default 3)")
    p.add_argument("--reps", type=int, default=3, help="repetitions of every run (default 3)")
    p.add_argument("--distribution", choices=("zipfian", "uniform"), default="zipfian",
                   help="which keys the workloads pick: zipfian (a few hot keys, as YCSB does; the default) "
                        "or uniform")
    p.add_argument("--consistent", choices=("no", "yes", "both"), default="",
                   help="strongly consistent reads: no, yes, or both (each read workload twice); "
                        "default: C both, the others no")
    p.add_argument("--routers", default="1",
                   help="Trireme's router processes on the DynamoDB port (default 1); comma-separated (1,2) "
                        "for a curve of throughput against them")
    p.add_argument("--nodes-per-az", default="1",
                   help="Trireme's storage nodes in each of the three AZs (default 1); comma-separated (1,2) for "
                        "a curve, with --routers a grid: one fresh cluster per point and round, Trireme alone, "
                        "the workloads only (no peers, probes or hot split)")
    p.add_argument("--partitions", type=int, default=0,
                   help="partitions of the YCSB tables (trireme up --partitions-per-table; default 1, or with "
                        "more than one node per AZ 3 x the most nodes per AZ, so that every node can lead one)")
    p.add_argument("--security", action="store_true",
                   help="also run " + " and ".join(SECURED_WORKLOADS) + " against a cluster started with --auth "
                        "(signed requests) and one with --tls: the cost of each per request, next to the plain "
                        "numbers (about 4 minutes more with the defaults)")
    p.add_argument("--ceiling", action="store_true",
                   help="also run the workloads against a trivial server: the load generator's own limit")
    p.add_argument("--index-probes", type=int, default=200,
                   help="global index propagation lag: probes on an idle cluster and again under write load "
                        "(Trireme only; default 200 each, 0 skips)")
    p.add_argument("--hot-split-keys", type=int, default=hot_split.KEYS,
                   help=f"a hot spot that splits: a fresh cluster splitting for heat, {hot_split.CLIENTS} clients "
                        f"updating this many keys, throughput before and after the split (Trireme only; "
                        f"default {hot_split.KEYS}, 0 skips)")
    p.add_argument("--replication-probes", type=int, default=100,
                   help="global table replication: two regions behind the cross-region link, probes of the "
                        "lag idle and under write load, and the writes per second replicated (default 100 "
                        "each, 0 skips)")
    p.add_argument("--region-latency-ms", type=float, default=30.0,
                   help="the link's one-way latency for the replication run (default 30)")
    p.add_argument("--out", type=Path, default=Path("bench-results.json"),
                   help="where to write every run's results as JSON (default bench-results.json)")


def run(args: argparse.Namespace) -> int:
    workloads = [w for w in args.workloads.split(",") if w]
    bad = [w for w in workloads if w not in runner.WORKLOADS]
    if bad:
        _say(f"trireme bench: unknown workload(s) {', '.join(bad)}; workloads: {', '.join(runner.WORKLOADS)}")
        return 2
    peers = [x for x in args.peers.split(",") if x]
    try:
        points = curve.grid(args.routers, args.nodes_per_az)
    except ValueError as exc:
        _say(f"trireme bench: {exc}")
        return 2
    parts = curve.partitions(args.partitions, points)
    if len(points) > 1:
        if peers or args.security or args.ceiling:
            _say("trireme bench: a curve (several --routers or --nodes-per-az) runs Trireme alone: "
                 "leave out --peers, --security and --ceiling")
            return 2
        return run_curve(args, workloads, points, parts)
    point = points[0]
    tmp = Path(tempfile.mkdtemp(prefix="trireme-bench-"))
    systems: list[System] = []
    results: list[runner.Result] = []
    lags: list[index_lag.LagResult] = []
    load_rates: dict[str, float] = {}
    spread: dict[str, list[int]] = {}
    try:
        if args.ceiling:
            systems.append(start_trivial())
        shape = f"{3 * point.nodes_per_az} nodes, {point.routers} router(s), {parts} partitions a table"
        _say(f"starting trireme ({shape}) in {tmp} ...")
        systems.append(start_trireme(tmp / "trireme", point.routers, "trireme", point.nodes_per_az, parts))
        for name, flag in SECURED.items() if args.security else ():
            _say(f"starting trireme {flag} ({shape}) ...")
            systems.append(start_trireme(tmp / name, point.routers, name, point.nodes_per_az, parts))
        for name in peers:
            _say(f"starting {name} ...")
            systems.append(start_peer(name, tmp))
        for s in systems:
            if s.name == "trivial":
                continue
            asyncio.run(runner.create_tables(s.endpoint))
            _say(f"loading {args.records:,} records into {s.name} ...")
            load_rates[s.name] = asyncio.run(runner.load(s.endpoint, args.records, progress=_progress(s.name)))
            if s.name == "trireme" and any(w in transfers.WORKLOADS for w in workloads):
                asyncio.run(runner.prime_transactions(s.endpoint, args.records))
            if s.name == "trireme":
                spread = asyncio.run(curve.read_layout(s.cluster))
                _say(f"  {ycsb.TABLE} leaders/replicas by node: {curve.render_layout(spread)}")
        plan = run_plan(workloads, args.clients, args.consistent)
        total = args.reps * sum(len(_runs_on(systems, w, cons)) for w, _, cons in plan)
        step = 0
        for rep in range(args.reps):
            for w, c, consistent in plan:
                for s in _runs_on(systems, w, consistent):
                    step += 1
                    _say(f"[{step}/{total}] rep {rep + 1}: {s.name} {w} clients={c}"
                         f"{' consistent' if consistent else ''} ...")
                    r = asyncio.run(runner.run(s.name, s.endpoints, s.pids, w, clients=c, seconds=args.seconds,
                                               warmup=args.warmup, records=args.records,
                                               distribution=args.distribution, consistent=consistent,
                                               seed=rep + 1))
                    _say(f"    {r.ops_per_s:,.0f} ops/s, p99 {r.p99_ms:.1f} ms, errors {r.errors}")
                    if s.cluster is not None:
                        r.routers, r.nodes_per_az = point.routers, point.nodes_per_az
                    results.append(r)
        if args.index_probes > 0:
            trireme = next(s for s in systems if s.name == "trireme")
            _say(f"global index lag: {args.index_probes} probes idle, then under write load ...")
            lags = asyncio.run(index_lag.measure(trireme.endpoint, args.index_probes))
    finally:
        for s in systems:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    split = _hot_split(args) if args.hot_split_keys > 0 else None
    repl = _replication(args) if args.replication_probes > 0 else []
    print(render(results, load_rates, [s.name for s in systems]))
    hot = render_hot_updates(results)
    if hot:
        print("\n" + hot)
    if any(r.system in SECURED for r in results):
        print("\n" + render_security(results))
    if any(r.workload in transfers.WORKLOADS for r in results):
        print("\n" + render_transactions(results, args.records))
    if lags:
        print("\n" + index_lag.render(lags))
    if split is not None:
        print("\n" + hot_split.render(split))
    if repl:
        print("\n" + replication.render(repl))
    print("\n" + targets.render(targets.evaluate(results, load_rates, lags)))
    args.out.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "args": _args_json(args),
                                    "load_items_per_s": load_rates, "partitions": parts, "layout": spread,
                                    "results": [r.to_json() for r in results],
                                    "index_lag": [r.to_json() for r in lags],
                                    "hot_split": split.to_json() if split is not None else None,
                                    "replication": [r.to_json() for r in repl]}, indent=1))
    print(f"\nraw results in {args.out}")
    return 0


def run_curve(args: argparse.Namespace, workloads: list[str], points: list[curve.Point], parts: int) -> int:
    """Throughput against routers and nodes: the grid's points in turn, each
    round; a table of them and the raw results."""
    plan = run_plan(workloads, args.clients, args.consistent)
    tmp = Path(tempfile.mkdtemp(prefix="trireme-bench-curve-"))
    _say(f"a curve over {len(points)} clusters, one at a time, {parts} partitions a table, in {tmp}; "
         "Trireme alone, no index, hot split or replication probes")

    def start(data_dir: Path, point: curve.Point) -> System:
        return start_trireme(data_dir, point.routers, "trireme", point.nodes_per_az, parts)
    try:
        results, rounds = curve.measure(points, plan, args, start, tmp, _say)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(curve.render(results, rounds))
    args.out.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "args": _args_json(args),
                                    "partitions": parts, "rounds": [r.to_json() for r in rounds],
                                    "results": [r.to_json() for r in results]}, indent=1))
    print(f"\nraw results in {args.out}")
    return 0


def _hot_split(args: argparse.Namespace) -> hot_split.SplitResult:
    """A fresh cluster that splits for heat, its hot set measured, stopped."""
    tmp = Path(tempfile.mkdtemp(prefix="trireme-bench-hot-"))
    _say(f"hot spot: a cluster splitting for heat, {hot_split.CLIENTS} clients on {args.hot_split_keys} keys ...")
    cluster = hot_split.start_cluster(tmp)
    try:
        addrs = [p.addr for p in cluster.procs.values() if p.kind == "node"]
        return asyncio.run(hot_split.measure(cluster.endpoint, addrs, args.hot_split_keys))
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _replication(args: argparse.Namespace) -> list[replication.ReplResult]:
    """Two fresh regions behind the link, measured, stopped."""
    from deploy.regions import MultiRegion
    tmp = Path(tempfile.mkdtemp(prefix="trireme-bench-regions-"))
    regions = MultiRegion(tmp, ["us-east-1", "eu-west-1"], router_port=0, node_base_port=0,
                          latency_ms=args.region_latency_ms)
    try:
        _say(f"replication: two regions, link {args.region_latency_ms:g} ms each way, "
             f"{args.replication_probes} probes idle and under load ...")
        regions.start()
        return asyncio.run(replication.measure(regions.endpoints(), args.replication_probes,
                                               args.region_latency_ms))
    finally:
        regions.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _runs_on(systems: list[System], workload: str, consistent: bool = False) -> list[System]:
    """The peers have no transactions (dynalite) or no atomic ones (moto),
    and the trivial server answers none: the transactions workloads run on Trireme only.
    The secured clusters run SECURED_WORKLOADS only (their cost, not a second full bench)."""
    secured = workload in SECURED_WORKLOADS and not consistent
    return [s for s in systems if (secured or s.name not in SECURED)
            and (workload not in transfers.WORKLOADS or s.name == "trireme")]


def run_plan(workloads: list[str], clients: str, consistent: str) -> list[tuple[str, int, bool]]:
    """(workload, clients, consistent) runs. By default the ones the targets
    are set for: B at 16 clients (its p99), C eventually and strongly consistent."""
    plan = []
    for w in workloads:
        levels = [int(x) for x in clients.split(",")] if clients else [DEFAULT_CLIENTS.get(w, 64)]
        mode = consistent or ("both" if w == "C" else "no")
        modes = {"no": [False], "yes": [True], "both": [False, True]}[mode] if w in READS else [False]
        plan += [(w, c, m) for c in levels for m in modes]
    return plan


def _args_json(args: argparse.Namespace) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "func"}


def render(results: list[runner.Result], load_rates: dict[str, float], systems: list[str]) -> str:
    """One row per workload, concurrency, read mode and system: medians
    (min-max) over repetitions, and Trireme's ratio to each peer."""
    from client.status import table
    groups: dict[tuple, list[runner.Result]] = {}
    for r in results:
        groups.setdefault((r.workload, r.clients, r.consistent, r.system), []).append(r)
    rows = []
    for (w, c, cons, system), rs in groups.items():
        ratio = "-"
        if system != "trireme":
            mine = groups.get((w, c, cons, "trireme"), [])
            pairs = [a.ops_per_s / b.ops_per_s for a, b in zip(mine, rs) if b.ops_per_s]
            if pairs:
                ratio = f"{statistics.median(pairs):.2f}"
        cpu = statistics.median(sum(r.cpu.values()) for r in rs)
        rows.append([w + (" SC" if cons else ""), str(c), system, runner.spread([r.ops_per_s for r in rs]),
                     runner.spread([r.p50_ms for r in rs], 1), runner.spread([r.p99_ms for r in rs], 1),
                     f"{max(r.max_ms for r in rs):.0f}", str(sum(r.errors for r in rs)), f"{cpu:.2f}", ratio])
    out = table(["WORKLOAD", "CLIENTS", "SYSTEM", "OPS/S median (min-max)", "P50 MS", "P99 MS", "MAX MS",
                 "ERRORS", "CPU CORES", "TRIREME / THIS"], rows)
    loads = ", ".join(f"{s} {load_rates[s]:,.0f} items/s" for s in systems if s in load_rates)
    return out + f"\n\nloading with BatchWriteItem: {loads}"


def render_hot_updates(results: list[runner.Result]) -> str:
    """YCSB-A's UpdateItem latency on the zipfian's hottest 1% of keys and on the others, per system."""
    from client.status import table
    groups: dict[tuple, list[runner.Result]] = {}
    for r in results:
        if r.by_class:
            groups.setdefault((r.workload, r.clients, r.system), []).append(r)
    rows = []
    for (w, c, system), rs in groups.items():
        for cls in (runner.HOT_UPDATES, runner.COLD_UPDATES):
            has = [r for r in rs if r.by_class.get(cls, {}).get("ops")]
            xs = [r.by_class[cls] for r in has]
            if xs:
                rows.append([w, str(c), system, cls, runner.spread([x["ops"] / r.seconds for x, r in zip(xs, has)]),
                             runner.spread([x["p50_ms"] for x in xs], 1), runner.spread([x["p99_ms"] for x in xs], 1),
                             f"{max(x['max_ms'] for x in xs):.0f}"])
    if not rows:
        return ""
    return "HOT KEYS (YCSB-A's UpdateItem by the zipfian's rank of its key)\n" + table(
        ["WORKLOAD", "CLIENTS", "SYSTEM", "REQUESTS", "OPS/S median (min-max)", "P50 MS", "P99 MS", "MAX MS"], rows)


def render_security(results: list[runner.Result]) -> str:
    """Per workload, the secured clusters next to the plain one: throughput
    (and its ratio to plain, per repetition), median latency, and the servers'
    CPU per request, whose difference is what auth or TLS costs a request."""
    from client.status import table
    groups: dict[tuple, list[runner.Result]] = {}
    for r in results:
        if r.system == "trireme" or r.system in SECURED:
            groups.setdefault((r.workload, r.clients, r.consistent, r.system), []).append(r)

    def cpu_us(rs: list[runner.Result]) -> float:  # server CPU microseconds per request
        return statistics.median(1e6 * sum(r.cpu.values()) / r.ops_per_s for r in rs if r.ops_per_s)

    rows = []
    for (w, c, cons, system), rs in groups.items():
        plain = groups.get((w, c, cons, "trireme"), [])
        if system == "trireme" or not plain:
            continue
        ratios = [b.ops_per_s / a.ops_per_s for a, b in zip(plain, rs) if a.ops_per_s]
        base, mine = cpu_us(plain), cpu_us(rs)
        rows.append([w + (" SC" if cons else ""), str(c), f"trireme {SECURED[system]}",
                     runner.spread([r.ops_per_s for r in plain]), runner.spread([r.ops_per_s for r in rs]),
                     f"{statistics.median(ratios):.2f}" if ratios else "-",
                     f"{statistics.median(r.p50_ms for r in plain):.1f} -> {statistics.median(r.p50_ms for r in rs):.1f}",
                     f"{base:,.0f} -> {mine:,.0f} ({mine - base:+,.0f})", str(sum(r.errors for r in rs))])
    return "COST OF AUTH AND TLS (the same cluster plain and secured)\n" + table(
        ["WORKLOAD", "CLIENTS", "SECURED", "PLAIN OPS/S", "SECURED OPS/S", "SECURED / PLAIN", "P50 MS",
         "SERVER CPU US/REQUEST", "ERRORS"], rows)


def render_transactions(results: list[runner.Result], records: int) -> str:
    """Transfers committed per second, their latency, and how many were cancelled (conflicts)."""
    from client.status import table
    groups: dict[tuple, list[runner.Result]] = {}
    for r in results:
        if r.workload in transfers.WORKLOADS and r.system == "trireme":
            groups.setdefault((r.workload, r.clients), []).append(r)
    rows = [[w, f"{transfers.accounts(w, records):,}", str(c), runner.spread([r.ops_per_s for r in rs]),
             runner.spread([r.p50_ms for r in rs], 1), runner.spread([r.p99_ms for r in rs], 1),
             runner.spread([100 * r.cancel_rate for r in rs], 1), str(sum(r.errors for r in rs))]
            for (w, c), rs in groups.items()]
    return "TRANSACTIONS (2-item transfers by TransactWriteItems)\n" + table(
        ["WORKLOAD", "ACCOUNTS", "CLIENTS", "COMMITTED/S median (min-max)", "P50 MS", "P99 MS", "CANCELLED %",
         "ERRORS"], rows)


if __name__ == "__main__":
    sys.exit(main())
