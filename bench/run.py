"""Loading a system and running one workload against it for a fixed time.

Each workload is `clients` coroutines on one event loop, each with its own
keep-alive connection and one request in flight. Latencies are collected
only after the warm-up; throughput is completed requests over the measured
window; the CPU each server process used in that window comes from /proc.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

import orjson

from bench import transfers, ycsb
from bench.http import Client, HttpError

WORKLOADS = {
    "C": "100% GetItem",
    "B": "95% GetItem, 5% PutItem",
    "A": "50% GetItem, 50% UpdateItem SET",
    "Q": f"Query of one {ycsb.QITEMS}-item partition",
    "W": "100% PutItem",
    "K": "100% UpdateItem of one hot key (every client the same item)",
    "S": "parallel Scan of the whole table (one segment per client)",
    **transfers.WORKLOADS,
}
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    system: str
    workload: str
    clients: int
    consistent: bool
    seconds: float
    ops: int
    ops_per_s: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    cpu: dict[str, float] = field(default_factory=dict)  # process -> cores used (1.0 = one core busy)
    items_per_s: float = 0.0  # Scan: items returned per second
    error_kinds: dict[str, int] = field(default_factory=dict)
    cancelled: int = 0  # transactions: TransactionCanceledException answers (not errors, not operations)
    # latency per class of request (A: UpdateItem on the zipfian's hottest 1% of keys, and on the others):
    # class -> {"ops", "p50_ms", "p99_ms", "max_ms"}
    by_class: dict[str, dict[str, float]] = field(default_factory=dict)
    routers: int = 0  # Trireme's router processes and storage nodes per AZ in this run (0: a peer's)
    nodes_per_az: int = 0

    @property
    def cancel_rate(self) -> float:
        """Cancelled transactions as a share of those answered."""
        return self.cancelled / max(1, self.cancelled + self.ops)

    def to_json(self) -> dict:
        return asdict(self) | {"cancel_rate": round(self.cancel_rate, 4)}


def cpu_seconds(pid: int, stat: str = "") -> float:
    """User + system CPU of process `pid` (or of the thread whose `stat` file is given)."""
    try:
        with open(stat or f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


HOT_UPDATES = "UpdateItem hottest 1%"  # YCSB-A's updates of the keys in the zipfian's hottest 1% of ranks
COLD_UPDATES = "UpdateItem other keys"


def _percentile(sorted_ns: list[int], p: float) -> float:
    if not sorted_ns:
        return 0.0
    return sorted_ns[min(len(sorted_ns) - 1, int(p * len(sorted_ns)))] / 1e6


def _error_kind(status: int, body: bytes) -> str:
    try:
        return orjson.loads(body).get("__type", str(status)).rsplit("#", 1)[-1]
    except (orjson.JSONDecodeError, AttributeError):
        return str(status)


async def _call_ok(client: Client, op: str, body: bytes) -> bytes:
    status, resp = await client.call(op, body)
    if status != 200:
        raise RuntimeError(f"{op} failed: {status} {resp[:300]!r}")
    return resp


async def create_tables(endpoint: str) -> None:
    """Both benchmark tables, fresh, ACTIVE."""
    c = Client(endpoint)
    try:
        for name, sort in ((ycsb.TABLE, False), (ycsb.QTABLE, True)):
            status, body = await c.call("DeleteTable", orjson.dumps({"TableName": name}))
            if status == 200:
                await _wait_gone(c, name)
            await _call_ok(c, "CreateTable", orjson.dumps(ycsb.table_spec(name, sort)))
            await wait_active(c, name)
    finally:
        c.close()


async def wait_active(c: Client, name: str, ready=lambda t: t["TableStatus"] == "ACTIVE") -> None:
    """Until DescribeTable's table passes `ready` (ACTIVE), at most 60 s."""
    deadline = time.monotonic() + 60
    while not ready(orjson.loads(await _call_ok(c, "DescribeTable", orjson.dumps({"TableName": name})))["Table"]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} not ACTIVE after 60 s")
        await asyncio.sleep(0.1)


