"""`trireme check`: concurrent clients against a cluster while a nemesis breaks
it on a schedule, a recorded history, and a verdict.

This is the I/O side of `chaos`: real boto3 clients (one attempt per
operation, so a retry can never turn an applied write into a "failed" one),
real faults through `chaos.faults`, and the pure checkers on the history.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cluster import tls
from chaos import history as h
from chaos.faults import DRIFT_BOUND, Chaos

TABLE = "jepsen"
WORKLOADS = ("register", "set", "counter", "ttl", "stream", "trigger", "bank")  # bank: chaos/bank_check.py
FAULTS = ("kill", "leader-kill", "pause", "pause-leader", "rolling-restart", "isolate", "partition", "minority",
          "majority", "bridge", "router-cut", "clock", "disconnect", "split", "add-node", "remove-node")
FAULT_HELP = """faults:
  kill             SIGKILL a random node; restart it after the interval
  leader-kill      the same to the leader of a random partition of the table
  pause            SIGSTOP a random node; SIGCONT after the interval
  pause-leader     pause a partition's leader well past its lease, so it wakes deposed
  rolling-restart  stop and restart every node in turn, each once caught up (a deploy)
  isolate          cut one AZ off from the others
  partition        two random sides that cannot talk
  minority         one node cut off from the other two (the majority goes on)
  majority         every node cut off from every other (no majority anywhere)
  bridge           A <-> B <-> C with A and C cut: two overlapping majorities
  router-cut       a router loses its link to the leader of a random partition
  clock            every node's Raft clock at a random rate within the drift bound, and a
                   partition's leader paused meanwhile
  disconnect       (compose) a node's container off the network
  split            split a random partition of the table (at its median item)
  add-node         (local) start one more node in a random AZ (up to 6); the controller moves replicas onto it
  remove-node      (local) drain a node of an AZ that has another (its replicas move there), then stop
                   and forget it once drained (within 30 s)"""


MAX_NODES = 6  # add-node stops there (a long run would otherwise start a node every other interval)


@dataclass
class CheckConfig:
    workload: str = "register"
    nemesis: tuple[str, ...] = ("kill",)
    duration: float = 30.0
    clients: int = 5
    seed: int = 0
    keys: int = 4
    interval: float = 4.0  # seconds a fault lasts, and between faults
    out_dir: Path = Path("check")
    progress_s: float = 5.0  # seconds between progress lines on stderr (0: none)
    # The cluster outlives the check (`--data-dir`, `--compose`): whatever
    # happens, heal it and delete the table the check created.
    leave_clean: bool = False
    # The next fault waits until a killed node restarted and caught up: each
    # kill hits a whole cluster, so the write stalls measure one failover
    # (not a second fault while a slow machine still starts the first victim).
    settle: bool = False


@dataclass
class Report:
    valid: bool | None
    summary: str
    explanation: str
    history_path: Path
    operations: int = 0

    def events(self) -> Iterator[h.Event]:
        """The recorded history, streamed from disk."""
        return h.read_jsonl(self.history_path)

    @property
    def history(self) -> list[h.Event]:
        """The whole history in memory (for tests of short runs)."""
        return list(self.events())


class Recorder:
    """The history, appended to by every client thread and the nemesis, and
    streamed to a JSON-lines file as it is recorded: memory stays flat however
    long the run.

    Timestamps are taken under the lock that orders the writes, so the file
    is in time order and can be analysed in one streaming pass.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "w", encoding="utf-8", newline="\n")
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self.invoked = 0
        self.completed: Counter[str] = Counter()

    def now(self) -> float:
        return time.monotonic() - self._t0

    def _add(self, type_: str, process: int | str, f: str, key: Any, value: Any, error: str | None = None) -> None:
        with self._lock:
            if self._file.closed:
                return  # a client that outlived the run: its invoke stays pending (unknown outcome)
            ev = h.Event(type_, process, f, key, value, self.now(), error)
            self._file.write(h.event_line(ev))
            if ev.is_nemesis:
                return
            if type_ == h.INVOKE:
                self.invoked += 1
            else:
                self.completed[type_] += 1

    def invoke(self, process: int | str, f: str, key: Any, value: Any) -> None:
        self._add(h.INVOKE, process, f, key, value)

    def ok(self, process: int | str, f: str, key: Any, value: Any) -> None:
        self._add(h.OK, process, f, key, value)

    def fail(self, process: int | str, f: str, key: Any, value: Any, error: str | None = None) -> None:
        self._add(h.FAIL, process, f, key, value, error)

    def info(self, process: int | str, f: str, key: Any, value: Any, error: str | None = None) -> None:
        self._add(h.INFO, process, f, key, value, error)

    def nemesis(self, f: str, value: Any) -> None:
        """A fault-injection step, kept in the history next to the operations."""
        self._add(h.INFO, h.NEMESIS, f, None, value)

    def flush(self) -> None:
        with self._lock:
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def progress(self) -> str:
        """Operations so far, by outcome (for the progress line)."""
        with self._lock:
            done = dict(self.completed)
            pending = self.invoked - sum(done.values())
        return (f"{self.invoked} operations ({done.get(h.OK, 0)} ok, {done.get(h.FAIL, 0)} fail, "
                f"{done.get(h.INFO, 0)} unknown, {pending} in flight)")


