"""Continuous backups settings and RestoreTableToPointInTime at the latest
restorable time, through boto3 against a real cluster."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_backups import _make_table, _restored, _scan, digest


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
    ddb.update_continuous_backups(TableName="pitr_src", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": False})
    off = ddb.describe_continuous_backups(TableName="pitr_src")["ContinuousBackupsDescription"]
    assert off["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
