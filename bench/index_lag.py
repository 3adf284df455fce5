"""Global secondary index propagation lag: how long after a write is
acknowledged an eventually consistent Query on the index shows it.

A global index is fed asynchronously from the base table's committed
writes, so this is the delay a reader of the index sees. Each probe writes
an item with an index key of its own, then queries the index back to back
until the item is there; the lag is measured from the PutItem's answer.
Probes run on an idle cluster and again under a YCSB-A-like load on the
indexed table: 64 clients, half GetItem and half UpdateItem of 1,000 items of
1 KB picked by YCSB's zipfian, each update rewriting a field and moving the
item's index entry (so every write also writes the index; YCSB-A's own
table has no index).

Alone, on a fresh local cluster (three nodes, one router, as `trireme bench`)::

    python -m bench.index_lag --probes 200          # idle, then under load
    python -m bench.index_lag --probes 200 --idle   # idle only
    python -m bench.index_lag --probes 100 --reps 3 --against /tmp/base   # this tree and another, in turn
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

from bench import run as runner
from bench import ycsb
from bench.http import Client
from bench.run import _batch, _call_ok, _wait_gone, wait_active

TABLE = "bench_gsi"
INDEX = "by_g"
GIVE_UP_S = 5.0
LOAD_CLIENTS = 64  # YCSB-A's
LOAD_KEYS = 1000
INDEX_KEYS = 100  # the load's items spread over this many index partition keys


@dataclass
class LagResult:
    phase: str  # "idle" or "under load"
    probes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    missing: int  # probes never seen within GIVE_UP_S
    load_writes_per_s: float
    load_reads_per_s: float = 0.0
    seconds: float = 0.0  # the phase's length

    def to_json(self) -> dict:
        return asdict(self)


def _spec() -> bytes:
    return orjson.dumps({
        "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": INDEX, "Projection": {"ProjectionType": "ALL"},
                                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}]})


async def _create(c: Client) -> None:
    status, _ = await c.call("DeleteTable", orjson.dumps({"TableName": TABLE}))
    if status == 200:
        await _wait_gone(c, TABLE)
    await _call_ok(c, "CreateTable", _spec())
    await wait_active(c, TABLE, _active)


def _active(t: dict) -> bool:
    return t["TableStatus"] == "ACTIVE" and all(i["IndexStatus"] == "ACTIVE" for i in t["GlobalSecondaryIndexes"])


def _put(pk: str, g: str) -> bytes:
    return orjson.dumps({"TableName": TABLE, "Item": {"pk": {"S": pk}, "g": {"S": g}}})


async def _probe(c: Client, tag: str) -> float | None:
    """Seconds from the write's answer until the index shows it (None: never)."""
    await _call_ok(c, "PutItem", _put("probe-" + tag, tag))
    query = orjson.dumps({"TableName": TABLE, "IndexName": INDEX, "KeyConditionExpression": "g = :g",
                          "ExpressionAttributeValues": {":g": {"S": tag}}, "Select": "COUNT"})
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < GIVE_UP_S:
        if b'"Count":1' in await _call_ok(c, "Query", query):
            return time.perf_counter() - t0
    return None


async def _phase(c: Client, phase: str, probes: int, writes: list[int], reads: list[int]) -> LagResult:
    lags: list[float] = []
    missing = 0
    t0 = time.monotonic()
    w0, r0 = writes[0], reads[0]
    for i in range(probes):
        lag = await _probe(c, f"{phase}-{i}")
        if lag is None:
            missing += 1
        else:
            lags.append(lag * 1000)
    lags.sort()
    took = time.monotonic() - t0

    def pct(p: float) -> float:
        return round(lags[min(len(lags) - 1, int(p * len(lags)))], 2) if lags else 0.0
    return LagResult(phase, probes, pct(0.5), pct(0.99), round(lags[-1], 2) if lags else 0.0, missing,
                     round((writes[0] - w0) / max(took, 1e-9), 1), round((reads[0] - r0) / max(took, 1e-9), 1),
                     round(took, 2))


async def _load_items(endpoint: str, writers: int = 16) -> None:
    """The load's LOAD_KEYS items, 1 KB each as YCSB's, with an index key."""
    blob = ycsb.values_blob(random.Random(1))
    chunks = [range(start, min(LOAD_KEYS, start + 25)) for start in range(0, LOAD_KEYS, 25)]

    async def writer(mine: list[range]) -> None:
        c = Client(endpoint)
        try:
            for keys in mine:
                await _batch(c, TABLE, [b'{"PutRequest":{"Item":{"pk":{"S":"k%d"},"g":{"S":"g%d"},' % (k, k % INDEX_KEYS)
                                        + blob + b"}}}" for k in keys])
        finally:
            c.close()
    await asyncio.gather(*(writer(chunks[i::writers]) for i in range(writers)))