async def _wait_gone(c: Client, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _ = await c.call("DescribeTable", orjson.dumps({"TableName": name}))
        if status != 200:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{name} still there 60 s after DeleteTable")


async def load(endpoint: str, records: int, concurrency: int = 16, seed: int = 1,
               progress=None) -> float:
    """BatchWriteItem the YCSB records (and the Query table's partitions);
    returns items per second for the main table."""
    rng = random.Random(seed)
    blobs = [ycsb.values_blob(rng) for _ in range(64)]
    todo = list(range(records))
    done = 0
    t0 = time.monotonic()

    async def writer() -> None:
        nonlocal done
        c = Client(endpoint)
        try:
            while todo:
                chunk = [todo.pop() for _ in range(min(25, len(todo)))]
                reqs = [b'{"PutRequest":{"Item":{"key":{"S":"' + ycsb.key_name(k).encode() + b'"},'
                        + blobs[k % len(blobs)] + b"}}}" for k in chunk]
                await _batch(c, ycsb.TABLE, reqs)
                done += len(chunk)
                if progress is not None:
                    progress(done, records, time.monotonic() - t0)
        finally:
            c.close()

    await asyncio.gather(*(writer() for _ in range(concurrency)))
    rate = records / max(1e-9, time.monotonic() - t0)
    qkeys = list(range(min(records, 1000)))

    async def qwriter(part: list[int]) -> None:
        c = Client(endpoint)
        try:
            for k in part:
                reqs = [b'{"PutRequest":{"Item":{"key":{"S":"' + ycsb.key_name(k).encode() + b'"},"n":{"N":"%d"},' % i
                        + blobs[(k + i) % len(blobs)] + b"}}}" for i in range(ycsb.QITEMS)]
                await _batch(c, ycsb.QTABLE, reqs)
        finally:
            c.close()

    await asyncio.gather(*(qwriter(qkeys[i::concurrency]) for i in range(concurrency)))
    return rate


async def prime_transactions(endpoint: str, records: int, timeout: float = 60.0) -> None:
    """One transfer, repeated until it commits: the first transaction a
    cluster runs creates its hidden transaction record table, a one-time
    cost kept out of the measured runs."""
    keys = [ycsb.key_name(k).encode() for k in range(min(records, 2))]
    c = Client(endpoint)
    try:
        deadline = time.monotonic() + timeout
        while True:
            status, resp = await c.call("TransactWriteItems", transfers.body(keys, len(keys), random.Random(1)))
            if status == 200:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"TransactWriteItems failed: {status} {resp[:300]!r}")
            await asyncio.sleep(0.2)
    finally:
        c.close()


async def _batch(c: Client, table: str, reqs: list[bytes]) -> None:
    body = b'{"RequestItems":{"' + table.encode() + b'":[' + b",".join(reqs) + b"]}}"
    for _ in range(100):
        resp = orjson.loads(await _call_ok(c, "BatchWriteItem", body))
        left = resp.get("UnprocessedItems", {}).get(table)
        if not left:
            return
        body = orjson.dumps({"RequestItems": {table: left}})
        await asyncio.sleep(0.05)
    raise RuntimeError("BatchWriteItem kept returning UnprocessedItems")


