"""Global table replication: how long after a write is acknowledged in one
region another region shows it, and how many writes per second replication
carries.

Two regions run behind the cross-region link with a one-way latency
(`deploy/regions.py`). A table made global with UpdateTable ReplicaUpdates is
written in the first region; each probe writes an item there and reads the
other region back to back until it is there, timed from the PutItem's
answer, on an idle table and again while writers load the first region. The
throughput is the load's acknowledged writes divided by the time from the
load's start until the other region holds every one of them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass

import orjson

from bench.http import Client
from bench.run import _call_ok

TABLE = "bench_global"
GIVE_UP_S = 10.0
LOAD_CLIENTS = 16
LOAD_S = 5.0


@dataclass
class ReplResult:
    phase: str  # "idle" or "under load"
    latency_ms: float  # the link's one-way latency
    probes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    missing: int  # probes not seen within GIVE_UP_S
    writes_per_s: float  # the load's acknowledged writes per second in the source region
    replicated_per_s: float  # those writes over the time until the other region held all of them

    def to_json(self) -> dict:
        return asdict(self)


def _body(**kw) -> bytes:
    return orjson.dumps({"TableName": TABLE, **kw})


async def _make_global(src: Client, dst_region: str) -> None:
    await _call_ok(src, "CreateTable", _body(
        BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}]))
    await _until(src, lambda t: t["TableStatus"] == "ACTIVE", "ACTIVE")
    await _call_ok(src, "UpdateTable", _body(ReplicaUpdates=[{"Create": {"RegionName": dst_region}}]))
    await _until(src, lambda t: t["TableStatus"] == "ACTIVE" and all(
        r["ReplicaStatus"] == "ACTIVE" for r in t.get("Replicas", [])), f"its replica in {dst_region} ACTIVE")


async def _until(c: Client, ok, what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ok(orjson.loads(await _call_ok(c, "DescribeTable", _body()))["Table"]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{TABLE} not {what} after {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


async def _probe(src: Client, dst: Client, pk: str) -> float | None:
    """Seconds from the write's answer in the source until the other region shows it (None: never)."""
    await _call_ok(src, "PutItem", _body(Item={"pk": {"S": pk}}))
    get = _body(Key={"pk": {"S": pk}})
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < GIVE_UP_S:
        if b'"Item"' in await _call_ok(dst, "GetItem", get):
            return time.perf_counter() - t0
    return None


async def _count(dst: Client, prefix: str) -> int:
    """Items whose key starts with ``prefix`` in the other region (a full scan, paged)."""
    n, start = 0, None
    while True:
        extra = {"ExclusiveStartKey": start} if start else {}
        page = orjson.loads(await _call_ok(dst, "Scan", _body(
            Select="COUNT", FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": prefix}}, **extra)))
        n += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return n


def _result(phase: str, latency_ms: float, lags: list[float], missing: int, writes_per_s: float = 0.0,
            replicated_per_s: float = 0.0) -> ReplResult:
    lags = sorted(x * 1000 for x in lags)

    def pct(p: float) -> float:
        return round(lags[min(len(lags) - 1, int(p * len(lags)))], 2) if lags else 0.0
    return ReplResult(phase, latency_ms, len(lags) + missing, pct(0.5), pct(0.99),
                      round(lags[-1], 2) if lags else 0.0, missing, round(writes_per_s, 1),
                      round(replicated_per_s, 1))


async def _probes(src: Client, dst: Client, tag: str, count: int) -> tuple[list[float], int]:
    lags, missing = [], 0
    for i in range(count):
        lag = await _probe(src, dst, f"probe-{tag}-{i}")
        if lag is None:
            missing += 1
        else:
            lags.append(lag)
    return lags, missing


async def measure(endpoints: dict[str, str], probes: int, latency_ms: float,
                  load_clients: int = LOAD_CLIENTS, load_s: float = LOAD_S) -> list[ReplResult]:
    """Probe the lag idle, then under ``load_clients`` writers in the source region."""
    (src_region, src_url), (dst_region, dst_url) = list(endpoints.items())[:2]
    src, dst = Client(src_url), Client(dst_url)
    acked = [0]
    stop = asyncio.Event()

    async def writer(w: int) -> None:
        c = Client(src_url)
        i = 0
        try:
            while not stop.is_set():
                status, _ = await c.call("PutItem", _body(Item={"pk": {"S": f"load-{w}-{i}"}}))
                i += 1
                if status == 200:
                    acked[0] += 1
        finally:
            c.close()

    try:
        await _make_global(src, dst_region)
        out = [_result("idle", latency_ms, *await _probes(src, dst, "idle", probes))]
        t0 = time.monotonic()
        tasks = [asyncio.create_task(writer(w)) for w in range(load_clients)]
        try:
            await asyncio.sleep(1.0)
            lags, missing = await _probes(src, dst, "load", probes)
            await asyncio.sleep(max(0.0, load_s - (time.monotonic() - t0)))
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        wrote_s = time.monotonic() - t0
        deadline = time.monotonic() + 120
        while await _count(dst, "load-") < acked[0] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        replicated_s = time.monotonic() - t0
        out.append(_result("under load", latency_ms, lags, missing, acked[0] / wrote_s, acked[0] / replicated_s))
        return out
    finally:
        src.close()
        dst.close()


def render(results: list[ReplResult]) -> str:
    head = ["REPLICATION", "LINK MS", "PROBES", "P50 MS", "P99 MS", "MAX MS", "NEVER SEEN", "WRITES/S",
            "REPLICATED/S"]
    rows = [[r.phase, f"{r.latency_ms:g}", str(r.probes), f"{r.p50_ms:.1f}", f"{r.p99_ms:.1f}",
             f"{r.max_ms:.1f}", str(r.missing), f"{r.writes_per_s:,.0f}" if r.writes_per_s else "-",
             f"{r.replicated_per_s:,.0f}" if r.replicated_per_s else "-"] for r in results]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    lines = ["  ".join(x.ljust(w) for x, w in zip(row, widths)) for row in [head, ["-" * w for w in widths], *rows]]
    return "\n".join(line.rstrip() for line in lines)
