"""Global tables (MREC) end to end: two regions, each a real LocalCluster
whose nodes reach the other's router directly (no link). A table made global
in both metadata (the meta command set_table_replicas) replicates writes made
in either region, including concurrent writes to one item and deletes, until
both hold identical items; each region's stream shows every change applied
there and its global index follows; a partition leader killed while changes
flow loses none of them; a region added while CREATING is backfilled with the
items written before, while writes go on; a region out of reach catches up,
its replication lag visible meanwhile."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from client.status import gather_cluster, render
from cluster.rpc import Channels, meta_call
from deploy.local import LocalCluster, free_port
from tests.integration.admin import admin, leader_of, meta, node_addr
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_streams_faults import read_shards

US, EU = "us-east-1", "eu-west-1"
TABLE = "glob"


def set_replicas(cluster, replicas: list[dict], table: str = TABLE) -> None:
    async def go():
        ch = Channels()
        ch.cluster_id = cluster.cluster_id
        try:
            return await meta_call(ch, [node_addr(cluster, n) for n in cluster.node_ids()], "set_table_replicas",
                                   {"name": table, "replicas": replicas, "global_version": "2019.11.21"})
        finally:
            await ch.close()
    asyncio.run(go())


def create_table(client, table: str = TABLE) -> None:
    client.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g")],
        GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    wait_until(lambda: client.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE", 60, "ACTIVE")


def items(client, table: str = TABLE) -> list[dict]:
    out, start = [], None
    while True:
        page = client.scan(TableName=table, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        out += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return sorted(out, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def digest(client, table: str = TABLE) -> str:
    return hashlib.sha256(json.dumps(items(client, table), sort_keys=True).encode()).hexdigest()


def converged(a, b, table: str = TABLE) -> bool:
    return digest(a, table) == digest(b, table)


def stream_records(cluster) -> list[dict]:
    streams = boto3.client("dynamodbstreams", endpoint_url=cluster.endpoint, region_name=cluster.region,
                           aws_access_key_id="test", aws_secret_access_key="test",
                           config=Config(retries={"total_max_attempts": 5, "mode": "standard"}))
    ddb = make_client(cluster.endpoint, retries=3)
    return read_shards(streams, ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"])


def lag_rows(cluster) -> list[dict]:
    """Every node's replication status rows (the partitions it leads)."""
    return [row for n in cluster.node_ids() for row in admin(node_addr(cluster, n), "replication")["replication"]]


def replicating(cluster) -> int:
    return sum(r["partitions"] for r in lag_rows(cluster))


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    ports = {US: free_port(), EU: free_port()}
    started = []
    try:
        for region, other in ((US, EU), (EU, US)):
            # Router ports chosen first, so each region knows where the other's router listens.
            c = LocalCluster(tmp_path_factory.mktemp(region) / "data", router_port=ports[region], node_base_port=0,
                             region=region, remote_regions={other: f"http://127.0.0.1:{ports[other]}"})
            started.append(c)
            c.plan()
            c.start(wait_s=60)
        yield started
    finally:
        for c in started:
            c.stop()


@pytest.fixture(scope="module")
def glob(regions):
    """The two regions, with table TABLE global in both."""
    us, eu = regions
    for cluster in (us, eu):
        create_table(make_client(cluster.endpoint, retries=3))
    set_replicas(us, [{"region": EU, "status": "ACTIVE"}])
    set_replicas(eu, [{"region": US, "status": "ACTIVE"}])
    # Writes are versioned and logged once every partition applied its replication settings (their leaders
    # then report a sender per region); what was written before would need the backfill.
    for cluster in (us, eu):
        wait_until(lambda c=cluster: replicating(c) >= len(meta(c)["tables"][TABLE]["partitions"]), 30,
                   f"{cluster.region}'s partitions to replicate")
    return regions


