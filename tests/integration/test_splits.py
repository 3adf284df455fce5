"""Partitions that split, on a real cluster with boto3 (node/partition/split.py):
a split under concurrent writes loses no acknowledged write, strongly
consistent reads stay fresh across it, the local and global indexes stay
exact, Scan sees every item, and `trireme split` and `trireme status` show it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from deploy.local import alive
from tests.integration.admin import meta
from tests.integration.conftest import make_client, wait_until

pytestmark = pytest.mark.slow

TABLE = "split_me"
WRITERS = 4


def create(ddb) -> None:
    ddb.create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g", "l")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        LocalSecondaryIndexes=[{"IndexName": "by_l", "Projection": {"ProjectionType": "ALL"},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "l", "KeyType": "RANGE"}]}],
        GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                               {"AttributeName": "pk", "KeyType": "RANGE"}]}])
    ddb.get_waiter("table_exists").wait(TableName=TABLE, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})


def item(pk: str, v: int) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": "s"}, "g": {"S": f"g{v % 3}"}, "l": {"S": f"l{v:06d}"},
            "v": {"N": str(v)}}


def cli(cluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "client.cli", *args, "--data-dir", str(cluster.data_dir)],
                          capture_output=True, text=True, timeout=60)


def partitions(cluster) -> list[dict]:
    m = meta(cluster)
    t = m["tables"][TABLE]
    return [m["partitions"][p] for p in t["partitions"]]


class Writers:
    """Writers each overwriting their own keys with rising versions, each
    acknowledged write checked at once by a strongly consistent read."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.acked: dict[str, int] = {}
        self.errors: list[str] = []
        self.stale: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(w,), daemon=True) for w in range(WRITERS)]

    def run(self, w: int) -> None:
        ddb = make_client(self.endpoint, retries=3)
        v = 0
        while not self.stop.is_set():
            v += 1
            pk = f"w{w}-k{v % 25}"
            try:
                ddb.put_item(TableName=TABLE, Item=item(pk, v))
            except Exception as exc:  # noqa: BLE001 (an unknown outcome is not an acknowledged write)
                self.errors.append(repr(exc))
                continue
            with self.lock:
                self.acked[pk] = v
            got = ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "s"}}, ConsistentRead=True)
            if int(got["Item"]["v"]["N"]) < v:
                self.stale.append(f"{pk}: read {got['Item']['v']['N']} after {v} was acknowledged")

    def __enter__(self) -> Writers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def test_a_split_under_writes_keeps_every_guarantee(own_cluster):
    cluster = own_cluster()
    ddb = make_client(cluster.endpoint, retries=3)
    create(ddb)
    for i in range(60):
        ddb.put_item(TableName=TABLE, Item=item(f"pre{i}", i))
    before = partitions(cluster)
    with Writers(cluster.endpoint) as writers:
        wait_until(lambda: len(writers.acked) >= 20, 60, "writes going on")
        done = cli(cluster, "split", TABLE)
        assert done.returncode == 0, done.stderr
        assert "takes the upper half" in done.stdout
        time.sleep(1.0)  # writes keep going across the split
        grown = writers.acked.copy()
        wait_until(lambda: any(writers.acked.get(k, 0) > v for k, v in grown.items()), 30,
                   "writes acknowledged after the split")
    assert not writers.stale, writers.stale[:5]
    assert not [e for e in writers.errors if "ServiceUnavailable" in e], writers.errors[:5]
    after = partitions(cluster)
    assert len(after) == len(before) + 1
    child = next(p for p in after if p.get("parent"))
    parent = next(p for p in after if p["id"] == child["parent"])
    assert parent["hi"] + 1 == child["lo"]
    # No acknowledged write lost: every key holds its last acknowledged version (or a later one whose
    # answer was lost).
    for pk, v in writers.acked.items():
        got = ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": "s"}}, ConsistentRead=True)
        assert int(got["Item"]["v"]["N"]) >= v, pk
    # Scan sees every item once, across the new boundary.
    items = {i["pk"]["S"]: i for i in paginate(ddb, "scan", TableName=TABLE, ConsistentRead=True)}
    assert len(items) == 60 + len(writers.acked)
    # The local index holds exactly the items; the global index converges to exactly them.
    for pk, it in items.items():
        q = ddb.query(TableName=TABLE, IndexName="by_l", KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": pk}})["Items"]
        assert q == [it], pk

    def gsi_exact() -> bool:
        seen = {}
        for g in ("g0", "g1", "g2"):
            for i in paginate(ddb, "query", TableName=TABLE, IndexName="by_g", KeyConditionExpression="g = :g",
                              ExpressionAttributeValues={":g": {"S": g}}):
                seen[i["pk"]["S"]] = i
        return seen == items
    wait_until(gsi_exact, 60, "the global index to hold exactly the table's items", interval=0.5)
    # `trireme status` shows the split.
    status = cli(cluster, "status")
    assert f"(split from {parent['id']})" in status.stdout and "RECENT SPLITS AND MOVES" in status.stdout, \
        status.stdout


def paginate(ddb, op: str, **kwargs) -> list[dict]:
    out, start = [], None
    while True:
        page = getattr(ddb, op)(**kwargs, **({"ExclusiveStartKey": start} if start else {}))
        out += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return out


def test_a_global_index_partition_splits_under_writes_and_stays_exact(own_cluster):
    """The index's own partition splits (`trireme split TABLE#INDEX`) while
    base writes go on: the shippers route to the new halves, and Query on the
    index answers exactly the table's items across the new boundary."""
    cluster = own_cluster(partitions_per_table=1)
    ddb = make_client(cluster.endpoint, retries=3)
    create(ddb)
    index_table = f"{TABLE}#by_g"
    for i in range(60):
        ddb.put_item(TableName=TABLE, Item={**item(f"pre{i}", i), "g": {"S": f"g{i % 12}"}})
    with Writers(cluster.endpoint) as writers:
        wait_until(lambda: len(writers.acked) >= 20, 60, "writes going on")
        done = cli(cluster, "split", index_table)
        assert done.returncode == 0, done.stderr
        grown = writers.acked.copy()
        wait_until(lambda: any(writers.acked.get(k, 0) > v for k, v in grown.items()), 30,
                   "writes acknowledged after the split")
    m = meta(cluster)
    halves = [m["partitions"][p] for p in m["tables"][index_table]["partitions"]]
    assert len(halves) == 2 and halves[0]["hi"] + 1 == halves[1]["lo"] and halves[1]["parent"] == halves[0]["id"]
    items = {i["pk"]["S"]: i for i in paginate(ddb, "scan", TableName=TABLE, ConsistentRead=True)}
    groups = sorted({i["g"]["S"] for i in items.values()})

    def gsi_exact() -> bool:
        seen = {}
        for g in groups:
            for i in paginate(ddb, "query", TableName=TABLE, IndexName="by_g", KeyConditionExpression="g = :g",
                              ExpressionAttributeValues={":g": {"S": g}}):
                seen[i["pk"]["S"]] = i
        return seen == items
    wait_until(gsi_exact, 60, "the split global index to hold exactly the table's items", interval=0.5)
    scanned = paginate(ddb, "scan", TableName=TABLE, IndexName="by_g")
    assert sorted(i["pk"]["S"] for i in scanned) == sorted(items)


def test_split_refuses_what_it_cannot_split(own_cluster):
    cluster = own_cluster()
    out = cli(cluster, "split", "nope")
    assert out.returncode == 1 and "no such table" in out.stderr


def test_a_partition_past_the_size_limit_splits_by_itself(own_cluster):
    cluster = own_cluster(extra_env={"TRIREME_SPLIT_BYTES": "3000"})
    ddb = make_client(cluster.endpoint, retries=3)
    ddb.create_table(TableName="grows", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    ddb.get_waiter("table_exists").wait(TableName="grows", WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    for i in range(80):  # ~100 bytes each: 8,000 bytes over two partitions, each past 3,000
        ddb.put_item(TableName="grows", Item={"pk": {"S": f"k{i}"}, "pad": {"S": "x" * 80}})
    m = wait_until(lambda: (lambda m: len(m["tables"]["grows"]["partitions"]) > 2 and m)(meta(cluster)), 60,
                   "a split for size")
    assert any(p.get("parent") for p in m["partitions"].values() if p["table_id"] == m["tables"]["grows"]["id"])
    for i in range(80, 100):  # the table keeps serving across it
        ddb.put_item(TableName="grows", Item={"pk": {"S": f"k{i}"}, "pad": {"S": "x" * 80}})
    assert len(paginate(ddb, "scan", TableName="grows", ConsistentRead=True)) == 100
    status = cli(cluster, "status")
    assert "(size)" in status.stdout, status.stdout


def test_a_node_added_takes_replicas_and_a_node_removed_is_drained_first(own_cluster):
    cluster = first = own_cluster()
    ddb = make_client(cluster.endpoint, retries=3)
    for name in ("aaa", "bbb"):
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
        for i in range(30):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
    az = cluster.procs["n1"].az
    added = cli(cluster, "node", "add", "--az", az)
    assert added.returncode == 0, added.stderr + added.stdout
    cluster = type(cluster).load(cluster.data_dir)  # the layout now names n4
    assert "n4" in cluster.procs

    def held_by(node: str) -> list[str]:
        return [p["id"] for p in meta(cluster)["partitions"].values() if node in p["voters"]]
    wait_until(lambda: held_by("n4"), 120, "the controller to move a replica onto n4", interval=0.5)
    removed = cli(cluster, "node", "remove", "n1")
    assert removed.returncode == 0, removed.stderr + removed.stdout
    m = meta(cluster, ["n2", "n3", "n4"])
    assert "n1" not in m["nodes"] and not [p for p in m["partitions"].values() if "n1" in p["voters"]]
    for name in ("aaa", "bbb"):  # every item is still there, read strongly consistent from the new replica sets
        assert len(paginate(ddb, "scan", TableName=name, ConsistentRead=True)) == 30
    status = cli(cluster, "status")
    assert "moving from draining n1 to n4" in status.stdout, status.stdout
    n4 = cluster.procs["n4"].pid
    first.stop(timeout=0)  # the object that started the cluster stops the node added since too
    assert n4 and not alive(n4)


def test_a_partition_kept_hot_splits_by_itself_where_its_writes_divide(own_cluster):
    cluster = own_cluster(extra_env={"TRIREME_SPLIT_UNITS_PER_S": "15", "TRIREME_SPLIT_HOT_S": "2"})
    ddb = make_client(cluster.endpoint, retries=3)
    ddb.create_table(TableName="hot", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    ddb.get_waiter("table_exists").wait(TableName="hot", WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            ddb.put_item(TableName="hot", Item={"pk": {"S": f"k{i % 40}"}, "n": {"N": str(i)}})
    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        wait_until(lambda: len(meta(cluster)["tables"]["hot"]["partitions"]) > 2, 60, "a split for heat",
                   interval=0.5)
    finally:
        stop.set()
        writer.join(30)
    status = cli(cluster, "status")
    assert "(heat)" in status.stdout, status.stdout
    assert len(paginate(ddb, "scan", TableName="hot", ConsistentRead=True)) == 40