_KEYS: dict[str, tuple[str, str]] = {}  # endpoint -> the keys to sign with (a cluster that enforces auth)


def _client(endpoint: str, service: str = "dynamodb", attempts: int = 1, read_timeout: int = 15,
            region: str = "us-east-1") -> Any:
    """A boto3 client of the cluster: one attempt for the recorded operations
    (each outcome is the history's), more for setup and final reads; signed
    with the cluster's admin keys when it enforces auth (run_check notes them)."""
    key_id, secret = _KEYS.get(endpoint.rstrip("/"), ("check", "check"))
    return boto3.client(service, endpoint_url=endpoint, region_name=region, aws_access_key_id=key_id,
                        aws_secret_access_key=secret, verify=tls.ca_for(endpoint),
                        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"},
                                      read_timeout=read_timeout, connect_timeout=3))


def _error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "ClientError")
    return type(exc).__name__


class Workload:
    """One client's operations; subclasses say what to do and how to record it."""

    not_applied: tuple[str, ...] = ()  # error codes of a write known not to have been applied (recorded failed)

    def __init__(self, cfg: CheckConfig, rec: Recorder, values: itertools.count) -> None:
        self.cfg = cfg
        self.rec = rec
        self.values = values

    def step(self, ddb: Any, process: int, rng: random.Random) -> None:
        raise NotImplementedError

    def write(self, ddb: Any, process: int, key: str, v: int) -> bool:
        """Put `v` under `key`, recorded: False when the outcome is unknown."""
        rec = self.rec
        rec.invoke(process, "write", key, v)
        try:
            ddb.put_item(TableName=TABLE, Item={"pk": {"S": key}, "v": {"N": str(v)}})
        except (ClientError, BotoCoreError) as exc:
            code = _error(exc)
            (rec.fail if code in self.not_applied else rec.info)(process, "write", key, v, code)
            return False
        rec.ok(process, "write", key, v)
        return True

    def prepare(self, ddb: Any) -> None:
        """Set the fresh table up before the load (ttl)."""

    def final(self, ddb: Any) -> None:
        """Strongly consistent reads after the faults are healed (set, counter, ttl)."""

    def tables(self) -> tuple[str, ...]:
        """The tables the workload uses (deleted when the check leaves a borrowed cluster clean)."""
        return (TABLE,)


