"""What a split for heat buys a hot spot (issue 12's splits, issue 21's
question): a fresh cluster whose partitions split when their leader applies
more than `UNITS_PER_S` writes a second for `HOT_S` seconds, a fresh table,
and 64 clients updating a small hot set of its keys (1% of YCSB's 20,000)
for a while before and after the table's partitions split.

One key cannot be split (workload K in the main table shows what it
costs); a hot set of keys can, at the median of the keys written lately.
The result is the throughput and p99 before the first split and after it,
second by second with the table's partition count, so a reader sees what
the split changed and when.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import ycsb
from bench.http import Client, HttpError
from bench.run import _percentile, create_tables

# A partition whose leader applies more log entries a second than this ... (low, so that it splits in a short
# run on a loaded machine: concurrent writes share entries, so entries/s is far below writes/s; at 10, 230
# updates/s over two partitions took 42 s to split at load average 25)
UNITS_PER_S = 2
HOT_S = 5  # ... for this long splits (TRIREME_SPLIT_UNITS_PER_S, TRIREME_SPLIT_HOT_S)
KEYS = 200  # the hot set: 1% of the default 20,000 records
CLIENTS = 64
WARMUP_S = 2.0
SETTLE_S = 2.0  # after a split, before "after" is measured (routers learn the new map)
AFTER_S = 10.0
GIVE_UP_S = 45.0  # no split by then: the result says so (a split by then is measured SETTLE_S + AFTER_S after)


@dataclass
class SplitResult:
    keys: int
    clients: int
    units_per_s: float  # the cluster's split-for-heat settings
    hot_s: float
    split_at_s: float | None  # seconds into the run when the table first had more partitions (None: never)
    partitions: list[int] = field(default_factory=list)  # per second of the run
    ops: list[int] = field(default_factory=list)  # per second of the run
    before_from_s: float = WARMUP_S  # the warm-up, shortened when the split comes before it ends
    before_ops_per_s: float = 0.0
    after_ops_per_s: float = 0.0
    before_p99_ms: float = 0.0
    after_p99_ms: float = 0.0
    errors: int = 0

    def to_json(self) -> dict:
        return asdict(self)


def cluster_env(units_per_s: float = UNITS_PER_S, hot_s: float = HOT_S) -> dict[str, str]:
    """The environment a cluster's nodes need to split for heat in a short run."""
    return {"TRIREME_SPLIT_UNITS_PER_S": f"{units_per_s:g}", "TRIREME_SPLIT_HOT_S": f"{hot_s:g}"}


def start_cluster(data_dir: Path, units_per_s: float = UNITS_PER_S, hot_s: float = HOT_S):
    """A fresh 3-node cluster with splits for heat on (deploy.local.LocalCluster; the caller stops it)."""
    from deploy.local import LocalCluster
    cluster = LocalCluster(data_dir, router_port=0, node_base_port=0, extra_env=cluster_env(units_per_s, hot_s))
    cluster.plan()
    try:
        cluster.start(wait_s=90)
    except BaseException:
        cluster.stop()
        raise
    return cluster


async def _partitions(channels, addrs: list[str]) -> int:
    """How many partitions the newest metadata any node holds gives the YCSB table (0: none answered)."""
    from cluster.rpc import call_once
    best, count = -1, 0
    for addr in addrs:
        try:
            m = await call_once(channels, addr, "admin", "meta", timeout=2.0)
        except Exception:  # noqa: BLE001 (a busy node may not answer in time; the others do)
            continue
        if m and m["version"] > best and ycsb.TABLE in m["tables"]:
            best, count = m["version"], len(m["tables"][ycsb.TABLE]["partitions"])
    return count


