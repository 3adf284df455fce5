"""Stream records under partition leader kills: every acknowledged write has
exactly one record, in the order of the writes to its item, and no record
names a value that was never written."""

from __future__ import annotations

import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.admin import leader_of
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_faults import partition_of

WRITERS = 4
KILLS = 3


def read_shards(streams, arn: str) -> list[dict]:
    """Every record of every shard, each shard read until a page comes back empty."""
    out = []
    shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    for shard in shards:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        while it:
            page = streams.get_records(ShardIterator=it)
            out += page["Records"]
            it = page.get("NextShardIterator")
            if not page["Records"]:
                break
    return out


def with_stream(cluster, view: str):
    """A client, and the ARN of the stream of a new table "tbl"."""
    ddb = make_client(cluster.endpoint, retries=3)
    ddb.create_table(TableName="tbl", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    wait_until(lambda: ddb.describe_table(TableName="tbl")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")
    return ddb, ddb.describe_table(TableName="tbl")["Table"]["LatestStreamArn"]


def test_leader_kills_leave_exactly_one_record_per_acknowledged_write(own_cluster):
    cluster = own_cluster()
    ddb, arn = with_stream(cluster, "NEW_IMAGE")

    stop = threading.Event()
    acked: list[list[int]] = [[] for _ in range(WRITERS)]
    tried: list[set[int]] = [set() for _ in range(WRITERS)]

    def writer(w: int) -> None:
        # One item per writer, overwritten with 1, 2, 3, ...: every write changes it.
        client = make_client(cluster.endpoint)
        i = 0
        while not stop.is_set():
            i += 1
            tried[w].add(i)
            try:
                client.put_item(TableName="tbl", Item={"pk": {"S": f"w{w}"}, "v": {"N": str(i)}})
                acked[w].append(i)
            except ClientError:
                pass  # unknown outcome (or refused): its record may or may not exist

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
    for t in threads:
        t.start()
    try:
        for _ in range(KILLS):
            part = partition_of(cluster, "w0")
            victim = wait_until(lambda p=part: leader_of(cluster, p["id"]), 10, "a leader")
            before = len(acked[0])
            cluster.kill(victim)
            wait_until(lambda b=before: len(acked[0]) > b + 5, 30, "writes to resume after the kill")
            cluster.start_proc(victim)
            wait_until(lambda p=part: leader_of(cluster, p["id"]), 10, "a leader")
            time.sleep(0.5)  # let writes land on the restarted member's leader too
    finally:
        stop.set()
        for t in threads:
            t.join(60)

    streams = boto3.client("dynamodbstreams", endpoint_url=cluster.endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test",
                           config=Config(retries={"total_max_attempts": 5, "mode": "standard"}))
    records = read_shards(streams, arn)
    seen: dict[str, list[int]] = {}
    for r in records:
        seen.setdefault(r["dynamodb"]["Keys"]["pk"]["S"], []).append(int(r["dynamodb"]["NewImage"]["v"]["N"]))
    total = 0
    for w in range(WRITERS):
        got = seen.get(f"w{w}", [])
        assert got == sorted(got) and len(set(got)) == len(got), f"w{w}: records out of order or repeated"
        assert set(acked[w]) <= set(got), f"w{w}: acknowledged writes without a record: " \
                                          f"{sorted(set(acked[w]) - set(got))[:10]}"
        assert set(got) <= tried[w], f"w{w}: records of writes never made"
        total += len(acked[w])
    assert total > 100, "the writers made progress"
    print(f"\n{total} acknowledged writes, {len(records)} records across {KILLS} leader kills")


def test_records_past_the_retention_are_trimmed_and_reads_behind_them_refused(own_cluster):
    cluster = own_cluster(extra_env={"TRIREME_STREAM_RETENTION_S": "4"})
    ddb, arn = with_stream(cluster, "KEYS_ONLY")
    streams = boto3.client("dynamodbstreams", endpoint_url=cluster.endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
    ddb.put_item(TableName="tbl", Item={"pk": {"S": "old"}})
    sid = next(s["ShardId"] for s in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
               if streams.get_records(ShardIterator=streams.get_shard_iterator(
                   StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"])["Records"])
    old_it = streams.get_shard_iterator(StreamArn=arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def trimmed() -> bool:
        try:
            streams.get_records(ShardIterator=old_it)
        except streams.exceptions.TrimmedDataAccessException:
            return True
        return False
    wait_until(trimmed, 30, "the old record to be trimmed", interval=0.3)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_shards(streams, arn)] == []
