"""On-demand backups end to end: CreateBackup of a table with a local and a
global index, the backup AVAILABLE with its size, a restore (with overrides)
equal to the source at the backup (digests), writes after the backup absent,
and a backup taken while a partition's leader is killed."""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError

from tests.integration.admin import meta
from tests.integration.conftest import make_client, wait_until


def _make_table(ddb, name: str) -> None:
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "g", "AttributeType": "S"},
                              {"AttributeName": "l", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        LocalSecondaryIndexes=[{"IndexName": "byl", "Projection": {"ProjectionType": "ALL"},
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "l", "KeyType": "RANGE"}]}],
        GlobalSecondaryIndexes=[{"IndexName": "byg", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}])
    wait_until(lambda: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE", 30, "table active")


def _scan(ddb, name: str, **kw) -> list[dict]:
    items, start = [], {}
    while True:
        page = ddb.scan(TableName=name, ConsistentRead="IndexName" not in kw, **kw, **start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def digest(items: list[dict]) -> str:
    lines = sorted(repr(sorted((k, repr(v)) for k, v in item.items())) for item in items)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _available(ddb, arn: str) -> dict:
    return wait_until(lambda: (d := ddb.describe_backup(BackupArn=arn)["BackupDescription"])
                      ["BackupDetails"]["BackupStatus"] == "AVAILABLE" and d, 60, "backup available")


def _restored(ddb, name: str) -> dict:
    return wait_until(lambda: (t := ddb.describe_table(TableName=name)["Table"])["TableStatus"] == "ACTIVE" and t,
                      60, f"{name} restored")


def test_backup_and_restore_equal_at_the_backup(cluster, ddb):
    _make_table(ddb, "bk_src")
    for i in range(60):
        ddb.put_item(TableName="bk_src", Item={"pk": {"S": f"p{i % 7}"}, "sk": {"N": str(i)},
                                               "g": {"S": f"g{i % 3}"}, "l": {"S": f"l{i}"},
                                               "blob": {"B": bytes([i]) * 50}, "m": {"M": {"x": {"N": "1"}}}})
    before = _scan(ddb, "bk_src")
    made = ddb.create_backup(TableName="bk_src", BackupName="first.backup")["BackupDetails"]
    assert made["BackupStatus"] in ("CREATING", "AVAILABLE") and made["BackupType"] == "USER"
    assert ":table/bk_src/backup/" in made["BackupArn"]
    desc = _available(ddb, made["BackupArn"])
    # Writes after the backup finished are not in it.
    ddb.put_item(TableName="bk_src", Item={"pk": {"S": "late"}, "sk": {"N": "0"}})
    ddb.delete_item(TableName="bk_src", Key={"pk": {"S": "p0"}, "sk": {"N": "0"}})
    assert desc["BackupDetails"]["BackupSizeBytes"] > 60 * 50
    src = desc["SourceTableDetails"]
    assert src["TableName"] == "bk_src" and src["ItemCount"] == 60 and src["BillingMode"] == "PAY_PER_REQUEST"
    features = desc["SourceTableFeatureDetails"]
    assert [i["IndexName"] for i in features["GlobalSecondaryIndexes"]] == ["byg"]
    assert [i["IndexName"] for i in features["LocalSecondaryIndexes"]] == ["byl"]
    listed = ddb.list_backups(TableName="bk_src")["BackupSummaries"]
    assert [(b["BackupArn"], b["BackupStatus"]) for b in listed] == [(made["BackupArn"], "AVAILABLE")]
    assert listed[0]["BackupSizeBytes"] == desc["BackupDetails"]["BackupSizeBytes"]

    out = ddb.restore_table_from_backup(TargetTableName="bk_copy", BackupArn=made["BackupArn"])
    assert out["TableDescription"]["RestoreSummary"]["SourceBackupArn"] == made["BackupArn"]
    table = _restored(ddb, "bk_copy")
    assert table["RestoreSummary"]["RestoreInProgress"] is False
    after = _scan(ddb, "bk_copy")
    assert digest(after) == digest(before) and len(after) == 60
    # The indexes were rebuilt from the restored items.
    lsi = ddb.query(TableName="bk_copy", IndexName="byl", KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "p1"}})["Items"]
    assert sorted(i["l"]["S"] for i in lsi) == sorted(f"l{i}" for i in range(60) if i % 7 == 1)
    wait_until(lambda: len(_scan(ddb, "bk_copy", IndexName="byg")) == 60, 30, "global index backfilled")

    # Overrides: provisioned billing, without the global index.
    ddb.restore_table_from_backup(TargetTableName="bk_copy2", BackupArn=made["BackupArn"],
                                  BillingModeOverride="PROVISIONED", GlobalSecondaryIndexOverride=[],
                                  ProvisionedThroughputOverride={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6})
    table = _restored(ddb, "bk_copy2")
    assert "GlobalSecondaryIndexes" not in table and table["ProvisionedThroughput"]["WriteCapacityUnits"] == 6
    assert digest(_scan(ddb, "bk_copy2")) == digest(before)

    with pytest.raises(ClientError) as e:
        ddb.restore_table_from_backup(TargetTableName="bk_copy", BackupArn=made["BackupArn"])
    assert e.value.response["Error"]["Code"] == "TableAlreadyExistsException"
    deleted = ddb.delete_backup(BackupArn=made["BackupArn"])["BackupDescription"]
    assert deleted["BackupDetails"]["BackupStatus"] == "DELETED"
    assert ddb.list_backups(TableName="bk_src")["BackupSummaries"] == []
    for call in (lambda: ddb.describe_backup(BackupArn=made["BackupArn"]),
                 lambda: ddb.restore_table_from_backup(TargetTableName="bk_copy3", BackupArn=made["BackupArn"])):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "BackupNotFoundException"