async def measure(endpoint: str, node_addrs: list[str], keys: int = KEYS, clients: int = CLIENTS, *,
                  units_per_s: float = UNITS_PER_S, hot_s: float = HOT_S, after_s: float = AFTER_S,
                  give_up_s: float = GIVE_UP_S) -> SplitResult:
    """Run the hot set until the table has split and SETTLE_S + `after_s` more seconds passed (or
    `give_up_s`). `units_per_s` and `hot_s`: the cluster's settings (start_cluster's), for the table."""
    from cluster.rpc import Channels
    await create_tables(endpoint)
    names = [ycsb.key_name(k).encode() for k in range(keys)]
    lat: list[tuple[float, int]] = []  # (seconds into the run, latency ns)
    state = {"stop": False, "errors": 0}
    t0 = time.monotonic()

    async def client(i: int) -> None:
        rng = random.Random(i)
        bodies = ycsb.Bodies(names, False, rng)
        c = Client(endpoint)
        try:
            while not state["stop"]:
                start = time.perf_counter_ns()
                try:
                    status, _ = await c.call("UpdateItem", bodies.update(rng.randrange(keys)))
                except (HttpError, OSError):
                    state["errors"] += 1
                    await asyncio.sleep(0.01)
                    continue
                if status != 200:
                    state["errors"] += 1
                    continue
                lat.append((time.monotonic() - t0, time.perf_counter_ns() - start))
        finally:
            c.close()

    channels = Channels()
    partitions: list[int] = []
    split_at = None
    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    try:
        initial = 0
        while True:
            await asyncio.sleep(max(0.0, len(partitions) + 1 - (time.monotonic() - t0)))
            n = await _partitions(channels, node_addrs)
            partitions.append(n)
            initial = initial or n
            now = time.monotonic() - t0
            if split_at is None and initial and n > initial:
                split_at = now
            if now >= split_at + SETTLE_S + after_s if split_at is not None else now >= give_up_s:
                break
    finally:
        state["stop"] = True
        await asyncio.wait(tasks, timeout=30)
        await channels.close()
    return summarize(SplitResult(keys, clients, units_per_s, hot_s, None), split_at, partitions, lat,
                     state["errors"])


def summarize(r: SplitResult, split_at: float | None, partitions: list[int], lat: list[tuple[float, int]],
              errors: int) -> SplitResult:
    """Per second counts, and throughput and p99 before the split (after the warm-up) and after it (once
    settled). `lat`: (seconds into the run, latency ns) of each update answered."""
    seconds = len(partitions)
    ops = [0] * seconds
    for at, _ in lat:
        if int(at) < seconds:
            ops[int(at)] += 1
    r.split_at_s = round(split_at, 1) if split_at is not None else None
    r.partitions, r.ops, r.errors = partitions, ops, errors
    if split_at is None:
        return r
    # a split can come as early as the second sample (a short HOT_S): the warm-up then gives way to it
    r.before_from_s = round(min(WARMUP_S, split_at / 2), 1)
    windows = {"before": (r.before_from_s, split_at), "after": (split_at + SETTLE_S, float(seconds))}
    for name, (a, b) in windows.items():
        ns = sorted(x for at, x in lat if a <= at < b)
        if b > a:
            setattr(r, f"{name}_ops_per_s", round(len(ns) / (b - a), 1))
            setattr(r, f"{name}_p99_ms", round(_percentile(ns, 0.99), 2))
    return r


def render(r: SplitResult) -> str:
    from client.status import table
    head = (f"HOT SPOT AND SPLIT FOR HEAT ({r.clients} clients updating {r.keys} hot keys; partitions split above "
            f"{r.units_per_s:g} log entries/s for {r.hot_s:g} s)\n")
    seconds = "updates per second: " + " ".join(map(str, r.ops)) + "\npartitions per second: " + " ".join(
        map(str, r.partitions))
    if r.split_at_s is None:
        return (head + f"no split within {len(r.partitions)} s ({r.partitions[-1] if r.partitions else 0} "
                f"partitions); errors {r.errors}\n" + seconds)
    rows = [["before the split", f"{r.before_from_s:g}-{r.split_at_s:g} s", str(r.partitions[0]),
             f"{r.before_ops_per_s:,.0f}", f"{r.before_p99_ms:.1f}"],
            ["after it", f"{r.split_at_s + SETTLE_S:g}-{len(r.partitions)} s", str(r.partitions[-1]),
             f"{r.after_ops_per_s:,.0f}", f"{r.after_p99_ms:.1f}"]]
    ratio = r.after_ops_per_s / r.before_ops_per_s if r.before_ops_per_s else 0.0
    return head + table(["PHASE", "SECONDS", "PARTITIONS", "UPDATES/S", "P99 MS"], rows) + (
        f"\nafter / before: {ratio:.2f}x; errors {r.errors}\n" + seconds)