async def run(system: str, endpoint: str | list[str], pids: dict[str, int], workload: str, *, clients: int,
              seconds: float, warmup: float, records: int, distribution: str = "zipfian",
              consistent: bool = False, seed: int = 7) -> Result:
    """Run `workload` for warmup + seconds; measure the last `seconds`."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; workloads: {', '.join(WORKLOADS)}")
    endpoints = [endpoint] if isinstance(endpoint, str) else endpoint
    keys = [ycsb.key_name(k).encode() for k in range(records)]
    qrecords = min(records, 1000)
    master = random.Random(seed)
    lat: list[int] = []
    classes: dict[str, list[int]] = {}
    hot_ranks = ycsb.hottest(records)
    one_key = ycsb.fnv64(0) % records  # K: the zipfian's hottest key
    errors: Counter[str] = Counter()
    state = {"measuring": False, "stop": False, "ops": 0, "items": 0, "cancelled": 0}

    async def client(i: int) -> None:
        rng = random.Random(master.randrange(1 << 30))
        pick = ycsb.chooser(distribution, qrecords if workload == "Q" else records, rng)
        bodies = ycsb.Bodies(keys, consistent, rng)
        blob = ycsb.values_blob(rng)
        c = Client(endpoints[i % len(endpoints)])
        scan_start: bytes | None = None
        ranked = isinstance(pick, ycsb.Zipfian)
        try:
            while not state["stop"]:
                r = rng.random()
                cls = None
                if workload == "C" or (workload == "B" and r < 0.95) or (workload == "A" and r < 0.5):
                    op, body = "GetItem", bodies.get(pick())
                elif workload in ("B", "W"):
                    op, body = "PutItem", bodies.put(pick(), blob)
                elif workload == "A":
                    op, body = "UpdateItem", bodies.update(pick())
                    if ranked:
                        cls = HOT_UPDATES if pick.last_rank < hot_ranks else COLD_UPDATES
                elif workload == "K":
                    op, body = "UpdateItem", bodies.update(one_key)
                elif workload == "Q":
                    op, body = "Query", bodies.query(pick())
                elif workload in transfers.WORKLOADS:
                    op, body = "TransactWriteItems", transfers.body(keys, transfers.accounts(workload, records), rng)
                else:
                    op = "Scan"
                    body = (b'{"TableName":"' + ycsb.TABLE.encode() + b'","Segment":%d,"TotalSegments":%d' % (i, clients)
                            + (b',"ExclusiveStartKey":' + scan_start if scan_start else b"") + b"}")
                t0 = time.perf_counter_ns()
                try:
                    status, resp = await c.call(op, body)
                except (HttpError, OSError) as exc:
                    if state["measuring"]:
                        errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)
                    continue
                t1 = time.perf_counter_ns()
                if status != 200:
                    if state["measuring"]:
                        kind = _error_kind(status, resp)
                        if kind == "TransactionCanceledException":
                            state["cancelled"] += 1
                        else:
                            errors[kind] += 1
                    continue
                if op == "Scan":
                    scan_start = _last_key(resp)
                    if state["measuring"]:
                        state["items"] += resp.count(b'"field0"')
                if state["measuring"]:
                    lat.append(t1 - t0)
                    if cls is not None:
                        classes.setdefault(cls, []).append(t1 - t0)
        finally:
            c.close()

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await asyncio.sleep(warmup)
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    state["measuring"] = True
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    state["measuring"] = False
    elapsed = time.monotonic() - t0
    cpu = {name: round((cpu_seconds(pid) - cpu0[name]) / elapsed, 2) for name, pid in pids.items()}
    state["stop"] = True
    await asyncio.wait(tasks, timeout=30)
    lat.sort()
    return Result(system, workload, clients, consistent, round(elapsed, 2), len(lat), round(len(lat) / elapsed, 1),
                  sum(errors.values()), _percentile(lat, 0.5), _percentile(lat, 0.95), _percentile(lat, 0.99),
                  lat[-1] / 1e6 if lat else 0.0, cpu, round(state["items"] / elapsed, 1), dict(errors),
                  state["cancelled"], {k: _summary(v) for k, v in sorted(classes.items())})


def spread(xs: list[float], digits: int = 0) -> str:
    """`median (min-max)` of repetitions' figures, as the tables print them (one figure: itself)."""
    med = statistics.median(xs)
    if len(xs) == 1:
        return f"{med:,.{digits}f}"
    return f"{med:,.{digits}f} ({min(xs):,.{digits}f}-{max(xs):,.{digits}f})"


def _summary(ns: list[int]) -> dict[str, float]:
    ns.sort()
    return {"ops": len(ns), "p50_ms": _percentile(ns, 0.5), "p99_ms": _percentile(ns, 0.99), "max_ms": ns[-1] / 1e6}


def _last_key(resp: bytes) -> bytes | None:
    i = resp.find(b'"LastEvaluatedKey":')
    if i < 0:
        return None
    return orjson.dumps(orjson.loads(resp)["LastEvaluatedKey"])
