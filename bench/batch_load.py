"""A BatchWriteItem load (issue 21): items per second, each node's peak RSS,
its data directory against the data it holds, and CPU per item per process.

A fresh local cluster (three nodes, one router, as `trireme up`) gets a
table provisioned for the load (`--wcu`, so the load measures the write path,
not the on-demand ramp of a new table), then `--clients` connections each
send YCSB records (1 KB, field0..field9) 25 to a BatchWriteItem, sending any
UnprocessedItems again, until `--items` are written. Measured:

- items per second over the whole load;
- each process's RSS, sampled from /proc/PID/status every 0.2 s (its peak
  during the load, and VmHWM, the kernel's peak since the process started);
- CPU microseconds per item, per process and its main thread (the loop);
- each node's RocksDB directory against the logical data: every item's
  storage key and stored value, which each node holds one copy of (three
  replicas, three nodes). Measured at the end of the load and again once
  compaction has run: every Raft log compacted to its last `compact every`
  entries (the node does that itself as writes commit) and RocksDB's own
  compactions done (the directory's size steady), up to `--settle-s`.

`--against TREE` runs a second cluster from another source tree (e.g. `git
archive main` unpacked, with its trireme_pb) and alternates the
repetitions (`--reps`, each loading `--items` new items), so each pair sees
the same moment's machine. `--profile DIR` records the first repetition of
this tree under py-spy (router and the busiest node).

    python -m bench.batch_load --items 1000000 --clients 16
    python -m bench.batch_load --items 50000 --reps 3 --against /tmp/base
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
import threading
import time
from collections import Counter
from pathlib import Path

import orjson

from bench import cpu, ycsb
from bench import run as runner
from bench.http import Client

BATCH = 25  # DynamoDB's most items in one BatchWriteItem
ITEM_KEY_HEADER = 12  # a storage key's table id (4 bytes) and hash (8), before the encoded key (cluster/keys.py)

_CLUSTER = """
import json, sys
from pathlib import Path
from deploy.local import LocalCluster
args = json.loads(sys.argv[2])
c = LocalCluster(Path(sys.argv[1]), router_port=0, node_base_port=0, **args)
c.plan()
try:
    c.start(wait_s=90)
    print(json.dumps({"endpoint": c.endpoint, "pids": {p.name: p.pid for p in c.procs.values()},
                      "nodes": {p.name: p.addr for p in c.procs.values() if p.kind == "node"},
                      "cluster_id": c.cluster_id}), flush=True)
    sys.stdin.read()
finally:
    c.stop()
