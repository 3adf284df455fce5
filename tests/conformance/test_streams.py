"""DynamoDB Streams through boto3's ``dynamodbstreams`` client: stream
settings on CreateTable and UpdateTable, DescribeTable's stream members, the
records of each view type, the iterators, pagination, disable and re-enable,
and the Streams API's errors."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.config import Config

from tests.conformance.conftest import create_table, error_of
from tests.integration.conftest import wait_until


@pytest.fixture(scope="module")
def streams(conformance_cluster):
    return boto3.client("dynamodbstreams", endpoint_url=conformance_cluster.endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 3, "mode": "standard"}))


def _with_stream(ddb, name: str, view: str, range_key: bool = False) -> str:
    create_table(ddb, name, ("pk", "S"), ("sk", "S") if range_key else None,
                 StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    return ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]


def _shards(streams, arn: str) -> list[dict]:
    out, start = [], None
    while True:
        kw = {"ExclusiveStartShardId": start} if start else {}
        d = streams.describe_stream(StreamArn=arn, **kw)["StreamDescription"]
        out += d["Shards"]
        start = d.get("LastEvaluatedShardId")
        if not start:
            return out


def _read_all(streams, arn: str, kind: str = "TRIM_HORIZON", limit: int | None = None) -> list[dict]:
    """Every record of every shard, reading each until it has nothing more."""
    records = []
    for shard in _shards(streams, arn):
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                        ShardIteratorType=kind)["ShardIterator"]
        while it:
            page = streams.get_records(ShardIterator=it, **({"Limit": limit} if limit else {}))
            records += page["Records"]
            it = page.get("NextShardIterator")
            if not page["Records"]:
                break
    return records


def test_create_with_stream_describe_table_and_stream(ddb, streams):
    arn = _with_stream(ddb, "st_describe", "NEW_AND_OLD_IMAGES", range_key=True)
    table = ddb.describe_table(TableName="st_describe")["Table"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert arn.startswith("arn:aws:dynamodb:us-east-1:000000000000:table/st_describe/stream/")
    assert table["LatestStreamLabel"] == arn.rsplit("/", 1)[1]
    d = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert d["StreamStatus"] == "ENABLED" and d["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert d["TableName"] == "st_describe" and d["KeySchema"] == table["KeySchema"]
    assert len(d["Shards"]) == 2  # one per partition
    for shard in d["Shards"]:
        assert shard["ShardId"].startswith("shardId-")
        assert "EndingSequenceNumber" not in shard["SequenceNumberRange"]
    listed = streams.list_streams(TableName="st_describe")["Streams"]
    assert listed == [{"StreamArn": arn, "TableName": "st_describe", "StreamLabel": table["LatestStreamLabel"]}]
    assert arn in [s["StreamArn"] for s in streams.list_streams()["Streams"]]


def test_insert_modify_remove_with_both_images_in_order(ddb, streams):
    arn = _with_stream(ddb, "st_events", "NEW_AND_OLD_IMAGES")
    key = {"pk": {"S": "a"}}
    ddb.put_item(TableName="st_events", Item={**key, "v": {"N": "1"}})
    ddb.put_item(TableName="st_events", Item={**key, "v": {"N": "1"}})  # changes nothing: no record
    ddb.update_item(TableName="st_events", Key=key, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": {"N": "2"}})
    ddb.delete_item(TableName="st_events", Key=key)
    ddb.delete_item(TableName="st_events", Key=key)  # nothing to delete: no record
    records = _read_all(streams, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    ins, mod, rem = (r["dynamodb"] for r in records)
    assert ins["Keys"] == key and ins["NewImage"] == {**key, "v": {"N": "1"}} and "OldImage" not in ins
    assert mod["OldImage"] == {**key, "v": {"N": "1"}} and mod["NewImage"] == {**key, "v": {"N": "2"}}
    assert rem["OldImage"] == {**key, "v": {"N": "2"}} and "NewImage" not in rem
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    for r in records:
        assert r["eventVersion"] == "1.1" and r["eventSource"] == "aws:dynamodb"
        assert r["awsRegion"] == "us-east-1" and len(r["eventID"]) == 32
        assert r["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES" and r["dynamodb"]["SizeBytes"] > 0
        assert r["dynamodb"]["ApproximateCreationDateTime"].year >= 2024
        assert "userIdentity" not in r


@pytest.mark.parametrize("view,old,new", [("KEYS_ONLY", False, False), ("NEW_IMAGE", False, True),
                                          ("OLD_IMAGE", True, False)])
def test_each_view_type_shows_its_images(ddb, streams, view, old, new):
    name = f"st_view_{view.lower()}"
    arn = _with_stream(ddb, name, view)
    key = {"pk": {"S": "k"}}
    ddb.put_item(TableName=name, Item={**key, "v": {"S": "x"}})
    ddb.put_item(TableName=name, Item={**key, "v": {"S": "y"}})
    records = _read_all(streams, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    modify = records[1]["dynamodb"]
    assert modify["Keys"] == key and modify["StreamViewType"] == view
    assert ("OldImage" in modify) == old and ("NewImage" in modify) == new


def test_iterator_types_and_pagination(ddb, streams):
    arn = _with_stream(ddb, "st_iter", "KEYS_ONLY", range_key=True)
    for i in range(12):  # one partition key: one shard holds them all, in order
        ddb.put_item(TableName="st_iter", Item={"pk": {"S": "p"}, "sk": {"S": f"{i:02d}"}})
    shard = next(s for s in _shards(streams, arn)
                 if streams.get_records(ShardIterator=streams.get_shard_iterator(
                     StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                 )["Records"])
    sid = shard["ShardId"]

    def it(kind, **kw):
        return streams.get_shard_iterator(StreamArn=arn, ShardId=sid, ShardIteratorType=kind, **kw)["ShardIterator"]

    pages, cur = [], it("TRIM_HORIZON")
    while True:
        page = streams.get_records(ShardIterator=cur, Limit=5)
        if not page["Records"]:
            break
        pages.append(page["Records"])
        cur = page["NextShardIterator"]
    assert [len(p) for p in pages] == [5, 5, 2]
    flat = [r for p in pages for r in p]
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in flat] == [f"{i:02d}" for i in range(12)]
    seq = flat[4]["dynamodb"]["SequenceNumber"]
    at = streams.get_records(ShardIterator=it("AT_SEQUENCE_NUMBER", SequenceNumber=seq), Limit=1)["Records"]
    assert at[0]["dynamodb"]["SequenceNumber"] == seq
    after = streams.get_records(ShardIterator=it("AFTER_SEQUENCE_NUMBER", SequenceNumber=seq), Limit=1)["Records"]
    assert after[0]["dynamodb"]["SequenceNumber"] == flat[5]["dynamodb"]["SequenceNumber"]
    latest = it("LATEST")
    assert streams.get_records(ShardIterator=latest)["Records"] == []
    ddb.put_item(TableName="st_iter", Item={"pk": {"S": "p"}, "sk": {"S": "new"}})
    fresh = streams.get_records(ShardIterator=latest)["Records"]
    assert [r["dynamodb"]["Keys"]["sk"]["S"] for r in fresh] == ["new"]


def test_disable_then_enable_makes_a_new_stream_and_the_old_one_stays_readable(ddb, streams):
    old_arn = _with_stream(ddb, "st_cycle", "NEW_IMAGE")
    ddb.put_item(TableName="st_cycle", Item={"pk": {"S": "before"}})
    desc = ddb.update_table(TableName="st_cycle", StreamSpecification={"StreamEnabled": False})["TableDescription"]
    assert "StreamSpecification" not in desc and desc["LatestStreamArn"] == old_arn
    wait_until(lambda: ddb.describe_table(TableName="st_cycle")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")
    d = streams.describe_stream(StreamArn=old_arn)["StreamDescription"]
    assert d["StreamStatus"] == "DISABLED"
    assert all("EndingSequenceNumber" in s["SequenceNumberRange"] for s in d["Shards"])
    ddb.put_item(TableName="st_cycle", Item={"pk": {"S": "between"}})  # no stream: no record
    ddb.update_table(TableName="st_cycle", StreamSpecification={"StreamEnabled": True,
                                                                "StreamViewType": "KEYS_ONLY"})
    wait_until(lambda: ddb.describe_table(TableName="st_cycle")["Table"]["TableStatus"] == "ACTIVE", 30, "ACTIVE")
    table = ddb.describe_table(TableName="st_cycle")["Table"]
    new_arn = table["LatestStreamArn"]
    assert new_arn != old_arn
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    ddb.put_item(TableName="st_cycle", Item={"pk": {"S": "after"}})
    old = _read_all(streams, old_arn)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in old] == ["before"]
    new = _read_all(streams, new_arn)
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in new] == ["after"]
    assert {s["StreamArn"] for s in streams.list_streams(TableName="st_cycle")["Streams"]} == {old_arn, new_arn}
    first = streams.list_streams(TableName="st_cycle", Limit=1)
    second = streams.list_streams(TableName="st_cycle", Limit=1,
                                  ExclusiveStartStreamArn=first["LastEvaluatedStreamArn"])
    assert {first["Streams"][0]["StreamArn"], second["Streams"][0]["StreamArn"]} == {old_arn, new_arn}
    assert "LastEvaluatedStreamArn" not in second
    # A closed shard read to its end has no next iterator.
    for shard in _shards(streams, old_arn):
        cur = streams.get_shard_iterator(StreamArn=old_arn, ShardId=shard["ShardId"],
                                         ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        for _ in range(5):
            page = streams.get_records(ShardIterator=cur)
            cur = page.get("NextShardIterator")
            if cur is None:
                break
        assert cur is None


def test_stream_specification_errors(ddb, streams):
    code, msg = error_of(ddb.create_table, TableName="st_bad", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         StreamSpecification={"StreamEnabled": True})
    assert code == "ValidationException" and "UpdateViewType is required" in msg
    create_table(ddb, "st_plain", ("pk", "S"))
    assert "LatestStreamArn" not in ddb.describe_table(TableName="st_plain")["Table"]
    code, msg = error_of(ddb.update_table, TableName="st_plain", StreamSpecification={"StreamEnabled": False})
    assert (code, msg) == ("ValidationException", "Table has no stream to disable: TableName: st_plain")
    _with_stream(ddb, "st_twice", "KEYS_ONLY")
    code, msg = error_of(ddb.update_table, TableName="st_twice",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    assert (code, msg) == ("ValidationException", "Table already has an enabled stream: TableName: st_twice")
    code, msg = error_of(ddb.update_table, TableName="st_plain", BillingMode="PROVISIONED",
                         ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    assert (code, msg) == ("ValidationException", "One or more parameter values were invalid: "
                                                  "You cannot modify stream status while updating table IOPS")
    code, msg = error_of(ddb.update_table, TableName="st_plain",
                         AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
                         GlobalSecondaryIndexUpdates=[{"Create": {
                             "IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                             "Projection": {"ProjectionType": "ALL"}}}],
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    assert (code, msg) == ("ValidationException", "One or more parameter values were invalid: "
                                                  "You cannot create or delete index while changing stream status")
    code, _ = error_of(streams.describe_stream,
                       StreamArn="arn:aws:dynamodb:us-east-1:000000000000:table/nope/stream/2020-01-01T00:00:00.000")
    assert code == "ResourceNotFoundException"
    code, _ = error_of(streams.get_records, ShardIterator="garbage-iterator")
    assert code == "ValidationException"
    arn = ddb.describe_table(TableName="st_twice")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    code, _ = error_of(streams.get_records, ShardIterator=it, Limit=1001)
    assert code == "LimitExceededException"
    code, _ = error_of(streams.get_shard_iterator, StreamArn=arn, ShardId="shardId-00000000000000000000-00000000",
                       ShardIteratorType="LATEST")
    assert code == "ResourceNotFoundException"
    forged = it[:-3] + ("AAA" if not it.endswith("AAA") else "BBB")
    code, _ = error_of(streams.get_records, ShardIterator=forged)
    assert code == "ValidationException"
    code, _ = error_of(streams.list_streams, TableName="no_such_table")
    assert code == "ResourceNotFoundException"


def test_a_delete_by_ttl_is_a_remove_record_naming_the_service(ddb, streams):
    arn = _with_stream(ddb, "st_ttl", "NEW_AND_OLD_IMAGES")
    ddb.update_time_to_live(TableName="st_ttl", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    gone = {"pk": {"S": "gone"}, "exp": {"N": str(int(time.time()) - 60)}}
    ddb.put_item(TableName="st_ttl", Item=gone)
    ddb.put_item(TableName="st_ttl", Item={"pk": {"S": "mine"}})
    ddb.delete_item(TableName="st_ttl", Key={"pk": {"S": "mine"}})  # a user's delete: no userIdentity
    wait_until(lambda: "Item" not in ddb.get_item(TableName="st_ttl", Key={"pk": {"S": "gone"}},
                                                  ConsistentRead=True), 30, "the TTL sweep to delete the item")
    removes = {r["dynamodb"]["Keys"]["pk"]["S"]: r for r in _read_all(streams, arn) if r["eventName"] == "REMOVE"}
    assert removes["gone"]["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
    assert removes["gone"]["dynamodb"]["OldImage"] == gone
    assert "userIdentity" not in removes["mine"]
