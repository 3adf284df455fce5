"""Capacity enforced and metered on a real cluster: a provisioned table driven
at twice its rate is throttled by about the documented fraction, boto3's
standard retries get every write through, an under-provisioned global index
throttles its base table's writes, an on-demand table meets its partition
ceiling (made small here), and the meta leader's `table_stats` reports the
units consumed.

Every node runs with TRIREME_BURST_S=1 (a partition saves one second of unused
capacity instead of DynamoDB's 300, so a test exhausts it at once) and an
on-demand ceiling of 5 write units per partition per second."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from client.status import gather_cluster
from tests.integration.conftest import make_client, start_cluster, wait_until

BURST_S = 1
ON_DEMAND_WRITE = 5
PARTITIONS = 2


@pytest.fixture(scope="module")
def throttled(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("throttling"), partitions_per_table=PARTITIONS,
                      extra_env={"TRIREME_BURST_S": str(BURST_S),
                                 "TRIREME_ON_DEMAND_WRITE_UNITS": str(ON_DEMAND_WRITE)})
    yield c
    c.stop()


def create(ddb, *, rcu: int = 100, wcu: int = 100, gsi_wcu: int | None = None, on_demand: bool = False) -> str:
    name = f"t{uuid.uuid4().hex[:8]}"
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    extra: dict = {}
    if gsi_wcu is not None:
        attrs.append({"AttributeName": "color", "AttributeType": "S"})
        extra["GlobalSecondaryIndexes"] = [{
            "IndexName": "byColor", "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 100, "WriteCapacityUnits": gsi_wcu}}]
    if on_demand:
        extra["BillingMode"] = "PAY_PER_REQUEST"
    else:
        extra["ProvisionedThroughput"] = {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=attrs, **extra)
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    return name


def put(ddb, name: str, i: int, **attrs) -> str:
    """'ok' or the error code of one put."""
    item = {"pk": {"S": f"k{i}"}, **{k: {"S": v} for k, v in attrs.items()}}
    try:
        ddb.put_item(TableName=name, Item=item)
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"]


def drive(ddb, name: str, rate: float, seconds: float, **attrs) -> tuple[list[str], float]:
    """Puts paced at ``rate`` per second for ``seconds``: their outcomes and the time taken."""
    start = time.monotonic()
    out = []
    for i in range(int(rate * seconds)):
        ahead = start + i / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)  # pacing the load, not waiting for a condition
        out.append(put(ddb, name, i, **attrs))
    return out, time.monotonic() - start


def test_a_table_driven_at_twice_its_rate_admits_its_rate_plus_burst(throttled):
    ddb = make_client(throttled.endpoint)  # no retries: every throttle is seen
    wcu, seconds = 10, 4.0
    name = create(ddb, wcu=wcu)
    # Let the limits reach every node (a heartbeat), then spend the saved burst.
    wait_until(lambda: "ProvisionedThroughputExceededException" in drive(ddb, name, 200, 0.3)[0], 15,
               "the table's limits to apply")
    time.sleep(BURST_S)  # the bucket refills to its one second of burst
    outcomes, elapsed = drive(ddb, name, 2 * wcu, seconds)
    admitted = outcomes.count("ok")
    throttled_count = outcomes.count("ProvisionedThroughputExceededException")
    assert admitted + throttled_count == len(outcomes), set(outcomes)
    # DynamoDB's promise: the rate plus the saved burst, no more. At twice the
    # rate about half is throttled: (2R*T - R*T - R*burst) / 2R*T = 37.5% here.
    bound = wcu * elapsed + wcu * BURST_S
    assert admitted <= bound * 1.1 + 1, (admitted, bound)
    assert admitted >= bound * 0.7, (admitted, bound)
    fraction = throttled_count / len(outcomes)
    expected = 1 - bound / len(outcomes)
    assert abs(fraction - expected) <= 0.15, (fraction, expected)


def test_boto3_standard_retries_get_every_write_through(throttled):
    ddb = make_client(throttled.endpoint, retries=9)
    name = create(ddb, wcu=10)
    for i in range(40):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
    assert ddb.scan(TableName=name, Select="COUNT", ConsistentRead=True)["Count"] == 40


def test_strongly_consistent_reads_are_throttled_at_the_read_rate(throttled):
    ddb = make_client(throttled.endpoint)
    name = create(ddb, rcu=2)
    ddb.put_item(TableName=name, Item={"pk": {"S": "k"}})

    def read_throttled() -> bool:
        try:
            for _ in range(10):
                ddb.get_item(TableName=name, Key={"pk": {"S": "k"}}, ConsistentRead=True)
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
            return True
        return False

    wait_until(read_throttled, 15, "a consistent read to be throttled")


def test_an_index_without_capacity_throttles_its_base_tables_writes(throttled):
    ddb = make_client(throttled.endpoint)
    name = create(ddb, wcu=1000, gsi_wcu=1)
    seen: list[str] = []

    def gsi_throttled() -> bool:
        for i in range(20):
            try:
                ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "color": {"S": "red"}})
            except ClientError as e:
                seen.append(e.response["Error"]["Message"])
                return True
        return False

    wait_until(gsi_throttled, 15, "the index's limit to throttle the table")
    assert seen[0].startswith("The level of configured provisioned throughput for one or more global "
                              "secondary indexes of the table was exceeded")
    # Items the index does not hold cost it nothing: they go through.
    assert [put(ddb, name, 100 + i) for i in range(20)].count("ok") == 20


def test_an_on_demand_table_meets_its_partition_ceiling(throttled):
    ddb = make_client(throttled.endpoint)
    name = create(ddb, on_demand=True)

    def throttled_now() -> list[str]:
        return [o for o in (put(ddb, name, i) for i in range(4 * ON_DEMAND_WRITE * PARTITIONS)) if o != "ok"]

    got = wait_until(throttled_now, 15, "the on-demand ceiling")
    assert set(got) == {"ThrottlingException"}


def test_table_stats_report_the_units_consumed(throttled):
    ddb = make_client(throttled.endpoint)
    name = create(ddb)
    for i in range(10):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "pad": {"S": "x" * 1500}})  # 2 units each
    for i in range(10):
        ddb.get_item(TableName=name, Key={"pk": {"S": f"k{i}"}}, ConsistentRead=True)  # 1 unit each

    def consumed() -> dict | None:
        c = asyncio.run(gather_cluster(throttled))["meta"]["tables"][name].get("consumed")
        return c if c and c["write_units_total"] >= 20 and c["read_units_total"] >= 10 else None

    c = wait_until(consumed, 15, "the consumed units in table_stats")
    assert c["write_units_total"] == 20 and c["read_units_total"] == 10
    assert c["write_units_per_s"] > 0 and c["throttled_write_units_total"] == 0


def test_warm_throughput_is_accepted_and_shown_and_decreases_are_counted(throttled):
    ddb = make_client(throttled.endpoint)
    name = create(ddb, rcu=100, wcu=100)
    desc = ddb.describe_table(TableName=name)["Table"]
    assert desc["WarmThroughput"] == {"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000, "Status": "ACTIVE"}
    ddb.update_table(TableName=name, WarmThroughput={"ReadUnitsPerSecond": 20000})
    assert ddb.describe_table(TableName=name)["Table"]["WarmThroughput"]["ReadUnitsPerSecond"] == 20000
    for i in range(4):
        ddb.update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 90 - i, "WriteCapacityUnits": 100})
    pt = ddb.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]
    assert pt["NumberOfDecreasesToday"] == 4 and pt["ReadCapacityUnits"] == 87
    with pytest.raises(ClientError) as e:
        ddb.update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 100})
    assert e.value.response["Error"]["Code"] == "LimitExceededException"
    ddb.update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 500, "WriteCapacityUnits": 100})
