"""Continuous backups settings, exports' and imports' validation and files (ddb/exports.py)."""

from __future__ import annotations

import pytest

from ddb import exports as model
from ddb.errors import ValidationException


def test_continuous_backups_settings():
    spec = {"PointInTimeRecoveryEnabled": True}
    assert model.parse_update_continuous_backups({"TableName": "tbl", "PointInTimeRecoverySpecification": spec}) \
        == ("tbl", True, 35)
    for bad in ({"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 0},
                {"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 36},
                {"PointInTimeRecoveryEnabled": False, "RecoveryPeriodInDays": 3}, {}):
        with pytest.raises(ValidationException):
            model.parse_update_continuous_backups({"TableName": "tbl", "PointInTimeRecoverySpecification": bad})
    on = model.continuous_description({"enabled_at": 1.0, "days": 7}, (2.0, 3.0))["ContinuousBackupsDescription"]
    assert on["PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": 7,
                                                    "EarliestRestorableDateTime": 2.0,
                                                    "LatestRestorableDateTime": 3.0}
    off = model.continuous_description(None, None)["ContinuousBackupsDescription"]
    assert off["PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "DISABLED"}


def test_export_request_and_layout():
    req = model.parse_export({"TableArn": "arn:aws:dynamodb:us-east-1:000000000000:table/tbl",
                              "S3Bucket": "my-bucket", "S3Prefix": "a/b/"})
    assert (req["table"], req["bucket"], req["prefix"]) == ("tbl", "my-bucket", "a/b")
    for bad in ({"S3Bucket": "../up"}, {"S3Bucket": "ok-bucket", "S3Prefix": "a/../b"},
                {"S3Bucket": "ok-bucket", "ExportFormat": "ION"}, {"S3Bucket": "ok-bucket", "TableArn": "x"}):
        with pytest.raises(ValidationException):
            model.parse_export({"TableArn": "arn:aws:dynamodb:us-east-1:000000000000:table/tbl", **bad})
    rec = {"arn": "arn:aws:dynamodb:us-east-1:000000000000:table/tbl/export/0000000000001-0a0b0c0d",
           "prefix": "a/b", "start": 1.0, "end": 2.0, "time": 1.0, "table_arn": "t", "table_id": "u",
           "bucket": "my-bucket", "items": 3, "size": 9}
    assert model.export_root(rec) == "a/b/AWSDynamoDB/0000000000001-0a0b0c0d"
    summary = model.manifest_summary(rec, "k")
    assert summary["itemCount"] == 3 and summary["exportTime"] == "1970-01-01T00:00:01.000Z"
    assert model.data_lines([b'{"a":{"S":"x"}}']) == b'{"Item":{"a":{"S":"x"}}}\n'


def test_import_request_and_lines():
    params = {"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
              "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
              "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}
    req = model.parse_import({"S3BucketSource": {"S3Bucket": "bkt", "S3KeyPrefix": "p"},
                              "InputFormat": "DYNAMODB_JSON", "InputCompressionType": "GZIP",
                              "TableCreationParameters": params})
    assert (req["bucket"], req["prefix"], req["compression"], req["spec"]["TableName"]) == ("bkt", "p", "GZIP", "tbl")
    for bad in ({"InputFormat": "CSV"}, {"InputFormat": "XML"}, {"InputCompressionType": "ZSTD"},
                {"TableCreationParameters": None}):
        body = {"S3BucketSource": {"S3Bucket": "bkt"}, "InputFormat": "DYNAMODB_JSON",
                "TableCreationParameters": params, **bad}
        with pytest.raises(ValidationException):
            model.parse_import(body)
    assert model.parse_item_line(b'{"Item": {"id": {"S": "a"}}}') == {"id": {"S": "a"}}
    assert model.parse_item_line(b"nope") is None and model.parse_item_line(b'{"Item": {}}') is None
