"""Continuous backups settings and RestoreTableToPointInTime at the latest
restorable time, through boto3 against a real cluster."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from botocore.exceptions import ClientError

from cluster.rpc import Channels, call_once
from tests.integration.admin import leader_of, meta, node_addr
from tests.integration.conftest import make_client, wait_until
from tests.integration.test_backups import _make_table, _restored, _scan, digest
from tests.integration.test_splits import cli


def test_continuous_backups_settings_and_latest_restore(cluster, ddb):
    _make_table(ddb, "pitr_src")
    off = ddb.describe_continuous_backups(TableName="pitr_src")["ContinuousBackupsDescription"]
    assert off["PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "DISABLED"}
    with pytest.raises(ClientError) as e:
        ddb.restore_table_to_point_in_time(SourceTableName="pitr_src", TargetTableName="pitr_x",
                                           UseLatestRestorableTime=True)
    assert e.value.response["Error"]["Code"] == "PointInTimeRecoveryUnavailableException"
    with pytest.raises(ClientError) as e:
        ddb.update_continuous_backups(TableName="pitr_src", PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 36})
    assert e.value.response["Error"]["Code"] == "ValidationException"

    on = ddb.update_continuous_backups(TableName="pitr_src", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7})["ContinuousBackupsDescription"]
    pitr = on["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED" and pitr["RecoveryPeriodInDays"] == 7
    assert pitr["EarliestRestorableDateTime"] <= pitr["LatestRestorableDateTime"]
    described = ddb.describe_continuous_backups(TableName="pitr_src")["ContinuousBackupsDescription"]
    assert described["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 7

    for i in range(30):
        ddb.put_item(TableName="pitr_src", Item={"pk": {"S": f"k{i}"}, "sk": {"N": str(i)}, "v": {"S": "x" * i}})
    before = _scan(ddb, "pitr_src")
    out = ddb.restore_table_to_point_in_time(SourceTableName="pitr_src", TargetTableName="pitr_copy",
                                             UseLatestRestorableTime=True)
    assert out["TableDescription"]["RestoreSummary"]["SourceTableArn"].endswith(":table/pitr_src")
    _restored(ddb, "pitr_copy")
    assert digest(_scan(ddb, "pitr_copy")) == digest(before)

    with pytest.raises(ClientError) as e:  # before the window opened
        ddb.restore_table_to_point_in_time(SourceTableName="pitr_src", TargetTableName="pitr_y",
                                           RestoreDateTime=time.time() - 86400)
    assert e.value.response["Error"]["Code"] == "InvalidRestoreTimeException"
    with pytest.raises(ClientError) as e:  # in the future
        ddb.restore_table_to_point_in_time(SourceTableName="pitr_src", TargetTableName="pitr_y",
                                           RestoreDateTime=time.time() + 3600)
    assert e.value.response["Error"]["Code"] == "InvalidRestoreTimeException"
    ddb.update_continuous_backups(TableName="pitr_src", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": False})
    off = ddb.describe_continuous_backups(TableName="pitr_src")["ContinuousBackupsDescription"]
    assert off["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"


def _next_second() -> int:
    """The next whole second, once the clock has passed it: writes from now on are later than it."""
    mark = math.ceil(time.time())
    wait_until(lambda: time.time() > mark + 0.02, 3, "the clock to pass a second")
    return mark


def test_restore_and_export_to_a_past_second_are_exact(cluster, ddb):
    _make_table(ddb, "pitr_past")
    ddb.update_continuous_backups(TableName="pitr_past", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    earliest = ddb.describe_continuous_backups(TableName="pitr_past")["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["EarliestRestorableDateTime"]
    for i in range(20):
        ddb.put_item(TableName="pitr_past", Item={"pk": {"S": f"k{i}"}, "sk": {"N": "1"}, "v": {"N": "1"},
                                                  "l": {"S": "a"}})
    first = _scan(ddb, "pitr_past")
    t1 = _next_second()
    for i in range(0, 20, 2):  # change half, delete a quarter, add some
        ddb.update_item(TableName="pitr_past", Key={"pk": {"S": f"k{i}"}, "sk": {"N": "1"}},
                        UpdateExpression="SET v = v + :one", ExpressionAttributeValues={":one": {"N": "1"}})
    for i in range(1, 20, 4):
        ddb.delete_item(TableName="pitr_past", Key={"pk": {"S": f"k{i}"}, "sk": {"N": "1"}})
    for i in range(20, 25):
        ddb.put_item(TableName="pitr_past", Item={"pk": {"S": f"k{i}"}, "sk": {"N": "2"}})
    second = _scan(ddb, "pitr_past")
    t2 = _next_second()
    ddb.delete_item(TableName="pitr_past", Key={"pk": {"S": "k0"}, "sk": {"N": "1"}})
    assert earliest.timestamp() <= t1 and digest(first) != digest(second)

    for target, at, want in (("pitr_at1", t1, first), ("pitr_at2", t2, second)):
        out = ddb.restore_table_to_point_in_time(SourceTableName="pitr_past", TargetTableName=target,
                                                 RestoreDateTime=at)
        assert out["TableDescription"]["RestoreSummary"]["RestoreDateTime"].timestamp() == at
        _restored(ddb, target)
        assert digest(_scan(ddb, target)) == digest(want), target

    arn = ddb.describe_table(TableName="pitr_past")["Table"]["TableArn"]
    export = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket="pitr-bucket", ExportTime=t1)
    done = wait_until(lambda: (d := ddb.describe_export(ExportArn=export["ExportDescription"]["ExportArn"])[
        "ExportDescription"])["ExportStatus"] == "COMPLETED" and d, 60, "export completed")
    assert done["ItemCount"] == len(first) and done["ExportTime"].timestamp() == t1

    # Deleting the table deletes its point-in-time base (found by the next ListBackups).
    uuid = meta(cluster)["tables"]["pitr_past"]["uuid"]
    ddb.delete_table(TableName="pitr_past")

    def base_gone() -> bool:
        ddb.list_backups()
        return not [b for b in meta(cluster)["backups"].values() if b.get("table", {}).get("uuid") == uuid]
    wait_until(base_gone, 30, "the base of the deleted table deleted", interval=0.5)


def test_restore_to_points_before_and_after_a_split_is_exact(cluster, ddb):
    """The base snapshot predates a split of one of the table's partitions:
    the restore replays the parent's log and then the child's (a base part
    maps to the partitions now covering its hash range), exact at a second
    before and after the split."""
    _make_table(ddb, "pitr_split")
    ddb.update_continuous_backups(TableName="pitr_split", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    for i in range(40):
        ddb.put_item(TableName="pitr_split", Item={"pk": {"S": f"k{i}"}, "sk": {"N": "1"}, "v": {"N": "1"}})
    t1 = _next_second()
    first = _scan(ddb, "pitr_split")
    done = cli(cluster, "split", "pitr_split")
    assert done.returncode == 0, done.stderr
    for i in range(0, 40, 2):  # on both sides of the new boundary
        ddb.update_item(TableName="pitr_split", Key={"pk": {"S": f"k{i}"}, "sk": {"N": "1"}},
                        UpdateExpression="SET v = v + :one", ExpressionAttributeValues={":one": {"N": "1"}})
    for i in range(1, 40, 4):
        ddb.delete_item(TableName="pitr_split", Key={"pk": {"S": f"k{i}"}, "sk": {"N": "1"}})
    second = _scan(ddb, "pitr_split")
    t2 = _next_second()
    ddb.put_item(TableName="pitr_split", Item={"pk": {"S": "later"}, "sk": {"N": "1"}})
    assert len(meta(cluster)["tables"]["pitr_split"]["partitions"]) == 3
    for target, at, want in (("pitr_split1", t1, first), ("pitr_split2", t2, second)):
        ddb.restore_table_to_point_in_time(SourceTableName="pitr_split", TargetTableName=target, RestoreDateTime=at)
        _restored(ddb, target)
        assert digest(_scan(ddb, target)) == digest(want), target


def _log_starts(cluster, table: str) -> dict[str, int]:
    """Where each partition's point-in-time log starts now (at its leader)."""
    async def read(addr: str, group: str) -> dict:
        channels = Channels(cluster.cluster_id)  # (a data read: the node wants the cluster's id)
        try:
            return await call_once(channels, addr, "admin", "pitr_read", {"group": group, "after": [0, 0]})
        finally:
            await channels.close()
    out = {}
    for group in meta(cluster)["tables"][table]["partitions"]:
        leader = wait_until(lambda group=group: leader_of(cluster, group), 30, f"a leader of {group}")
        out[group] = asyncio.run(read(node_addr(cluster, leader), group))["start"]
    return out