def _update(k: int, g: int, rng: random.Random) -> bytes:
    """YCSB-A's update (one 100-byte field) that also moves the item's index entry."""
    return orjson.dumps({"TableName": TABLE, "Key": {"pk": {"S": f"k{k}"}},
                         "UpdateExpression": "SET g = :g, #f = :v",
                         "ExpressionAttributeNames": {"#f": f"field{rng.randrange(ycsb.FIELDS)}"},
                         "ExpressionAttributeValues": {":g": {"S": f"g{g}"}, ":v": {"S": "x" * ycsb.FIELD_BYTES}}})


async def measure(endpoint: str, probes: int, load_clients: int = LOAD_CLIENTS) -> list[LagResult]:
    """Probe the lag idle, then (unless ``load_clients`` is 0) under that
    many YCSB-A-like clients of indexed items."""
    c = Client(endpoint)
    writes, reads = [0], [0]
    stop = asyncio.Event()

    async def client(seed: int) -> None:
        rng = random.Random(seed)
        pick = ycsb.Zipfian(LOAD_KEYS, rng=rng)
        w = Client(endpoint)
        try:
            while not stop.is_set():
                k = pick()
                if rng.random() < 0.5:
                    status, _ = await w.call("GetItem", orjson.dumps({"TableName": TABLE,
                                                                      "Key": {"pk": {"S": f"k{k}"}}}))
                    reads[0] += status == 200
                else:
                    status, _ = await w.call("UpdateItem", _update(k, rng.randrange(INDEX_KEYS), rng))
                    writes[0] += status == 200
        finally:
            w.close()

    try:
        await _create(c)
        out = [await _phase(c, "idle", probes, writes, reads)]
        if load_clients <= 0:
            await c.call("DeleteTable", orjson.dumps({"TableName": TABLE}))
            return out
        await _load_items(endpoint)
        tasks = [asyncio.create_task(client(i)) for i in range(load_clients)]
        try:
            await asyncio.sleep(1.0)  # let the load settle
            out.append(await _phase(c, "under load", probes, writes, reads))
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        await c.call("DeleteTable", orjson.dumps({"TableName": TABLE}))
        return out
    finally:
        c.close()


def render(results: list[LagResult]) -> str:
    from client.status import table
    rows = [[r.phase, str(r.probes), f"{r.p50_ms:.1f}", f"{r.p99_ms:.1f}", f"{r.max_ms:.1f}", str(r.missing),
             f"{r.load_writes_per_s:,.0f}" if r.load_writes_per_s else "-",
             f"{r.load_reads_per_s:,.0f}" if r.load_reads_per_s else "-"] for r in results]
    return table(["INDEX LAG", "PROBES", "P50 MS", "P99 MS", "MAX MS", "NEVER SEEN", "INDEXED UPDATES/S",
                  "GETS/S"], rows) + (f"\nunder load: {LOAD_CLIENTS} clients, YCSB-A's mix on {LOAD_KEYS:,} indexed "
                                      "1 KB items (zipfian), every update moving an index entry")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.index_lag", description=__doc__.split("\n\n")[0])
    p.add_argument("--probes", type=int, default=200, help="probes per phase (default 200)")
    p.add_argument("--idle", action="store_true", help="the idle phase only")
    p.add_argument("--clients", type=int, default=LOAD_CLIENTS, help=f"load clients (default {LOAD_CLIENTS})")
    p.add_argument("--reps", type=int, default=1, help="repetitions (default 1)")
    p.add_argument("--against", type=Path, help="another source tree (e.g. `git archive main` unpacked, with its "
                   "trireme_pb): its cluster runs too, the repetitions alternate")
    args = p.parse_args(argv)
    from bench.batch_load import Cluster
    trees = {"this": Path(__file__).resolve().parent.parent}
    if args.against:
        trees["against"] = args.against.resolve()
    tmp = Path(tempfile.mkdtemp(prefix="trireme-index-lag-"))
    clusters: dict[str, Cluster] = {}
    runs: dict[str, list[LagResult]] = {k: [] for k in trees}
    try:
        for k, tree in trees.items():
            clusters[k] = Cluster(tree, tmp / k, {"partitions_per_table": 1})
        for rep in range(args.reps):
            for k, c in clusters.items():
                cpu0 = sum(runner.cpu_seconds(pid) for pid in c.pids.values())
                got = asyncio.run(measure(c.endpoint, args.probes, 0 if args.idle else args.clients))
                cpu = sum(runner.cpu_seconds(pid) for pid in c.pids.values()) - cpu0
                ops = sum(r.probes + (r.load_writes_per_s + r.load_reads_per_s) * r.seconds for r in got)
                runs[k] += got
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                print(f"rep {rep + 1} {k}: " + ", ".join(f"{r.phase} p50 {r.p50_ms:.1f} p99 {r.p99_ms:.1f} ms"
                                                          for r in got)
                      + f"; cluster CPU {1e6 * cpu / max(ops, 1):.0f} us per operation (probe writes, "
                      f"load updates and gets) (load average {load})", file=sys.stderr)
    finally:
        for c in clusters.values():
            c.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    for k, tree in trees.items():
        print(f"{k} ({tree}):")
        print(render(runs[k]))
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
