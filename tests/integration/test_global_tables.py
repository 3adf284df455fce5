"""Global tables across three real regions (LocalClusters whose routers know
each other), driven with boto3 clients per region: UpdateTable ReplicaUpdates,
DescribeTable's Replicas, DeleteTable of a replica, the legacy 2017.11.29
operations, DescribeTableReplicaAutoScaling, and their errors. Replication
of items is another slice's: nothing here looks at replicated items."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from deploy.local import LocalCluster, free_port
from tests.integration.conftest import wait_until

EAST, WEST, SOUTH, DEAD = "us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"
KEYS = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST"}
README = Path(__file__).resolve().parents[2] / "README.md"
NEW_AND_OLD = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def client(endpoint: str, region: str):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name=region, aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(retries={"total_max_attempts": 1}, read_timeout=60, connect_timeout=5))


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    """us-east-1, eu-west-1 and ap-south-1, each knowing the others; us-east-1
    also knows sa-east-1, whose router never answers (nothing listens there)."""
    ports = {r: free_port() for r in (EAST, WEST, SOUTH, DEAD)}
    urls = {r: f"http://127.0.0.1:{port}" for r, port in ports.items()}
    started = []
    try:
        for region in (EAST, WEST, SOUTH):
            remote = {r: url for r, url in urls.items() if r != region and (r != DEAD or region == EAST)}
            c = LocalCluster(tmp_path_factory.mktemp(region) / "data", router_port=ports[region], node_base_port=0,
                             region=region, remote_regions=remote)
            started.append(c)
            c.plan()
            c.start(wait_s=60)
        yield {c.region: client(c.endpoint, c.region) for c in started}
    finally:
        for c in started:
            c.stop()


def _name() -> str:
    return f"gt-{uuid.uuid4().hex[:10]}"


def _error(exc_info) -> tuple[str, str]:
    err = exc_info.value.response["Error"]
    return err["Code"], err["Message"]


def _active(ddb, name: str) -> None:
    """Waits, as a user would, for the table (UPDATING while a new replica is backfilled) to be ACTIVE."""
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 90})


def _missing(ddb, name: str) -> bool:
    try:
        ddb.describe_table(TableName=name)
    except ClientError as e:
        return e.response["Error"]["Code"] == "ResourceNotFoundException"
    return False


def test_a_replica_is_created_described_in_both_regions_and_deleted(regions):
    east, west = regions[EAST], regions[WEST]
    name = _name()
    east.create_table(TableName=name, **{**KEYS, "AttributeDefinitions": [
        *KEYS["AttributeDefinitions"], {"AttributeName": "g", "AttributeType": "S"}]},
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    assert "Replicas" not in east.describe_table(TableName=name)["Table"]  # regional so far

    out = east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])["TableDescription"]
    assert out["GlobalTableVersion"] == "2019.11.21"
    assert out["StreamSpecification"] == NEW_AND_OLD  # made global: a stream where there was none
    _active(east, name)
    assert east.describe_table(TableName=name)["Table"]["Replicas"] == [{"RegionName": WEST, "ReplicaStatus": "ACTIVE"}]

    there = west.describe_table(TableName=name)["Table"]
    assert there["Replicas"] == [{"RegionName": EAST, "ReplicaStatus": "ACTIVE"}]
    assert there["GlobalTableVersion"] == "2019.11.21"
    assert there["KeySchema"] == KEYS["KeySchema"]
    assert [g["IndexName"] for g in there["GlobalSecondaryIndexes"]] == ["by-g"]
    assert there["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert there["StreamSpecification"] == NEW_AND_OLD
    assert there["TableArn"].startswith(f"arn:aws:dynamodb:{WEST}:")

    auto = east.describe_table_replica_auto_scaling(TableName=name)["TableAutoScalingDescription"]
    assert [(r["RegionName"], r["ReplicaStatus"]) for r in auto["Replicas"]] == [(WEST, "ACTIVE"), (EAST, "ACTIVE")]
    assert all(r["GlobalSecondaryIndexes"][0]["IndexName"] == "by-g" for r in auto["Replicas"])

    out = east.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])["TableDescription"]
    assert "Replicas" not in out and "GlobalTableVersion" not in out
    wait_until(lambda: _missing(west, name), 30, "the replica table in eu-west-1 to be deleted")
    assert "Replicas" not in east.describe_table(TableName=name)["Table"]


def test_replica_updates_are_validated_before_anything_changes(regions):
    east, west = regions[EAST], regions[WEST]
    name = _name()
    east.create_table(TableName=name, **KEYS)

    def refused(updates, **extra) -> tuple[str, str]:
        with pytest.raises(ClientError) as e:
            east.update_table(TableName=name, ReplicaUpdates=updates, **extra)
        return _error(e)

    assert refused([{"Create": {"RegionName": EAST}}]) == (
        "ValidationException", "Cannot add, delete, or update the local region through ReplicaUpdates. "
                               "Use CreateTable, DeleteTable, or UpdateTable as required.")
    code, message = refused([{"Create": {"RegionName": "xx-nowhere-1"}}])
    assert code == "ValidationException" and "xx-nowhere-1" in message
    code, message = refused([{"Create": {"RegionName": WEST}}, {"Create": {"RegionName": DEAD}}])
    assert code == "ValidationException" and "Only one replica action" in message
    assert refused([{"Delete": {"RegionName": WEST}}]) == (
        "ValidationException", "Replica specified in the Replica Update or Replica Delete action of the request "
                               "was not found.")
    assert refused([{"Update": {"RegionName": WEST}}])[1].startswith("Replica specified")
    code, message = refused([{"Create": {"RegionName": WEST}}], BillingMode="PROVISIONED",
                            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    assert code == "ValidationException" and "ReplicaUpdates cannot be combined" in message

    west.create_table(TableName=name, **KEYS)  # a table of that name in eu-west-1 already
    assert refused([{"Create": {"RegionName": WEST}}]) == (
        "ValidationException", f"Failed to create a the new replica of table with name: '{name}' because one or "
                               "more replicas already existed as tables.")
    table = east.describe_table(TableName=name)["Table"]
    assert "Replicas" not in table and "StreamSpecification" not in table  # nothing was changed
    assert "Replicas" not in west.describe_table(TableName=name)["Table"]

    with pytest.raises(ClientError) as e:
        east.update_table(TableName=_name(), ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert _error(e)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        east.describe_table_replica_auto_scaling(TableName=_name())
    assert _error(e)[0] == "ResourceNotFoundException"
    regional = east.describe_table_replica_auto_scaling(TableName=name)["TableAutoScalingDescription"]
    assert regional["Replicas"] == [] and regional["TableStatus"] == "ACTIVE"


def test_a_region_that_does_not_answer_fails_the_call_and_changes_nothing(regions):
    east = regions[EAST]
    name = _name()
    east.create_table(TableName=name, **KEYS)
    with pytest.raises(ClientError) as e:
        east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": DEAD}}])
    code, message = _error(e)
    assert code == "InternalServerError" and DEAD in message and "cannot be reached" in message
    table = east.describe_table(TableName=name)["Table"]
    assert "Replicas" not in table and table["TableStatus"] == "ACTIVE"


def test_deleting_a_replica_table_removes_it_from_the_other_regions_list(regions):
    east, west = regions[EAST], regions[WEST]
    name = _name()
    east.create_table(TableName=name, **KEYS)
    east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    _active(east, name)
    west.delete_table(TableName=name)  # the eu-west-1 replica only
    wait_until(lambda: _missing(west, name), 30, "the eu-west-1 replica to be gone")
    table = east.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE" and "Replicas" not in table and "GlobalTableVersion" not in table


def _replicas(ddb, name: str) -> list[tuple[str, str]]:
    return [(r["RegionName"], r["ReplicaStatus"]) for r in ddb.describe_table(TableName=name)["Table"]["Replicas"]]


def test_three_regions_agree_on_the_group(regions):
    east, west, south = regions[EAST], regions[WEST], regions[SOUTH]
    name = _name()
    east.create_table(TableName=name, **KEYS)
    east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    _active(east, name)
    east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": SOUTH}}])
    _active(east, name)
    wait_until(lambda: _replicas(west, name) == [(SOUTH, "ACTIVE"), (EAST, "ACTIVE")], 30, "eu-west-1 told")
    assert _replicas(east, name) == [(SOUTH, "ACTIVE"), (WEST, "ACTIVE")]
    assert _replicas(west, name) == [(SOUTH, "ACTIVE"), (EAST, "ACTIVE")]
    assert _replicas(south, name) == [(WEST, "ACTIVE"), (EAST, "ACTIVE")]

    # Any member may remove another: eu-west-1 removes ap-south-1's replica.
    west.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": SOUTH}}])
    wait_until(lambda: _missing(south, name), 30, "the ap-south-1 replica to be deleted")
    assert _replicas(east, name) == [(WEST, "ACTIVE")]
    assert _replicas(west, name) == [(EAST, "ACTIVE")]

    # Deleting the table in us-east-1 leaves eu-west-1's, no longer global.
    east.delete_table(TableName=name)
    wait_until(lambda: _missing(east, name), 30, "the us-east-1 replica to be deleted")
    assert "Replicas" not in west.describe_table(TableName=name)["Table"]


def _legacy_table(ddb, name: str, **extra) -> None:
    ddb.create_table(TableName=name, **KEYS, **{"StreamSpecification": NEW_AND_OLD, **extra})
    wait_until(lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE", 30,
               f"{name} to be ACTIVE")


def test_legacy_global_tables(regions):
    east, west = regions[EAST], regions[WEST]
    name = _name()
    for ddb in (east, west):
        _legacy_table(ddb, name)
    group = [{"RegionName": WEST}, {"RegionName": EAST}]  # answered in region name order
    out = east.create_global_table(GlobalTableName=name, ReplicationGroup=group)["GlobalTableDescription"]
    assert out["GlobalTableName"] == name and out["ReplicationGroup"] == group
    assert out["GlobalTableArn"] == f"arn:aws:dynamodb::000000000000:global-table/{name}"
    for ddb in (east, west):
        desc = ddb.describe_global_table(GlobalTableName=name)["GlobalTableDescription"]
        assert desc["ReplicationGroup"] == group and desc["GlobalTableStatus"] == "ACTIVE"
        listed = ddb.list_global_tables()["GlobalTables"]
        assert {"GlobalTableName": name, "ReplicationGroup": group} in listed
        assert ddb.describe_table(TableName=name)["Table"]["GlobalTableVersion"] == "2017.11.29"
    assert name not in [g["GlobalTableName"] for g in east.list_global_tables(RegionName=DEAD)["GlobalTables"]]

    settings = east.describe_global_table_settings(GlobalTableName=name)
    assert [s["RegionName"] for s in settings["ReplicaSettings"]] == [WEST, EAST]
    assert all(s["ReplicaBillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
               for s in settings["ReplicaSettings"])

    def refused(call, **kwargs) -> tuple[str, str]:
        with pytest.raises(ClientError) as e:
            call(**kwargs)
        return _error(e)

    assert refused(east.create_global_table, GlobalTableName=name,
                   ReplicationGroup=group)[0] == "GlobalTableAlreadyExistsException"
    assert refused(east.update_global_table, GlobalTableName=name, ReplicaUpdates=[
        {"Create": {"RegionName": WEST}}])[0] == "ReplicaAlreadyExistsException"
    assert refused(east.update_global_table, GlobalTableName=name, ReplicaUpdates=[
        {"Delete": {"RegionName": DEAD}}])[0] == "ReplicaNotFoundException"
    for op in (east.describe_global_table, east.describe_global_table_settings):
        assert refused(op, GlobalTableName=_name())[0] == "GlobalTableNotFoundException"
    assert refused(east.update_global_table, GlobalTableName=_name(), ReplicaUpdates=[
        {"Create": {"RegionName": WEST}}])[0] == "GlobalTableNotFoundException"
    assert refused(east.update_global_table_settings, GlobalTableName=_name(),
                   GlobalTableBillingMode="PAY_PER_REQUEST")[0] == "GlobalTableNotFoundException"
    page = east.list_global_tables(Limit=1)
    assert len(page["GlobalTables"]) == 1

    out = east.update_global_table_settings(
        GlobalTableName=name, GlobalTableBillingMode="PROVISIONED", GlobalTableProvisionedWriteCapacityUnits=5,
        ReplicaSettingsUpdate=[{"RegionName": EAST, "ReplicaProvisionedReadCapacityUnits": 3},
                               {"RegionName": WEST, "ReplicaProvisionedReadCapacityUnits": 4}])
    assert [(s["RegionName"], s["ReplicaBillingModeSummary"]["BillingMode"], s["ReplicaProvisionedReadCapacityUnits"],
             s["ReplicaProvisionedWriteCapacityUnits"]) for s in out["ReplicaSettings"]] == [
        (WEST, "PROVISIONED", 4, 5), (EAST, "PROVISIONED", 3, 5)]
    assert west.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]["ReadCapacityUnits"] == 4
    assert refused(east.update_global_table_settings, GlobalTableName=name, ReplicaSettingsUpdate=[
        {"RegionName": DEAD, "ReplicaProvisionedReadCapacityUnits": 3}])[0] == "ReplicaNotFoundException"
    assert refused(east.update_global_table_settings, GlobalTableName=name,
                   GlobalTableGlobalSecondaryIndexSettingsUpdate=[{"IndexName": "nope",
                                                                   "ProvisionedWriteCapacityUnits": 2}])[0] == \
        "IndexNotFoundException"
    out = east.update_global_table_settings(GlobalTableName=name, GlobalTableBillingMode="PAY_PER_REQUEST")
    assert {s["ReplicaBillingModeSummary"]["BillingMode"] for s in out["ReplicaSettings"]} == {"PAY_PER_REQUEST"}

    # eu-west-1 leaves the group: its table stays, regional again.
    out = east.update_global_table(GlobalTableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    assert out["GlobalTableDescription"]["ReplicationGroup"] == [{"RegionName": EAST}]
    assert refused(west.describe_global_table, GlobalTableName=name)[0] == "GlobalTableNotFoundException"
    assert "Replicas" not in west.describe_table(TableName=name)["Table"]
    # ... and joins again.
    out = east.update_global_table(GlobalTableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert out["GlobalTableDescription"]["ReplicationGroup"] == group
    assert west.describe_global_table(GlobalTableName=name)["GlobalTableDescription"]["ReplicationGroup"] == group


def test_legacy_members_must_exist_be_empty_and_stream_both_images(regions):
    east, west = regions[EAST], regions[WEST]
    group = [{"RegionName": EAST}, {"RegionName": WEST}]

    def refused(name: str) -> tuple[str, str]:
        with pytest.raises(ClientError) as e:
            east.create_global_table(GlobalTableName=name, ReplicationGroup=group)
        return _error(e)

    only_east = _name()
    _legacy_table(east, only_east)
    assert refused(only_east)[0] == "TableNotFoundException"

    no_stream = _name()
    _legacy_table(east, no_stream)
    west.create_table(TableName=no_stream, **KEYS)
    code, message = refused(no_stream)
    assert code == "ValidationException" and "NEW_AND_OLD_IMAGES" in message

    full = _name()
    _legacy_table(east, full)
    _legacy_table(west, full)
    west.put_item(TableName=full, Item={"pk": {"S": "x"}})
    code, message = refused(full)
    assert code == "ValidationException" and "not empty" in message
    assert east.list_global_tables()["GlobalTables"] == [g for g in east.list_global_tables()["GlobalTables"]
                                                         if g["GlobalTableName"] not in (only_east, no_stream, full)]
    with pytest.raises(ClientError) as e:
        east.create_global_table(GlobalTableName=full, ReplicationGroup=[{"RegionName": "xx-nowhere-1"}])
    assert _error(e)[0] == "ValidationException"

    with pytest.raises(ClientError) as e:
        east.update_table(TableName=full, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert _error(e)[0] == "ValidationException"  # the table exists there: no replica over it


def test_a_replicas_read_capacity_override(regions):
    east, west = regions[EAST], regions[WEST]
    name = _name()
    east.create_table(TableName=name, KeySchema=KEYS["KeySchema"], AttributeDefinitions=KEYS["AttributeDefinitions"],
                      ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 2},
                      StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    out = east.update_table(TableName=name, ReplicaUpdates=[{"Create": {
        "RegionName": WEST, "ProvisionedThroughputOverride": {"ReadCapacityUnits": 5}}}])["TableDescription"]
    assert out["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY"  # an enabled stream keeps its view type
    _active(east, name)

    def capacity() -> tuple[int, int]:
        pt = west.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]
        return pt["ReadCapacityUnits"], pt["WriteCapacityUnits"]
    assert capacity() == (5, 2)
    out = east.update_table(TableName=name, ReplicaUpdates=[{"Update": {
        "RegionName": WEST, "ProvisionedThroughputOverride": {"ReadCapacityUnits": 9}}}])["TableDescription"]
    assert out["Replicas"] == [{"RegionName": WEST, "ReplicaStatus": "ACTIVE",
                                "ProvisionedThroughputOverride": {"ReadCapacityUnits": 9}}]
    assert capacity() == (9, 2)
    east.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])


def test_the_readme_example_runs(regions):
    east, west = regions[EAST], regions[WEST]
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    code = next(b for b in blocks if "ReplicaUpdates" in b)
    east.create_table(TableName="users", **KEYS)
    code = code.replace("http://localhost:8000", east.meta.endpoint_url).replace(
        "http://localhost:8001", west.meta.endpoint_url)
    scope = {"boto3": boto3, "time": time}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["item"] == {"pk": {"S": "grace"}, "visits": {"N": "1"}}  # read in the other region
    assert "Replicas" not in east.describe_table(TableName="users")["Table"]
    wait_until(lambda: _missing(west, "users"), 30, "the README's replica to be deleted")


def _items(ddb, name: str) -> list[dict]:
    out, start = [], None
    while True:
        page = ddb.scan(TableName=name, ConsistentRead=True, **({"ExclusiveStartKey": start} if start else {}))
        out += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return sorted(out, key=lambda i: i["pk"]["S"])


def test_a_new_replica_is_creating_until_every_item_is_copied_then_active(regions):
    east, west = regions[EAST], regions[WEST]
    name = _name()
    east.create_table(TableName=name, **KEYS)
    _active(east, name)
    for i in range(300):
        east.put_item(TableName=name, Item={"pk": {"S": f"k{i:03}"}, "v": {"N": str(i)}, "pad": {"S": "x" * 200}})
    before = _items(east, name)
    out = east.update_table(TableName=name, ReplicaUpdates=[{"Create": {"RegionName": WEST}}])["TableDescription"]
    assert out["TableStatus"] == "UPDATING"
    assert [(r["RegionName"], r["ReplicaStatus"]) for r in out["Replicas"]] == [(WEST, "CREATING")]
    assert int(out["Replicas"][0]["ReplicaStatusPercentProgress"]) < 100
    east.put_item(TableName=name, Item={"pk": {"S": "during"}, "v": {"N": "1"}})  # writes go on meanwhile

    seen = []

    def active() -> bool:
        table = east.describe_table(TableName=name)["Table"]
        replica = table["Replicas"][0]
        seen.append((table["TableStatus"], replica["ReplicaStatus"], replica.get("ReplicaStatusPercentProgress")))
        return replica["ReplicaStatus"] == "ACTIVE"
    wait_until(active, 90, "the new replica to turn ACTIVE")
    there = _items(west, name)  # right when it turned ACTIVE: every item the table held is there
    assert [i for i in there if i["pk"]["S"] != "during"] == before
    assert seen[-1] == ("ACTIVE", "ACTIVE", None)
    assert all(s[:2] == ("UPDATING", "CREATING") and 0 <= int(s[2]) < 100 for s in seen[:-1])
    wait_until(lambda: _replicas(west, name) == [(EAST, "ACTIVE")], 10, "eu-west-1's list")
    wait_until(lambda: len(_items(west, name)) == len(before) + 1, 30, "the write made during the backfill")
    east.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])


def test_ttl_billing_capacity_and_indexes_follow_on_every_replica(regions):
    east, west = regions[EAST], regions[WEST]
    name = _name()
    attributes = [*KEYS["AttributeDefinitions"], {"AttributeName": "g", "AttributeType": "S"}]
    east.create_table(TableName=name, KeySchema=KEYS["KeySchema"], AttributeDefinitions=KEYS["AttributeDefinitions"],
                      ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 2})
    _active(east, name)
    east.update_table(TableName=name, ReplicaUpdates=[{"Create": {
        "RegionName": WEST, "ProvisionedThroughputOverride": {"ReadCapacityUnits": 7}}}])
    _active(east, name)

    def throughput(ddb) -> tuple[int, int]:
        pt = ddb.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]
        return pt["ReadCapacityUnits"], pt["WriteCapacityUnits"]

    # Time to Live, changed in either region, is changed in both.
    west.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    assert east.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}
    # Capacity: the write capacity everywhere, the read capacity where the replica does not override it.
    east.update_table(TableName=name, ProvisionedThroughput={"ReadCapacityUnits": 4, "WriteCapacityUnits": 6})
    assert throughput(east) == (4, 6) and throughput(west) == (7, 6)
    # A global index created in one region is created in the other; deleted likewise.
    east.update_table(TableName=name, AttributeDefinitions=attributes, GlobalSecondaryIndexUpdates=[{"Create": {
        "IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
        "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}}])
    assert [g["IndexName"] for g in west.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]] == ["by-g"]
    _active(east, name)
    _active(west, name)
    west.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-g"}}])
    wait_until(lambda: "GlobalSecondaryIndexes" not in east.describe_table(TableName=name)["Table"], 30,
               "the index to go in us-east-1")
    _active(east, name)
    _active(west, name)
    # The billing mode, switched in one region, is switched in both.
    west.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")
    assert east.describe_table(TableName=name)["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # Deletion protection stays per region, as on DynamoDB.
    east.update_table(TableName=name, DeletionProtectionEnabled=True)
    assert west.describe_table(TableName=name)["Table"]["DeletionProtectionEnabled"] is False
    east.update_table(TableName=name, DeletionProtectionEnabled=False)
    east.update_table(TableName=name, ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