class RegisterWorkload(Workload):
    """Reads, writes of unique values, and compare-and-set from a value this
    client last saw (so that some succeed), on a few keys."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.seen: dict[tuple[int, str], int] = {}

    def step(self, ddb: Any, process: int, rng: random.Random) -> None:
        key = f"r{rng.randrange(self.cfg.keys)}"
        pick = rng.random()
        rec = self.rec
        if pick < 0.5:
            rec.invoke(process, "read", key, None)
            try:
                item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
            except (ClientError, BotoCoreError) as exc:
                rec.fail(process, "read", key, None, _error(exc))  # a read has no effect
                return
            value = int(item["v"]["N"]) if item else None
            rec.ok(process, "read", key, value)
            if value is not None:
                self.seen[(process, key)] = value
        elif pick < 0.8:
            v = next(self.values)
            if self.write(ddb, process, key, v):
                self.seen[(process, key)] = v
        else:
            expected, new = self.seen.get((process, key), 0), next(self.values)
            rec.invoke(process, "cas", key, (expected, new))
            try:
                ddb.update_item(TableName=TABLE, Key={"pk": {"S": key}}, UpdateExpression="SET v = :new",
                                ConditionExpression="v = :old",
                                ExpressionAttributeValues={":new": {"N": str(new)}, ":old": {"N": str(expected)}})
            except ClientError as exc:
                code = _error(exc)
                done = rec.fail if code == "ConditionalCheckFailedException" or code in self.not_applied else rec.info
                done(process, "cas", key, (expected, new), code)
                return
            except BotoCoreError as exc:
                code = _error(exc)
                (rec.fail if code in self.not_applied else rec.info)(process, "cas", key, (expected, new), code)
                return
            rec.ok(process, "cas", key, (expected, new))
            self.seen[(process, key)] = new


class SetWorkload(Workload):
    """Unique inserts (an item each); at the end one strongly consistent Scan
    must hold every acknowledged insert and nothing never attempted."""

    def step(self, ddb: Any, process: int, rng: random.Random) -> None:
        e = next(self.values)
        rec = self.rec
        rec.invoke(process, "add", "set", e)
        try:
            ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"e{e}"}})
        except (ClientError, BotoCoreError) as exc:
            rec.info(process, "add", "set", e, _error(exc))
            return
        rec.ok(process, "add", "set", e)

    def final(self, ddb: Any) -> None:
        rec = self.rec
        rec.invoke("final", "read", "set", None)
        rec.ok("final", "read", "set", sorted(int(k[1:]) for k in _keys(ddb) if k.startswith("e")))


class CounterWorkload(Workload):
    """Increments by one (UpdateItem ADD) and strongly consistent reads; each
    read must lie between the increments certainly and possibly applied."""

    def step(self, ddb: Any, process: int, rng: random.Random) -> None:
        if rng.random() < 0.2:
            self._read(ddb, process)
            return
        rec = self.rec
        rec.invoke(process, "incr", "counter", 1)
        try:
            ddb.update_item(TableName=TABLE, Key={"pk": {"S": "counter"}}, UpdateExpression="ADD n :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})
        except (ClientError, BotoCoreError) as exc:
            rec.info(process, "incr", "counter", 1, _error(exc))
            return
        rec.ok(process, "incr", "counter", 1)

    def _read(self, ddb: Any, process: int | str) -> None:
        rec = self.rec
        rec.invoke(process, "read", "counter", None)
        try:
            item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "counter"}}, ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            rec.fail(process, "read", "counter", None, _error(exc))
            return
        rec.ok(process, "read", "counter", int(item["n"]["N"]) if item else 0)

    def final(self, ddb: Any) -> None:
        self._read(ddb, "final")


class TtlWorkload(Workload):
    """Items that expire in a day (``k<n>``) or expired a minute ago
    (``d<n>``) on a table with Time to Live on, and rescues of expired items
    this client saw written (their expiry moved a day ahead if they still
    exist). Checked by chaos/ttl_check.py."""

    DAY_S = 24 * 3600
    SETTLE_S = 120.0  # after healing, how long the sweeps get to delete what expired

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.doomed: dict[int, list[str]] = {}  # process -> expired keys it wrote
        self.rescue_tried: set[str] = set()

    def prepare(self, ddb: Any) -> None:
        ddb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})

    def step(self, ddb: Any, process: int, rng: random.Random) -> None:
        rec, pick = self.rec, rng.random()
        mine = self.doomed.setdefault(process, [])
        if pick < 0.2 and mine:
            key = mine.pop(rng.randrange(len(mine)))
            self.rescue_tried.add(key)
            rec.invoke(process, "rescue", "ttl", key)
            try:
                ddb.update_item(TableName=TABLE, Key={"pk": {"S": key}}, UpdateExpression="SET #t = :t",
                                ConditionExpression="attribute_exists(pk)", ExpressionAttributeNames={"#t": "ttl"},
                                ExpressionAttributeValues={":t": {"N": str(int(time.time()) + self.DAY_S)}})
            except ClientError as exc:
                code = _error(exc)
                done = rec.fail if code == "ConditionalCheckFailedException" else rec.info
                done(process, "rescue", "ttl", key, code)
                return
            except BotoCoreError as exc:
                rec.info(process, "rescue", "ttl", key, _error(exc))
                return
            rec.ok(process, "rescue", "ttl", key)
            return
        doomed = pick < 0.6
        key = f"{'d' if doomed else 'k'}{next(self.values)}"
        expiry = int(time.time()) + (-60 if doomed else self.DAY_S)
        rec.invoke(process, "add", "ttl", key)
        try:
            ddb.put_item(TableName=TABLE, Item={"pk": {"S": key}, "ttl": {"N": str(expiry)}})
        except (ClientError, BotoCoreError) as exc:
            rec.info(process, "add", "ttl", key, _error(exc))
            return
        rec.ok(process, "add", "ttl", key)
        if doomed:
            mine.append(key)

    def final(self, ddb: Any) -> None:
        """Wait (up to SETTLE_S) until no expired item that no rescue may have
        reached is left, then read what is there."""
        deadline = time.monotonic() + self.SETTLE_S
        while time.monotonic() < deadline:
            if not any(k.startswith("d") and k not in self.rescue_tried for k in _keys(ddb)):
                break
            time.sleep(0.5)
        self.rec.invoke("final", "read", "ttl", None)
        self.rec.ok("final", "read", "ttl", sorted(_keys(ddb)))


def _keys(ddb: Any) -> list[str]:
    """Every key of the table (strongly consistent scan)."""
    return list(_scan(ddb, TABLE))


def _scan(ddb: Any, table: str) -> dict[str, dict]:
    """Every item of ``table`` by key, read strongly."""
    out, start = {}, None
    while True:
        page = ddb.scan(TableName=table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        out.update({i["pk"]["S"]: i for i in page["Items"]})
        start = page.get("LastEvaluatedKey")
        if not start:
            return out


class StreamWorkload(Workload):
    """Writes of unique values to a few keys of a table with a stream; after
    the faults heal, a consumer reads every shard (chaos/stream_check.py)."""

    def step(self, ddb: Any, process: int, rng: random.Random) -> None:
        key = f"s{rng.randrange(self.cfg.keys)}"
        self.write(ddb, process, key, next(self.values))

    def final(self, ddb: Any) -> None:
        rec = self.rec
        rec.invoke("final", "read", "stream", None)
        try:
            records, items = _read_stream(ddb)
        except (ClientError, BotoCoreError) as exc:
            rec.fail("final", "read", "stream", None, _error(exc))
            return
        rec.ok("final", "read", "stream", {"records": records, "items": items})


class TriggerWorkload(StreamWorkload):
    """The stream workload's writes, delivered by an event source mapping to a
    function that copies each record into a second table (ParallelizationFactor
    3: concurrent lanes per shard, in order per key); after the faults heal,
    delivery is awaited and both tables read (chaos/trigger_check.py)."""

    TARGET = TABLE + "-trigger"
    FUNCTION = "jepsen-trigger"
    SETTLE_S = 120.0
    HANDLER = """
