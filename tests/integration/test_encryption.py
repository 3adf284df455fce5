"""Encryption at rest, end to end: a known marker written to an item, a global
index projection and a stream record is in no file under any node's data
directory (RocksDB SSTs, WAL, Raft log, snapshots installed), through log
compaction and a member catching up from a snapshot, while every read
answers it."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from cluster.kms import MasterKeys
from node.storage import DATA, Storage
from tests.integration.admin import replicas
from tests.integration.conftest import make_client, wait_until

pytestmark = pytest.mark.slow

MARKER = "ZQX-secret-marker-7f3a9c"
COMPACT_EVERY, COMPACT_LAG = 20, 40


def create_marked_table(ddb) -> None:
    ddb.create_table(
        TableName="enc",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "byg", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        BillingMode="PAY_PER_REQUEST")
    wait_until(lambda: ddb.describe_table(TableName="enc")["Table"]["TableStatus"] == "ACTIVE", 30, "table")


def stream_holds(cluster, marker: str) -> bool:
    s = boto3.client("dynamodbstreams", endpoint_url=cluster.endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test")
    arn = s.list_streams(TableName="enc")["Streams"][0]["StreamArn"]
    for shard in s.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        it = s.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                  ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        if marker in str(s.get_records(ShardIterator=it)["Records"]):
            return True
    return False


def files_holding(root: Path, needle: bytes) -> list[str]:
    return [str(f) for f in root.rglob("*") if f.is_file() and needle in f.read_bytes()]


def test_no_file_under_any_node_holds_the_marker(own_cluster):
    cluster = own_cluster(extra_env={"TRIREME_RAFT_COMPACT_EVERY": str(COMPACT_EVERY),
                                     "TRIREME_RAFT_COMPACT_LAG": str(COMPACT_LAG)})
    ddb = make_client(cluster.endpoint, retries=5)
    create_marked_table(ddb)
    before = {g: r["last_index"] for g, r in replicas(cluster, "n3").items() if g.startswith("t1.")}
    cluster.kill("n3")  # it gets the marker by a snapshot, the log compacted past it
    ddb.put_item(TableName="enc", Item={"pk": {"S": "m"}, "g": {"S": "G"}, "secret": {"S": MARKER}})
    for i in range(6 * COMPACT_LAG):
        ddb.put_item(TableName="enc", Item={"pk": {"S": f"f{i}"}, "g": {"S": "F"}})
    cluster.start_proc("n3")

    def caught_up() -> bool:
        mine = replicas(cluster, "n3")
        return all(g in mine and mine[g]["snapshot_index"] > before[g] and mine[g]["applied"] >= mine[g]["commit"]
                   for g in before)
    wait_until(caught_up, 60, "n3 to catch up from snapshots", interval=0.2)

    got = ddb.get_item(TableName="enc", Key={"pk": {"S": "m"}}, ConsistentRead=True)["Item"]
    assert got["secret"]["S"] == MARKER
    wait_until(lambda: ddb.query(TableName="enc", IndexName="byg", KeyConditionExpression="g = :g",
                                 ExpressionAttributeValues={":g": {"S": "G"}})["Items"], 30, "the index entry")
    assert ddb.query(TableName="enc", IndexName="byg", KeyConditionExpression="g = :g",
                     ExpressionAttributeValues={":g": {"S": "G"}})["Items"][0]["secret"]["S"] == MARKER
    assert wait_until(lambda: stream_holds(cluster, MARKER), 30, "the stream record")

    cluster.stop()
    master = MasterKeys.load(cluster.key_file)
    needle = MARKER.encode()
    for name in cluster.node_ids():
        # Every node holds the item (three nodes, three replicas): readable
        # with the key file, and flushed and compacted into SST files.
        with Storage.open(Path(cluster.data_dir) / name / "db", master=master) as db:
            assert any(needle in v for _, v in db.iter_range(DATA, b"", None)), f"{name} lacks the item"
            db._db.flush()
            db._db.compact_range(None, None)
        assert not files_holding(Path(cluster.data_dir) / name, needle)
    assert not files_holding(Path(cluster.data_dir) / "kms", needle)
    with Storage.open(Path(cluster.data_dir) / "n1" / "db") as db:  # without the key file: ciphertext only
        assert not any(needle in v for _, v in db.iter_range(DATA, b"", None))
