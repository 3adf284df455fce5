"""CPU per operation: what each Trireme process spends on a fixed number of
YCSB operations, measured from /proc, with optional py-spy profiles.

Throughput on a shared 2-core machine is noisy; CPU per operation is
steadier, and on a CPU-bound machine it is what throughput follows. A fresh
local cluster (every partition led by one node, `--leader`) is loaded,
warmed up, and runs the same number of operations `--reps` times; each
process's CPU per operation is reported per repetition and as the minimum
over them. On a machine loaded well past its cores repetitions still differ
by a quarter (batches thin out as throughput falls): `--against TREE` runs a
second cluster from another source tree and alternates the repetitions, so
each pair sees the same moment's machine. With `--profile DIR`, one more
repetition runs under py-spy on the router, the busiest node and the
quietest (a follower). `--tls` starts this tree's cluster with TLS (HTTPS
routers, mutual TLS to and between nodes); with `--against` the same tree it
measures what TLS costs per operation.

    python -m bench.cpu --ops 20000 --reps 3 --profile /tmp/prof
    git archive main | tar -x -C /tmp/base && cp trireme_pb/*_pb2* /tmp/base/trireme_pb/
    python -m bench.cpu --ops 8000 --reps 6 --against /tmp/base
    python -m bench.cpu --ops 8000 --reps 6 --tls --against .
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench import run as runner
from bench import ycsb
from bench.http import Client
from cluster import tls


async def fixed_ops(endpoint: str, workload: str, ops: int, clients: int, records: int, seed: int,
                    rate: float = 0.0, latencies: list[int] | None = None) -> float:
    """Run exactly `ops` operations of `workload` (A: 50% GetItem, 50%
    UpdateItem; B: 95% GetItem, 5% PutItem; W: PutItem; C: GetItem) over
    `clients` connections, as fast as they answer or, with `rate`, started
    at that many per second (when the system keeps up); wall seconds. Each
    answer's latency (ns) goes into `latencies` when given."""
    keys = [ycsb.key_name(k).encode() for k in range(records)]
    master = random.Random(seed)
    left = [ops]
    loop = asyncio.get_running_loop()
    start = loop.time()
    failed: Counter[str] = Counter()

    async def client() -> None:
        rng = random.Random(master.randrange(1 << 30))
        pick = ycsb.chooser("zipfian", records, rng)
        bodies = ycsb.Bodies(keys, False, rng)
        blob = ycsb.values_blob(rng)
        c = Client(endpoint)
        try:
            while left[0] > 0:
                left[0] -= 1
                if rate:
                    delay = start + (ops - left[0]) / rate - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                r = rng.random()
                if workload == "C" or (workload == "A" and r < 0.5) or (workload == "B" and r < 0.95):
                    op, body = "GetItem", bodies.get(pick())
                elif workload == "A":
                    op, body = "UpdateItem", bodies.update(pick())
                else:
                    op, body = "PutItem", bodies.put(pick(), blob)
                t = time.perf_counter_ns()
                status, resp = await c.call(op, body)
                if latencies is not None:
                    latencies.append(time.perf_counter_ns() - t)
                if status != 200:
                    failed[runner._error_kind(status, resp)] += 1
        finally:
            c.close()

    t0 = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    if failed:
        print(f"  errors: {dict(failed)}", file=sys.stderr)
    return time.monotonic() - t0


def measure(pids: dict[str, int], run) -> tuple[float, dict[str, float]]:
    """Wall seconds of `run()` and CPU seconds during it: each process's, and
    its main thread's (the event loop) as `name.loop`."""
    def sample() -> dict[str, float]:
        out = {}
        for name, pid in pids.items():
            out[name] = runner.cpu_seconds(pid)
            out[name + ".loop"] = runner.cpu_seconds(pid, f"/proc/{pid}/task/{pid}/stat")
        return out
    before = sample()
    wall = run()
    return wall, {name: s - before[name] for name, s in sample().items()}