import boto3
ddb = boto3.client("dynamodb")
def handler(event, context):
    for r in event["Records"]:
        new = r["dynamodb"].get("NewImage")
        if new is not None:
            ddb.update_item(TableName="%s", Key={"pk": new["pk"]}, UpdateExpression="ADD seen :v SET lastv = :n",
                            ExpressionAttributeValues={":v": {"NS": [new["v"]["N"]]}, ":n": new["v"]})
"""

    def prepare(self, ddb: Any) -> None:
        import io
        import zipfile
        lam = _client(ddb.meta.endpoint_url, "lambda", attempts=10, read_timeout=60)
        for m in lam.list_event_source_mappings(FunctionName=self.FUNCTION)["EventSourceMappings"] \
                if self.FUNCTION in {f["FunctionName"] for f in lam.list_functions()["Functions"]} else []:
            lam.delete_event_source_mapping(UUID=m["UUID"])  # an earlier run's
        try:
            lam.delete_function(FunctionName=self.FUNCTION)
        except ClientError:
            pass
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as zf:
            zf.writestr("app.py", self.HANDLER % self.TARGET)
        _make_table(ddb, name=self.TARGET)
        lam.create_function(FunctionName=self.FUNCTION, Runtime="python3.11", Handler="app.handler", Timeout=60,
                            Role="arn:aws:iam::000000000000:role/check", Code={"ZipFile": code.getvalue()})
        arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=self.FUNCTION, BatchSize=20,
                                        ParallelizationFactor=3, StartingPosition="TRIM_HORIZON")

    def final(self, ddb: Any) -> None:
        """Wait (up to SETTLE_S) for the handler's copy to match the items, then read both."""
        rec = self.rec
        rec.invoke("final", "read", "trigger", None)
        deadline = time.monotonic() + self.SETTLE_S
        while True:
            try:
                items = _values(ddb, TABLE)
                copies = _scan(ddb, self.TARGET)
            except (ClientError, BotoCoreError) as exc:
                if time.monotonic() > deadline:
                    rec.fail("final", "read", "trigger", None, _error(exc))
                    return
                time.sleep(1.0)
                continue
            last = {k: int(i["lastv"]["N"]) for k, i in copies.items()}
            if last == items or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        seen = {k: sorted(int(v) for v in i["seen"]["NS"]) for k, i in copies.items()}
        rec.ok("final", "read", "trigger", {"items": items, "seen": seen, "last": last})


