"""Faults against a real cluster, through boto3: a lost AZ, a lost majority,
leader kills, a whole-cluster crash and a node lost for good. Each test starts
its own cluster and breaks it."""

from __future__ import annotations

import statistics
import threading
import time

import orjson
import pytest
from botocore.exceptions import ClientError

from ddb.encoding import encode_key_value, hash64
from deploy.local import LocalCluster
from tests.integration.admin import leader_of, meta, raw_items, replicas
from tests.integration.conftest import make_client, wait_until

pytestmark = pytest.mark.slow

KEYS = dict(KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")


def create(ddb, name: str = "tbl") -> None:
    ddb.create_table(TableName=name, **KEYS)
    wait_until(lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE",
               20, f"table {name} to become ACTIVE")


def put(ddb, pk: str, v: int) -> None:
    ddb.put_item(TableName="tbl", Item={"pk": {"S": pk}, "v": {"N": str(v)}})


def strong(ddb, pk: str) -> int | None:
    item = ddb.get_item(TableName="tbl", Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")
    return int(item["v"]["N"]) if item else None


def partition_of(cluster: LocalCluster, pk: str, live: list[str] | None = None) -> dict:
    m = meta(cluster, live)
    tid = m["tables"]["tbl"]["id"]
    h = hash64(encode_key_value({"S": pk}))
    return next(p for p in m["partitions"].values()
                if p["table_id"] == tid and p["lo"] <= h <= p["hi"])


def table_partitions(cluster: LocalCluster, live: list[str] | None = None) -> list[dict]:
    m = meta(cluster, live)
    return [p for p in m["partitions"].values() if p["table_id"] == m["tables"]["tbl"]["id"]]


def replicas_agree(cluster: LocalCluster, part: dict) -> bool:
    copies = [raw_items(cluster, n, part["id"]) for n in part["voters"]]
    return all(c == copies[0] for c in copies)


def caught_up(cluster: LocalCluster, part: dict, node: str, target: int, pks: set[str]) -> bool:
    """`node` has applied the partition's log up to `target`, and holds the same
    copies of `pks` as every other replica (the background load keeps writing
    other keys, so whole copies are rarely equal at one instant)."""
    r = replicas(cluster, node).get(part["id"])
    if r is None or r["applied"] < target:
        return False
    copies = [{k: v for k, v in raw_items(cluster, n, part["id"]).items() if orjson.loads(v)["pk"]["S"] in pks}
              for n in part["voters"]]
    return all(c == copies[0] for c in copies)


def live_nodes(cluster: LocalCluster, dead: set[str]) -> list[str]:
    return [n for n in cluster.node_ids() if n not in dead]


def busiest_node(cluster: LocalCluster) -> tuple[int, dict[str, list[str]], str]:
    """The table's id, the partitions each node holds a replica of, and the
    node holding the most."""
    m = meta(cluster)
    tid = m["tables"]["tbl"]["id"]
    hosted = {n: [p["id"] for p in m["partitions"].values() if p["table_id"] == tid and n in p["voters"]]
              for n in cluster.node_ids()}
    victim = max(hosted, key=lambda n: len(hosted[n]))
    assert hosted[victim], "some node hosts a replica of the table"
    return tid, hosted, victim


def wait_replaced(cluster: LocalCluster, tid: int, victim: str, live: list[str], agree_s: float) -> None:
    """Until every partition of table `tid` has three voters without `victim`
    and no learners, and each partition's copies agree."""
    def replaced() -> bool:
        parts = [p for p in meta(cluster, live)["partitions"].values() if p["table_id"] == tid]
        return all(victim not in p["voters"] and not p["learners"] and len(p["voters"]) == 3 for p in parts)
    wait_until(replaced, 60, f"the replicas of {victim} to be replaced")
    for p in meta(cluster, live)["partitions"].values():
        if p["table_id"] == tid:
            wait_until(lambda p=p: replicas_agree(cluster, p), agree_s, f"{p['id']} copies to agree")


def test_one_az_lost_keeps_writes_and_strong_reads_then_the_node_catches_up(own_cluster):
    cluster = own_cluster()
    # A write sent to n2 just as it dies answers 500 "outcome unknown" (the
    # router cannot tell whether n2 applied it); SDKs retry that, as here.
    ddb = make_client(cluster.endpoint, retries=3)
    create(ddb)
    for i in range(40):
        put(ddb, f"k{i}", i)
    cluster.kill("n2")  # all of us-east-1b
    for i in range(40, 80):
        put(ddb, f"k{i}", i)
    assert [strong(ddb, f"k{i}") for i in range(80)] == list(range(80))
    ddb.create_table(TableName="while-degraded", **KEYS)  # meta still has a majority
    cluster.start_proc("n2")
    parts = table_partitions(cluster)
    for part in parts:
        wait_until(lambda p=part: replicas_agree(cluster, p), 20, f"{part['id']} to catch up on n2")
    assert sum(len(raw_items(cluster, "n2", p["id"])) for p in parts) == 80


def test_majority_lost_answers_a_clear_error_in_bounded_time_and_recovers(own_cluster):
    cluster = own_cluster(router_deadline_s=3.0)
    ddb = make_client(cluster.endpoint)
    create(ddb)
    put(ddb, "before", 1)
    cluster.kill("n2")
    cluster.kill("n3")
    t0 = time.monotonic()
    with pytest.raises(ClientError) as e:
        put(ddb, "during", 2)
    took = time.monotonic() - t0
    err = e.value.response
    assert err["Error"]["Code"] in ("ServiceUnavailable", "InternalServerError"), err
    assert err["ResponseMetadata"]["HTTPStatusCode"] in (500, 503)
    assert err["Error"]["Message"], "the error says what went wrong"
    assert took < 3.0 + 3.0, f"the router answered after {took:.1f}s: {err}"
    with pytest.raises(ClientError) as e:
        strong(ddb, "before")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (500, 503)
    cluster.start_proc("n2")
    cluster.start_proc("n3")
    wait_until(lambda: strong(ddb, "before") == 1, 30, "the cluster to serve again")
    # The failed write's outcome was unknown to the client: it is either whole or absent.
    during = ddb.get_item(TableName="tbl", Key={"pk": {"S": "during"}}, ConsistentRead=True).get("Item")
    assert during in (None, {"pk": {"S": "during"}, "v": {"N": "2"}})
    put(ddb, "after", 3)
    assert strong(ddb, "after") == 3


def test_leader_kills_lose_nothing_and_strong_reads_see_every_ack(own_cluster):
    """Kill the leader of the written partition three times under a steady write
    load; a checking writer reads each acknowledged write back strongly at once.
    (`trireme check --nemesis leader-kill` runs longer histories of the same.)"""
    cluster = own_cluster()
    ddb = make_client(cluster.endpoint)
    create(ddb)
    gaps: list[float] = []
    acked: dict[str, int] = {}
    n = 0

    def write_until_acked(pk: str, deadline_s: float = 30.0) -> None:
        nonlocal n
        n += 1
        end = time.monotonic() + deadline_s
        while True:
            try:
                put(ddb, pk, n)
                break
            except ClientError:
                # Unknown outcome; the retry writes the same value, so either way it ends acked.
                assert time.monotonic() < end, "writes did not resume"
        acked[pk] = n
        assert strong(ddb, pk) == n, "a strong read right after the ack must see it"

    stop = threading.Event()
    load_acked: list[list[str]] = [[] for _ in range(2)]

    def load(w: int) -> None:
        client = make_client(cluster.endpoint)
        i = 0
        while not stop.is_set():
            pk = f"load{w}-{i}"
            i += 1
            try:
                put(client, pk, i)
                load_acked[w].append(pk)
            except ClientError:
                pass  # not acknowledged: it may or may not be there

    loaders = [threading.Thread(target=load, args=(w,), daemon=True) for w in range(2)]
    for t in loaders:
        t.start()
    try:
        for _ in range(3):
            for i in range(5):
                write_until_acked(f"k{i}")
            part = partition_of(cluster, "k0")
            victim = wait_until(lambda p=part: leader_of(cluster, p["id"]), 10, "a leader")
            cluster.kill(victim)
            t0 = time.monotonic()
            write_until_acked("k0")
            gaps.append(time.monotonic() - t0)
            for i in range(5):
                write_until_acked(f"k{i}")
            cluster.start_proc(victim)
            leader = wait_until(lambda p=part: leader_of(cluster, p["id"]), 10, "a leader")
            target = replicas(cluster, leader)[part["id"]]["commit"]
            wait_until(lambda p=part, v=victim, t=target: caught_up(cluster, p, v, t, {f"k{i}" for i in range(5)}),
                       30, f"{victim} to catch up")
    finally:
        stop.set()
        for t in loaders:
            t.join(60)
    for pk, v in acked.items():
        assert strong(ddb, pk) == v
    loaded = [pk for w in load_acked for pk in w]
    assert len(loaded) > 100, "the background load made progress"
    missing = [pk for pk in loaded if strong(ddb, pk) is None]
    assert missing == []
    gaps.sort()
    print(f"\nleader kill -> next acked write: p50 {statistics.median(gaps):.2f}s "
          f"max {gaps[-1]:.2f}s over {len(gaps)} kills; {len(loaded)} writes of background load all present")
    assert gaps[-1] < 8.0


def test_whole_cluster_crash_keeps_every_acknowledged_write(own_cluster):
    cluster = own_cluster()
    ddb = make_client(cluster.endpoint)
    create(ddb)
    for i in range(60):
        put(ddb, f"k{i}", i)
    ddb.delete_item(TableName="tbl", Key={"pk": {"S": "k7"}})
    ddb.update_item(TableName="tbl", Key={"pk": {"S": "k8"}}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "800"}})
    for name in cluster.node_ids():
        cluster.kill(name)
    for name in cluster.node_ids():
        cluster.start_proc(name)
    wait_until(lambda: strong(ddb, "k0") == 0, 30, "the restarted cluster to serve")
    expect = {f"k{i}": i for i in range(60)} | {"k7": None, "k8": 800}
    assert {pk: strong(ddb, pk) for pk in expect} == expect
    assert ddb.describe_table(TableName="tbl")["Table"]["TableStatus"] == "ACTIVE"


