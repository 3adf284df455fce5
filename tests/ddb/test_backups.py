"""Backups' validation and response shapes (ddb/backups.py)."""

from __future__ import annotations

import pytest

from ddb import backups as model
from ddb.errors import BackupNotFoundException, ValidationException

SPEC = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "g", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [{"IndexName": "byg", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "ALL"}}]}


def backup(arn: str, created: float, table: str = "tbl", kind: str | None = None) -> dict:
    b = {"arn": arn, "name": "n", "status": "AVAILABLE", "created": created, "size": 10, "items": 1,
         "table": {"name": table, "uuid": "u", "created": 0.0, "spec": SPEC, "stream": None}}
    if kind:
        b["kind"] = kind
    return b


def test_create_backup_validation():
    assert model.parse_create_backup({"TableName": "tbl", "BackupName": "b.1-x_y"}) == ("tbl", "b.1-x_y")
    with pytest.raises(ValidationException) as e:
        model.parse_create_backup({"TableName": "tbl", "BackupName": "no spaces"})
    assert "'backupName'" in e.value.message and "regular expression" in e.value.message
    with pytest.raises(ValidationException) as e:
        model.parse_create_backup({"TableName": "tbl"})
    assert "Value null at 'backupName'" in e.value.message


def test_arn_and_shapes():
    arn = model.new_backup_arn("us-east-1", "tbl", 1_700_000_000.123)
    assert arn.startswith("arn:aws:dynamodb:us-east-1:000000000000:table/tbl/backup/1700000000123-")
    assert model.arn_table(arn) == "tbl"
    b = backup(arn, 5.0)
    assert model.details(b) == {"BackupArn": arn, "BackupName": "n", "BackupSizeBytes": 10,
                                "BackupStatus": "AVAILABLE", "BackupType": "USER", "BackupCreationDateTime": 5.0}
    d = model.description(b, "us-east-1")
    assert d["SourceTableDetails"]["ItemCount"] == 1
    assert d["SourceTableFeatureDetails"]["GlobalSecondaryIndexes"][0]["IndexName"] == "byg"
    assert model.find({arn: b}, arn) is b
    with pytest.raises(BackupNotFoundException):
        model.find({arn: {**b, "kind": "export"}}, arn)


def test_list_pages_filters_and_skips_exports():
    records = [backup(f"a{i}", float(i), table="tbl" if i % 2 else "other") for i in range(6)]
    records.append({"kind": "export", "arn": "x", "status": "COMPLETED", "start": 3.5})  # no backup fields
    f = model.parse_list_backups({"TableName": "tbl", "Limit": 2})
    first = model.list_page(records, f, "r")
    assert [s["BackupArn"] for s in first["BackupSummaries"]] == ["a1", "a3"]
    rest = model.list_page(records, {**f, "start": first["LastEvaluatedBackupArn"]}, "r")
    assert [s["BackupArn"] for s in rest["BackupSummaries"]] == ["a5"] and "LastEvaluatedBackupArn" not in rest
    windowed = model.list_page(records, model.parse_list_backups({"TimeRangeLowerBound": 2,
                                                                  "TimeRangeUpperBound": 3}), "r")
    assert [s["BackupArn"] for s in windowed["BackupSummaries"]] == ["a2", "a3"]
    assert model.list_page(records, model.parse_list_backups({"BackupType": "SYSTEM"}), "r")["BackupSummaries"] == []
    for bad in ({"Limit": 0}, {"Limit": 101}, {"BackupType": "NOPE"}):
        with pytest.raises(ValidationException):
            model.parse_list_backups(bad)


def test_restore_spec_overrides():
    same = model.restore_spec({"TargetTableName": "copy"}, SPEC)
    assert same["TableName"] == "copy" and [g["IndexName"] for g in same["GlobalSecondaryIndexes"]] == ["byg"]
    plain = model.restore_spec({"TargetTableName": "copy", "GlobalSecondaryIndexOverride": [],
                                "BillingModeOverride": "PROVISIONED",
                                "ProvisionedThroughputOverride": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 2}},
                               SPEC)
    assert plain["GlobalSecondaryIndexes"] is None and plain["BillingMode"] == "PROVISIONED"
    assert [d["AttributeName"] for d in plain["AttributeDefinitions"]] == ["pk"]  # g is used by no key any more
    with pytest.raises(ValidationException):  # provisioned without throughput, as CreateTable refuses it
        model.restore_spec({"TargetTableName": "copy", "BillingModeOverride": "PROVISIONED"}, SPEC)
    with pytest.raises(ValidationException):
        model.restore_spec({"TargetTableName": "x"}, SPEC)