def test_backup_errors(cluster, ddb):
    with pytest.raises(ClientError) as e:
        ddb.create_backup(TableName="bk_none", BackupName="x1x")
    assert e.value.response["Error"]["Code"] == "TableNotFoundException"
    with pytest.raises(ClientError) as e:
        ddb.create_backup(TableName="bk_none", BackupName="a b")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "backupName" in e.value.response["Error"]["Message"]


def test_backup_while_a_leader_is_killed(own_cluster):
    c = own_cluster()
    ddb = make_client(c.endpoint, retries=3)
    _make_table(ddb, "bk_kill")
    for i in range(40):
        ddb.put_item(TableName="bk_kill", Item={"pk": {"S": f"p{i}"}, "sk": {"N": "1"}, "l": {"S": "x"}})
    before = _scan(ddb, "bk_kill")
    arn = ddb.create_backup(TableName="bk_kill", BackupName="killed")["BackupDetails"]["BackupArn"]
    c.kill(c.node_ids()[0])  # a third of the partitions' leaders, and a metadata member
    _available(ddb, arn)
    ddb.restore_table_from_backup(TargetTableName="bk_kill_copy", BackupArn=arn)
    _restored(ddb, "bk_kill_copy")
    assert digest(_scan(ddb, "bk_kill_copy")) == digest(before)


def test_a_backup_left_creating_by_a_dead_router_is_taken_over(cluster, ddb):
    """A CREATING record whose lease ran out (what a router killed mid-backup
    leaves) is redone by the router that next describes or lists backups."""
    import asyncio
    import time

    from cluster.rpc import Channels, meta_call

    _make_table(ddb, "bk_orphan")
    for i in range(20):
        ddb.put_item(TableName="bk_orphan", Item={"pk": {"S": f"p{i}"}, "sk": {"N": "1"}})
    t = meta(cluster)["tables"]["bk_orphan"]
    now = time.time()
    arn = f"arn:aws:dynamodb:us-east-1:000000000000:table/bk_orphan/backup/{int(now * 1000):013d}-0badc0de"
    record = {"arn": arn, "name": "orphan", "status": "CREATING", "created": now, "size": 0, "items": 0,
              "lease": now - 1, "parts": [],
              "table": {"name": "bk_orphan", "id": t["id"], "uuid": t["uuid"], "created": t["created"],
                        "spec": t["spec"], "stream": None}}

    async def put() -> None:
        channels = Channels(cluster.cluster_id)
        try:
            await meta_call(channels, [cluster.procs[n].addr for n in cluster.node_ids()], "put_backup",
                            {"record": record, "create": True})
        finally:
            await channels.close()
    asyncio.run(put())
    # The router sees the record once its metadata view has it (a write through another path).
    wait_until(lambda: ddb.list_backups(TableName="bk_orphan")["BackupSummaries"], 10, "the orphan listed")
    assert ddb.list_backups(TableName="bk_orphan")["BackupSummaries"][0]["BackupStatus"] == "CREATING"
    desc = _available(ddb, arn)
    assert desc["SourceTableDetails"]["ItemCount"] == 20


def test_restores_left_creating_by_a_killed_router_are_taken_over(own_cluster):
    """A router SIGKILLed right after answering RestoreTableFromBackup and
    RestoreTableToPointInTime leaves both tables CREATING, half written; the
    other router takes them over once the dead one's lease ran out, and each
    ends ACTIVE and equal to its source at the restore's moment."""
    cluster = own_cluster(routers=2, extra_env={"TRIREME_LOAD_LEASE_S": "3"})
    doomed = cluster.procs["router2"]
    ddb, ddb2 = make_client(cluster.endpoint, retries=3), make_client(f"http://{doomed.addr}")
    _make_table(ddb, "tk_src")
    ddb.update_continuous_backups(TableName="tk_src", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    for start in range(0, 1500, 25):  # enough that a restore takes a while
        ddb.batch_write_item(RequestItems={"tk_src": [{"PutRequest": {"Item": {
            "pk": {"S": f"p{i % 50}"}, "sk": {"N": str(i)}, "g": {"S": f"g{i % 3}"}, "l": {"S": f"l{i}"},
            "blob": {"B": bytes([i % 256]) * 300}}}} for i in range(start, start + 25)]})
    before = _scan(ddb, "tk_src")
    arn = _available(ddb, ddb.create_backup(TableName="tk_src", BackupName="tk-backup")["BackupDetails"]["BackupArn"])[
        "BackupDetails"]["BackupArn"]
    _available(ddb2, arn)  # (router2's view of the metadata has it)
    ddb2.restore_table_from_backup(TargetTableName="tk_backup", BackupArn=arn)
    ddb2.restore_table_to_point_in_time(SourceTableName="tk_src", TargetTableName="tk_pitr",
                                        UseLatestRestorableTime=True)
    cluster.kill("router2")
    ddb.put_item(TableName="tk_src", Item={"pk": {"S": "later"}, "sk": {"N": "0"}})  # after both moments
    tables = meta(cluster)["tables"]
    assert tables["tk_backup"]["spec"].get("Loading") and tables["tk_pitr"]["spec"].get("Loading"), \
        "a restore finished before its router was killed"
    for name in ("tk_backup", "tk_pitr"):
        wait_until(lambda name=name: ddb.describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE", 120,
                   f"{name} taken over and restored")
        assert digest(_scan(ddb, name)) == digest(before), name
