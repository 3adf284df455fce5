"""`trireme cost` against a real cluster: the units it bills follow from the
writes, the scan and the stream reads made through boto3."""

import asyncio
import json
import subprocess
import sys

import boto3
import pytest

from client.cost_cmd import DEFAULT_PRICES
from client.status import gather_cluster
from tests.integration.conftest import wait_until

TRIREME = [sys.executable, "-m", "client.cli"]
ITEMS = 40


def _cost(cluster, *args: str) -> dict:
    out = subprocess.run([*TRIREME, "cost", "--data-dir", str(cluster.data_dir), "--json", *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def cluster_tables(cluster) -> list[dict]:
    return list(asyncio.run(gather_cluster(cluster))["meta"]["tables"].values())


def get_records(endpoint: str, arn: str, calls: int) -> None:
    """``calls`` GetRecords calls on the stream's first shard (what the routers meter as stream reads)."""
    streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    for _ in range(calls):
        it = streams.get_records(ShardIterator=it)["NextShardIterator"]


def _lines(report: dict, table: str) -> dict:
    return {x["entry"]: x for x in report["lines"] if x["table"] == table}


def test_cost_follows_the_units_consumed(cluster, ddb):
    ddb.create_table(TableName="bill", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    for i in range(ITEMS):  # each item between 1 and 2 KB: two write units
        ddb.put_item(TableName="bill", Item={"k": {"S": f"{i:04d}"}, "pad": {"S": "x" * 1500}})
    scanned = ddb.scan(TableName="bill", ReturnConsumedCapacity="TOTAL")
    scan_units = scanned["ConsumedCapacity"]["CapacityUnits"]
    assert scanned["Count"] == ITEMS and scan_units > 0
    get_records(cluster.endpoint, ddb.describe_table(TableName="bill")["Table"]["LatestStreamArn"], 3)

    def metered():
        report = _cost(cluster, "bill")
        lines = _lines(report, "bill")
        writes = lines["write_request_units"]
        return report if writes["observed"] >= 2 * ITEMS and lines["read_request_units"]["observed"] >= scan_units \
            else None
    report = wait_until(metered, 20, "the writes and the scan metered")
    lines = _lines(report, "bill")
    writes, reads = lines["write_request_units"], lines["read_request_units"]
    assert writes["observed"] == 2 * ITEMS
    # The nodes meter each partition's page, rounded up to 4 KB apiece; the
    # router's ConsumedCapacity rounds the whole Scan once: up to half a unit
    # (eventually consistent) more per partition.
    partitions = len(next(t for t in cluster_tables(cluster) if t["name"] == "bill")["partitions"])
    assert scan_units <= reads["observed"] <= scan_units + 0.5 * partitions
    assert lines["stream_read_requests"]["observed"] == 3
    [usage] = report["tables"]
    month = 730 * 3600 / usage["window_s"]
    assert writes["month"] == pytest.approx(writes["observed"] * month)
    assert writes["cost"] == pytest.approx(writes["month"] * 0.625 / 1e6)
    assert report["monthly_total"] == pytest.approx(sum(x["cost"] for x in report["lines"]))


def test_cost_prints_the_arithmetic_and_names_the_price_file(cluster, ddb, tmp_path):
    ddb.create_table(TableName="cold", TableClass="STANDARD_INFREQUENT_ACCESS",
                     ProvisionedThroughput={"ReadCapacityUnits": 4, "WriteCapacityUnits": 2},
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    prices = json.loads(DEFAULT_PRICES.read_text())
    prices["table_classes"]["STANDARD_INFREQUENT_ACCESS"]["wcu_hours"]["price"] = 1.0  # the user's own price
    mine = tmp_path / "prices.json"
    mine.write_text(json.dumps(prices))
    out = subprocess.run([*TRIREME, "cost", "cold", "--data-dir", str(cluster.data_dir), "--prices", str(mine)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"prices: {mine}" in out.stdout
    assert "1,460 WCU-hours x $1 per WCU-hour = $1,460.0000" in out.stdout  # 2 WCU x 730 h
    assert "2,920 RCU-hours x $0.00016 per RCU-hour" in out.stdout
    ddb.update_table(TableName="cold", ProvisionedThroughput={"ReadCapacityUnits": 4, "WriteCapacityUnits": 3})
    report = _cost(cluster, "cold", "--prices", str(mine))
    [usage] = report["tables"]
    hours = usage["window_s"] / 3600
    assert usage["wcu"] == 3
    assert 2 * hours < _lines(report, "cold")["wcu_hours"]["observed"] < 3 * hours  # 2 WCU, then 3
    assert _lines(report, "cold")["rcu_hours"]["observed"] == pytest.approx(4 * hours, rel=1e-3)
    missing = subprocess.run([*TRIREME, "cost", "nosuch", "--data-dir", str(cluster.data_dir)],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and "no table nosuch" in missing.stderr
