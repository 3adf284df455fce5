"""Global secondary index propagation lag: how long after a write is
acknowledged an eventually consistent Query on the index shows it.

A global index is fed asynchronously from the base table's committed
writes, so this is the delay a reader of the index sees. Each probe writes
an item with an index key of its own, then queries the index back to back
until the item is there; the lag is measured from the PutItem's answer.
Probes run on an idle cluster and again while writers keep changing indexed
items (every write moves an index entry).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import asdict, dataclass

import orjson

from bench.http import Client
from bench.run import _call_ok, _wait_gone

TABLE = "bench_gsi"
INDEX = "by_g"
GIVE_UP_S = 5.0
LOAD_CLIENTS = 32
LOAD_KEYS = 1000


@dataclass
class LagResult:
    phase: str  # "idle" or "under load"
    probes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    missing: int  # probes never seen within GIVE_UP_S
    load_writes_per_s: float

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
    deadline = time.monotonic() + 60
    while not _active(orjson.loads(await _call_ok(c, "DescribeTable", orjson.dumps({"TableName": TABLE})))):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{TABLE} not ACTIVE after 60 s")
        await asyncio.sleep(0.1)


def _active(desc: dict) -> bool:
    t = desc["Table"]
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


async def _phase(c: Client, phase: str, probes: int, writes: list[int]) -> LagResult:
    lags: list[float] = []
    missing = 0
    t0 = time.monotonic()
    w0 = writes[0]
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
                     round((writes[0] - w0) / max(took, 1e-9), 1))


async def measure(endpoint: str, probes: int, load_clients: int = LOAD_CLIENTS) -> list[LagResult]:
    """Probe the lag idle, then under ``load_clients`` writers of indexed items."""
    c = Client(endpoint)
    writes = [0]
    stop = asyncio.Event()

    async def writer(seed: int) -> None:
        rng = random.Random(seed)
        w = Client(endpoint)
        try:
            while not stop.is_set():
                status, _ = await w.call("PutItem", _put(f"k{rng.randrange(LOAD_KEYS)}", f"g{rng.randrange(100)}"))
                if status == 200:
                    writes[0] += 1
        finally:
            w.close()

    try:
        await _create(c)
        out = [await _phase(c, "idle", probes, writes)]
        tasks = [asyncio.create_task(writer(i)) for i in range(load_clients)]
        try:
            await asyncio.sleep(1.0)  # let the load settle
            out.append(await _phase(c, "under load", probes, writes))
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
             f"{r.load_writes_per_s:,.0f}" if r.load_writes_per_s else "-"] for r in results]
    return table(["INDEX LAG", "PROBES", "P50 MS", "P99 MS", "MAX MS", "NEVER SEEN", "INDEXED WRITES/S"], rows)