def _read_stream(ddb: Any) -> tuple[list[list[Any]], dict[str, int]]:
    """Every record of the table's stream, shard by shard (each read until a
    page comes back empty), and every item, read strongly."""
    streams = _client(ddb.meta.endpoint_url, "dynamodbstreams", attempts=10)
    reader = _client(ddb.meta.endpoint_url, attempts=10)
    arn = reader.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    records: list[list[Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = streams.get_records(ShardIterator=it)
            records += [[r["dynamodb"]["Keys"]["pk"]["S"], int(r["dynamodb"]["NewImage"]["v"]["N"])]
                        for r in page["Records"] if "NewImage" in r["dynamodb"]]
            it = page.get("NextShardIterator")
            if not page["Records"]:
                break
    return records, _values(reader, TABLE)


def _values(ddb: Any, table: str) -> dict[str, int]:
    """Each item's value ``v`` by key, read strongly."""
    return {k: int(i["v"]["N"]) for k, i in _scan(ddb, table).items()}


RETRY_SKIPPED = 3  # turns a fault that could not be injected keeps


class Nemesis:
    """Faults on a schedule: one at a time, each held for `interval`, then
    healed; the kinds in a seeded shuffled rotation, so a short run has each."""

    def __init__(self, cfg: CheckConfig, chaos: Chaos, rec: Recorder, rng: random.Random) -> None:
        cfg = dataclasses.replace(cfg, nemesis=tuple(f for f in cfg.nemesis if f != "none"))
        self.cfg = cfg
        self.chaos = chaos
        self.rec = rec
        self.rng = rng
        self._order = itertools.cycle(rng.sample(cfg.nemesis, len(cfg.nemesis)))
        self.stop = threading.Event()
        self.injected: Counter[str] = Counter()
        self.current: str | None = None  # the fault in force, for the progress line
        self.thread = threading.Thread(target=self.run, daemon=True) if cfg.nemesis else None

    def run(self) -> None:
        retry: tuple[str, int] | None = None  # a fault that could not be injected, and its attempts
        while not self.stop.wait(self.cfg.interval):
            fault = retry[0] if retry is not None else next(self._order)
            try:
                undo = self._inject(fault)
            except Exception as exc:  # noqa: BLE001 (a fault that cannot be injected now: its turn again next)
                self.rec.nemesis("skip", f"{fault}: {exc}")
                # A node still restarting after a kill cannot be partitioned yet: keep the
                # kind's turn (up to three times), so a short run still gets every kind.
                attempts = retry[1] + 1 if retry is not None else 1
                retry = (fault, attempts) if attempts < RETRY_SKIPPED else None
                continue
            retry = None
            self.injected[fault] += 1
            if undo is not None:
                self.stop.wait(self.cfg.interval)
                undo()

    def _note(self, fault: str, target: str) -> None:
        self.rec.nemesis(fault, target)
        self.current = f"{fault} {target}" if fault in FAULTS else None

    def _inject(self, fault: str) -> Callable[[], None] | None:
        """Inject `fault`; return how to undo it (None: over already)."""
        nodes = sorted(self.chaos.nodes())
        chaos, rng = self.chaos, self.rng
        if fault in ("kill", "leader-kill", "pause", "pause-leader"):
            victim = self._leader() if fault in ("leader-kill", "pause-leader") else rng.choice(nodes)
            paused = fault.startswith("pause")
            (chaos.pause if paused else chaos.kill)(victim)
            self._note(fault, victim)

            def undo() -> None:
                (chaos.resume if paused else chaos.restart)(victim)
                self._note("resume" if paused else "restart", victim)
                if self.cfg.settle and not paused:
                    try:
                        _wait(lambda: self.stop.is_set() or chaos.caught_up(victim), 60,
                              f"{victim} to catch up after its restart")
                    except TimeoutError as exc:
                        self.rec.nemesis("skip", str(exc))
            return undo
        if fault == "split":
            groups = chaos.partitions(TABLE)
            self._note(fault, chaos.split_partition(TABLE, rng.sample(groups, len(groups))).target)
            return None
        if fault == "add-node":
            if len(chaos.nodes()) >= MAX_NODES:
                raise RuntimeError(f"the cluster has {MAX_NODES} nodes already")
            az = rng.choice(sorted({az for _, az in chaos.nodes().values()}))
            self._note(fault, chaos.add_node(az).target)
            return None
        if fault == "remove-node":
            return self._remove_node()
        if fault == "rolling-restart":
            for name in rng.sample(nodes, len(nodes)):
                chaos.stop(name)
                self._note(fault, f"{name} stopped")
                chaos.restart(name)
                self._note("restart", name)
                _wait(lambda name=name: chaos.caught_up(name), 60, f"{name} to catch up after its restart")
            return None
        if fault == "isolate":
            az = rng.choice(sorted({az for _, az in chaos.nodes().values()}))
            chaos.isolate_az(az)
            target = az
        elif fault in ("partition", "minority"):
            shuffled = rng.sample(nodes, len(nodes))
            cut = 1 if fault == "minority" else rng.randrange(1, len(nodes))
            chaos.split(shuffled[:cut], shuffled[cut:])
            target = f"{','.join(sorted(shuffled[:cut]))} | {','.join(sorted(shuffled[cut:]))}"
        elif fault == "majority":
            for a, b in itertools.combinations(nodes, 2):
                chaos.split([a], [b])
            target = " | ".join(nodes)
        elif fault == "bridge":
            shuffled = rng.sample(nodes, len(nodes))
            a, bridge, rest = shuffled[0], shuffled[1], shuffled[2:]
            chaos.split([a], rest)
            target = f"{a} <-> {bridge} <-> {','.join(rest)}"
        elif fault == "router-cut":
            routers = sorted(chaos.routers())
            if not routers:
                raise RuntimeError("no router is up")
            router, victim = rng.choice(routers), self._leader()
            chaos.cut(router, victim)
            target = f"{router} -> {victim}"
        elif fault == "clock":
            bound = DRIFT_BOUND * 0.9  # rates differ by less than the bound the leases assume
            rates = {n: round(1 + rng.uniform(-bound, bound) / 2, 4) for n in nodes}
            for n, rate in rates.items():
                chaos.clock([n], rate)
            victim = self._leader()
            chaos.pause(victim)  # so a new leader is elected, and the old one wakes, on skewed clocks
            target = " ".join(f"{n}x{r}" for n, r in rates.items()) + f", {victim} paused"
        elif fault == "disconnect":
            if not hasattr(chaos, "disconnect"):
                raise ValueError("disconnect needs the compose cluster")
            victim = rng.choice(nodes)
            chaos.disconnect(victim)
            target = victim
        else:
            raise ValueError(f"unknown fault {fault!r}; faults: {', '.join(FAULTS)}")
        self._note(fault, target)

        def heal() -> None:
            chaos.heal()
            self._note("heal", "all")
        return heal

    def _remove_node(self) -> Callable[[], None]:
        """Drain a node whose AZ has another (where its replicas go); the undo
        stops and forgets it once drained."""
        chaos = self.chaos
        nodes = chaos.nodes()
        spare = sorted(n for n, (_, az) in nodes.items()
                       if sum(1 for _, (_, z) in nodes.items() if z == az) > 1 and chaos.process_state(n) == "up")
        if not spare:  # one more node first, so that an AZ has two
            added = chaos.add_node(self.rng.choice(sorted({az for _, az in nodes.values()}))).target
            self._note("add-node", added)
            _wait(lambda: chaos.joined(added), 30, f"{added} to join")
            spare = [added]
        victim = max(spare, key=lambda n: int(n[1:]) if n[1:].isdigit() else 0)  # the newest: founders stay
        chaos.drain(victim)
        self._note("remove-node", f"{victim} draining")

        def undo() -> None:
            try:
                _wait(lambda: chaos.drained(victim), 30, f"{victim} to be drained")
            except Exception as exc:  # noqa: BLE001 (it stays, draining: still a valid cluster)
                self._note("skip", f"remove-node {victim}: {exc}")
                return
            chaos.remove(victim)
            self._note("removed", victim)
        return undo

    def _leader(self) -> str:
        group = self.rng.choice(self.chaos.partitions(TABLE))
        leader = self.chaos.leader_of(group)
        if leader is None:
            raise RuntimeError(f"{group} has no leader right now")
        return leader


def _wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def _make_table(ddb: Any, stream: bool = False, name: str = TABLE) -> None:
    """A fresh, empty table (the checkers assume every key starts absent):
    one left by an earlier run is deleted first. ``stream``: with a stream
    of new images."""
    deadline = time.monotonic() + 60
    state = "create"
    while True:
        try:
            if state == "create":
                ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                                 **({"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}}
                                    if stream else {}))
                state = "wait"
            if ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE":
                return
        except ClientError as exc:
            code = _error(exc)
            if code == "ResourceInUseException" and state == "create":
                try:
                    ddb.delete_table(TableName=name)
                except ClientError:
                    pass  # already being deleted: create again once it is gone
            elif code != "ResourceNotFoundException" and time.monotonic() > deadline:
                raise
        except BotoCoreError:
            pass  # the router is still starting: try again
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {name} did not become ACTIVE within 60 s")
        time.sleep(0.2)


WORKLOAD_CLASSES: dict[str, type[Workload]] = {
    "register": RegisterWorkload, "set": SetWorkload, "counter": CounterWorkload, "ttl": TtlWorkload,
    "stream": StreamWorkload, "trigger": TriggerWorkload}


def run_check(chaos: Chaos, cfg: CheckConfig, workload_class: type[Workload] | None = None, checker: Any = None,
              what: str = "") -> Report:
    """Run the workload for `cfg.duration` seconds under the nemesis, heal,
    check the history, and write history.jsonl (as it is recorded),
    timeline.txt and summary.txt to `cfg.out_dir`; progress goes to stderr.

    ``workload_class``, ``checker`` and ``what``: a workload defined
    elsewhere (chaos.bank_check), its checker and what a valid verdict means."""
    if workload_class is None and cfg.workload not in WORKLOAD_CLASSES:
        raise ValueError(f"unknown workload {cfg.workload!r}; workloads: {', '.join(WORKLOAD_CLASSES)}")
    for fault in cfg.nemesis:
        if fault not in FAULTS and fault != "none":
            raise ValueError(f"unknown fault {fault!r}; faults: {', '.join(FAULTS)}")
    rng = random.Random(cfg.seed)
    keys = chaos.credentials()
    if keys is not None:
        _KEYS[chaos.endpoint.rstrip("/")] = keys
    setup = _client(chaos.endpoint)
    _make_table(setup, stream=cfg.workload in ("stream", "trigger"))
    rec = Recorder(Path(cfg.out_dir) / "history.jsonl")
    workload = (workload_class or WORKLOAD_CLASSES[cfg.workload])(cfg, rec, itertools.count(1))
    workload.prepare(setup)
    stop = threading.Event()

    def client(process: int, seed: int) -> None:
        local = random.Random(seed)
        ddb = _client(chaos.endpoint)
        while not stop.is_set():
            workload.step(ddb, process, local)

    threads = [threading.Thread(target=client, args=(p, rng.randrange(1 << 30)), daemon=True)
               for p in range(cfg.clients)]
    nemesis = Nemesis(cfg, chaos, rec, random.Random(rng.randrange(1 << 30)))
    try:
        drive(cfg, rec, nemesis, threads, stop)
        _say("load done; healing every fault and waiting for the cluster to serve ...")
        _recover(chaos, rec)
        workload.final(setup)
        _say("checking that the replicas converged ...")
        converged = _converge(chaos, tables=workload.tables())
    finally:  # also when interrupted or failing: no fault and no client outlives the run
        nemesis.stop.set()
        stop.set()
        rec.close()
        if cfg.leave_clean:
            _leave_clean(chaos, setup, nemesis.thread, workload.tables())
    _say(f"checking the history ({rec.invoked} operations) ...")
    return judge(cfg, rec.path, nemesis.injected, converged, checker, what)


def _say(line: str) -> None:
    print(f"check: {line}", file=sys.stderr, flush=True)


def drive(cfg: CheckConfig, rec: Recorder, nemesis: Nemesis, clients: list[threading.Thread],
          stop: threading.Event, undo_s: float = 60.0) -> None:
    """Start the clients and the nemesis, run the load for its duration, then
    stop the nemesis (it undoes the fault it holds, within `undo_s`) and the clients."""
    for t in clients:
        t.start()
    if nemesis.thread is not None:
        nemesis.thread.start()
    _load(cfg, rec, nemesis)
    nemesis.stop.set()
    if nemesis.thread is not None:
        nemesis.thread.join(cfg.interval + undo_s)
    stop.set()
    for t in clients:
        t.join(30)


def _load(cfg: CheckConfig, rec: Recorder, nemesis: Nemesis) -> None:
    """The run itself: a duration (not a wait for a condition), with a
    progress line every `cfg.progress_s` seconds."""
    start = time.monotonic()
    end = start + cfg.duration
    every = cfg.progress_s if cfg.progress_s > 0 else cfg.duration
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(every, left))
        rec.flush()  # a run cut short keeps its history so far
        if cfg.progress_s > 0:
            faults = ", ".join(f"{k} x{v}" for k, v in sorted(nemesis.injected.copy().items())) or "none"
            now = f" (now: {nemesis.current})" if nemesis.current else ""
            _say(f"{time.monotonic() - start:.0f}/{cfg.duration:g} s: {rec.progress()}; "
                 f"faults: {faults}{now}; {max(0.0, end - time.monotonic()):.0f} s left")


def _leave_clean(chaos: Chaos, ddb: Any, nemesis_thread: threading.Thread | None,
                 tables: tuple[str, ...] = (TABLE,)) -> None:
    """Heal a cluster the check does not own and delete the tables it created
    (best effort: this runs on failure and interruption too)."""
    _say(f"healing the cluster and deleting {', '.join(tables)} ...")
    if nemesis_thread is not None and nemesis_thread.is_alive():
        nemesis_thread.join(60)  # it undoes the fault it holds as soon as it sees the stop
    try:
        chaos.heal()
        chaos.start_all()
    except Exception as exc:  # noqa: BLE001 (report it and go on to the table)
        _say(f"could not heal the cluster: {exc!r}")
    deadline = time.monotonic() + 60
    for table in tables:
        while True:
            try:
                ddb.delete_table(TableName=table)
            except ClientError as exc:
                if _error(exc) == "ResourceNotFoundException":
                    break
            except BotoCoreError:
                pass  # a router still recovering from a fault
            if time.monotonic() > deadline:
                _say(f"could not delete table {table}; delete it with DeleteTable")
                break
            time.sleep(0.5)


def _converge(chaos: Chaos, timeout: float = 60.0, tables: tuple[str, ...] = (TABLE,)) -> tuple[bool, str]:
    """After healing, every replica of every partition of the tables must hold
    identical items (eventually consistent reads converge); how long it took."""
    t0 = time.monotonic()
    last = ""
    while True:
        try:
            digests = {g: d for t in tables for g, d in chaos.replica_digests(t).items()}
            differ = [g for g, d in digests.items() if len(d) < 3 or len(set(d.values())) != 1]
            if not differ:
                return True, (f"replicas converged: {len(digests)} partition(s) identical on every replica "
                              f"{time.monotonic() - t0:.1f} s after healing")
            last = f"differ or missing: {', '.join(sorted(differ))}"
        except Exception as exc:  # noqa: BLE001 (nodes still starting)
            last = repr(exc)
        if time.monotonic() - t0 > timeout:
            return False, f"replicas did NOT converge within {timeout:.0f} s ({last})"
        time.sleep(0.5)


def _recover(chaos: Chaos, rec: Recorder) -> None:
    """Everything healed and restarted, and the cluster serving again."""
    chaos.heal()
    chaos.start_all()
    rec.nemesis("heal", "all")
    ddb = _client(chaos.endpoint)
    deadline = time.monotonic() + 60
    while True:
        try:
            ddb.get_item(TableName=TABLE, Key={"pk": {"S": "probe"}}, ConsistentRead=True)
            return
        except (ClientError, BotoCoreError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


WRITES = ("write", "cas", "add", "incr", "transfer")


class _Stalls:
    """How long writes stalled at each fault: per key, from the last write
    acknowledged before the fault to the first after it; the worst key counts
    (keys on partitions the fault did not touch go on meanwhile).  Also from
    the fault itself to each key's first ack after it (worst key): without
    the time a key had gone unwritten before the fault, which grows with how
    slow operations are on a loaded machine, not with the failover.  The
    slowest faults are named with their time, to be looked up in the nodes'
    and routers' logs (each logs its election steps).  Fed the events in
    time order; memory: the last ack per key and the open faults."""

    SLOWEST = 3  # faults named in the summary

    def __init__(self, faults: tuple[str, ...] = FAULTS, writes: tuple[str, ...] = WRITES) -> None:
        self.faults, self.writes = faults, writes
        self._last: dict[Any, float] = {}
        # fault, its time, last ack per key, worst gaps (from the last ack, from the fault), its target
        self._open: list[tuple[str, float, dict[Any, float], list[float], list[float], Any]] = []
        self.gaps: dict[str, list[float]] = {}
        self.from_fault: dict[str, list[float]] = {}
        self.slowest: list[tuple[float, str, Any, float]] = []  # from the fault, fault, target, its time

    def feed(self, ev: h.Event) -> None:
        if ev.is_nemesis:
            if ev.f in self.faults and self._last:
                self._open.append((ev.f, ev.time, dict(self._last), [], [], ev.value))
            return
        if ev.type != h.OK or ev.f not in self.writes:
            return
        self._last[ev.key] = ev.time
        for _, at, before, worst, since, _ in self._open:
            if ev.key in before:
                worst.append(ev.time - before.pop(ev.key))
                since.append(ev.time - at)
        if any(not o[2] for o in self._open):
            for fault, at, before, worst, since, target in self._open:
                if not before:
                    self.gaps.setdefault(fault, []).append(max(worst))
                    self.from_fault.setdefault(fault, []).append(max(since))
                    self._rank_slowest((max(since), fault, target, at))
            self._open = [o for o in self._open if o[2]]

    def _rank_slowest(self, stall: tuple[float, str, Any, float]) -> None:
        self.slowest = sorted([*self.slowest, stall], key=lambda s: -s[0])[:self.SLOWEST]

    def text(self) -> str:
        gaps = {f: list(xs) for f, xs in self.gaps.items()}
        since = {f: list(xs) for f, xs in self.from_fault.items()}
        slowest = list(self.slowest)
        for fault, at, _, worst, after, target in self._open:  # keys that never acked again do not count
            if worst:
                gaps.setdefault(fault, []).append(max(worst))
                since.setdefault(fault, []).append(max(after))
                slowest.append((max(after), fault, target, at))
        if not gaps:
            return "write stalls: none measured"
        slowest = sorted(slowest, key=lambda s: -s[0])[:self.SLOWEST]
        return ("write stalls per fault (worst key: last ack before it to first ack after): " + _quantiles(gaps)
                + "\nfrom the fault to the worst key's first ack after it: " + _quantiles(since)
                + "\nslowest from the fault (history time; see the logs): "
                + ", ".join(f"{s:.2f}s {f} {t} at {at:.1f}s" for s, f, t, at in slowest))


def _quantiles(gaps: dict[str, list[float]]) -> str:
    parts = []
    for f, xs in sorted(gaps.items()):
        xs.sort()
        parts.append(f"{f} p50 {_rank(xs, 0.5):.2f}s p90 {_rank(xs, 0.9):.2f}s p99 {_rank(xs, 0.99):.2f}s "
                     f"max {xs[-1]:.2f}s (n={len(xs)})")
    return "; ".join(parts)


def _rank(xs: list[float], q: float) -> float:
    """The `q` quantile of sorted `xs` by nearest rank (p99 of two values is the larger)."""
    return xs[max(0, math.ceil(q * len(xs)) - 1)]


def judge(cfg: CheckConfig, history_path: Path, injected: Counter[str], converged: tuple[bool, str],
          checker: Any = None, what: str = "", stalls: _Stalls | None = None) -> Report:
    """Check a recorded history in one streaming pass, and write the
    timeline and summary next to it.

    Memory: the checker's own state (per element for `set`, per increment
    for `counter`, the operations for `register`, whose search needs them)
    -- never the events, whose history file can be any length.
    """
    from chaos.checks import CounterChecker, SetChecker
    from chaos.linear import RegisterChecker
    from chaos.stream_check import StreamChecker
    from chaos.trigger_check import TriggerChecker
    from chaos.ttl_check import TtlChecker
    if checker is None:
        checker = {"register": RegisterChecker, "set": SetChecker, "counter": CounterChecker,
                   "ttl": TtlChecker, "stream": StreamChecker, "trigger": TriggerChecker}[cfg.workload]()
    pairer = h.Pairer()
    stalls = stalls or _Stalls()
    outcomes: Counter[str] = Counter()
    for ev in h.read_jsonl(history_path):
        stalls.feed(ev)
        op = pairer.feed(ev)
        if op is not None:
            checker.feed(op)
            outcomes[f"{op.f} {op.status}"] += 1
    for op in pairer.finish():
        checker.feed(op)
        outcomes[f"{op.f} {op.status}"] += 1
    result = checker.result()
    what = what or {"register": "linearizable", "set": "no lost or phantom elements",
                    "counter": "every read within the increments' bounds",
                    "ttl": "every unrescued expired item deleted, nothing else lost or invented",
                    "stream": "one record per write, in order, matching the items",
                    "trigger": "every write delivered, the handler's copy equal to the items"}.get(cfg.workload, "")
    valid = result.valid if converged[0] else False
    verdict = {True: f"VALID ({what})", False: f"INVALID: not {what}", None: "UNKNOWN"}[result.valid]
    if not converged[0]:
        what_differs = "regions" if cfg.workload == "global" else "replicas"
        verdict = f"INVALID: {what_differs} did not converge" + ("" if result.valid else f"; {verdict}")
    nops = sum(outcomes.values())
    summary = "\n".join([
        f"workload {cfg.workload}, {cfg.clients} clients, {cfg.duration:g} s, seed {cfg.seed}",
        f"operations: {nops} ({', '.join(f'{k}: {v}' for k, v in sorted(outcomes.items()))})",
        f"faults injected: {', '.join(f'{k} x{v}' for k, v in sorted(injected.items())) or 'none'}",
        stalls.text(),
        converged[1],
        f"verdict: {verdict}",
    ])
    explanation = result.explain()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "timeline.txt", "w", encoding="utf-8") as f:
        f.writelines(h.timeline_lines(lambda: h.read_jsonl(history_path)))
    (out / "summary.txt").write_text(summary + "\n\n" + explanation + "\n")
    return Report(valid, summary, explanation, history_path, nops)