def test_the_log_is_kept_to_the_window_and_restores_inside_it_stay_exact(own_cluster):
    """A recovery period of one day, with a day of 4 s: newer bases are taken
    as time goes on, the oldest is deleted once the next is older than the
    window, and each partition drops its log up to the oldest base's index;
    the earliest restorable time follows the window, and a restore inside
    it is still exact."""
    cluster = own_cluster(extra_env={"TRIREME_PITR_DAY_S": "4"})
    ddb = make_client(cluster.endpoint, retries=3)
    _make_table(ddb, "pitr_win")
    enabled_at = time.time()
    ddb.update_continuous_backups(TableName="pitr_win", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 1})
    uuid = meta(cluster)["tables"]["pitr_win"]["uuid"]
    first_base, first_parts = next((a, {p["lo"]: p["applied"] for p in b["parts"]})
                                   for a, b in meta(cluster)["backups"].items() if b["table"]["uuid"] == uuid)
    starts = _log_starts(cluster, "pitr_win")

    def earliest() -> float:
        return ddb.describe_continuous_backups(TableName="pitr_win")["ContinuousBackupsDescription"][
            "PointInTimeRecoveryDescription"]["EarliestRestorableDateTime"].timestamp()
    v = 0
    while not (earliest() > enabled_at + 4 and first_base not in meta(cluster)["backups"]):
        v += 1
        assert v < 400, "the window never moved"
        for i in range(10):
            ddb.put_item(TableName="pitr_win", Item={"pk": {"S": f"k{i}"}, "sk": {"N": "1"}, "v": {"N": str(v)}})
    assert earliest() >= time.time() - 4 - 2  # the window's start (the newest base came at most 2 s late)
    # a newer base than the first was trimmed: each log starts past the first base's index ("all
    # bases trimmed" holds only between a trim and the next base: a poll under load can miss it)
    m = meta(cluster)
    first_at = {g: first_parts[m["partitions"][g]["lo"]] for g in starts}

    def past_first() -> dict[str, int] | None:
        now = _log_starts(cluster, "pitr_win")
        return now if all(now[g] > first_at[g] for g in now) else None
    moved = wait_until(past_first, 30, "the log trimmed past the first base")
    assert all(moved[g] > starts[g] for g in starts), (starts, moved)

    want = _scan(ddb, "pitr_win")
    at = _next_second()
    ddb.delete_item(TableName="pitr_win", Key={"pk": {"S": "k0"}, "sk": {"N": "1"}})
    ddb.restore_table_to_point_in_time(SourceTableName="pitr_win", TargetTableName="pitr_win_at", RestoreDateTime=at)
    _restored(ddb, "pitr_win_at")
    assert digest(_scan(ddb, "pitr_win_at")) == digest(want)
    with pytest.raises(ClientError) as e:  # before the window: its log is gone
        ddb.restore_table_to_point_in_time(SourceTableName="pitr_win", TargetTableName="pitr_win_old",
                                           RestoreDateTime=enabled_at + 1)
    assert e.value.response["Error"]["Code"] == "InvalidRestoreTimeException"
