"""`trireme check --regions N --workload global`: a global table (MREC) under
region faults, checked.

A table made global with UpdateTable ReplicaUpdates in every region, clients
in EVERY region writing the same few items at once (PutItem, UpdateItem and
DeleteItem, one attempt each, every outcome recorded), while a nemesis
isolates a region, slows the link between two, kills a whole region, or
kills or pauses a node inside one. Once healed, a few rounds in which every
region writes every key at the same moment end the load in conflicts
(`race`). Then every region must converge to identical items (a digest per
region, awaited up to a deadline); each region's items and stream are read
and the history is checked by `chaos.lww_check` (no phantom, no write lost
under last writer wins, every applied change in its region's stream).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from chaos.faults import RegionChaos
from chaos.lww_check import LwwChecker
from chaos.runner import (CheckConfig, Nemesis, Recorder, Report, _client, _error, _say, _Stalls, _wait, drive,
                          judge)

TABLE = "jepsen-global"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-1", "sa-east-1", "ap-northeast-1")
GLOBAL_FAULTS = ("isolate-region", "region-latency", "kill-region", "kill", "pause")
DEFAULT_NEMESIS = ("isolate-region", "region-latency", "kill-region", "kill")
GLOBAL_FAULT_HELP = """faults of --workload global (between and inside regions):
  isolate-region   cut every link pair of a random region, both ways (both sides keep serving)
  region-latency   a random pair of regions slowed to 100-500 ms one way; back after the interval
  kill-region      SIGKILL every node and router of a random region; start it after the interval
  kill, pause      a random node of a random region killed (restarted) or paused (resumed)"""
CONVERGE_S = 120.0  # after healing, how long the regions get to hold identical items
SKEW_S = 1.0  # the regions' clocks: the same host's wall clock, with margin
RACE_ROUNDS = 3  # at the end of the load: rounds of every region writing every key at once
RACE_KEYS = 32  # keys the race writes at least (each is one more chance of a conflict gone wrong)


def run_global_check(chaos: RegionChaos, cfg: CheckConfig, table: str = TABLE, converge_s: float = CONVERGE_S,
                     tamper: Callable[[dict[str, Any], Path], None] | None = None,
                     race_rounds: int = RACE_ROUNDS) -> Report:
    """Run the workload in every region for `cfg.duration` seconds under the
    region nemesis, heal, wait for convergence, read, check; the files and
    progress lines are the single-region check's (chaos.runner.run_check).

    ``race_rounds``: rounds of `race` once healed (0: none).
    ``tamper(clients by region, history path)``, called once healed, breaks
    the system on purpose (the tests prove that the check then fails)."""
    for fault in cfg.nemesis:
        if fault not in GLOBAL_FAULTS and fault != "none":
            raise ValueError(f"unknown fault {fault!r} for the global workload; faults: {', '.join(GLOBAL_FAULTS)}")
    regions = chaos.region_names()
    endpoints = {r: c.endpoint for r, c in chaos.region_chaos().items()}
    setup = {r: _client(endpoints[r], attempts=10, read_timeout=60, region=r) for r in regions}
    rng = random.Random(cfg.seed)
    _say(f"making table {table} global across {', '.join(regions)} ...")
    make_global_table(setup, chaos, table)
    rec = Recorder(Path(cfg.out_dir) / "history.jsonl")
    writer = GlobalWriter(cfg, rec, itertools.count(1), table)
    stop = threading.Event()

    def client(process: str, region: str, seed: int) -> None:
        local = random.Random(seed)
        ddb = _client(endpoints[region], region=region)
        while not stop.is_set():
            writer.step(ddb, process, local)

    threads = [threading.Thread(target=client, args=(f"{r}/{p}", r, rng.randrange(1 << 30)), daemon=True)
               for r in regions for p in range(cfg.clients)]
    nemesis = RegionNemesis(cfg, chaos, rec, random.Random(rng.randrange(1 << 30)))
    try:
        drive(cfg, rec, nemesis, threads, stop, undo_s=120)
        _say("load done; healing every fault and waiting for every region to serve ...")
        nemesis.recover()
        if race_rounds:
            _say(f"racing: {race_rounds} rounds of every region writing every key at the same moment ...")
            race(writer, {r: _client(endpoints[r], region=r) for r in regions}, race_rounds, rng)
        if tamper is not None:
            rec.flush()
            tamper(setup, rec.path)
        _say("waiting for the regions to hold identical items ...")
        converged, finals = converge(setup, table, converge_s)
        for region, items in finals.items():
            rec.invoke("final", "read", region, None)
            rec.ok("final", "read", region, items)
        _say("reading every region's stream ...")
        for region, ddb in setup.items():
            rec.invoke("final", "stream", region, None)
            try:
                rec.ok("final", "stream", region, stream_records(ddb, table))
            except (ClientError, BotoCoreError) as exc:
                rec.fail("final", "stream", region, None, _error(exc))
    finally:  # also when interrupted or failing: no fault and no client outlives the run
        wind_down(cfg, nemesis, stop, rec, lambda: drop_global_table(setup, table))
    _say(f"checking the history ({rec.invoked} operations) ...")
    return judge(cfg, rec.path, nemesis.injected, converged, checker=LwwChecker(SKEW_S),
                 what="regions identical, no phantom, no lost write under last writer wins, streams complete",
                 stalls=_Stalls(GLOBAL_FAULTS, ("put", "update", "delete")))


class GlobalWriter:
    """One client's operations on a few keys every region writes: a put or an
    update of a unique value (stored with the region and the operation that
    wrote it, so a final item names its write) or a delete."""

    def __init__(self, cfg: CheckConfig, rec: Recorder, values: itertools.count, table: str) -> None:
        self.cfg, self.rec, self.values, self.table = cfg, rec, values, table

    def step(self, ddb: Any, process: str, rng: random.Random, key: str | None = None,
             delete_p: float = 0.15) -> None:
        key = key or f"g{rng.randrange(self.cfg.keys)}"
        v = next(self.values)
        pick = rng.random()
        f = "delete" if pick < delete_p else "put" if pick < (1 + delete_p) / 2 else "update"
        region = process.rpartition("/")[0]
        self.rec.invoke(process, f, key, v)
        pk = {"pk": {"S": key}}
        try:
            if f == "put":
                ddb.put_item(TableName=self.table, Item={**pk, "v": {"N": str(v)}, "r": {"S": region},
                                                         "o": {"S": "put"}})
            elif f == "update":
                ddb.update_item(TableName=self.table, Key=pk, UpdateExpression="SET v = :v, r = :r, o = :o",
                                ExpressionAttributeValues={":v": {"N": str(v)}, ":r": {"S": region},
                                                           ":o": {"S": "update"}})
            else:
                ddb.delete_item(TableName=self.table, Key=pk)
        except (ClientError, BotoCoreError) as exc:
            self.rec.info(process, f, key, v, _error(exc))
            if isinstance(exc, EndpointConnectionError):
                time.sleep(0.05)  # the region is down: do not spin
            return
        self.rec.ok(process, f, key, v)


def race(writer: GlobalWriter, clients: dict[str, Any], rounds: int, rng: random.Random) -> None:
    """The end of the load, made to conflict: in each round every region
    writes every key (at least RACE_KEYS) at once, half of them deletes, so that the last
    changes of each key cross on the link (a run's end decides what the
    regions must converge to, and a continuous load rarely ends in a race)."""
    barrier = threading.Barrier(len(clients))

    def go(region: str, ddb: Any, seed: int) -> None:
        local = random.Random(seed)
        for _ in range(rounds):
            barrier.wait(60)
            for k in range(max(writer.cfg.keys, RACE_KEYS)):
                writer.step(ddb, f"{region}/race", local, key=f"g{k}", delete_p=0.5)

    threads = [threading.Thread(target=go, args=(r, c, rng.randrange(1 << 30)), daemon=True)
               for r, c in clients.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)


class RegionNemesis(Nemesis):
    """`chaos.runner.Nemesis`'s schedule, with faults between regions and
    inside one (`GLOBAL_FAULTS`); `recover` undoes all of them."""

    def __init__(self, cfg: CheckConfig, chaos: RegionChaos, rec: Recorder, rng: random.Random) -> None:
        super().__init__(cfg, chaos, rec, rng)  # type: ignore[arg-type]
        self.regions = chaos.region_names()
        self.latency = {(p["src"], p["dst"]): p["latency_ms"] for p in chaos.link_state()["pairs"]}

    def _note(self, fault: str, target: str) -> None:
        self.rec.nemesis(fault, target)
        self.current = f"{fault} {target}" if fault in GLOBAL_FAULTS else None

    def _inject(self, fault: str) -> Callable[[], None] | None:
        chaos: RegionChaos = self.chaos  # type: ignore[assignment]
        region = self.rng.choice(self.regions)
        if fault == "isolate-region":
            chaos.isolate_region(region)
            self._note(fault, region)
            return lambda: (chaos.heal_regions(), self._note("heal-regions", region))
        if fault == "region-latency":
            a, b = self.rng.sample(self.regions, 2)
            ms = self.rng.choice((100, 250, 500))
            chaos.region_latency(a, b, ms)
            self._note(fault, f"{a}<->{b} {ms} ms")
            return lambda: (chaos.region_latency(a, b, self.latency[a, b]), self._note("latency-back", f"{a}<->{b}"))
        if fault == "kill-region":
            chaos.kill_region(region)
            self._note(fault, region)
            return lambda: (chaos.start_region(region, 90), self._note("start-region", region))
        if fault in ("kill", "pause"):
            inner = chaos.region_chaos()[region]
            victim = self.rng.choice(sorted(inner.nodes()))
            (inner.pause if fault == "pause" else inner.kill)(victim)
            self._note(fault, f"{region}/{victim}")
            return lambda: ((inner.resume if fault == "pause" else inner.restart)(victim),
                            self._note("resume" if fault == "pause" else "restart", f"{region}/{victim}"))
        raise ValueError(f"unknown fault {fault!r}; faults: {', '.join(GLOBAL_FAULTS)}")

    def recover(self) -> None:
        """The link healed at its first latencies, every process of every region running and serving."""
        chaos: RegionChaos = self.chaos  # type: ignore[assignment]
        chaos.heal_regions()
        for (a, b), ms in self.latency.items():
            chaos.region_latency(a, b, ms)
        for region, inner in chaos.region_chaos().items():
            inner.heal()
            chaos.start_region(region, 90)  # every stopped process started again, then it serves
            inner.start_all()
        self.rec.nemesis("heal", "all")


def wind_down(cfg: CheckConfig, nemesis: RegionNemesis, stop: threading.Event, rec: Recorder,
              drop: Callable[[], None]) -> None:
    """The end of a region check, also when interrupted or failing: the
    nemesis and the clients stopped, the history closed; on a cluster that
    outlives the check, every fault healed and the table dropped (``drop``)."""
    nemesis.stop.set()
    stop.set()
    rec.close()
    if cfg.leave_clean:
        if nemesis.thread is not None and nemesis.thread.is_alive():
            nemesis.thread.join(cfg.interval + 120)
        try:
            nemesis.recover()
        except Exception as exc:  # noqa: BLE001 (report it and go on to the table)
            _say(f"could not heal the regions: {exc!r}")
        drop()


def make_global_table(setup: dict[str, Any], chaos: RegionChaos, table: str) -> None:
    """A fresh table (an earlier run's deleted first) in the first region, a
    replica in every other (ReplicaUpdates Create, one at a time), ACTIVE
    everywhere, and every partition of every region replicating."""
    drop_global_table(setup, table)
    first, *others = setup
    ddb = setup[first]
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    _wait(lambda: _active(ddb, table), 60, f"{table} to be ACTIVE")
    for region in others:
        ddb.update_table(TableName=table, ReplicaUpdates=[{"Create": {"RegionName": region}}])
        _wait(lambda: _active(ddb, table), 60, f"{table} to be ACTIVE after adding {region}")
    for region, client in setup.items():
        _wait(lambda c=client: _active(c, table, len(setup) - 1), 60, f"{table}'s replicas ACTIVE in {region}")
    inner = chaos.region_chaos()
    for region in setup:
        _wait(lambda r=region: _replicating(inner[r], table, len(setup) - 1), 60,
              f"every partition of {table} in {region} to replicate")


def _active(ddb: Any, table: str, replicas: int = 0) -> bool:
    try:
        t = ddb.describe_table(TableName=table)["Table"]
    except ClientError:
        return False
    ready = [r for r in t.get("Replicas", []) if r["ReplicaStatus"] == "ACTIVE"]
    return t["TableStatus"] == "ACTIVE" and len(ready) >= replicas


def _replicating(chaos: Any, table: str, others: int) -> bool:
    """Whether the leaders of the region's partitions of `table` each send to every other region."""
    import asyncio
    partitions = len(chaos.partitions(table))
    rows = []
    for node in chaos.nodes():
        try:
            rows += asyncio.run(chaos._admin(node, "replication"))["replication"]
        except Exception:  # noqa: BLE001 (a node starting)
            continue
    senders = sum(r["partitions"] for r in rows if r["table"] == table)
    return senders >= partitions * others


def drop_global_table(setup: dict[str, Any], table: str) -> None:
    """The table gone from every region (best effort, up to a minute)."""
    deadline = time.monotonic() + 60
    left = set(setup)
    while left and time.monotonic() < deadline:
        for region in sorted(left):
            try:
                setup[region].delete_table(TableName=table)
            except ClientError as exc:
                if _error(exc) == "ResourceNotFoundException":
                    left.discard(region)
            except BotoCoreError:
                pass
        if left:
            time.sleep(0.5)
    if left:
        _say(f"could not delete table {table} in {', '.join(sorted(left))}; delete it with DeleteTable")


def region_items(ddb: Any, table: str) -> dict[str, list]:
    """The region's items, read strongly: key -> [v, region, operation]."""
    out, start = {}, None
    while True:
        page = ddb.scan(TableName=table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        out.update({i["pk"]["S"]: [int(i["v"]["N"]), i["r"]["S"], i["o"]["S"]] for i in page["Items"]})
        start = page.get("LastEvaluatedKey")
        if not start:
            return out


def converge(setup: dict[str, Any], table: str, timeout: float) -> tuple[tuple[bool, str], dict[str, dict]]:
    """Wait until every region holds the same items: the verdict, and each region's items last read."""
    t0 = time.monotonic()
    finals: dict[str, dict] = {}
    last = ""
    while True:
        try:
            finals = {r: region_items(c, table) for r, c in setup.items()}
            digests = {r: hashlib.sha256(json.dumps(sorted(i.items())).encode()).hexdigest()[:12]
                       for r, i in finals.items()}
            if len(set(digests.values())) == 1:
                return (True, f"regions converged: {len(finals[next(iter(finals))])} item(s), digest "
                              f"{next(iter(digests.values()))} in every region, {time.monotonic() - t0:.1f} s "
                              f"after healing"), finals
            last = ", ".join(f"{r} {d}" for r, d in digests.items())
        except (ClientError, BotoCoreError) as exc:
            last = _error(exc)
        if time.monotonic() - t0 > timeout:
            return (False, f"regions did NOT converge within {timeout:.0f} s (digests: {last})"), finals
        time.sleep(0.5)


def stream_records(ddb: Any, table: str) -> list[list]:
    """Every record of the region's stream of `table`: [key, v] (v None for a REMOVE)."""
    endpoint, region = ddb.meta.endpoint_url, ddb.meta.region_name
    streams = _client(endpoint, "dynamodbstreams", attempts=10, region=region)
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    out: list[list] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = streams.get_records(ShardIterator=it)
            for r in page["Records"]:
                new = r["dynamodb"].get("NewImage")
                out.append([r["dynamodb"]["Keys"]["pk"]["S"], int(new["v"]["N"]) if new else None])
            it = page.get("NextShardIterator")
            if not page["Records"]:
                break
    return out