def test_writes_in_both_regions_converge_with_streams_indexes_and_lag(glob):
    us, eu = glob
    a, b = make_client(us.endpoint, retries=3), make_client(eu.endpoint, retries=3)
    for i in range(20):
        a.put_item(TableName=TABLE, Item={"pk": {"S": f"us{i}"}, "sk": {"S": "x"}, "g": {"S": "us"}})
        b.put_item(TableName=TABLE, Item={"pk": {"S": f"eu{i}"}, "sk": {"S": "x"}, "g": {"S": "eu"}})

    # The same item written in both regions at once, many times: one version wins everywhere.
    def hammer(client, region):
        for n in range(15):
            client.put_item(TableName=TABLE, Item={"pk": {"S": "both"}, "sk": {"S": "x"}, "by": {"S": region},
                                                   "n": {"N": str(n)}})
    threads = [threading.Thread(target=hammer, args=(a, US)), threading.Thread(target=hammer, args=(b, EU))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wait_until(lambda: b.get_item(TableName=TABLE, Key={"pk": {"S": "us19"}, "sk": {"S": "x"}}).get("Item"),
               30, "a write in us-east-1 to reach eu-west-1")
    # Deletes, of items written here and of items written in the other region.
    for i in range(5):
        a.delete_item(TableName=TABLE, Key={"pk": {"S": f"us{i}"}, "sk": {"S": "x"}})
        b.delete_item(TableName=TABLE, Key={"pk": {"S": f"us{i + 5}"}, "sk": {"S": "x"}})
    wait_until(lambda: converged(a, b), 60, "both regions to hold the same items", interval=0.5)
    got = [i for i in items(a) if i["sk"]["S"] == "x"]  # (other tests' items have other sort keys)
    keys = {i["pk"]["S"] for i in got}
    assert keys == {f"us{i}" for i in range(10, 20)} | {f"eu{i}" for i in range(20)} | {"both"}
    both = next(i for i in got if i["pk"]["S"] == "both")
    assert both["n"] == {"N": "14"}  # the last write of whichever region won

    # Each region's global index holds the other region's items.
    wait_until(lambda: len(b.query(TableName=TABLE, IndexName="by_g", KeyConditionExpression="g = :g",
                                   ExpressionAttributeValues={":g": {"S": "us"}})["Items"]) == 10,
               30, "eu-west-1's index to hold us-east-1's items")

    # Each region's stream shows every change applied there, wherever it was made.
    for cluster in (us, eu):
        records = [r for r in stream_records(cluster) if r["dynamodb"]["Keys"]["sk"]["S"] == "x"]
        inserted = {r["dynamodb"]["Keys"]["pk"]["S"] for r in records if r["eventName"] == "INSERT"}
        removed = {r["dynamodb"]["Keys"]["pk"]["S"] for r in records if r["eventName"] == "REMOVE"}
        assert {f"us{i}" for i in range(20)} | {f"eu{i}" for i in range(20)} <= inserted, cluster.region
        assert removed == {f"us{i}" for i in range(10)}, cluster.region
        assert all(r["awsRegion"] == cluster.region for r in records)

    # Replication lag per (table, destination region), from the partitions' leaders: nothing waits now.
    assert (TABLE, EU) in {(r["table"], r["region"]) for r in lag_rows(us)}
    assert (TABLE, US) in {(r["table"], r["region"]) for r in lag_rows(eu)}
    wait_until(lambda: all(r["lag_ms"] == 0 for r in lag_rows(us) + lag_rows(eu)), 10, "no lag once converged")


def test_a_partition_leader_killed_while_changes_flow_loses_none(glob):
    us, eu = glob
    a, b = make_client(us.endpoint, retries=5), make_client(eu.endpoint, retries=5)
    acked: list[int] = []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set() and i < 400:
            i += 1
            try:
                a.put_item(TableName=TABLE, Item={"pk": {"S": f"k{i}"}, "sk": {"S": "kill"}, "n": {"N": str(i)}})
                acked.append(i)
            except ClientError:
                pass  # unknown outcome: present or not, both regions must agree
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        wait_until(lambda: len(acked) > 20, 30, "writes to flow")
        group = meta(us)["tables"][TABLE]["partitions"][0]
        victim = wait_until(lambda: leader_of(us, group), 10, "a leader")
        before = len(acked)
        us.kill(victim)
        wait_until(lambda: len(acked) > before + 20, 60, "writes to resume after the kill")
        us.start_proc(victim)
    finally:
        stop.set()
        t.join(60)
    wait_until(lambda: converged(a, b), 90, "both regions to hold the same items after the kill", interval=0.5)
    present = {int(i["n"]["N"]) for i in items(b) if i["sk"]["S"] == "kill"}
    assert set(acked) <= present, f"acknowledged writes missing in eu-west-1: {sorted(set(acked) - present)[:10]}"


def test_a_new_replica_region_is_backfilled_while_writes_go_on(regions):
    us, eu = regions
    a, b = make_client(us.endpoint, retries=5), make_client(eu.endpoint, retries=5)
    table = "back"
    create_table(a, table)
    for i in range(300):  # before the table is global: no versions yet
        a.put_item(TableName=table, Item={"pk": {"S": f"old{i}"}, "sk": {"S": "x"}, "g": {"S": "old"}})
    create_table(b, table)
    stop = threading.Event()
    written: list[int] = []

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            # New items, and changes to a few of the old ones (their newer versions win over the backfilled).
            pk = f"new{i}" if i % 2 else f"old{i % 40}"
            a.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": "x"}, "n": {"N": str(i)}})
            written.append(i)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        set_replicas(eu, [{"region": US, "status": "ACTIVE"}], table)
        set_replicas(us, [{"region": EU, "status": "CREATING"}], table)  # eu-west-1's replica is new: backfill it
        wait_until(lambda: done(us, table), 60, "the backfill to finish", interval=0.2)
    finally:
        stop.set()
        t.join(60)
    wait_until(lambda: converged(a, b, table), 60, "the new replica to hold the same items", interval=0.5)
    got = items(b, table)
    assert {i["pk"]["S"] for i in got} == {f"old{i}" for i in range(300)} | {f"new{i}" for i in written if i % 2}


def done(cluster, table: str) -> bool:
    rows = [r for r in lag_rows(cluster) if r["table"] == table]
    return bool(rows) and sum(r["partitions"] for r in rows) == len(meta(cluster)["tables"][table]["partitions"]) \
        and all(r["backfilling"] == 0 for r in rows)


def test_a_region_out_of_reach_catches_up_and_its_lag_shows_meanwhile(glob):
    us, eu = glob
    a, b = make_client(us.endpoint, retries=3), make_client(eu.endpoint, retries=5)
    eu.kill("router1")  # us-east-1's replicators find nobody at eu-west-1's endpoint
    try:
        for i in range(30):
            a.put_item(TableName=TABLE, Item={"pk": {"S": f"cut{i}"}, "sk": {"S": "cut"}})
        wait_until(lambda: max(r["lag_ms"] for r in lag_rows(us)) > 1000, 30, "the lag to show")
        # `trireme status` of the region (one region: no --regions) shows it per replica table.
        report = asyncio.run(gather_cluster(us))
        row = next(r for r in report["replication"] if r["table"] == TABLE)
        assert (row["region"], row["replica"], row["status"]) == (US, EU, "ACTIVE") and row["lag_s"] > 1.0
        assert re.search(rf"{TABLE}\s+{US}\s+{EU}\s+ACTIVE\s+\d+ ms", render(report))
    finally:
        eu.start_proc("router1")
    wait_until(lambda: converged(a, b), 60, "eu-west-1 to catch up", interval=0.5)
    wait_until(lambda: all(r["lag_ms"] == 0 for r in lag_rows(us)), 30, "the lag to go")
    assert next(r for r in asyncio.run(gather_cluster(us))["replication"] if r["table"] == TABLE)["lag_s"] < 0.5