def test_a_node_lost_for_good_is_replaced_in_its_az(own_cluster):
    cluster = own_cluster(nodes_per_az=2, dead_after_s=3.0)
    ddb = make_client(cluster.endpoint)
    create(ddb)
    for i in range(50):
        put(ddb, f"k{i}", i)
    tid, hosted, victim = busiest_node(cluster)
    az = cluster.procs[victim].az
    cluster.kill(victim)
    t0 = time.monotonic()
    live = live_nodes(cluster, {victim})

    def replaced() -> bool:
        m = meta(cluster, live)
        azs = {n["id"]: n["az"] for n in m["nodes"].values()}
        parts = [p for p in m["partitions"].values() if p["table_id"] == tid or p["id"] == "meta"]
        return all(victim not in p["voters"] and not p["learners"] and len(p["voters"]) == 3
                   and len({azs[v] for v in p["voters"]}) == 3 for p in parts)

    try:
        wait_until(replaced, 60, f"the replicas of {victim} to be replaced")
    except AssertionError:
        m = meta(cluster, live)
        moving = {p["id"] for p in m["partitions"].values() if p["learners"]}
        seen = {n: {g: r for g, r in replicas(cluster, n).items() if g in moving} for n in live}
        raise AssertionError(f"{victim} not replaced: partitions {m['partitions']}; replicas {seen}") from None
    took = time.monotonic() - t0
    m = meta(cluster, live)
    for pid in hosted[victim]:
        p = m["partitions"][pid]
        newcomer = [v for v in p["voters"] if cluster.procs[v].az == az]
        assert newcomer and newcomer[0] != victim, f"{pid} is replaced in {az}"
        wait_until(lambda p=p: replicas_agree(cluster, p), 20, f"{pid} copies to agree")
    assert [strong(ddb, f"k{i}") for i in range(50)] == list(range(50))
    put(ddb, "after", 1)
    print(f"\nnode lost -> three healthy replicas again in {took:.1f}s (dead-after 3s)")