"""


class Cluster(cpu.Cluster):
    """bench.cpu's cluster owner, with the LocalCluster settings given."""

    def __init__(self, tree: Path, data_dir: Path, settings: dict) -> None:  # noqa: D107 (not calling super's)
        self.tree = tree
        self.data_dir = data_dir
        self.proc = subprocess.Popen([sys.executable, "-c", _CLUSTER, str(data_dir), json.dumps(settings)],
                                     cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.proc.wait(30)
            raise RuntimeError(f"the cluster of {tree} did not start")
        info = json.loads(line)
        self.endpoint: str = info["endpoint"]
        self.pids: dict[str, int] = info["pids"]
        self.nodes: dict[str, str] = info["nodes"]
        self.cluster_id: str = info["cluster_id"]

    def db_dir(self, node: str) -> Path:
        """The node's RocksDB (node/server.py: DATA_DIR/db)."""
        return self.data_dir / node / "db"


def item_body(n: int, blob: bytes) -> bytes:
    """Record `n`'s PutRequest (YCSB: a key and field0..field9)."""
    return b'{"PutRequest":{"Item":{"key":{"S":"' + ycsb.key_name(n).encode() + b'"},' + blob + b"}}}"


def stored_bytes(n: int, blob: bytes) -> int:
    """What one replica stores of record `n`: its storage key (table id,
    hash, the key's encoding: a type byte, the string, a terminator) and
    its value, the item's DynamoDB JSON as the router forwards it."""
    item = b'{"key":{"S":"' + ycsb.key_name(n).encode() + b'"},' + blob + b"}"
    return ITEM_KEY_HEADER + len(ycsb.key_name(n)) + 2 + len(orjson.dumps(orjson.loads(item)))


async def create_table(endpoint: str, wcu: int) -> None:
    """The YCSB table, provisioned with `wcu` write units (0: on demand), ACTIVE."""
    spec = ycsb.table_spec(ycsb.TABLE, False)
    if wcu:
        spec["BillingMode"] = "PROVISIONED"
        spec["ProvisionedThroughput"] = {"ReadCapacityUnits": 1000, "WriteCapacityUnits": wcu}
    c = Client(endpoint)
    try:
        await runner._call_ok(c, "CreateTable", orjson.dumps(spec))
        await runner.wait_active(c, ycsb.TABLE)
    finally:
        c.close()


async def load(endpoint: str, first: int, items: int, clients: int, blobs: list[bytes],
               progress: bool = False) -> tuple[float, Counter[str]]:
    """Write records [first, first + items) with BatchWriteItem, `clients`
    at once, each request 25 items; UnprocessedItems go again (after 20 ms,
    doubling to 1 s while a client gets nothing through). Wall seconds, and
    the count of items sent again and of errors by kind."""
    todo = list(range(first + items - 1, first - 1, -1))
    stats: Counter[str] = Counter()
    done = [0]
    t0 = time.monotonic()

    async def client() -> None:
        c = Client(endpoint)
        try:
            while todo:
                chunk = [todo.pop() for _ in range(min(BATCH, len(todo)))]
                reqs = [item_body(n, blobs[n % len(blobs)]) for n in chunk]
                body = b'{"RequestItems":{"' + ycsb.TABLE.encode() + b'":[' + b",".join(reqs) + b"]}}"
                pause = 0.02
                for _ in range(200):
                    status, resp = await c.call("BatchWriteItem", body)
                    if status != 200:
                        kind = runner._error_kind(status, resp)
                        stats["error " + kind] += 1
                        if status < 500 and kind not in ("ThrottlingException",
                                                         "ProvisionedThroughputExceededException"):
                            raise RuntimeError(f"BatchWriteItem failed: {status} {resp[:300]!r}")
                    else:
                        left = orjson.loads(resp).get("UnprocessedItems", {}).get(ycsb.TABLE)
                        if not left:
                            break
                        stats["unprocessed"] += len(left)
                        if len(left) < len(chunk):
                            pause = 0.02
                        chunk = left
                        body = orjson.dumps({"RequestItems": {ycsb.TABLE: left}})
                    await asyncio.sleep(pause)
                    pause = min(1.0, pause * 2)
                else:
                    raise RuntimeError("BatchWriteItem kept returning UnprocessedItems")
                done[0] += BATCH
                if progress and done[0] % 50_000 < BATCH:
                    el = time.monotonic() - t0
                    print(f"  {min(done[0], items):,}/{items:,} items, {done[0] / el:,.0f}/s", file=sys.stderr)
        finally:
            c.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return time.monotonic() - t0, stats


class _Sampler:
    """A thread that samples from the start of a `with` block to its end."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):  # noqa: ANN204 (the subclass)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        raise NotImplementedError


class RssSampler(_Sampler):
    """Each process's resident set (VmRSS) every `every` seconds, in a
    thread; `peak` holds the highest seen per process, in bytes."""

    def __init__(self, pids: dict[str, int], every: float = 0.2) -> None:
        super().__init__(every)
        self.pids = pids
        self.peak: dict[str, int] = {name: 0 for name in pids}

    def _run(self) -> None:
        while True:
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], status_bytes(pid, "VmRSS"))
            if self._stop.wait(self.every):
                return


class MemorySampler(_Sampler):
    """Each node's memory report (admin op ``memory``, node/services/memory.py)
    every `every` seconds, in a thread; `at_peak` holds, per node, the report
    with the highest RSS seen, so a peak can be broken down by consumer."""

    def __init__(self, cluster: Cluster, every: float = 2.0, top: int = 0) -> None:
        super().__init__(every)
        self.cluster = cluster
        self.top = top
        self.at_peak: dict[str, dict] = {}

    def _run(self) -> None:
        asyncio.run(self._sample())

    async def _sample(self) -> None:
        from cluster.rpc import Channels, call_once
        channels = Channels(self.cluster.cluster_id)
        try:
            while True:
                for node, addr in self.cluster.nodes.items():
                    try:
                        rep = await call_once(channels, addr, "admin", "memory", {"top": self.top})
                    except Exception:  # noqa: BLE001 (an older tree without the op, a busy node's timeout)
                        continue  # keep the last
                    if rep.get("smaps", {}).get("Rss", 0) >= self.at_peak.get(node, {}).get("smaps", {}).get("Rss", 0):
                        self.at_peak[node] = rep
                until = time.monotonic() + self.every
                while time.monotonic() < until:
                    if self._stop.is_set():
                        return
                    await asyncio.sleep(0.1)
        finally:
            await channels.close()


def memory_lines(at_peak: dict[str, dict]) -> list[str]:
    """Per node, MB per consumer in its report at its peak RSS."""
    mb = 2 ** 20
    out = []
    for node, r in sorted(at_peak.items()):
        sm, ma, rx = r.get("smaps", {}), r.get("malloc", {}), r.get("rocksdb", {})
        parts = [("rss", sm.get("Rss", 0)), ("anon", sm.get("Anonymous", 0)),
                 ("file", sm.get("Rss", 0) - sm.get("Anonymous", 0)),
                 ("malloc in use", ma.get("in_use", 0)), ("malloc free kept", ma.get("free_kept", 0)),
                 ("memtables", rx.get("cur-size-all-mem-tables", 0)), ("block cache", rx.get("block-cache-usage", 0)),
                 ("pinned", rx.get("block-cache-pinned-usage", 0)),
                 ("table readers", rx.get("estimate-table-readers-mem", 0)),
                 ("item cache", r.get("item_cache", 0)), ("raft tails", r.get("raft_tails", {}).get("bytes", 0)),
                 ("peer send", r.get("peer_send_buffers", 0))]
        if "tracemalloc" in r:
            parts.append(("tracemalloc", r["tracemalloc"]["current"]))
        out.append(f"    {node:6s} " + ", ".join(f"{k} {v / mb:.1f}" for k, v in parts) +
                   f", python blocks {r.get('python', {}).get('allocated_blocks', 0):,}")
        for where, size, count in r.get("tracemalloc", {}).get("top", [])[:12]:
            out.append(f"      {size / mb:6.1f} MB {count:8,}  {where}")
    return out


def status_bytes(pid: int, field: str) -> int:
    """A size field (`VmRSS`, `VmHWM`) of /proc/PID/status, in bytes (0: gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def dir_bytes(path: Path) -> int:
    """Bytes the files under `path` take on disk (allocated blocks)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass  # a file RocksDB removed meanwhile
    return total


async def raft_logs(cluster: Cluster) -> dict[str, list[int]]:
    """Per node, the Raft log entries each of its partition replicas still
    stores (last index minus the index compacted to)."""
    from cluster.rpc import Channels, call_once
    channels = Channels(cluster.cluster_id)
    try:
        out = {}
        for node, addr in cluster.nodes.items():
            rows = (await call_once(channels, addr, "admin", "replicas"))["replicas"]
            out[node] = [r["last_index"] - r["snapshot_index"] for r in rows if r["kind"] == "partition"]
        return out
    finally:
        await channels.close()


def settle(cluster: Cluster, compact_every: int, most_s: float) -> float:
    """Wait until every Raft log is compacted (fewer than two `compact_every`
    entries kept per partition replica) and every node's RocksDB directory
    stopped shrinking for 5 s, at most `most_s`: seconds waited."""
    t0 = time.monotonic()
    sizes: dict[str, int] = {}
    steady_since = t0
    while time.monotonic() - t0 < most_s:
        logs = asyncio.run(raft_logs(cluster))
        now = {n: dir_bytes(cluster.db_dir(n)) for n in cluster.nodes}
        if any(now[n] < sizes.get(n, 1 << 62) - (1 << 20) for n in now):
            steady_since = time.monotonic()
        sizes = {n: min(now[n], sizes.get(n, now[n])) for n in now}
        if all(v < 2 * compact_every for kept in logs.values() for v in kept) and \
                time.monotonic() - steady_since >= 5:
            break
        time.sleep(1)
    return time.monotonic() - t0


def rep_row(cluster: Cluster, first: int, args: argparse.Namespace, blobs: list[bytes],
            spy_dir: Path | None = None) -> dict:
    """One measured load of `args.items` new records."""
    spies: list[subprocess.Popen] = []
    if spy_dir is not None:
        spy_dir.mkdir(parents=True, exist_ok=True)
        router = next(n for n in cluster.pids if n.startswith("router"))
        spies = [cpu.py_spy(cluster.pids[router], spy_dir / "router.txt")]
        spies += [cpu.py_spy(pid, spy_dir / f"{n}.txt") for n, pid in cluster.pids.items() if n in cluster.nodes]
        time.sleep(1)
    with RssSampler(cluster.pids) as rss, MemorySampler(cluster, top=args.memory_top) as mem:
        (wall, stats), used = cpu.measure(cluster.pids, lambda: asyncio.run(
            load(cluster.endpoint, first, args.items, args.clients, blobs, progress=args.items >= 100_000)))
    for spy in spies:
        spy.send_signal(signal.SIGINT)
    for spy in spies:
        spy.wait(60)
    row: dict = {"items/s": args.items / wall, "seconds": wall, "resent": stats.get("unprocessed", 0),
                 "errors": {k: v for k, v in stats.items() if k.startswith("error")},
                 "cpu us/item": {n: 1e6 * s / args.items for n, s in used.items()},
                 "peak rss MB": {n: b / 2**20 for n, b in rss.peak.items()}, "memory at peak": mem.at_peak}
    row["cpu us/item"]["nodes"] = sum(v for n, v in row["cpu us/item"].items() if n in cluster.nodes)
    row["cpu us/item"]["total"] = sum(v for n, v in row["cpu us/item"].items()
                                      if n in cluster.pids and not n.endswith(".loop"))
    return row


def storage_row(cluster: Cluster, logical: int, args: argparse.Namespace) -> dict:
    """Each node's RocksDB directory against the logical data, at once and
    after compaction, and each process's peak RSS since it started."""
    at_end = {n: dir_bytes(cluster.db_dir(n)) for n in cluster.nodes}
    waited = settle(cluster, args.compact_every, args.settle_s)
    after = {n: dir_bytes(cluster.db_dir(n)) for n in cluster.nodes}
    logs = asyncio.run(raft_logs(cluster))
    return {"logical MB": logical / 2**20,
            "db MB at end": {n: b / 2**20 for n, b in at_end.items()},
            "db MB compacted": {n: b / 2**20 for n, b in after.items()},
            "db / logical": {n: b / logical for n, b in after.items()},
            "settle s": waited, "raft entries kept": logs,
            "VmHWM MB": {n: status_bytes(pid, "VmHWM") / 2**20 for n, pid in cluster.pids.items()}}


def report(label: str, rows: list[dict], storage: dict, args: argparse.Namespace) -> None:
    print(f"\n{label}: BatchWriteItem of {args.items:,} YCSB records x {len(rows)}, {args.clients} clients "
          f"(load average {os.getloadavg()[0]:.1f})")
    rates = [r["items/s"] for r in rows]
    print(f"  items/s       {max(rates):9,.0f}   (reps: {', '.join(f'{v:,.0f}' for v in rates)})")
    print(f"  items sent again (UnprocessedItems): {', '.join(str(r['resent']) for r in rows)}; "
          f"errors: {[r['errors'] for r in rows]}")
    print("  CPU us per item (min over reps):")
    for name in rows[0]["cpu us/item"]:
        vals = [r["cpu us/item"][name] for r in rows]
        print(f"    {name:13s} {min(vals):7.1f}   (reps: {', '.join(f'{v:.1f}' for v in vals)})")
    print("  peak RSS MB during the load / VmHWM:")
    for name in rows[0]["peak rss MB"]:
        print(f"    {name:13s} {max(r['peak rss MB'][name] for r in rows):7.1f} / "
              f"{storage['VmHWM MB'].get(name, 0):.1f}")
    at_peak = max(rows, key=lambda r: max(r["peak rss MB"].values())).get("memory at peak", {})
    if at_peak:
        print("  memory MB by consumer at each node's highest sampled RSS (admin op memory, every 2 s):")
        print("\n".join(memory_lines(at_peak)))
    print(f"  data: {storage['logical MB']:.1f} MB logical (keys and values, one replica); per node RocksDB MB "
          f"at the end / after compaction ({storage['settle s']:.0f} s) / ratio:")
    for n in storage["db MB at end"]:
        print(f"    {n:13s} {storage['db MB at end'][n]:8.1f} / {storage['db MB compacted'][n]:8.1f} / "
              f"{storage['db / logical'][n]:.2f}x   (Raft entries kept {sum(storage['raft entries kept'][n])})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.batch_load", description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=100_000, help="items per repetition (default 100,000)")
    p.add_argument("--clients", type=int, default=16, help="connections, one request each in flight (16)")
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--wcu", type=int, default=40_000,
                   help="the table's provisioned write units (default 40,000, DynamoDB's table quota); 0: on "
                        "demand (a new table's warm throughput, 4,000 units, then throttled)")
    p.add_argument("--partitions", type=int, default=1, help="partitions per table (trireme up's default 1)")
    p.add_argument("--compact-every", type=int, default=int(os.environ.get("TRIREME_RAFT_COMPACT_EVERY", 2000)),
                   help="the nodes' TRIREME_RAFT_COMPACT_EVERY (what a compacted log may keep)")
    p.add_argument("--settle-s", type=float, default=120.0, help="longest wait for compaction after the load")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="an environment variable for the cluster's processes (e.g. a node setting); repeatable")
    p.add_argument("--against", type=Path, help="another source tree: its cluster runs too, reps alternate")
    p.add_argument("--profile", type=Path, help="py-spy the router and nodes during this tree's first rep")
    p.add_argument("--memory-top", type=int, default=0,
                   help="lines of tracemalloc's top allocations per node (with --env PYTHONTRACEMALLOC=1)")
    p.add_argument("--json", type=Path, help="write the measurements here")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="trireme-batch-"))
    trees = {"this": Path(__file__).resolve().parent.parent}
    if args.against:
        trees["against"] = args.against.resolve()
    settings = {"partitions_per_table": args.partitions,
                "extra_env": {"TRIREME_RAFT_COMPACT_EVERY": str(args.compact_every),
                              **dict(e.split("=", 1) for e in args.env)}}
    rng = random.Random(1)
    blobs = [ycsb.values_blob(rng) for _ in range(64)]
    clusters: dict[str, Cluster] = {}
    rows: dict[str, list[dict]] = {k: [] for k in trees}
    try:
        for k, tree in trees.items():
            clusters[k] = c = Cluster(tree, tmp / k, settings)
            asyncio.run(create_table(c.endpoint, args.wcu))
        for rep in range(args.reps):
            for k, c in clusters.items():
                spy = args.profile if args.profile and rep == 0 and k == "this" else None
                row = rep_row(c, rep * args.items, args, blobs, spy)
                rows[k].append(row)
                print(f"rep {rep + 1} {k}: {row['items/s']:,.0f} items/s, "
                      f"{row['cpu us/item']['total']:.0f} us/item", file=sys.stderr)
        logical = sum(stored_bytes(n, blobs[n % len(blobs)]) for n in range(args.reps * args.items))
        storage = {k: storage_row(c, logical, args) for k, c in clusters.items()}
        for k in trees:
            report(f"{k} ({trees[k]})", rows[k], storage[k], args)
        if args.against:
            print("\nthis / against per repetition, median:")
            for name, get in (("items/s", lambda r: r["items/s"]), ("cpu total", lambda r: r["cpu us/item"]["total"]),
                              ("cpu nodes", lambda r: r["cpu us/item"]["nodes"]),
                              ("cpu router1", lambda r: r["cpu us/item"].get("router1", 0))):
                ratios = [get(a) / get(b) for a, b in zip(rows["this"], rows["against"]) if get(b)]
                print(f"  {name:12s} {statistics.median(ratios):.3f}   ({', '.join(f'{x:.2f}' for x in ratios)})")
        if args.profile:
            for f in sorted(args.profile.glob("*.txt")):
                print(f"\n{f.stem} ({f}):")
                print(cpu.summarize(f))
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "reps": rows,
                                             "storage": storage}, indent=1))
    finally:
        for c in clusters.values():
            c.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