def py_spy(pid: int, out: Path) -> subprocess.Popen:
    """py-spy recording `pid` as collapsed stacks until SIGINT: only the
    thread holding the GIL is sampled (its idle detection counts threads
    blocked in C as busy), so the figures are shares of Python's time."""
    exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if exe is None:
        raise SystemExit("py-spy is not installed (pip install py-spy into the venv)")
    return subprocess.Popen([exe, "record", "-p", str(pid), "-o", str(out), "-f", "raw", "-r", "200", "--gil"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _frame(f: str) -> str:
    """'fn (/path/mod.py:12)' -> 'fn (mod.py)': a function's lines counted together."""
    name, _, where = f.partition(" (")
    return f"{name} ({where.rsplit('/', 1)[-1].rsplit(':', 1)[0].rstrip(')')})" if where else name


def summarize(collapsed: Path, top: int = 25) -> str:
    """The functions with the most samples, self and inclusive, from py-spy's raw output."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        total += count
        frames = [_frame(f) for f in stack.split(";")]
        own[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    if not total:
        return "  (no samples)"
    lines = [f"  {total} samples; self:"]
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("  inclusive:")
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines)


_CLUSTER = """
import json, sys
from pathlib import Path
from deploy.local import LocalCluster
c = LocalCluster(Path(sys.argv[1]), router_port=0, node_base_port=0, **({"tls": True} if sys.argv[2:] else {}))
c.plan()
try:
    c.start(wait_s=90)
    print(json.dumps({"endpoint": c.endpoint, "pids": {p.name: p.pid for p in c.procs.values()},
                      "nodes": {p.name: p.addr for p in c.procs.values() if p.kind == "node"},
                      "cluster_id": c.cluster_id, "tls_dir": str(c.tls_dir) if sys.argv[2:] else ""}),
          flush=True)
    sys.stdin.read()
finally:
    c.stop()
"""


class Cluster:
    """A fresh local cluster running the code of source tree `tree`, owned by
    a child process (its processes end with it); stdin closed stops it."""

    def __init__(self, tree: Path, data_dir: Path, tls_on: bool = False) -> None:
        self.tree = tree
        self.proc = subprocess.Popen([sys.executable, "-c", _CLUSTER, str(data_dir)] + (["tls"] if tls_on else []),
                                     cwd=tree,
                                     env={**os.environ, "PYTHONPATH": str(tree)},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.proc.wait(30)
            raise RuntimeError(f"the cluster of {tree} did not start")
        info = json.loads(line)
        self.endpoint: str = info["endpoint"]
        self.pids: dict[str, int] = info["pids"]
        self.nodes: dict[str, str] = info["nodes"]  # node id -> gRPC address
        self.cluster_id: str = info["cluster_id"]
        if info.get("tls_dir"):  # reach it as `trireme` does: its CA, its admin certificate
            tls.trust(self.endpoint, Path(info["tls_dir"]) / "ca.pem")
            tls.use(tls.Identity.in_dir(Path(info["tls_dir"]), "admin"))

    def stop(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def place_leaders(cluster: Cluster, to: str, timeout: float = 60.0) -> None:
    """Every partition's leadership to node `to`: CPU per operation depends
    on how many nodes lead (each is a stream of its own for the router, and
    its batches are thinner), which is random at start; fixing it makes runs
    comparable. The layout of the last profiles: one node leads them all."""
    from cluster.rpc import CallError, Channels, call_once
    channels = Channels(cluster.cluster_id)
    deadline = time.monotonic() + timeout
    try:
        while True:
            elsewhere = 0
            for node, addr in cluster.nodes.items():
                for r in (await call_once(channels, addr, "admin", "replicas"))["replicas"]:
                    if r["kind"] == "partition" and r["role"] == "LEADER" and node != to:
                        elsewhere += 1
                        try:
                            await call_once(channels, addr, "admin", "transfer_leader", {"group": r["group"], "to": to})
                        except CallError:
                            pass  # leadership moved meanwhile: looked at again next round
            if not elsewhere:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{elsewhere} partitions still led elsewhere than {to}")
            await asyncio.sleep(0.5)
    finally:
        await channels.close()


def rep_row(cluster: Cluster, args: argparse.Namespace, seed: int) -> dict[str, float]:
    """One measured repetition: CPU us per operation by process, its main
    thread (`.loop`), the nodes together and in all; ops/s and latency."""
    lat: list[int] = []
    wall, cpu = measure(cluster.pids, lambda: asyncio.run(
        fixed_ops(cluster.endpoint, args.workload, args.ops, args.clients, args.records, seed, args.rate, lat)))
    row = {name: 1e6 * s / args.ops for name, s in cpu.items()}
    row["nodes"] = sum(v for k, v in row.items() if not k.startswith("router") and not k.endswith(".loop"))
    row["total"] = row["nodes"] + sum(v for k, v in row.items() if k.startswith("router") and not k.endswith(".loop"))
    row["ops/s"] = args.ops / wall
    lat.sort()
    row["p50 ms"] = lat[len(lat) // 2] / 1e6
    row["p99 ms"] = lat[min(len(lat) - 1, int(0.99 * len(lat)))] / 1e6
    return row


def report(label: str, rows: list[dict[str, float]], args: argparse.Namespace) -> None:
    print(f"\n{label}: YCSB-{args.workload}, {args.clients} clients, {args.ops:,} ops x {len(rows)}: "
          f"CPU us per operation (min over reps; latency: median)")
    for name in rows[0]:
        vals = [r[name] for r in rows]
        best = max(vals) if name == "ops/s" else statistics.median(vals) if name.endswith(" ms") else min(vals)
        print(f"  {name:13s} {best:7.1f}   (reps: {', '.join(f'{v:.1f}' for v in vals)})")


def profile(cluster: Cluster, rows: list[dict[str, float]], args: argparse.Namespace) -> None:
    """One more repetition under py-spy: the router, the busiest node and the quietest."""
    args.profile.mkdir(parents=True, exist_ok=True)
    nodes = [n for n in cluster.pids if not n.startswith("router") and "." not in n]
    busiest = max(nodes, key=lambda n: min(r[n] for r in rows))
    router = next(n for n in cluster.pids if n.startswith("router"))
    quietest = min(nodes, key=lambda n: min(r[n] for r in rows))
    targets = {"router": (router, cluster.pids[router]), "leader": (busiest, cluster.pids[busiest]),
               "follower": (quietest, cluster.pids[quietest])}
    spies = [py_spy(pid, args.profile / f"{k}.txt") for k, (_, pid) in targets.items()]
    time.sleep(1)
    asyncio.run(fixed_ops(cluster.endpoint, args.workload, args.ops, args.clients, args.records, 99))
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        spy.wait(60)
    for k, (name, _) in targets.items():
        print(f"\n{k} ({name}), {args.profile / (k + '.txt')}:")
        print(summarize(args.profile / f"{k}.txt"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="A", choices=("A", "B", "W", "C"))
    p.add_argument("--ops", type=int, default=20_000, help="operations per repetition (default 20,000)")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--records", type=int, default=5_000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--warmup-ops", type=int, default=5_000)
    p.add_argument("--rate", type=float, default=0.0,
                   help="operations started per second (default: closed loop, as fast as answered). Below "
                        "what the system can do under the machine's other load, batching no longer depends "
                        "on that load, and CPU per operation is far steadier")
    p.add_argument("--leader", default="n1", help="the node made to lead every partition (default n1)")
    p.add_argument("--against", type=Path,
                   help="another source tree (e.g. `git archive main` unpacked, with its trireme_pb): its "
                        "cluster runs too, the repetitions alternate, so both see the same machine")
    p.add_argument("--profile", type=Path, help="also profile one repetition with py-spy, output here")
    p.add_argument("--json", type=Path, help="write the measurements here")
    p.add_argument("--tls", action="store_true",
                   help="this tree's cluster with TLS (`trireme up --tls`); not the --against one")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="trireme-cpu-"))
    trees = {"this": Path(__file__).resolve().parent.parent}
    if args.against:
        trees["against"] = args.against.resolve()
    clusters: dict[str, Cluster] = {}
    rows: dict[str, list[dict[str, float]]] = {k: [] for k in trees}
    try:
        for k, tree in trees.items():
            clusters[k] = c = Cluster(tree, tmp / k, tls_on=args.tls and k == "this")
            asyncio.run(runner.create_tables(c.endpoint))
            asyncio.run(runner.load(c.endpoint, args.records))
            asyncio.run(place_leaders(c, args.leader))
            asyncio.run(fixed_ops(c.endpoint, args.workload, args.warmup_ops, args.clients, args.records, 100))
        for rep in range(args.reps):
            for k, c in clusters.items():
                row = rep_row(c, args, rep + 1)
                rows[k].append(row)
                print(f"rep {rep + 1} {k}: nodes {row['nodes']:.0f}, total {row['total']:.0f}, "
                      f"ops/s {row['ops/s']:.0f}", file=sys.stderr)
        for k in trees:
            report(f"{k} ({trees[k]})", rows[k], args)
        if args.against:
            print("\nthis / against, per repetition (paired: the same moment's machine), median:")
            for name in ("router1", "nodes", "total", "ops/s", "p99 ms"):
                ratios = [a[name] / b[name] for a, b in zip(rows["this"], rows["against"]) if b.get(name)]
                print(f"  {name:13s} {statistics.median(ratios):.3f}   ({', '.join(f'{r:.2f}' for r in ratios)})")
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "reps": rows},
                                            indent=1))
        if args.profile:
            profile(clusters["this"], rows["this"], args)
    finally:
        for c in clusters.values():
            c.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
